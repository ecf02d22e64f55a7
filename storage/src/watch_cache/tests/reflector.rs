//! The feeder against a backend whose watches break, expire and go away: resumes lose and repeat nothing, a relist
//! with nothing missed is invisible to watchers, and one with unseen changes sends them away with 410.

use serde_json::json;

use super::feed::{KindView, cache, caught_up, next, quiet, take, watch};
use crate::registry::EventType;

#[tokio::test]
async fn a_broken_backend_watch_resumes_where_the_cache_is() {
    let (feed, cache) = cache(1000).await;
    let view = KindView::new("Pg");
    let mut w = watch(&cache, &view, "", &format!("resourceVersion={}", feed.rv()), None).await;
    let mut want = Vec::new();
    for round in 0..5 {
        for i in 0..10 {
            want.push(feed.put("ns", &format!("o{i}"), "Pg", &[], json!({"round": round})).to_string());
        }
        feed.break_watches();
    }
    let got: Vec<String> = take(&mut w, want.len()).await.into_iter().map(|(_, _, rv)| rv).collect();
    assert_eq!(got, want, "every event once, in order");
    assert!(quiet(&mut w).await);
    let calls = feed.watch_calls();
    assert!(calls.len() >= 2 && calls.windows(2).all(|p| p[0] <= p[1]), "resumed from the cache's version: {calls:?}");
    assert_eq!(feed.list_calls(), 1, "never relisted");
}

#[tokio::test]
async fn after_410_a_relist_that_missed_nothing_is_invisible_to_watchers() {
    let (feed, cache) = cache(1000).await;
    let view = KindView::new("Pg");
    let a = feed.put("ns", "a", "Pg", &[], json!({}));
    let mut w = watch(&cache, &view, "", &format!("resourceVersion={a}"), None).await;
    // kube-apiserver restarts: its window starts later than our version, though no object of ours changed.
    feed.set_down(true);
    let elsewhere = feed.elsewhere();
    feed.compact();
    feed.set_down(false);
    caught_up(&cache, elsewhere).await;
    assert_eq!(feed.list_calls(), 2, "relisted");
    let b = feed.put("ns", "a", "Pg", &[], json!({"after": true}));
    assert_eq!(take(&mut w, 1).await, [(EventType::Modified, "a".into(), b.to_string())]);
    // And a client that resumes from before the outage is still served.
    let mut late = watch(&cache, &view, "", &format!("resourceVersion={a}"), None).await;
    assert_eq!(take(&mut late, 1).await, [(EventType::Modified, "a".into(), b.to_string())]);
}

#[tokio::test]
async fn after_410_a_relist_with_unseen_changes_sends_watchers_to_relist() {
    let (feed, cache) = cache(1000).await;
    let view = KindView::new("Pg");
    let a = feed.put("ns", "a", "Pg", &[], json!({}));
    let mut w = watch(&cache, &view, "", &format!("resourceVersion={a}"), None).await;
    feed.set_down(true);
    // Changes the cache cannot see one by one: two versions of `a`, and `b` came and went.
    feed.put("ns", "a", "Pg", &[], json!({"v": 2}));
    let a3 = feed.put("ns", "a", "Pg", &[], json!({"v": 3}));
    feed.put("ns", "b", "Pg", &[], json!({}));
    feed.delete("ns", "b");
    feed.compact();
    feed.set_down(false);
    let e = next(&mut w).await;
    assert_eq!((e.event_type, e.object.value()["code"].as_u64()), (EventType::Error, Some(410)), "no made-up events, no silent gap");
    assert!(futures::StreamExt::next(&mut w).await.is_none());
    caught_up(&cache, a3).await;
    let mut old = watch(&cache, &view, "", &format!("resourceVersion={a}"), None).await;
    assert_eq!(next(&mut old).await.object.value()["code"].as_u64(), Some(410), "the old position is gone for good");
    let mut relisted = watch(&cache, &view, "", "resourceVersion=0", None).await;
    assert_eq!(take(&mut relisted, 1).await, [(EventType::Added, "a".into(), a3.to_string())]);
    assert!(quiet(&mut relisted).await);
}

#[tokio::test]
async fn an_unreachable_backend_is_retried_until_it_answers() {
    let (feed, cache) = cache(1000).await;
    let view = KindView::new("Pg");
    let mut w = watch(&cache, &view, "", &format!("resourceVersion={}", feed.rv()), None).await;
    feed.set_down(true);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let a = feed.put("ns", "a", "Pg", &[], json!({}));
    feed.set_down(false);
    assert_eq!(take(&mut w, 1).await, [(EventType::Added, "a".into(), a.to_string())]);
}

/// Caches of the backend keep objects without the backend's managedFields (listed or watched), unless asked for
/// whole objects.
#[tokio::test]
async fn backend_caches_drop_managed_fields_unless_whole_objects_are_asked_for() {
    use crate::admission::policies::NAMESPACES;
    use crate::backend::testing::FakeBackend;
    let fake = FakeBackend::new();
    let backend = fake.backend();
    let namespace = |name: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "managedFields": [{"manager": "kubectl"}]}});
    fake.put(&NAMESPACES, namespace("listed"));
    let (compact, whole) = (backend.watch_cache(&NAMESPACES, ""), backend.watch_cache_of_whole_objects(&NAMESPACES, ""));
    compact.synced().await;
    whole.synced().await;
    fake.put(&NAMESPACES, namespace("watched"));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while compact.objects().0.len() < 2 || whole.objects().0.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "both caches see the second namespace");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for e in compact.objects().0 {
        assert!(e.object().pointer("/metadata/managedFields").is_none(), "{}", e.object());
        assert!(e.object().pointer("/metadata/name").is_some());
    }
    for e in whole.objects().0 {
        assert_eq!(e.object().pointer("/metadata/managedFields"), Some(&json!([{"manager": "kubectl"}])));
    }
}
