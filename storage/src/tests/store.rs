//! The generic store's verbs over the in-memory backend, through the Postgres registry.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use super::{application, ctx, pg, postgres};
use crate::backend::HELM_RELEASES;
use crate::backend::testing::FakeBackend;
use crate::registry::{DeleteOptions, Deleted, EventStream, EventType, ListOptions, Registry, WriteOptions};
use crate::store::Store;
use crate::watch_cache::WatchCacheConfig;
use crate::watch_cache::progress::MARKER_NAME;

const NS: &str = "tenant-root";

fn rv(obj: &Value) -> &str {
    obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default()
}

fn names(items: &[crate::registry::SharedObject]) -> Vec<&str> {
    items.iter().map(|o| o.name().unwrap()).collect()
}

async fn next(w: &mut EventStream) -> (EventType, String) {
    let e = tokio::time::timeout(Duration::from_secs(5), w.next()).await.expect("an event in time").expect("the watch is open");
    (e.event_type, e.object["metadata"]["name"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn get_create_update_delete() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let (c, w) = (ctx(NS), WriteOptions::default());
    let created = store.create(&c, pg("db", json!({})), &w).await.unwrap().object;
    assert_eq!(created["metadata"]["namespace"], NS);
    assert!(!rv(&created).is_empty(), "the created object carries the backend's resourceVersion");
    assert!(fake.object(&HELM_RELEASES, NS, "postgres-db").is_some(), "written as the prefixed HelmRelease");
    assert_eq!(store.get(&c, "db").await.unwrap(), created);

    let mut changed = created.clone();
    changed["spec"]["replicas"] = 3.into();
    let updated = store.update(&c, "db", changed, &w).await.unwrap().object;
    assert_eq!(updated["spec"]["replicas"], 3);
    assert_ne!(rv(&updated), rv(&created));
    assert_eq!(fake.object(&HELM_RELEASES, NS, "postgres-db").unwrap()["spec"]["values"]["replicas"], 3);

    match store.delete(&c, "db", &DeleteOptions::default()).await.unwrap() {
        Deleted::Gone(last) => assert_eq!(last["metadata"]["name"], "db"),
        Deleted::Pending(_) => panic!("nothing holds the object"),
    }
    assert!(fake.object(&HELM_RELEASES, NS, "postgres-db").is_none());
}

#[tokio::test]
async fn errors_name_the_served_resource() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let (c, w) = (ctx(NS), WriteOptions::default());
    let s = store.get(&c, "missing").await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str(), s.message.as_str()), (404, "NotFound", "postgreses.apps.cozystack.io \"missing\" not found"));
    let s = store.delete(&c, "missing", &DeleteOptions::default()).await.unwrap_err().to_status();
    assert_eq!(s.code, 404);

    let created = store.create(&c, pg("db", json!({})), &w).await.unwrap().object;
    let s = store.create(&c, pg("db", json!({})), &w).await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str(), s.message.as_str()), (409, "AlreadyExists", "postgreses.apps.cozystack.io \"db\" already exists"));

    let mut stale = created.clone();
    let mut changed = created.clone();
    changed["spec"]["replicas"] = 3.into();
    store.update(&c, "db", changed, &w).await.unwrap();
    stale["spec"]["replicas"] = 5.into();
    let s = store.update(&c, "db", stale, &w).await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        s.message,
        "Operation cannot be fulfilled on postgreses.apps.cozystack.io \"db\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // A failed delete precondition keeps the backend's reason, about the served object.
    let opts = DeleteOptions { precondition_uid: Some("other".into()), ..Default::default() };
    let s = store.delete(&c, "db", &opts).await.unwrap_err().to_status();
    assert_eq!(s.code, 409);
    assert!(s.message.starts_with("Operation cannot be fulfilled on postgreses.apps.cozystack.io \"db\": Precondition failed: UID"), "{}", s.message);
}

