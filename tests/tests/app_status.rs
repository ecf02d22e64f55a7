//! What applications show of other objects: WorkloadsReady from their WorkloadMonitors, in an open watch and in
//! order, and a Tenant's externalIPsCount from the LoadBalancer Services of its namespace.

use std::time::Duration;

use e2e::{APPS, ControlPlane, Watch, namespace, postgres, raw, req, unique, wait_until};
use serde_json::{Value, json};

const MONITORS: &str = "/apis/cozystack.io/v1alpha1";

fn monitor(ns: &str, name: &str, kind: &str, app: &str) -> Value {
    json!({
        "apiVersion": "cozystack.io/v1alpha1", "kind": "WorkloadMonitor",
        "metadata": {"name": name, "namespace": ns, "labels": {
            "apps.cozystack.io/application.kind": kind, "apps.cozystack.io/application.group": "apps.cozystack.io",
            "apps.cozystack.io/application.name": app
        }},
        "spec": {"selector": {"app": app}, "kind": "postgres", "type": "postgres"}
    })
}

async fn set_operational(admin: &kube::Client, ns: &str, name: &str, operational: bool) {
    let path = format!("{MONITORS}/namespaces/{ns}/workloadmonitors/{name}/status");
    let body = serde_json::to_vec(&json!({"status": {"operational": operational}})).unwrap();
    let (code, out) = raw(admin, e2e::with_type("PATCH", &path, "application/merge-patch+json", &body)).await.unwrap();
    assert_eq!(code, 200, "{out}");
}

fn workloads_ready(app: &Value) -> Option<Value> {
    app["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "WorkloadsReady").cloned()
}

fn rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()
}

/// The last event of `name` in the watch whose WorkloadsReady has `status`, once there is one.
async fn watched(watch: &Watch, name: &str, status: &str) -> Value {
    let found = || {
        watch
            .events()
            .into_iter()
            .rev()
            .find(|(_, o)| o["metadata"]["name"] == name)
            .and_then(|(_, o)| workloads_ready(&o).filter(|c| c["status"] == status).map(|_| o))
    };
    let ok = wait_until(&format!("WorkloadsReady {status} in the watch"), Duration::from_secs(20), || async { found().is_some() }).await;
    assert!(ok.is_ok(), "WorkloadsReady {status} never reached the watch: {:?}", watch.events());
    found().unwrap()
}

