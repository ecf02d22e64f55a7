//! Server-side apply and managedFields through the generic store: where they are kept, what each verb records,
//! conflicts and preconditions.

use serde_json::{Value, json};

use super::{ctx, pg, postgres};
use crate::backend::HELM_RELEASES;
use crate::backend::testing::FakeBackend;
use crate::projection::MANAGED_FIELDS_ANNOTATION;
use crate::registry::{Registry, WriteOptions};

const NS: &str = "tenant-root";

fn by(manager: &str) -> WriteOptions {
    WriteOptions { field_manager: manager.into(), ..Default::default() }
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| a.iter().map(|e| (e["manager"].as_str().unwrap().to_string(), e["operation"].as_str().unwrap().to_string())).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn managed_fields_live_in_one_annotation_of_the_release_and_are_never_shown_as_one() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let created = store.create(&ctx(NS), pg("db", json!({"replicas": 2})), &by("creator")).await.unwrap().object;
    assert_eq!(managers(&created), [("creator".to_string(), "Update".to_string())]);
    assert_eq!(created["metadata"].get("annotations"), None);
    let hr = fake.object(&HELM_RELEASES, NS, "postgres-db").unwrap();
    let stored: Value = serde_json::from_str(hr["metadata"]["annotations"][MANAGED_FIELDS_ANNOTATION].as_str().unwrap()).unwrap();
    assert_eq!(stored, created["metadata"]["managedFields"]);
    // Reads, lists and watches of any replica see them from the release.
    assert_eq!(store.get(&ctx(NS), "db").await.unwrap()["metadata"]["managedFields"], stored);
    // A client's own annotation of that name never reaches the release.
    let mut sneaky = created.clone();
    sneaky["metadata"]["annotations"] = json!({MANAGED_FIELDS_ANNOTATION: "[]"});
    store.update(&ctx(NS), "db", sneaky, &by("sneaky")).await.unwrap();
    let hr = fake.object(&HELM_RELEASES, NS, "postgres-db").unwrap();
    assert_ne!(hr["metadata"]["annotations"][MANAGED_FIELDS_ANNOTATION], "[]");
}

#[tokio::test]
async fn apply_conflicts_forces_and_checks_the_resource_version_after_conflicts() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let config = |spec: Value| json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": "db"}, "spec": spec});
    let (created, w) = store.apply(&ctx(NS), "db", config(json!({"replicas": 2})), &by("alice")).await.unwrap();
    assert!(created);
    assert_eq!(managers(&w.object), [("alice".to_string(), "Apply".to_string())]);

    let s = store.apply(&ctx(NS), "db", config(json!({"replicas": 3})), &by("bob")).await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(s.message, "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas");
    // A stale resourceVersion with a conflict: the conflict is the answer, as kube-apiserver gives it.
    let mut stale = config(json!({"replicas": 3}));
    stale["metadata"]["resourceVersion"] = "999".into();
    let s = store.apply(&ctx(NS), "db", stale.clone(), &by("bob")).await.unwrap_err().to_status();
    assert!(s.message.starts_with("Apply failed"), "{}", s.message);
    let forced = WriteOptions { force: true, ..by("bob") };
    let s = store.apply(&ctx(NS), "db", stale, &forced).await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(s.message.contains("the object has been modified"), "{}", s.message);

    let dry = WriteOptions { dry_run: true, ..forced.clone() };
    let (_, w) = store.apply(&ctx(NS), "db", config(json!({"replicas": 3})), &dry).await.unwrap();
    assert_eq!(w.object["spec"]["replicas"], 3);
    assert_eq!(store.get(&ctx(NS), "db").await.unwrap()["spec"]["replicas"], 2, "a dry run writes nothing");

    let (_, w) = store.apply(&ctx(NS), "db", config(json!({"replicas": 3})), &forced).await.unwrap();
    assert_eq!(w.object["spec"]["replicas"], 3);
    assert_eq!(managers(&w.object), [("bob".to_string(), "Apply".to_string())], "alice lost her only field");

    // Wrong kind and another name are refused before anything is read.
    let mut other = config(json!({}));
    other["kind"] = "Redis".into();
    assert_eq!(store.apply(&ctx(NS), "db", other, &by("x")).await.unwrap_err().to_status().code, 400);
    assert_eq!(store.apply(&ctx(NS), "other", config(json!({})), &by("x")).await.unwrap_err().to_status().code, 400);
}

#[tokio::test]
async fn writes_without_a_field_manager_are_named_after_the_user_agent() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let c = crate::registry::RequestContext { user_agent: "kubectl/v1.37.2 (linux/amd64) kubernetes/abc".into(), ..ctx(NS) };
    let created = store.create(&c, pg("db", json!({})), &WriteOptions::default()).await.unwrap().object;
    assert_eq!(managers(&created), [("kubectl".to_string(), "Update".to_string())]);
}
