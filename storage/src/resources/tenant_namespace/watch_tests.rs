//! Tests of TenantNamespace watches against an index fed by hand: grants and revocations as ADDED and
//! DELETED, selectors, initial events, resuming from a resourceVersion, and falling behind.

use std::sync::Arc;
use std::time::Duration;

use apis::selector::LabelSelector;
use apis::user::UserInfo;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use serde_json::json;

use super::start;

/// The default bookmark interval: longer than any test.
const BOOKMARKS: Duration = Duration::from_secs(60);
use crate::rbac_index::RbacIndex;
use crate::rbac_index::rules::{Binding, BindingKey, RoleKey, Scope, Subject, TenantNamespace};
use crate::registry::{EventStream, EventType, ListOptions};

fn tenant(name: &str, rv: u64, labels: serde_json::Value) -> TenantNamespace {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name, "resourceVersion": rv.to_string(), "labels": labels}})).unwrap();
    TenantNamespace::from_namespace(&ns).unwrap()
}

fn alice() -> UserInfo {
    UserInfo { name: "alice".into(), groups: vec!["devs".into()], ..Default::default() }
}

fn binding_key(ns: &str) -> BindingKey {
    BindingKey::RoleBinding { namespace: ns.into(), name: "view".into() }
}

fn grant(index: &RbacIndex, ns: &str, rv: u64) {
    let binding = Binding { scope: Scope::Namespace(ns.into()), role: RoleKey::ClusterRole("view".into()), subjects: vec![Subject::Group("devs".into())] };
    index.apply(rv, |s| s.upsert_binding(binding_key(ns), binding));
}

fn revoke(index: &RbacIndex, ns: &str, rv: u64) {
    index.apply(rv, |s| s.remove_binding(&binding_key(ns)));
}

/// tenant-a (alice may see it), tenant-b and tenant-c (she may not), synced at resourceVersion 13.
fn index() -> Arc<RbacIndex> {
    let index = RbacIndex::new();
    index.apply(1, |s| s.upsert_role(RoleKey::ClusterRole("view".into()), true));
    for (i, n) in ["tenant-a", "tenant-b", "tenant-c"].iter().enumerate() {
        index.apply(10 + i as u64, |s| s.upsert_namespace(tenant(n, 10 + i as u64, json!({"tier": "gold"}))));
    }
    grant(&index, "tenant-a", 13);
    index.mark_synced();
    index
}

async fn next(w: &mut EventStream) -> (EventType, String) {
    let e = tokio::time::timeout(Duration::from_secs(2), w.next()).await.expect("an event in time").expect("the watch is open");
    (e.event_type, e.object.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or("").to_string())
}

async fn quiet(w: &mut EventStream) {
    if let Ok(e) = tokio::time::timeout(Duration::from_millis(100), w.next()).await {
        panic!("unexpected event {e:?}");
    }
}

fn added(n: &str) -> (EventType, String) {
    (EventType::Added, n.into())
}

fn deleted(n: &str) -> (EventType, String) {
    (EventType::Deleted, n.into())
}

#[tokio::test]
async fn grants_and_revocations_become_added_and_deleted() {
    let index = index();
    let mut w = start(index.clone(), alice(), &ListOptions::default(), None, BOOKMARKS).await.unwrap();
    assert_eq!(next(&mut w).await, added("tenant-a"));
    quiet(&mut w).await;
    grant(&index, "tenant-b", 20);
    assert_eq!(next(&mut w).await, added("tenant-b"));
    index.apply(21, |s| s.upsert_namespace(tenant("tenant-b", 21, json!({"tier": "silver"}))));
    assert_eq!(next(&mut w).await, (EventType::Modified, "tenant-b".into()));
    // Changes of namespaces she cannot see stay silent.
    index.apply(22, |s| s.upsert_namespace(tenant("tenant-c", 22, json!({}))));
    quiet(&mut w).await;
    revoke(&index, "tenant-a", 23);
    assert_eq!(next(&mut w).await, deleted("tenant-a"));
    // A role that stops granting revokes every namespace bound to it.
    index.apply(24, |s| s.upsert_role(RoleKey::ClusterRole("view".into()), false));
    assert_eq!(next(&mut w).await, deleted("tenant-b"));
    quiet(&mut w).await;
}