#[tokio::test]
async fn a_monitor_turning_non_operational_reaches_an_open_watch_in_order() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "wr");
    let apps = format!("{APPS}/namespaces/{ns}/postgreses");
    let (code, created) = raw(&admin, req("POST", &apps, Some(postgres(&ns, "db", json!({}))))).await.unwrap();
    assert_eq!(code, 201, "{created}");
    // No monitors: no condition.
    assert_eq!(workloads_ready(&created), None);
    let watch = Watch::open(&admin, &format!("{apps}?watch=1&resourceVersion={}", rv(&created))).await;

    let (code, out) =
        raw(&admin, req("POST", &format!("{MONITORS}/namespaces/{ns}/workloadmonitors"), Some(monitor(&ns, "db-main", "Postgres", "db")))).await.unwrap();
    assert_eq!(code, 201, "{out}");
    let pending = watched(&watch, "db", "Unknown").await;
    let cond = workloads_ready(&pending).unwrap();
    assert_eq!((cond["reason"].as_str(), cond["message"].as_str()), (Some("Pending"), Some("One or more workloads have not been reconciled yet")));

    set_operational(&admin, &ns, "db-main", true).await;
    let up = watched(&watch, "db", "True").await;
    assert_eq!(workloads_ready(&up).unwrap()["message"], "All workloads are operational");

    set_operational(&admin, &ns, "db-main", false).await;
    let down = watched(&watch, "db", "False").await;
    let cond = workloads_ready(&down).unwrap();
    assert_eq!((cond["reason"].as_str(), cond["message"].as_str()), (Some("WorkloadMonitorCheck"), Some("One or more workloads are not operational")));

    // The events came in resourceVersion order, each later than the last, and the object read back is the
    // one the watch delivered last.
    let rvs: Vec<u64> = watch.events().iter().map(|(_, o)| rv(o)).collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "resourceVersions not increasing: {rvs:?}");
    let (code, got) = raw(&admin, req("GET", &format!("{apps}/db"), None)).await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(workloads_ready(&got).unwrap()["status"], "False");
    assert_eq!(rv(&got), rv(&down));
    // Ready is the HelmRelease's alone: nothing made one up.
    assert!(got["status"]["conditions"].as_array().unwrap().iter().all(|c| c["type"] != "Ready"), "{got}");
    // The server's bookkeeping is not the user's metadata.
    assert_eq!(got["metadata"].get("annotations"), None, "{got}");

    // A watch resumed from the Unknown event replays exactly what came after it.
    let resumed = Watch::open(&admin, &format!("{apps}?watch=1&resourceVersion={}", rv(&pending))).await;
    let want: Vec<u64> = rvs.iter().copied().filter(|r| *r > rv(&pending)).collect();
    let ok = wait_until("the resumed watch to replay", Duration::from_secs(20), || async {
        resumed.events().iter().map(|(_, o)| rv(o)).collect::<Vec<_>>() == want
    })
    .await;
    assert!(ok.is_ok(), "resumed {:?}, want {want:?}", resumed.events());

    // The monitor gone, the condition goes.
    let (code, _) = raw(&admin, req("DELETE", &format!("{MONITORS}/namespaces/{ns}/workloadmonitors/db-main"), None)).await.unwrap();
    assert_eq!(code, 200);
    let ok = wait_until("WorkloadsReady to go", Duration::from_secs(20), || async { watch.events().last().is_some_and(|(_, o)| workloads_ready(o).is_none()) })
        .await;
    assert!(ok.is_ok(), "{:?}", watch.events());
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn a_tenant_counts_load_balancers_with_an_ip_and_shows_its_monitors() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let name = unique("ips").replace('-', "");
    let tenants = format!("{APPS}/namespaces/tenant-root/tenants");
    let tenant = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name, "namespace": "tenant-root"}, "spec": {}});
    let (code, created) = raw(&admin, req("POST", &tenants, Some(tenant))).await.unwrap();
    assert_eq!(code, 201, "{created}");
    let tenant_ns = created["status"]["namespace"].as_str().unwrap().to_string();
    assert_eq!(tenant_ns, format!("tenant-{name}"));
    // No chart runs here to create the tenant's namespace: the test makes it.
    cp.kubectl_ok(&["create", "namespace", &tenant_ns]).unwrap();

    let service = |svc: &str| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc, "namespace": tenant_ns},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    };
    for svc in ["lb-a", "lb-b"] {
        let (code, out) = raw(&admin, req("POST", &format!("/api/v1/namespaces/{tenant_ns}/services"), Some(service(svc)))).await.unwrap();
        assert_eq!(code, 201, "{out}");
    }
    // Only lb-a gets an address; a hostname alone is no IP.
    let give = |svc: &'static str, ingress: Value| {
        let (admin, tenant_ns) = (admin.clone(), tenant_ns.clone());
        async move {
            let body = serde_json::to_vec(&json!({"status": {"loadBalancer": {"ingress": ingress}}})).unwrap();
            let path = format!("/api/v1/namespaces/{tenant_ns}/services/{svc}/status");
            let (code, out) = raw(&admin, e2e::with_type("PATCH", &path, "application/merge-patch+json", &body)).await.unwrap();
            assert_eq!(code, 200, "{out}");
        }
    };
    give("lb-a", json!([{"ip": "192.0.2.10"}])).await;
    give("lb-b", json!([{"hostname": "lb.example.com"}])).await;

    let count = || async {
        let (_, t) = raw(&admin, req("GET", &format!("{tenants}/{name}"), None)).await.unwrap();
        t["status"].get("externalIPsCount").cloned()
    };
    let ok = wait_until("one external IP on the tenant", Duration::from_secs(20), || async { count().await == Some(json!(1)) }).await;
    assert!(ok.is_ok(), "externalIPsCount is {:?}", count().await);
    give("lb-b", json!([{"ip": "192.0.2.11"}])).await;
    let ok = wait_until("two external IPs on the tenant", Duration::from_secs(20), || async { count().await == Some(json!(2)) }).await;
    assert!(ok.is_ok(), "externalIPsCount is {:?}", count().await);

    // The tenant's workloads run in its namespace: a monitor there is the tenant's.
    let (code, out) =
        raw(&admin, req("POST", &format!("{MONITORS}/namespaces/{tenant_ns}/workloadmonitors"), Some(monitor(&tenant_ns, "ingress", "Tenant", &name))))
            .await
            .unwrap();
    assert_eq!(code, 201, "{out}");
    set_operational(&admin, &tenant_ns, "ingress", true).await;
    let ready = || async {
        let (_, t) = raw(&admin, req("GET", &format!("{tenants}/{name}"), None)).await.unwrap();
        workloads_ready(&t).map(|c| c["status"].clone())
    };
    let ok = wait_until("the tenant's WorkloadsReady", Duration::from_secs(20), || async { ready().await == Some(json!("True")) }).await;
    assert!(ok.is_ok(), "WorkloadsReady is {:?}", ready().await);

    // Services gone: the count is omitted, as at zero.
    cp.kubectl_ok(&["delete", "service", "-n", &tenant_ns, "lb-a", "lb-b"]).unwrap();
    let ok = wait_until("no external IP on the tenant", Duration::from_secs(20), || async { count().await.is_none() }).await;
    assert!(ok.is_ok(), "externalIPsCount is {:?}", count().await);

    let (code, _) = raw(&admin, req("DELETE", &format!("{tenants}/{name}"), None)).await.unwrap();
    assert_eq!(code, 200);
    cp.kubectl_ok(&["delete", "namespace", &tenant_ns, "--wait=false"]).unwrap();
}
