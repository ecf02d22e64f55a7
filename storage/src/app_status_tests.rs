//! The observations over the in-memory backend: monitors and Services appear, change and go, and each change
//! reaches the HelmRelease and, through it, the application.

use std::sync::Arc;
use std::time::Duration;

use apis::application::observed::{EXTERNAL_IPS_ANNOTATION, WORKLOADS_ANNOTATION};
use serde_json::{Value, json};

use super::*;
use crate::backend::testing::FakeBackend;
use crate::registry::Registry;
use crate::store::Store;
use crate::tests::{application, backend, ctx};

fn release(ns: &str, name: &str, kind: &str, app: &str) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {
            "apps.cozystack.io/application.kind": kind, "apps.cozystack.io/application.group": "apps.cozystack.io",
            "apps.cozystack.io/application.name": app
        }},
        "spec": {"values": {}}
    })
}

fn monitor(ns: &str, name: &str, kind: &str, app: &str, operational: Option<bool>) -> Value {
    let mut m = json!({
        "apiVersion": "cozystack.io/v1alpha1", "kind": "WorkloadMonitor",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": "2026-02-01T00:00:00Z", "labels": {
            "apps.cozystack.io/application.kind": kind, "apps.cozystack.io/application.group": "apps.cozystack.io",
            "apps.cozystack.io/application.name": app
        }}
    });
    if let Some(op) = operational {
        m["status"] = json!({"operational": op});
    }
    m
}

fn load_balancer(ns: &str, name: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}
    })
}

