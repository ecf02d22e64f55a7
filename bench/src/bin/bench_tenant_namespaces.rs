//! Benchmark of TenantNamespace lists: a user in many groups, with RoleBindings giving access to a few of
//! thousands of tenant namespaces, lists its TenantNamespaces through kube-apiserver's aggregator again and
//! again; the program prints p50/p99 latency and cozystack-api's resident memory as a markdown section and
//! puts it in docs/benchmarks.md under "## TenantNamespace list" (replacing an older one, keeping the rest).
//!
//! Runs against the control plane in `COZY_E2E_STATE_DIR`, or starts one as the e2e tests do (and stops it on
//! exit). Settings, from the environment: `BENCH_NAMESPACES` (5000), `BENCH_GROUPS` (300), `BENCH_ACCESSIBLE`
//! (50), `BENCH_ITERATIONS` (200), `BENCH_KEEP=1` to leave the namespaces behind on a reused control plane.
//! No timing is asserted anywhere: the numbers are for reading.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use e2e::{ControlPlane, raw, repo_root, wait_until};
use futures::StreamExt;
use serde_json::{Value, json};

const LIST: &str = "/apis/core.cozystack.io/v1alpha1/tenantnamespaces";
const LABEL: &str = "bench.cozystack.io/tenant-namespaces";
const HEADING: &str = "## TenantNamespace list";
const CONCURRENCY: usize = 32;

fn setting(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn post(path: &str, body: &Value) -> http::Request<Vec<u8>> {
    http::Request::post(path).header("Content-Type", "application/json").body(serde_json::to_vec(body).unwrap_or_default()).expect("a request")
}

fn get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path).body(Vec::new()).expect("a request")
}

/// POSTs `body` to `path`, accepting that it already exists.
async fn ensure(client: &kube::Client, path: &str, body: Value) -> Result<()> {
    let (code, answer) = raw(client, post(path, &body)).await?;
    if code != 201 && code != 409 {
        bail!("POST {path}: {code} {answer}");
    }
    Ok(())
}

async fn for_each(items: Vec<(String, Value)>, client: &kube::Client) -> Result<()> {
    let results: Vec<Result<()>> =
        futures::stream::iter(items).map(|(path, body)| async move { ensure(client, &path, body).await }).buffer_unordered(CONCURRENCY).collect().await;
    results.into_iter().collect()
}

fn rbac(kind: &str, name: &str, namespace: Option<&str>) -> Value {
    let mut meta = json!({"name": name});
    if let Some(ns) = namespace {
        meta["namespace"] = ns.into();
    }
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta})
}

fn binding(kind: &str, name: &str, namespace: Option<&str>, role: &str, group: &str) -> Value {
    let mut b = rbac(kind, name, namespace);
    b["roleRef"] = json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role});
    b["subjects"] = json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]);
    b
}

fn percentile_of(sorted: &[Duration], q: f64) -> Duration {
    bench::percentile(sorted, q).unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Lists `iterations` times; the sorted latencies, checking every answer holds `want` items.
async fn measure(client: &kube::Client, iterations: usize, want: usize) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let (code, body) = raw(client, get(LIST)).await?;
        samples.push(start.elapsed());
        let got = body["items"].as_array().map(Vec::len).unwrap_or(0);
        if code != 200 || got != want {
            bail!("list answered {code} with {got} items, expected {want}: {}", body["message"]);
        }
    }
    samples.sort();
    Ok(samples)
}

/// cozystack-api's PID and resident memory (VmRSS, as /proc prints it), and which build it runs.
fn server_process(cp: &ControlPlane) -> Result<(String, String)> {
    let pid = std::fs::read_to_string(cp.state.join("pids/cozystack-api.pid")).context("reading cozystack-api's PID")?;
    let pid = pid.trim();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).map(|v| v.trim().to_string()).context("no VmRSS")?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map(|p| p.display().to_string()).unwrap_or_default();
    let build = if exe.contains("/release/") {
        "release"
    } else if exe.contains("/debug/") {
        "debug"
    } else {
        "unknown"
    };
    Ok((rss, build.to_string()))
}