#[tokio::test]
async fn an_update_without_resource_version_is_unconditional() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let (c, w) = (ctx(NS), WriteOptions::default());
    let created = store.create(&c, pg("db", json!({})), &w).await.unwrap().object;
    // Someone else changes it meanwhile.
    store.update(&c, "db", created.clone(), &w).await.unwrap();
    let mut blind = created.clone();
    blind["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    blind["spec"]["replicas"] = 4.into();
    assert_eq!(store.update(&c, "db", blind, &w).await.unwrap().object["spec"]["replicas"], 4);
}

#[tokio::test]
async fn generate_name_picks_a_free_name() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let obj = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"generateName": "db-"}, "spec": {}});
    let created = store.create(&ctx(NS), obj, &WriteOptions::default()).await.unwrap().object;
    let name = created["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("db-") && name.len() == "db-".len() + 5, "{name}");
    assert!(fake.object(&HELM_RELEASES, NS, &format!("postgres-{name}")).is_some());
}

#[tokio::test]
async fn dry_runs_write_nothing() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let c = ctx(NS);
    let dry = WriteOptions { dry_run: true, ..Default::default() };
    let answered = store.create(&c, pg("db", json!({})), &dry).await.unwrap().object;
    assert_eq!(answered["spec"]["replicas"], 2, "a dry run answers what would be written");
    assert!(fake.objects(&HELM_RELEASES).is_empty());

    let created = store.create(&c, pg("db", json!({})), &WriteOptions::default()).await.unwrap().object;
    let mut changed = created.clone();
    changed["spec"]["replicas"] = 7.into();
    assert_eq!(store.update(&c, "db", changed, &dry).await.unwrap().object["spec"]["replicas"], 7);
    assert_eq!(store.get(&c, "db").await.unwrap(), created, "a dry-run update changes nothing");
    store.delete(&c, "db", &DeleteOptions { dry_run: true, ..Default::default() }).await.unwrap();
    assert!(fake.object(&HELM_RELEASES, NS, "postgres-db").is_some(), "a dry-run delete removes nothing");
}

#[tokio::test]
async fn finalizers_make_a_delete_pending() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let c = ctx(NS);
    store.create(&c, pg("db", json!({})), &WriteOptions::default()).await.unwrap();
    let mut hr = fake.object(&HELM_RELEASES, NS, "postgres-db").unwrap();
    hr["metadata"]["finalizers"] = json!(["finalizers.fluxcd.io"]);
    fake.put(&HELM_RELEASES, hr);
    match store.delete(&c, "db", &DeleteOptions::default()).await.unwrap() {
        Deleted::Pending(obj) => assert!(obj.pointer("/metadata/deletionTimestamp").is_some(), "{obj}"),
        Deleted::Gone(obj) => panic!("a finalizer holds the object: {obj}"),
    }
    assert!(fake.object(&HELM_RELEASES, NS, "postgres-db").is_some());
    // A dry run of the same delete is not pending: nothing happened.
    assert!(matches!(store.delete(&c, "db", &DeleteOptions { dry_run: true, ..Default::default() }).await.unwrap(), Deleted::Gone(_)));
}

#[tokio::test]
async fn lists_select_by_label_and_namespace() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let w = WriteOptions::default();
    let mut labelled = pg("a", json!({}));
    labelled["metadata"]["labels"] = json!({"team": "x"});
    store.create(&ctx(NS), labelled, &w).await.unwrap();
    store.create(&ctx(NS), pg("b", json!({})), &w).await.unwrap();
    store.create(&ctx("tenant-other"), pg("c", json!({})), &w).await.unwrap();
    let list = |ns: &'static str, selector: &str| {
        let opts = ListOptions { label_selector: apis::selector::LabelSelector::parse(selector).unwrap(), ..Default::default() };
        let store = &store;
        async move { store.list(&ctx(ns), &opts).await.unwrap().items }
    };
    assert_eq!(names(&list(NS, "").await), ["a", "b"]);
    assert_eq!(names(&list("", "").await), ["c", "a", "b"], "all namespaces, in namespace order");
    assert_eq!(names(&list(NS, "team=x").await), ["a"], "user labels select, under their prefix in the backend");
    assert!(list(NS, "team=y").await.is_empty());
    // Pages are the backend's.
    let paged = ListOptions { limit: 10, ..Default::default() };
    assert_eq!(names(&store.list(&ctx(NS), &paged).await.unwrap().items), ["a", "b"]);
    // Unsupported field selectors are refused.
    let bad = ListOptions { field_selector: apis::selector::FieldSelector::parse("spec.x=1").unwrap(), ..Default::default() };
    assert_eq!(store.list(&ctx(NS), &bad).await.unwrap_err().to_status().code, 400);
}

