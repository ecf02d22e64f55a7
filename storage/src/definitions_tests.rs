//! The definition watcher over the in-memory backend: the catalog follows definitions added, changed, removed
//! and broken, and the APIServices are touched when the served set changes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::backend::testing::FakeBackend;
use crate::tests::settings;

fn definition(name: &str) -> Value {
    let mut v = serde_json::to_value(apis::fixtures::application_definition(name)).unwrap();
    v["apiVersion"] = "cozystack.io/v1alpha1".into();
    v["kind"] = "ApplicationDefinition".into();
    v["metadata"] = json!({"name": name});
    v
}

fn served(catalog: &Catalog) -> Vec<String> {
    catalog.snapshot().resources.keys().map(|(_, plural)| plural.clone()).collect()
}

/// Waits until `cond` holds of the catalog.
async fn until(catalog: &Catalog, what: &str, cond: impl Fn(&[String]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !cond(&served(catalog)) {
        assert!(tokio::time::Instant::now() < deadline, "{what}: served {:?}", served(catalog));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_catalog_follows_the_definitions() {
    let fake = FakeBackend::new();
    fake.put(&DEFINITIONS, definition("postgres"));
    fake.put(&DEFINITIONS, definition("redis"));
    let api_service = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1alpha1.apps.cozystack.io"}});
    fake.put(&API_SERVICES, api_service);
    let catalog = Arc::new(Catalog::new(vec![apis::APPS_GROUP.into()]));
    let broken: Arc<Mutex<Vec<Broken>>> = Arc::default();
    let heard = broken.clone();
    let on_change: OnChange = Arc::new(move |b: &[Broken]| *heard.lock().unwrap() = b.to_vec());
    let synced = Arc::new(tokio::sync::Notify::new());
    let watcher = tokio::spawn(watch_definitions(fake.backend(), settings(), catalog.clone(), Resources::new(), on_change, synced.clone()));

    tokio::time::timeout(Duration::from_secs(5), synced.notified()).await.expect("synced after the first list");
    assert_eq!(served(&catalog), ["postgreses", "redises"]);
    let hash =
        |fake: &FakeBackend| fake.object(&API_SERVICES, "", "v1alpha1.apps.cozystack.io").unwrap()["metadata"]["annotations"][SERVED_HASH_ANNOTATION].clone();
    let first = hash(&fake);
    assert!(first.is_string(), "the APIService is touched");

    fake.put(&DEFINITIONS, definition("kafka"));
    until(&catalog, "an added definition is served", |s| s.contains(&"kafkas".to_string())).await;
    assert_ne!(hash(&fake), first, "and announced");

    let mut renamed = definition("redis");
    renamed["spec"]["application"]["plural"] = "rediscaches".into();
    fake.put(&DEFINITIONS, renamed);
    until(&catalog, "a changed definition is served as changed", |s| s.contains(&"rediscaches".to_string()) && !s.contains(&"redises".to_string())).await;

    fake.remove(&DEFINITIONS, "", "kafka");
    until(&catalog, "a removed definition is no longer served", |s| !s.contains(&"kafkas".to_string())).await;

    // A second definition of the Postgres kind is broken; the first keeps serving.
    let mut clash = definition("postgres");
    clash["metadata"]["name"] = "zz-postgres-copy".into();
    clash["spec"]["application"]["plural"] = "postgrescopies".into();
    fake.put(&DEFINITIONS, clash);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while broken.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the clash is reported");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reported = broken.lock().unwrap().clone();
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].name, "zz-postgres-copy");
    assert!(reported[0].reason.contains("Postgres"), "{}", reported[0].reason);
    assert_eq!(served(&catalog), ["postgreses", "rediscaches"]);

    // An ended watch resumes; one that cannot (410) lists again, and catches up with what changed meanwhile.
    fake.fail_next("watch", crate::backend::testing::status_error(410, "Expired", "too old resource version"));
    fake.end_watches();
    fake.put(&DEFINITIONS, definition("kafka"));
    until(&catalog, "served after the relist", |s| s.contains(&"kafkas".to_string())).await;
    assert!(fake.calls().iter().filter(|(verb, _)| *verb == "list").count() >= 2, "listed again: {:?}", fake.calls());
    watcher.abort();
}