/// Replaces the section under [`HEADING`] (up to the next "## " heading) or appends it.
fn merge_section(existing: &str, section: &str) -> String {
    let section = section.trim_end();
    let Some(start) = existing.find(&format!("{HEADING}\n")).filter(|i| *i == 0 || existing[..*i].ends_with('\n')) else {
        let base = existing.trim_end();
        return if base.is_empty() { format!("# Benchmarks\n\n{section}\n") } else { format!("{base}\n\n{section}\n") };
    };
    let rest = &existing[start + HEADING.len()..];
    let end = rest.find("\n## ").map(|i| start + HEADING.len() + i + 1).unwrap_or(existing.len());
    let tail = existing[end..].trim_start_matches('\n');
    let mut out = format!("{}{section}\n", &existing[..start]);
    if !tail.is_empty() {
        out.push('\n');
        out.push_str(tail);
    }
    out
}

#[tokio::main]
async fn main() -> Result<()> {
    let (n, groups, accessible, iterations) =
        (setting("BENCH_NAMESPACES", 5000), setting("BENCH_GROUPS", 300), setting("BENCH_ACCESSIBLE", 50), setting("BENCH_ITERATIONS", 200));
    if accessible > n || groups == 0 || iterations == 0 {
        bail!("BENCH_ACCESSIBLE must not exceed BENCH_NAMESPACES; groups and iterations must be positive");
    }
    let cp = ControlPlane::shared();
    let admin = cp.admin().await?;
    let (rss_before, build) = server_process(cp)?;
    eprintln!("[bench] cozystack-api ({build} build) uses {rss_before}; creating {n} tenant namespaces");

    // Every authenticated user may list TenantNamespaces; `bench-tenant-view` reveals namespaces it is bound in.
    let cr = "/apis/rbac.authorization.k8s.io/v1/clusterroles";
    let mut read = rbac("ClusterRole", "bench-tenantnamespaces-read", None);
    read["rules"] = json!([{"apiGroups": ["core.cozystack.io"], "resources": ["tenantnamespaces"], "verbs": ["get", "list", "watch"]}]);
    ensure(&admin, cr, read).await?;
    let mut crb = binding("ClusterRoleBinding", "bench-tenantnamespaces-read", None, "bench-tenantnamespaces-read", "system:authenticated");
    crb["roleRef"]["name"] = "bench-tenantnamespaces-read".into();
    ensure(&admin, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", crb).await?;
    let mut view = rbac("ClusterRole", "bench-tenant-view", None);
    view["rules"] = json!([{"apiGroups": ["apps.cozystack.io"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]);
    ensure(&admin, cr, view).await?;

    let names: Vec<String> = (0..n).map(|i| format!("tenant-bench-{i:05}")).collect();
    let started = Instant::now();
    for_each(
        names
            .iter()
            .map(|ns| ("/api/v1/namespaces".to_string(), json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {LABEL: "true"}}})))
            .collect(),
        &admin,
    )
    .await?;
    // Each namespace gets its tenant's admin group, as the tenant chart does; every (n / accessible)-th one also
    // binds one of the user's groups.
    let step = n / accessible.max(1);
    let user_groups: Vec<String> = (0..groups).map(|i| format!("bench-group-{i}")).collect();
    let mut want = BTreeSet::new();
    let mut bindings = Vec::new();
    for (i, ns) in names.iter().enumerate() {
        let path = format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings");
        bindings.push((path.clone(), binding("RoleBinding", "tenant-admin", Some(ns), "bench-tenant-view", &format!("{ns}-admin"))));
        if accessible > 0 && i % step == 0 && want.len() < accessible {
            want.insert(ns.clone());
            bindings.push((path, binding("RoleBinding", "bench-user", Some(ns), "bench-tenant-view", &user_groups[(want.len() * 7) % groups])));
            // The baseline caller: the same namespaces through a single group.
            bindings.push((
                format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"),
                binding("RoleBinding", "bench-solo", Some(ns), "bench-tenant-view", "bench-solo"),
            ));
        }
    }
    let rolebindings = bindings.len();
    for_each(bindings, &admin).await?;
    eprintln!("[bench] {n} namespaces and {rolebindings} RoleBindings in place after {:.0?}", started.elapsed());

    // The user with all its groups, authenticated by a client certificate as real users are (impersonation would
    // add kube-apiserver's per-group impersonation checks to every request).
    let kubeconfig = cp.user_kubeconfig("bench-user", &user_groups.iter().map(String::as_str).collect::<Vec<_>>())?;
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    cfg.default_retry = false;
    let user = kube::Client::try_from(cfg)?;
    wait_until("the index to hold every binding", Duration::from_secs(120), || async {
        matches!(raw(&user, get(LIST)).await, Ok((200, body)) if body["items"].as_array().map(Vec::len) == Some(want.len()))
    })
    .await
    .with_context(|| "the user never saw its namespaces (a 503 about header lists means the server refuses the request headers of 300 groups)")?;
    let solo = cp.user("bench-solo-user", &["bench-solo"]).await?;
    let (_, all) = raw(&admin, get(LIST)).await?;
    let total = all["items"].as_array().map(Vec::len).unwrap_or(0);

    measure(&user, 10, want.len()).await?;
    measure(&solo, 10, want.len()).await?;
    // Alternating, so that both callers see the same load from whatever else runs on the machine.
    let (mut user_samples, mut solo_samples) = (Vec::new(), Vec::new());
    for _ in 0..iterations {
        user_samples.extend(measure(&user, 1, want.len()).await?);
        solo_samples.extend(measure(&solo, 1, want.len()).await?);
    }
    user_samples.sort();
    solo_samples.sort();
    let (rss_indexed, _) = server_process(cp)?;
    let admin_samples = measure(&admin, (iterations / 10).max(5), total).await?;
    let (rss_after, _) = server_process(cp)?;

    let cpus = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(0);
    let section = format!(
        "{HEADING}\n\n\
         A user in {groups} groups, whose RoleBindings give it {accessible} of {n} tenant namespaces, lists its\n\
         TenantNamespaces through kube-apiserver's aggregator ({iterations} sequential lists after 10 warm-up ones,\n\
         alternating with a user reaching the same namespaces through one group).\n\
         The answer comes from the in-memory authorization index (union of the caller's subjects' namespace sets),\n\
         so its cost follows the {accessible} namespaces returned, not the {n} namespaces or the {groups} groups.\n\
         Measured by `cargo run -p bench --bin bench_tenant_namespaces` against a local control plane\n\
         (cozystack-api {build} build, {cpus} CPUs, {rolebindings} RoleBindings).\n\n\
         | caller | items | p50 | p99 |\n|---|---:|---:|---:|\n\
         | user in {groups} groups | {} | {} | {} |\n\
         | user in 1 group, same namespaces | {} | {} | {} |\n\
         | system:masters (every tenant namespace) | {total} | {} | {} |\n\n\
         cozystack-api resident memory (VmRSS): {rss_before} before the namespaces existed, {rss_indexed} with\n\
         {total} tenant namespaces and their bindings indexed (after the user's lists), {rss_after} after the\n\
         system:masters lists (each answer encodes every namespace; the allocator keeps some of that memory).\n",
        want.len(),
        ms(percentile_of(&user_samples, 0.50)),
        ms(percentile_of(&user_samples, 0.99)),
        want.len(),
        ms(percentile_of(&solo_samples, 0.50)),
        ms(percentile_of(&solo_samples, 0.99)),
        ms(percentile_of(&admin_samples, 0.50)),
        ms(percentile_of(&admin_samples, 0.99)),
    );
    println!("{section}");
    let doc = repo_root().join("docs/benchmarks.md");
    let existing = std::fs::read_to_string(&doc).unwrap_or_default();
    write(&doc, &merge_section(&existing, &section))?;
    eprintln!("[bench] wrote {}", doc.display());

    if std::env::var("COZY_E2E_STATE_DIR").is_ok() && std::env::var("BENCH_KEEP").is_err() {
        eprintln!("[bench] deleting the bench namespaces");
        let deletes: Vec<_> = names.iter().map(|ns| http::Request::delete(format!("/api/v1/namespaces/{ns}")).body(Vec::new()).expect("a request")).collect();
        futures::stream::iter(deletes)
            .for_each_concurrent(CONCURRENCY, |r| async {
                raw(&admin, r).await.ok();
            })
            .await;
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_replaced_or_appended() {
        let section = "## TenantNamespace list\n\nnew\n";
        assert_eq!(merge_section("", section), "# Benchmarks\n\n## TenantNamespace list\n\nnew\n");
        assert_eq!(merge_section("# B\n\n## Results\n\nr\n", section), "# B\n\n## Results\n\nr\n\n## TenantNamespace list\n\nnew\n");
        assert_eq!(
            merge_section("# B\n\n## TenantNamespace list\n\nold\nlines\n\n## Memory\n\nm\n", section),
            "# B\n\n## TenantNamespace list\n\nnew\n\n## Memory\n\nm\n"
        );
        assert_eq!(merge_section("# B\n\n## TenantNamespace list\n\nold\n", section), "# B\n\n## TenantNamespace list\n\nnew\n");
    }
}