#[tokio::test]
async fn watches_see_writes() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let (c, w) = (ctx(NS), WriteOptions::default());
    store.create(&c, pg("a", json!({})), &w).await.unwrap();
    let mut watch = store.watch(&c, &ListOptions::default()).await.unwrap();
    assert_eq!(next(&mut watch).await, (EventType::Added, "a".into()), "the current state first");
    let mut b = store.create(&c, pg("b", json!({})), &w).await.unwrap().object;
    assert_eq!(next(&mut watch).await, (EventType::Added, "b".into()));
    b["spec"]["replicas"] = 3.into();
    store.update(&c, "b", b, &w).await.unwrap();
    assert_eq!(next(&mut watch).await, (EventType::Modified, "b".into()));
    store.delete(&c, "a", &DeleteOptions::default()).await.unwrap();
    assert_eq!(next(&mut watch).await, (EventType::Deleted, "a".into()));
}

#[tokio::test]
async fn backend_failures_are_unavailable() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    fake.fail_next("get", crate::backend::testing::status_error(500, "InternalError", "etcd is down"));
    let s = store.get(&ctx(NS), "db").await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str()), (503, "ServiceUnavailable"));
    fake.fail_next("create", crate::backend::BackendError::Transport("connection refused".into()));
    let s = store.create(&ctx(NS), pg("db", json!({})), &WriteOptions::default()).await.unwrap_err().to_status();
    assert_eq!(s.code, 503);
}

/// Replaces the backing object of `name` with another one (a new uid, no longer ours) while a request is between
/// its check and its write: admission runs exactly there.
struct ReplaceDuringAdmission {
    fake: std::sync::Arc<FakeBackend>,
    name: &'static str,
}

impl crate::admission::AdmissionPlugin for ReplaceDuringAdmission {
    fn name(&self) -> &'static str {
        "ReplaceDuringAdmission"
    }

    fn validate<'a>(&'a self, _: &'a crate::admission::AdmissionRequest<'a>) -> futures::future::BoxFuture<'a, Result<(), crate::StorageError>> {
        Box::pin(async move {
            self.fake.remove(&HELM_RELEASES, NS, self.name);
            self.fake.put(&HELM_RELEASES, json!({"metadata": {"name": self.name, "namespace": NS, "uid": "someone-elses"}, "spec": {}}));
            Ok(())
        })
    }
}

#[tokio::test]
async fn writes_reach_only_the_backing_object_that_was_checked() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let w = WriteOptions::default();
    let swap = std::sync::Arc::new(ReplaceDuringAdmission { fake: fake.clone(), name: "postgres-db" });
    let racing = crate::registry::RequestContext { admission: std::sync::Arc::new(crate::admission::AdmissionChain::new(vec![swap])), ..ctx(NS) };

    store.create(&ctx(NS), pg("db", json!({})), &w).await.unwrap();
    let s = store.delete(&racing, "db", &DeleteOptions::default()).await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"), "{}", s.message);
    assert_eq!(fake.object(&HELM_RELEASES, NS, "postgres-db").unwrap()["metadata"]["uid"], "someone-elses", "the other object stays");

    fake.remove(&HELM_RELEASES, NS, "postgres-db");
    let created_again = store.create(&ctx(NS), pg("db", json!({})), &w).await.unwrap().object;
    let mut changed = created_again.clone();
    changed["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    changed["spec"]["replicas"] = 3.into();
    let s = store.update(&racing, "db", changed, &w).await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"), "an update without resourceVersion: {}", s.message);
    assert_eq!(fake.object(&HELM_RELEASES, NS, "postgres-db").unwrap()["metadata"]["uid"], "someone-elses", "the other object stays");
}

