//! Tests of WorkloadsReady and the external IP count: the rules of each outcome, the annotations, and how a
//! HelmRelease carrying them reads as an Application.

use super::*;
use crate::application::{AppKind, from_helm_release};
use serde_json::json;

fn monitor(ns: &str, kind: &str, name: &str, operational: Option<bool>, created: &str) -> Value {
    let mut m = json!({
        "metadata": {
            "name": format!("{name}-m"), "namespace": ns, "creationTimestamp": created,
            "labels": {KIND_LABEL: kind, GROUP_LABEL: APPS_GROUP, NAME_LABEL: name}
        },
        "spec": {}
    });
    if let Some(op) = operational {
        m["status"] = json!({"operational": op});
    }
    m
}

fn release(ns: &str, name: &str, kind: &str, app: &str, annotations: Value) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {
            "name": name, "namespace": ns, "resourceVersion": "7", "generation": 2,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {KIND_LABEL: kind, GROUP_LABEL: APPS_GROUP, NAME_LABEL: app},
            "annotations": annotations
        },
        "spec": {"values": {}},
        "status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "InstallSucceeded", "message": "", "lastTransitionTime": "2026-01-02T00:00:00Z"},
            {"type": "Reconciling", "status": "False", "reason": "", "message": "", "lastTransitionTime": "2026-01-03T00:00:00Z"}
        ]}
    })
}

fn kind(name: &str) -> AppKind {
    AppKind::from_definition(&crate::fixtures::application_definition(name)).unwrap()
}

#[test]
fn no_monitors_no_summary() {
    assert_eq!(summarize([]), None);
}

#[test]
fn summary_counts_each_state_and_keeps_the_newest_creation() {
    let ms = [
        monitor("ns", "Postgres", "db", Some(true), "2026-02-01T00:00:00Z"),
        monitor("ns", "Postgres", "db", Some(false), "2026-03-01T00:00:00Z"),
        monitor("ns", "Postgres", "db", None, "2026-01-01T00:00:00Z"),
    ];
    let s = summarize(&ms).unwrap();
    assert_eq!(s, WorkloadsSummary { monitors: 3, not_operational: 1, pending: 1, newest: Some("2026-03-01T00:00:00Z".into()) });
}

#[test]
fn condition_false_beats_unknown_beats_true() {
    let hr = release("ns", "postgres-db", "Postgres", "db", json!({}));
    let c = |not_operational, pending| workloads_condition(&WorkloadsSummary { monitors: 2, not_operational, pending, newest: None }, &hr);
    let f = c(1, 1);
    assert_eq!((f.status.as_str(), f.reason.as_str(), f.message.as_str()), ("False", "WorkloadMonitorCheck", "One or more workloads are not operational"));
    let u = c(0, 1);
    assert_eq!((u.status.as_str(), u.reason.as_str(), u.message.as_str()), ("Unknown", "Pending", "One or more workloads have not been reconciled yet"));
    let t = c(0, 0);
    assert_eq!((t.status.as_str(), t.reason.as_str(), t.message.as_str()), ("True", "WorkloadMonitorCheck", "All workloads are operational"));
    assert_eq!(t.type_, "WorkloadsReady");
}

#[test]
fn transition_time_is_the_latest_of_release_conditions_and_monitors() {
    let hr = release("ns", "postgres-db", "Postgres", "db", json!({}));
    let time = |newest: Option<&str>| {
        let s = WorkloadsSummary { monitors: 1, newest: newest.map(str::to_string), ..Default::default() };
        serde_json::to_value(workloads_condition(&s, &hr).last_transition_time).unwrap()
    };
    // Every HelmRelease condition counts, not only the copied ones.
    assert_eq!(time(None), json!("2026-01-03T00:00:00Z"));
    assert_eq!(time(Some("2026-05-01T00:00:00Z")), json!("2026-05-01T00:00:00Z"));
}

#[test]
fn owners_of_monitors_and_releases_meet_in_the_workloads_namespace() {
    let m = monitor("tenant-root", "Postgres", "db", None, "2026-01-01T00:00:00Z");
    assert_eq!(monitor_owner(&m), Some(("tenant-root".into(), "Postgres".into(), "db".into())));
    let hr = release("tenant-root", "postgres-db", "Postgres", "db", json!({}));
    assert_eq!(release_workloads(&hr), monitor_owner(&m));
    // A Tenant's workloads run in the namespace it owns.
    let tenant = release("tenant-root", "tenant-foo", "Tenant", "foo", json!({}));
    assert_eq!(release_workloads(&tenant), Some(("tenant-foo".into(), "Tenant".into(), "foo".into())));
    let nested = release("tenant-foo", "tenant-bar", "Tenant", "bar", json!({}));
    assert_eq!(release_workloads(&nested).unwrap().0, "tenant-foo-bar");
    // Another group's monitor is nobody's here.
    let mut other = m.clone();
    other["metadata"]["labels"][GROUP_LABEL] = json!("example.com");
    assert_eq!(monitor_owner(&other), None);
    let mut unnamed = m;
    unnamed["metadata"]["labels"].as_object_mut().unwrap().remove(NAME_LABEL);
    assert_eq!(monitor_owner(&unnamed), None);
}

