//! The fake backend answers as kube-apiserver does, for the behaviours the other tests rely on.

use futures::StreamExt;
use serde_json::json;

use super::*;
use crate::backend::HELM_RELEASES;

fn hr(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": name, "labels": labels}, "spec": {"values": {}}})
}

fn code(e: BackendError) -> (Option<u16>, String) {
    (e.code(), e.reason().to_string())
}

#[tokio::test]
async fn writes_follow_kube_apiserver() {
    let fake = FakeBackend::new();
    let q = Query::default();
    let a = fake.create(&HELM_RELEASES, "ns", &hr("a", json!({})), &q).await.unwrap();
    assert_eq!(a["metadata"]["resourceVersion"], "1");
    assert_eq!(a["metadata"]["namespace"], "ns");
    assert_eq!(code(fake.create(&HELM_RELEASES, "ns", &hr("a", json!({})), &q).await.unwrap_err()), (Some(409), "AlreadyExists".into()));
    let dry = Query::default().set("dryRun", "All");
    fake.create(&HELM_RELEASES, "ns", &hr("b", json!({})), &dry).await.unwrap();
    assert!(fake.object(&HELM_RELEASES, "ns", "b").is_none(), "a dry-run create writes nothing");

    let mut stale = a.clone();
    stale["metadata"]["resourceVersion"] = "0".into();
    assert_eq!(code(fake.replace(&HELM_RELEASES, "ns", "a", &stale, &q).await.unwrap_err()), (Some(409), "Conflict".into()));
    let same = fake.replace(&HELM_RELEASES, "ns", "a", &a, &q).await.unwrap();
    assert_eq!(same["metadata"]["resourceVersion"], "1", "an update that changes nothing writes nothing");
    let mut changed = a.clone();
    changed["spec"]["x"] = 1.into();
    let updated = fake.replace(&HELM_RELEASES, "ns", "a", &changed, &q).await.unwrap();
    assert_eq!(updated["metadata"]["resourceVersion"], "2");
    let mut unconditional = a.clone();
    unconditional["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    assert_eq!(fake.replace(&HELM_RELEASES, "ns", "a", &unconditional, &q).await.unwrap()["metadata"]["resourceVersion"], "3");
    assert_eq!(code(fake.get(&HELM_RELEASES, "ns", "missing").await.unwrap_err()), (Some(404), "NotFound".into()));

    let mut finalized = hr("f", json!({}));
    finalized["metadata"]["finalizers"] = json!(["x"]);
    fake.create(&HELM_RELEASES, "ns", &finalized, &q).await.unwrap();
    let pending = fake.delete(&HELM_RELEASES, "ns", "f", &json!({})).await.unwrap();
    assert!(pending.pointer("/metadata/deletionTimestamp").is_some());
    assert!(fake.object(&HELM_RELEASES, "ns", "f").is_some(), "finalizers keep the object");
    fake.delete(&HELM_RELEASES, "ns", "a", &json!({"dryRun": ["All"]})).await.unwrap();
    assert!(fake.object(&HELM_RELEASES, "ns", "a").is_some(), "a dry-run delete removes nothing");
    fake.delete(&HELM_RELEASES, "ns", "a", &json!({})).await.unwrap();
    assert!(fake.object(&HELM_RELEASES, "ns", "a").is_none());
}

#[tokio::test]
async fn lists_select_and_watches_resume() {
    let fake = FakeBackend::new();
    let q = Query::default();
    fake.create(&HELM_RELEASES, "x", &hr("a", json!({"app": "one"})), &q).await.unwrap();
    fake.create(&HELM_RELEASES, "y", &hr("b", json!({"app": "two"})), &q).await.unwrap();
    let names = |l: &Value| l["items"].as_array().unwrap().iter().map(|o| o["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&fake.list(&HELM_RELEASES, "", &q).await.unwrap()), ["a", "b"]);
    assert_eq!(names(&fake.list(&HELM_RELEASES, "", &Query::default().set("labelSelector", "app=two")).await.unwrap()), ["b"]);
    assert_eq!(names(&fake.list(&HELM_RELEASES, "x", &q).await.unwrap()), ["a"]);

    let mut from_one = fake.watch(&HELM_RELEASES, "", &Query::default().set("resourceVersion", "1")).await.unwrap();
    let (t, o) = from_one.next().await.unwrap().unwrap();
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str()), ("ADDED", Some("b")), "changes after 1 only");
    fake.delete(&HELM_RELEASES, "x", "a", &json!({})).await.unwrap();
    let (t, o) = from_one.next().await.unwrap().unwrap();
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str()), ("DELETED", Some("a")), "then live changes");

    fake.fail_next("get", status_error(500, "InternalError", "boom"));
    assert_eq!(fake.get(&HELM_RELEASES, "y", "b").await.unwrap_err().code(), Some(500));
    assert!(fake.get(&HELM_RELEASES, "y", "b").await.is_ok(), "an injected failure happens once");
}