#[tokio::test]
async fn a_delete_with_another_uid_or_an_update_with_another_version_conflicts_and_changes_nothing() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let (c, w) = (ctx(NS), WriteOptions::default());
    let created = store.create(&c, pg("db", json!({})), &w).await.unwrap().object;
    let opts = DeleteOptions { precondition_uid: Some("not-its-uid".into()), ..Default::default() };
    let s = store.delete(&c, "db", &opts).await.unwrap_err().to_status();
    assert_eq!(s.code, 409);
    assert!(s.message.contains("Precondition failed: UID in precondition: not-its-uid"), "{}", s.message);
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = "999".into();
    stale["spec"]["replicas"] = 5.into();
    let s = store.update(&c, "db", stale, &w).await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"), "{}", s.message);
    assert_eq!(store.get(&c, "db").await.unwrap(), created, "nothing changed");
}

#[tokio::test]
async fn a_list_the_backend_answers_reuses_the_cached_translations() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    for name in ["a", "b"] {
        store.create(&ctx(NS), pg(name, json!({})), &WriteOptions::default()).await.unwrap();
    }
    // From the cache (any resourceVersion, once it has synced: the first list starts it), then a page, which only
    // the backend answers.
    let any = ListOptions { resource_version: "0".into(), ..Default::default() };
    store.list(&ctx(NS), &any).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let cached = loop {
        let first = store.list(&ctx(NS), &any).await.unwrap().items;
        let again = store.list(&ctx(NS), &any).await.unwrap().items;
        if first.len() == 2 && first.iter().zip(&again).all(|(a, b)| a.ptr_eq(b)) {
            break first;
        }
        assert!(tokio::time::Instant::now() < deadline, "the cache never served the list");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(names(&cached), ["a", "b"]);
    let lists = |fake: &FakeBackend| fake.calls().iter().filter(|(verb, _)| *verb == "list").count();
    let before = lists(&fake);
    let paged = store.list(&ctx(NS), &ListOptions { limit: 10, ..Default::default() }).await.unwrap().items;
    assert_eq!(lists(&fake), before + 1, "the page came from the backend");
    for (from_backend, from_cache) in paged.iter().zip(&cached) {
        assert!(from_backend.ptr_eq(from_cache), "the same version is translated and encoded once: {from_backend}");
    }
    // So does a get, read from the backend: it is answered with the cached translation of the same version.
    let got = store.get_shared(&ctx(NS), "a").await.unwrap();
    assert!(got.ptr_eq(&cached[0]), "{got}");
    // A version the cache does not hold yet is translated afresh.
    let mut changed = fake.object(&HELM_RELEASES, NS, "postgres-a").unwrap();
    changed["metadata"]["resourceVersion"] = json!("999999");
    changed["spec"]["values"]["replicas"] = json!(5);
    assert!(store.served(&changed).is_some_and(|o| !o.ptr_eq(&cached[0]) && o.value()["spec"]["replicas"] == json!(5)));
}