#[test]
fn external_ip_needs_a_load_balancer_with_an_ingress_ip() {
    let svc = |t: &str, ingress: Value| json!({"spec": {"type": t}, "status": {"loadBalancer": {"ingress": ingress}}});
    assert!(has_external_ip(&svc("LoadBalancer", json!([{"hostname": "a"}, {"ip": "10.0.0.1"}]))));
    assert!(!has_external_ip(&svc("LoadBalancer", json!([{"hostname": "a"}]))));
    assert!(!has_external_ip(&svc("LoadBalancer", json!([{"ip": ""}]))));
    assert!(!has_external_ip(&svc("LoadBalancer", json!([]))));
    assert!(!has_external_ip(&svc("NodePort", json!([{"ip": "10.0.0.1"}]))));
    assert!(!has_external_ip(&json!({"spec": {"type": "LoadBalancer"}})));
}

#[test]
fn annotations_round_trip_and_bad_ones_are_ignored() {
    let s = WorkloadsSummary { monitors: 2, not_operational: 1, pending: 0, newest: Some("2026-01-01T00:00:00Z".into()) };
    let raw = write_annotation(s.clone(), 42);
    assert_eq!(raw, r#"{"monitors":2,"notOperational":1,"newest":"2026-01-01T00:00:00Z","observed":42}"#);
    let hr = release("ns", "postgres-db", "Postgres", "db", json!({WORKLOADS_ANNOTATION: raw}));
    assert_eq!(read_annotation::<WorkloadsSummary>(&hr, WORKLOADS_ANNOTATION), Some(Observed { value: s, observed: 42 }));
    let bad = release("ns", "postgres-db", "Postgres", "db", json!({WORKLOADS_ANNOTATION: "{"}));
    assert_eq!(read_annotation::<WorkloadsSummary>(&bad, WORKLOADS_ANNOTATION), None);
}

#[test]
fn application_shows_workloads_ready_after_the_release_conditions() {
    let ann = write_annotation(WorkloadsSummary { monitors: 1, not_operational: 1, ..Default::default() }, 9);
    let hr = release("tenant-root", "postgres-db", "Postgres", "db", json!({WORKLOADS_ANNOTATION: ann}));
    let app = from_helm_release(&hr, &kind("postgres")).unwrap();
    let types: Vec<_> = app.status.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["Ready", "WorkloadsReady"]);
    assert_eq!(app.condition("WorkloadsReady").unwrap().status, "False");
    // Ready stays the HelmRelease's.
    assert_eq!(app.condition("Ready").unwrap().status, "True");
    // The server's annotations are not the user's.
    assert_eq!(app.metadata.annotations, None);
    assert_eq!(app.metadata.generation, Some(2));
    // Without the annotation there is no WorkloadsReady.
    let plain = from_helm_release(&release("tenant-root", "postgres-db", "Postgres", "db", json!({})), &kind("postgres")).unwrap();
    assert!(plain.condition("WorkloadsReady").is_none());
}

#[test]
fn only_a_tenant_shows_its_external_ip_count() {
    let ann = json!({EXTERNAL_IPS_ANNOTATION: write_annotation(ExternalIps { count: 3 }, 5)});
    let tenant = from_helm_release(&release("tenant-root", "tenant-foo", "Tenant", "foo", ann.clone()), &kind("tenant")).unwrap();
    assert_eq!(tenant.status.external_ips_count, 3);
    assert_eq!(tenant.status.namespace, "tenant-foo");
    let db = from_helm_release(&release("tenant-root", "postgres-db", "Postgres", "db", ann), &kind("postgres")).unwrap();
    assert_eq!(db.status.external_ips_count, 0);
    let status = serde_json::to_value(&tenant.status).unwrap();
    assert_eq!(status["externalIPsCount"], json!(3));
}

#[test]
fn annotation_changes_only_for_a_new_answer_from_a_newer_observation() {
    let ips = |count| ExternalIps { count };
    let current = |count, observed| Some(Observed { value: ips(count), observed });
    // Nothing to show and nothing shown: no change.
    assert_eq!(annotation_change::<ExternalIps>(None, None, 10), None);
    // The same answer: no write, whatever the resourceVersion.
    assert_eq!(annotation_change(Some(ips(2)), current(2, 5), 10), None);
    // A new answer is written with the observation's resourceVersion.
    assert_eq!(annotation_change(Some(ips(3)), current(2, 5), 10), Some(json!(r#"{"count":3,"observed":10}"#)));
    assert_eq!(annotation_change(Some(ips(1)), None, 10), Some(json!(r#"{"count":1,"observed":10}"#)));
    // Nothing left to show: removed.
    assert_eq!(annotation_change(None, current(2, 5), 10), Some(Value::Null));
    // A replica that saw less never overwrites what one that saw more wrote.
    assert_eq!(annotation_change(Some(ips(3)), current(2, 11), 10), None);
    assert_eq!(annotation_change(None, current(2, 11), 10), None);
}