#[tokio::test]
async fn initial_events_end_with_the_bookmark() {
    let index = index();
    let opts =
        ListOptions { send_initial_events: Some(true), allow_watch_bookmarks: true, resource_version_match: "NotOlderThan".into(), ..Default::default() };
    let mut w = start(index.clone(), alice(), &opts, None, BOOKMARKS).await.unwrap();
    assert_eq!(next(&mut w).await, added("tenant-a"));
    let bookmark = tokio::time::timeout(Duration::from_secs(1), w.next()).await.unwrap().unwrap();
    assert_eq!(bookmark.event_type, EventType::Bookmark);
    assert_eq!(bookmark.object["metadata"], json!({"resourceVersion": "13", "annotations": {"k8s.io/initial-events-end": "true"}}));
    assert_eq!(bookmark.object["kind"], "TenantNamespace");
    // With bookmarks allowed, a burst of events is followed by the index's resourceVersion.
    grant(&index, "tenant-c", 30);
    assert_eq!(next(&mut w).await, added("tenant-c"));
    let after = tokio::time::timeout(Duration::from_secs(1), w.next()).await.unwrap().unwrap();
    assert_eq!((after.event_type, after.object["metadata"]["resourceVersion"].clone()), (EventType::Bookmark, json!("30")));
    // sendInitialEvents=false starts with changes only.
    let opts = ListOptions { send_initial_events: Some(false), ..Default::default() };
    let mut w = start(index.clone(), alice(), &opts, None, BOOKMARKS).await.unwrap();
    quiet(&mut w).await;
    // A resourceVersion the index has not reached (and does not reach) is too large for initial events.
    let opts = ListOptions { send_initial_events: Some(true), ..Default::default() };
    let err = start(index.clone(), alice(), &opts, Some(10_000), BOOKMARKS).await.err().unwrap().to_status();
    assert_eq!((err.code, err.details.unwrap().causes[0].reason.as_str()), (504, "ResourceVersionTooLarge"));
}

#[tokio::test]
async fn selectors_filter_and_leaving_them_is_a_delete() {
    let index = index();
    grant(&index, "tenant-b", 20);
    let opts = ListOptions { label_selector: LabelSelector::parse("tier=gold").unwrap(), ..Default::default() };
    let mut w = start(index.clone(), alice(), &opts, None, BOOKMARKS).await.unwrap();
    assert_eq!(next(&mut w).await, added("tenant-a"));
    assert_eq!(next(&mut w).await, added("tenant-b"));
    index.apply(21, |s| s.upsert_namespace(tenant("tenant-b", 21, json!({"tier": "silver"}))));
    assert_eq!(next(&mut w).await, deleted("tenant-b"));
    index.apply(22, |s| s.upsert_namespace(tenant("tenant-b", 22, json!({"tier": "gold"}))));
    assert_eq!(next(&mut w).await, added("tenant-b"));
    // A single-object watch hears of its namespace only.
    let opts = ListOptions { field_selector: apis::selector::FieldSelector::parse("metadata.name=tenant-b").unwrap(), ..Default::default() };
    let mut one = start(index.clone(), alice(), &opts, None, BOOKMARKS).await.unwrap();
    assert_eq!(next(&mut one).await, added("tenant-b"));
    revoke(&index, "tenant-a", 23);
    quiet(&mut one).await;
    index.apply(24, |s| s.remove_namespace("tenant-b", Some(tenant("tenant-b", 24, json!({})))));
    assert_eq!(next(&mut one).await, deleted("tenant-b"));
}