#[tokio::test]
async fn consistent_lists_of_an_idle_cache_are_answered_from_it_after_the_progress_marker_comes_back() {
    let fake = FakeBackend::new();
    let b = fake.backend_with(WatchCacheConfig { progress_marker_namespace: Some("cozy-system".into()), ..Default::default() });
    let store = Store::new(Arc::new(application("postgres", &b)), b.clone());
    store.create(&ctx(NS), pg("a", json!({})), &WriteOptions::default()).await.unwrap();
    let any = ListOptions { resource_version: "0".into(), ..Default::default() };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.list(&ctx(NS), &any).await.unwrap().items.len() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the cache never synced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Idle for longer than any wait for flowing events, then a release written by someone else: the next
    // consistent list has it, and no list went to the backend for it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut other = fake.object(&HELM_RELEASES, NS, "postgres-a").unwrap();
    other["metadata"]["name"] = json!("postgres-b");
    other["metadata"]["uid"] = json!("uid-b");
    fake.put(&HELM_RELEASES, other);
    let backend_lists = |fake: &FakeBackend| fake.calls().iter().filter(|(verb, q)| *verb == "list" && q.contains("kind")).count();
    let before = backend_lists(&fake);
    let list = store.list(&ctx(NS), &ListOptions::default()).await.unwrap();
    assert_eq!(names(&list.items), ["a", "b"]);
    assert_eq!(backend_lists(&fake), before, "answered from the cache");
    // The marker exists, in the marker namespace, and no reader sees it.
    let marker = fake.object(&HELM_RELEASES, "cozy-system", MARKER_NAME).expect("the marker is created");
    assert_eq!(marker["spec"]["suspend"], true);
    assert_eq!(marker["metadata"]["labels"][apis::application::GROUP_LABEL], apis::APPS_GROUP);
    assert_eq!(store.list(&ctx(""), &ListOptions::default()).await.unwrap().items.len(), 2);
    // Nor does the cache hold it: its writes move the cache's resourceVersion, not its objects or history.
    let stats = b.watch_cache_stats();
    let releases = stats.iter().find(|c| c.path.contains("helmreleases")).expect("the release cache");
    assert_eq!((releases.objects, releases.history), (2, 1), "b alone is history");
    // A marker someone relabelled (its changes no longer reach the cache's watch) is labelled again.
    let mut relabelled = marker.clone();
    relabelled["metadata"]["labels"] = json!({});
    fake.put(&HELM_RELEASES, relabelled);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.list(&ctx(NS), &ListOptions::default()).await.unwrap().items.len(), 2);
    assert_eq!(backend_lists(&fake), before, "still answered from the cache");
    // While the marker cannot be written, an idle cache leaves the read to the backend.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fake.fail_next("merge_patch", crate::backend::testing::status_error(403, "Forbidden", "no"));
    let list = store.list(&ctx(NS), &ListOptions::default()).await.unwrap();
    assert_eq!(names(&list.items), ["a", "b"]);
    assert_eq!(backend_lists(&fake), before + 1, "answered by the backend");
}

#[tokio::test]
async fn gets_with_a_resource_version_the_cache_has_reached_are_answered_from_it() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let created = store.create(&ctx(NS), pg("a", json!({})), &WriteOptions::default()).await.unwrap().object;
    let at = rv(&created).to_string();
    let gets = |fake: &FakeBackend| fake.calls().iter().filter(|(verb, _)| *verb == "get").count();
    // The cache starts with the first read that may use it; then it serves "0" once synced.
    let any = ListOptions { resource_version: "0".into(), ..Default::default() };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.list(&ctx(NS), &any).await.unwrap().items.len() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the cache never synced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = gets(&fake);
    let cached = store.get_at(&ctx(NS), "a", "0").await.unwrap();
    assert_eq!((cached.name(), rv(&cached.value())), (Some("a"), at.as_str()));
    let same = store.get_at(&ctx(NS), "a", &at).await.unwrap();
    assert!(same.ptr_eq(&cached), "a version the cache holds is its shared translation");
    let missing = store.get_at(&ctx(NS), "b", "0").await.unwrap_err();
    assert_eq!(missing.to_status().code, 404);
    assert_eq!(gets(&fake), before, "no get reached the backend");

    // Without a resourceVersion, or with one the cache has not reached, the backend answers.
    store.get_at(&ctx(NS), "a", "").await.unwrap();
    assert_eq!(gets(&fake), before + 1, "a consistent get is the backend's");
    let ahead = (at.parse::<u64>().unwrap() + 1000).to_string();
    assert_eq!(store.get_at(&ctx(NS), "a", &ahead).await.unwrap().name(), Some("a"));
    assert_eq!(gets(&fake), before + 2, "a version the cache has not reached is the backend's");
    let bad = store.get_at(&ctx(NS), "a", "abc").await.unwrap_err();
    assert_eq!(bad.to_status().code, 400);
}
