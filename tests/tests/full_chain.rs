//! The full chain: applications created through this server become HelmReleases that Flux's helm-controller
//! installs from the test charts (tests/charts, served by hack/charts.sh), into the objects the operators
//! consume, and the statuses users see are the ones Flux reports. In hack/test.sh helm-controller reconciles
//! only releases carrying [`LABEL`] (the other tests check HelmReleases exactly as the server writes them).

use std::time::Duration;

use e2e::{ControlPlane, run_ok, wait_until};
use serde_json::Value;

/// The label of this test's apps (their releases carry it prefixed: `apps.cozystack.io-e2e-full-chain`).
const LABEL: &str = "e2e-full-chain";

/// Up to this long for a release to be installed, upgraded or uninstalled.
const RECONCILE: Duration = Duration::from_secs(120);

fn apply(cp: &ControlPlane, args: &[&str], manifest: &str) -> String {
    let mut cmd = cp.kubectl();
    cmd.arg("apply").args(args).args(["-f", "-"]);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), manifest.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kubectl apply {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn get(cp: &ControlPlane, args: &[&str]) -> Option<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    cp.kubectl_ok(&all).ok().map(|s| serde_json::from_str(&s).unwrap())
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    wait_until(what, RECONCILE, || std::future::ready(cond())).await.unwrap_or_else(|e| panic!("{e:#}"));
}

fn wait_ready(cp: &ControlPlane, kind: &str, ns: &str) {
    let timeout = format!("--timeout={}s", RECONCILE.as_secs());
    run_ok(cp.kubectl().args(["wait", "--for=condition=Ready", kind, "-n", ns, &timeout]))
        .unwrap_or_else(|e| panic!("{kind} in {ns} is Ready: {e:#}; {:?}", get(cp, &[kind, "-n", ns]).map(|v| v["status"].clone())));
}

#[tokio::test]
async fn a_tenant_and_a_postgres_in_it_become_a_namespace_and_a_cloudnativepg_cluster() {
    let cp = ControlPlane::shared();
    // Tenant names are letters and digits only.
    let tenant = format!("chain{}", std::process::id());
    let ns = format!("tenant-{tenant}");

    // A Tenant through this server: the chart creates its namespace, nobody else.
    apply(
        cp,
        &[],
        &format!(
            "apiVersion: apps.cozystack.io/v1alpha1\nkind: Tenant\nmetadata: {{name: {tenant}, namespace: tenant-root, labels: {{{LABEL}: \"true\"}}}}\nspec: {{}}\n"
        ),
    );
    wait_ready(cp, &format!("tenants/{tenant}"), "tenant-root");
    let namespace = get(cp, &["namespace", &ns]).expect("the tenant chart made the namespace");
    assert_eq!(namespace["metadata"]["labels"][format!("tenant.cozystack.io/{ns}")], "", "{namespace}");
    let values = get(cp, &["secret", "cozystack-values", "-n", &ns]).expect("the tenant's values Secret");
    assert!(values["data"]["values.yaml"].is_string(), "{values}");

    // A Postgres in the new namespace: the release installs a CNPG Cluster with the user's values.
    let postgres = |replicas: u32| {
        format!(
            "apiVersion: apps.cozystack.io/v1alpha1\nkind: Postgres\nmetadata: {{name: db, namespace: {ns}, labels: {{{LABEL}: \"true\"}}}}\nspec: {{replicas: {replicas}, size: 5Gi, storageClass: fast}}\n"
        )
    };
    apply(cp, &[], &postgres(3));
    wait_ready(cp, "postgreses/db", &ns);
    let cluster = get(cp, &["clusters.postgresql.cnpg.io", "postgres-db", "-n", &ns]).expect("the CNPG Cluster");
    assert_eq!(cluster["spec"]["instances"], 3, "{cluster}");
    assert_eq!((cluster["spec"]["storage"]["size"].as_str(), cluster["spec"]["storage"]["storageClass"].as_str()), (Some("5Gi"), Some("fast")));

    // READY and VERSION are the reconciled HelmRelease's.
    let release = get(cp, &["helmreleases.helm.toolkit.fluxcd.io", "postgres-db", "-n", &ns]).unwrap();
    let revision = release["status"]["lastAttemptedRevision"].as_str().unwrap_or_default().to_string();
    assert!(revision.starts_with("0.1.0"), "{}", release["status"]);
    let table = cp
        .kubectl_ok(&[
            "get",
            "postgres",
            "db",
            "-n",
            &ns,
            "--no-headers",
            "-o",
            "custom-columns=READY:.status.conditions[?(@.type=='Ready')].status,VERSION:.status.version",
        ])
        .unwrap();
    assert_eq!(table.split_whitespace().collect::<Vec<_>>(), ["True", revision.as_str()], "{table}");

    // A change applied server-side, as GitOps tools apply (Flux forces: it owns what it applies), upgrades the
    // release and reaches the Cluster.
    apply(cp, &["--server-side", "--field-manager=gitops", "--force-conflicts"], &postgres(4));
    eventually("the Cluster has 4 instances", || {
        get(cp, &["clusters.postgresql.cnpg.io", "postgres-db", "-n", &ns]).is_some_and(|c| c["spec"]["instances"] == 4)
    })
    .await;

    // Deleting the app uninstalls the release, and the Cluster goes with it.
    cp.kubectl_ok(&["delete", "postgres", "db", "-n", &ns, "--wait=false"]).unwrap();
    eventually("the Cluster is gone", || get(cp, &["clusters.postgresql.cnpg.io", "postgres-db", "-n", &ns]).is_none()).await;
    eventually("the HelmRelease is gone", || get(cp, &["helmreleases.helm.toolkit.fluxcd.io", "postgres-db", "-n", &ns]).is_none()).await;

    cp.kubectl_ok(&["delete", "tenant", &tenant, "-n", "tenant-root", "--wait=false"]).unwrap();
    eventually("the tenant's namespace is gone or going", || get(cp, &["namespace", &ns]).is_none_or(|n| n["status"]["phase"] == "Terminating")).await;
}