#[tokio::test]
async fn a_watch_resumes_from_a_list() {
    let index = index();
    let listed = index.latest_rv();
    // Between the list and the watch: a grant, a revocation and a change of a visible namespace.
    grant(&index, "tenant-b", 20);
    revoke(&index, "tenant-a", 21);
    grant(&index, "tenant-c", 22);
    index.apply(23, |s| s.upsert_namespace(tenant("tenant-c", 23, json!({}))));
    let mut w = start(index.clone(), alice(), &ListOptions::default(), Some(listed), BOOKMARKS).await.unwrap();
    assert_eq!(next(&mut w).await, deleted("tenant-a"));
    assert_eq!(next(&mut w).await, added("tenant-b"));
    assert_eq!(next(&mut w).await, added("tenant-c"));
    quiet(&mut w).await;
    // Resuming at the present replays nothing; live changes follow.
    let mut now = start(index.clone(), alice(), &ListOptions::default(), Some(index.latest_rv()), BOOKMARKS).await.unwrap();
    quiet(&mut now).await;
    revoke(&index, "tenant-b", 30);
    assert_eq!(next(&mut now).await, deleted("tenant-b"));
    assert_eq!(next(&mut w).await, deleted("tenant-b"));
    // Before the first sync, the history cannot help: 410, the client lists again.
    let err = start(index.clone(), alice(), &ListOptions::default(), Some(5), BOOKMARKS).await.err().unwrap().to_status();
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn cluster_wide_changes_and_lagging_watches_resynchronise() {
    let index = index();
    let mut w = start(index.clone(), alice(), &ListOptions::default(), None, BOOKMARKS).await.unwrap();
    assert_eq!(next(&mut w).await, added("tenant-a"));
    let crb = BindingKey::ClusterRoleBinding("devs-everywhere".into());
    let binding = Binding { scope: Scope::Cluster, role: RoleKey::ClusterRole("view".into()), subjects: vec![Subject::Group("devs".into())] };
    index.apply(20, |s| s.upsert_binding(crb.clone(), binding));
    assert_eq!(next(&mut w).await, added("tenant-b"));
    assert_eq!(next(&mut w).await, added("tenant-c"));
    // A watch resuming from before a cluster-wide change of its caller must relist.
    let err = start(index.clone(), alice(), &ListOptions::default(), Some(13), BOOKMARKS).await.err().unwrap().to_status();
    assert_eq!(err.code, 410);
    // Far more batches than a watch may lag behind: it compares everything once it reads again.
    for i in 0..1500u64 {
        index.apply(100 + i, |s| s.upsert_namespace(tenant(&format!("tenant-x{i:04}"), 100 + i, json!({}))));
    }
    index.apply(2000, |s| s.remove_binding(&crb));
    let mut seen = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), w.next()).await {
        seen.push((e.event_type, e.object["metadata"]["name"].as_str().unwrap().to_string()));
    }
    assert_eq!(seen, vec![deleted("tenant-b"), deleted("tenant-c")], "read one by one or compared after lagging, the new namespaces came and went unseen");
}

#[tokio::test]
async fn idle_watches_hear_bookmarks_at_the_configured_interval() {
    let index = index();
    let opts = ListOptions { allow_watch_bookmarks: true, send_initial_events: Some(false), ..Default::default() };
    let mut w = start(index.clone(), alice(), &opts, None, Duration::from_millis(50)).await.unwrap();
    // The index moves without anything this watch shows: only the interval's bookmark tells the client.
    index.apply(99, |s| {
        s.observe_rv(99);
        vec![]
    });
    let e = tokio::time::timeout(Duration::from_secs(1), w.next()).await.expect("a bookmark within the interval").unwrap();
    assert_eq!((e.event_type, e.object["metadata"]["resourceVersion"].as_str()), (EventType::Bookmark, Some("99")));
}