async fn eventually(fake: &FakeBackend, what: &str, ns: &str, name: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let hr = fake.object(&HELM_RELEASES, ns, name).expect("the release");
        if cond(&hr) {
            return hr;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {hr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn annotation<'a>(hr: &'a Value, key: &str) -> Option<&'a str> {
    hr.pointer("/metadata/annotations")?.get(key)?.as_str()
}

#[tokio::test]
async fn monitors_become_workloads_ready_on_the_application() {
    let fake = FakeBackend::new();
    fake.put(&HELM_RELEASES, release("tenant-a", "postgres-db", "Postgres", "db"));
    fake.put(&HELM_RELEASES, release("tenant-a", "postgres-other", "Postgres", "other"));
    fake.put(&WORKLOAD_MONITORS, monitor("tenant-a", "db-1", "Postgres", "db", Some(true)));
    let b = backend(&fake);
    let observer = tokio::spawn(run(b.clone()));
    let store = Store::new(Arc::new(application("postgres", &b)), b.clone());

    let hr = eventually(&fake, "the summary of one operational monitor", "tenant-a", "postgres-db", |hr| annotation(hr, WORKLOADS_ANNOTATION).is_some()).await;
    assert!(annotation(&hr, WORKLOADS_ANNOTATION).unwrap().starts_with(r#"{"monitors":1,"newest":"2026-02-01T00:00:00Z","observed":"#));
    let app = store.get(&ctx("tenant-a"), "db").await.unwrap();
    let cond = app["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "WorkloadsReady").cloned().unwrap();
    assert_eq!((cond["status"].as_str(), cond["reason"].as_str()), (Some("True"), Some("WorkloadMonitorCheck")));
    assert_eq!(cond["lastTransitionTime"], json!("2026-02-01T00:00:00Z"));

    // A monitor turning non-operational turns the condition False.
    fake.put(&WORKLOAD_MONITORS, monitor("tenant-a", "db-1", "Postgres", "db", Some(false)));
    eventually(&fake, "the monitor's failure", "tenant-a", "postgres-db", |hr| {
        annotation(hr, WORKLOADS_ANNOTATION).is_some_and(|a| a.contains(r#""notOperational":1"#))
    })
    .await;
    let app = store.get(&ctx("tenant-a"), "db").await.unwrap();
    assert!(app["status"]["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "WorkloadsReady" && c["status"] == "False"));

    // The monitor gone, the condition goes.
    fake.remove(&WORKLOAD_MONITORS, "tenant-a", "db-1");
    eventually(&fake, "the summary removed", "tenant-a", "postgres-db", |hr| annotation(hr, WORKLOADS_ANNOTATION).is_none()).await;
    // An application without monitors was never written to.
    let other = fake.object(&HELM_RELEASES, "tenant-a", "postgres-other").unwrap();
    assert_eq!(other.pointer("/metadata/annotations"), None);
    let patched: Vec<_> = fake.calls().into_iter().filter(|(verb, _)| *verb == "merge_patch").map(|(_, what)| what).collect();
    assert!(patched.iter().all(|w| w.contains("postgres-db")), "only the monitored release is patched: {patched:?}");
    observer.abort();
}

#[tokio::test]
async fn load_balancers_with_an_ip_count_for_the_tenant_owning_their_namespace() {
    let fake = FakeBackend::new();
    fake.put(&HELM_RELEASES, release("tenant-root", "tenant-foo", "Tenant", "foo"));
    fake.put(&SERVICES, load_balancer("tenant-foo", "a", "10.0.0.1"));
    fake.put(&SERVICES, load_balancer("tenant-foo", "b", ""));
    fake.put(&SERVICES, load_balancer("tenant-bar", "c", "10.0.0.2"));
    let b = backend(&fake);
    let observer = tokio::spawn(run(b.clone()));
    let store = Store::new(Arc::new(application("tenant", &b)), b.clone());

    eventually(&fake, "one external IP", "tenant-root", "tenant-foo", |hr| {
        annotation(hr, EXTERNAL_IPS_ANNOTATION).is_some_and(|a| a.starts_with(r#"{"count":1,"#))
    })
    .await;
    let tenant = store.get(&ctx("tenant-root"), "foo").await.unwrap();
    assert_eq!(tenant["status"]["externalIPsCount"], json!(1));

    fake.put(&SERVICES, load_balancer("tenant-foo", "b", "10.0.0.3"));
    eventually(&fake, "two external IPs", "tenant-root", "tenant-foo", |hr| {
        annotation(hr, EXTERNAL_IPS_ANNOTATION).is_some_and(|a| a.starts_with(r#"{"count":2,"#))
    })
    .await;
    fake.remove(&SERVICES, "tenant-foo", "a");
    fake.remove(&SERVICES, "tenant-foo", "b");
    eventually(&fake, "no external IP", "tenant-root", "tenant-foo", |hr| annotation(hr, EXTERNAL_IPS_ANNOTATION).is_none()).await;
    let tenant = store.get(&ctx("tenant-root"), "foo").await.unwrap();
    assert_eq!(tenant["status"].get("externalIPsCount"), None);
    observer.abort();
}

#[tokio::test]
async fn a_newer_observation_is_never_overwritten() {
    let fake = FakeBackend::new();
    let mut hr = release("tenant-root", "tenant-foo", "Tenant", "foo");
    hr["metadata"]["annotations"] = json!({EXTERNAL_IPS_ANNOTATION: r#"{"count":7,"observed":999999}"#});
    fake.put(&HELM_RELEASES, hr);
    fake.put(&SERVICES, load_balancer("tenant-foo", "a", "10.0.0.1"));
    // A second release, written once the pass has seen the first: proves a pass ran.
    fake.put(&HELM_RELEASES, release("tenant-root", "tenant-bar", "Tenant", "bar"));
    fake.put(&SERVICES, load_balancer("tenant-bar", "b", "10.0.0.2"));
    let b = backend(&fake);
    let observer = tokio::spawn(run(b.clone()));
    eventually(&fake, "the other tenant counted", "tenant-root", "tenant-bar", |hr| annotation(hr, EXTERNAL_IPS_ANNOTATION).is_some()).await;
    let foo = fake.object(&HELM_RELEASES, "tenant-root", "tenant-foo").unwrap();
    assert_eq!(annotation(&foo, EXTERNAL_IPS_ANNOTATION), Some(r#"{"count":7,"observed":999999}"#));
    observer.abort();
}

#[test]
fn a_pass_reads_only_the_metadata_it_needs_of_a_release() {
    let mut hr = release("tenant-a", "postgres-db", "Postgres", "db");
    hr["metadata"]["annotations"] = json!({WORKLOADS_ANNOTATION: "{}"});
    hr["metadata"]["deletionTimestamp"] = json!("2026-03-01T00:00:00Z");
    let read = release_metadata(&serde_json::to_vec(&hr).unwrap()).unwrap();
    assert_eq!(read["metadata"]["namespace"], "tenant-a");
    assert_eq!(read["metadata"]["labels"], hr["metadata"]["labels"]);
    assert_eq!(read["metadata"]["annotations"], hr["metadata"]["annotations"]);
    assert_eq!(read["metadata"]["deletionTimestamp"], "2026-03-01T00:00:00Z");
    assert!(read.get("spec").is_none());
    assert_eq!(observed::release_workloads(&read), observed::release_workloads(&hr));
    assert_eq!(release_metadata(b"not json"), None);
}
