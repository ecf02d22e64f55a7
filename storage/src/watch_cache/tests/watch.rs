//! Watches and lists served from a cache over a simulated backend: every resourceVersion form, WatchList,
//! bookmarks, timeouts, selectors, 410 and "Too large resource version", slow watchers and sharing.

use serde_json::json;

use super::feed::{KindView, brief, cache, caught_up, next, opts, quiet, take, watch};
use crate::registry::{EventType, ObjectList};

fn added(name: &str, rv: u64) -> (EventType, String, String) {
    (EventType::Added, name.into(), rv.to_string())
}

fn modified(name: &str, rv: u64) -> (EventType, String, String) {
    (EventType::Modified, name.into(), rv.to_string())
}

fn deleted(name: &str, rv: u64) -> (EventType, String, String) {
    (EventType::Deleted, name.into(), rv.to_string())
}

#[tokio::test]
async fn from_0_the_state_then_changes() {
    let (feed, cache) = cache(100).await;
    let view = KindView::new("Pg");
    let a = feed.put("ns", "a", "Pg", &[], json!({}));
    feed.put("ns", "r", "Redis", &[], json!({}));
    feed.put("other", "o", "Pg", &[], json!({}));
    let b = feed.put("ns", "b", "Pg", &[], json!({}));
    caught_up(&cache, b).await;
    let mut w = watch(&cache, &view, "ns", "resourceVersion=0", None).await;
    assert_eq!(take(&mut w, 2).await, [added("a", a), added("b", b)], "this kind in this namespace, in key order");
    let c = feed.put("ns", "a", "Pg", &[], json!({"x": 1}));
    let d = feed.delete("ns", "b");
    assert_eq!(take(&mut w, 2).await, [modified("a", c), deleted("b", d)]);
    assert!(quiet(&mut w).await);
    // Unset: the same, as a consistent read.
    let mut w = watch(&cache, &view, "ns", "", None).await;
    assert_eq!(take(&mut w, 1).await, [added("a", c)]);
    assert!(quiet(&mut w).await);
}

#[tokio::test]
async fn from_n_exactly_the_changes_after_n() {
    let (feed, cache) = cache(100).await;
    let view = KindView::new("Pg");
    let a1 = feed.put("ns", "a", "Pg", &[], json!({}));
    let a2 = feed.put("ns", "a", "Pg", &[], json!({"v": 2}));
    feed.put("ns", "r", "Redis", &[], json!({}));
    let b = feed.put("ns", "b", "Pg", &[], json!({}));
    let gone = feed.delete("ns", "a");
    caught_up(&cache, gone).await;
    // (from, the events after it)
    type Row<'a> = (u64, &'a [(EventType, &'a str, u64)]);
    let rows: &[Row] = &[
        (a1, &[(EventType::Modified, "a", a2), (EventType::Added, "b", b), (EventType::Deleted, "a", gone)]),
        (a2, &[(EventType::Added, "b", b), (EventType::Deleted, "a", gone)]),
        (b, &[(EventType::Deleted, "a", gone)]),
    ];
    for (from, want) in rows {
        let mut w = watch(&cache, &view, "ns", &format!("resourceVersion={from}"), None).await;
        let got = take(&mut w, want.len()).await;
        let want: Vec<_> = want.iter().map(|(t, n, rv)| (*t, n.to_string(), rv.to_string())).collect();
        assert_eq!(got, want, "from {from}");
        assert!(quiet(&mut w).await, "from {from}: nothing more");
    }
    // Live events follow the history without a gap.
    let mut w = watch(&cache, &view, "ns", &format!("resourceVersion={b}"), None).await;
    let c = feed.put("ns", "c", "Pg", &[], json!({}));
    assert_eq!(take(&mut w, 2).await, [deleted("a", gone), added("c", c)]);
}

#[tokio::test]
async fn too_old_is_410_as_an_error_event() {
    let (feed, cache) = cache(2).await;
    let view = KindView::new("Pg");
    let first = feed.put("ns", "a", "Pg", &[], json!({}));
    for i in 0..5 {
        feed.put("ns", "a", "Pg", &[], json!({"i": i}));
    }
    let last = feed.put("ns", "a", "Pg", &[], json!({"i": "last"}));
    caught_up(&cache, last).await;
    let mut w = watch(&cache, &view, "ns", &format!("resourceVersion={first}"), None).await;
    let e = next(&mut w).await;
    assert_eq!(e.event_type, EventType::Error);
    assert_eq!((e.object.value()["code"].as_u64(), e.object.value()["reason"].as_str()), (Some(410), Some("Expired")));
    assert!(e.object.value()["message"].as_str().unwrap().starts_with("too old resource version"), "{}", e.object);
    assert!(futures::StreamExt::next(&mut w).await.is_none(), "and the watch ends");
}

#[tokio::test]
async fn a_version_the_backend_has_but_the_cache_not_yet_starts_at_once() {
    let (feed, cache) = cache(100).await;
    let view = KindView::new("Pg");
    // A list elsewhere returned N (writes to other resources moved the global version); nothing to wait for.
    let n = {
        feed.elsewhere();
        feed.elsewhere()
    };
    assert!(n > cache.rv());
    let mut w = watch(&cache, &view, "ns", &format!("resourceVersion={n}&allowWatchBookmarks=true"), None).await;
    let a = feed.put("ns", "a", "Pg", &[], json!({}));
    assert_eq!(take(&mut w, 1).await, [added("a", a)]);
}

#[tokio::test]
async fn a_version_nobody_has_reached_is_too_large() {
    let (feed, cache) = cache(100).await;
    let view = KindView::new("Pg");
    let future = feed.rv() + 1000;
    let mut w = watch(&cache, &view, "ns", &format!("resourceVersion={future}"), None).await;
    let e = next(&mut w).await;
    assert_eq!(e.event_type, EventType::Error);
    assert_eq!((e.object.value()["code"].as_u64(), e.object.value()["reason"].as_str()), (Some(504), Some("Timeout")));
    assert_eq!(e.object.value()["details"]["causes"][0]["reason"], "ResourceVersionTooLarge");
}

#[tokio::test]
async fn watchlist_sends_the_state_then_the_end_bookmark_then_changes() {
    let (feed, cache) = cache(100).await;
    let view = KindView::new("Pg");
    let a = feed.put("ns", "a", "Pg", &[], json!({}));
    let b = feed.put("ns", "b", "Pg", &[], json!({}));
    let now = feed.put("other", "c", "Pg", &[], json!({}));
    caught_up(&cache, now).await;
    let q = "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true";
    for rv in ["", "0", &a.to_string()] {
        let mut w = watch(&cache, &view, "ns", &format!("{q}&resourceVersion={rv}"), None).await;
        assert_eq!(take(&mut w, 2).await, [added("a", a), added("b", b)], "from {rv:?}");
        let end = next(&mut w).await;
        assert_eq!(end.event_type, EventType::Bookmark);
        assert_eq!(end.object.value()["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
        assert_eq!(end.object.value()["kind"], "Pg");
        assert_eq!(end.object.value()["apiVersion"], "test.io/v1");
        assert!(end.object.value()["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().unwrap() >= now);
        assert_eq!(end.object.value().as_object().unwrap().len(), 3, "apiVersion, kind and metadata only");
    }
    let mut w = watch(&cache, &view, "ns", &format!("{q}&resourceVersion="), None).await;
    take(&mut w, 3).await;
    let c = feed.delete("ns", "a");
    assert_eq!(take(&mut w, 1).await, [deleted("a", c)]);
}

#[tokio::test]
async fn a_consistent_watch_the_cache_cannot_prove_fresh_starts_from_the_backend_list() {
    let (feed, cache) = cache(100).await;
    let view = KindView::new("Pg");
    let a = feed.put("ns", "a", "Pg", &[], json!({}));
    // The backend moved on elsewhere and the cache is idle: it cannot know it has everything, so the backend
    // lists (here, a list at `x` naming one object), and changes after `x` follow from the cache.
    let x = feed.elsewhere();
    let listed = json!({"apiVersion": "test.io/v1", "kind": "Pg", "metadata": {"namespace": "ns", "name": "from-backend", "resourceVersion": a.to_string()}});
    let list = ObjectList { items: vec![listed.into()], resource_version: x.to_string(), ..Default::default() };
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut w = watch(&cache, &view, "ns", "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true", Some(list)).await;
    assert_eq!(take(&mut w, 1).await, [added("from-backend", a)]);
    let end = next(&mut w).await;
    assert_eq!((end.event_type, end.object.value()["metadata"]["resourceVersion"].as_str()), (EventType::Bookmark, Some(x.to_string().as_str())));
    let b = feed.put("ns", "b", "Pg", &[], json!({}));
    assert_eq!(take(&mut w, 1).await, [added("b", b)]);
}

#[tokio::test]
async fn bookmarks_come_periodically_and_before_the_timeout_which_ends_the_watch() {
    let (feed, cache) = cache(100).await;
    let view = KindView::new("Pg");
    let a = feed.put("ns", "a", "Pg", &[], json!({}));
    let mut w = watch(&cache, &view, "ns", &format!("resourceVersion={a}&allowWatchBookmarks=true"), None).await;
    feed.elsewhere();
    feed.bookmark();
    let e = next(&mut w).await;
    assert_eq!(e.event_type, EventType::Bookmark);
    assert!(e.object.value()["metadata"].get("annotations").is_none());
    assert_eq!(e.object.value().as_object().unwrap().len(), 3);
    // Without bookmarks allowed, none come; timeoutSeconds ends the watch (a bookmark 2 s before it).
    let mut w = watch(&cache, &view, "ns", &format!("resourceVersion={a}&timeoutSeconds=1"), None).await;
    assert!(tokio::time::timeout(std::time::Duration::from_secs(5), futures::StreamExt::next(&mut w)).await.unwrap().is_none());
    let mut w = watch(&cache, &view, "ns", "resourceVersion=0&allowWatchBookmarks=true&timeoutSeconds=3", None).await;
    let mut got = Vec::new();
    while let Some(e) = tokio::time::timeout(std::time::Duration::from_secs(6), futures::StreamExt::next(&mut w)).await.unwrap() {
        got.push(e.event_type);
    }
    assert_eq!(got.first(), Some(&EventType::Added));
    assert!(got.contains(&EventType::Bookmark), "{got:?}");
}

#[tokio::test]
async fn selectors_and_single_objects_as_in_a_list() {
    let (feed, cache) = cache(100).await;
    let view = KindView::new("Pg");
    let start = feed.rv();
    let rows: &[(&str, &str)] = &[("labelSelector=tier=gold", "gold"), ("fieldSelector=metadata.name=b", "b"), ("labelSelector=tier", "any-tier")];
    let mut watches = Vec::new();
    for (q, why) in rows {
        watches.push((why, watch(&cache, &view, "", &format!("resourceVersion={start}&{q}"), None).await));
    }
    let a = feed.put("ns", "a", "Pg", &[("tier", "gold")], json!({}));
    let b = feed.put("ns", "b", "Pg", &[], json!({}));
    let a2 = feed.put("ns", "a", "Pg", &[("tier", "tin")], json!({}));
    let b2 = feed.delete("ns", "b");
    let want = [vec![added("a", a), deleted("a", a2)], vec![added("b", b), deleted("b", b2)], vec![added("a", a), modified("a", a2)]];
    for ((why, w), want) in watches.iter_mut().zip(want) {
        assert_eq!(take(w, want.len()).await, want, "{why}");
        assert!(quiet(w).await, "{why}");
    }
}

#[tokio::test]
async fn a_slow_watcher_falls_out_of_the_window_and_gets_410() {
    let (feed, cache) = cache(5).await;
    let view = KindView::new("Pg");
    let start = feed.put("ns", "a", "Pg", &[], json!({}));
    let mut slow = watch(&cache, &view, "ns", &format!("resourceVersion={start}"), None).await;
    let mut last = 0;
    for i in 0..20 {
        last = feed.put("ns", "a", "Pg", &[], json!({"i": i}));
    }
    caught_up(&cache, last).await;
    let e = next(&mut slow).await;
    assert_eq!((e.event_type, e.object.value()["code"].as_u64()), (EventType::Error, Some(410)), "{:?}", brief(&e));
    assert!(futures::StreamExt::next(&mut slow).await.is_none());
}

#[tokio::test]
async fn watchers_of_one_kind_share_each_object() {
    let (feed, cache) = cache(100).await;
    let view = KindView::new("Pg");
    let start = feed.rv();
    let mut one = watch(&cache, &view, "", &format!("resourceVersion={start}"), None).await;
    let mut two = watch(&cache, &view, "ns", &format!("resourceVersion={start}"), None).await;
    feed.put("ns", "a", "Pg", &[], json!({}));
    let (x, y) = (next(&mut one).await, next(&mut two).await);
    assert!(x.object.ptr_eq(&y.object), "translated and encoded once for both");
}

#[tokio::test]
async fn lists_from_the_cache_with_resource_version_semantics() {
    let (feed, cache) = cache(100).await;
    let view = KindView::new("Pg");
    let a = feed.put("ns", "a", "Pg", &[("tier", "gold")], json!({}));
    feed.put("ns", "b", "Pg", &[], json!({}));
    feed.put("other", "c", "Pg", &[], json!({}));
    let b2 = feed.put("ns", "r", "Redis", &[], json!({}));
    caught_up(&cache, b2).await;
    let names = |l: &ObjectList| l.items.iter().map(|o| o.value()["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let any = cache.list(&*view, "ns", &opts("resourceVersion=0")).await.unwrap().expect("served from the cache");
    assert_eq!((names(&any), any.resource_version.as_str()), (vec!["a".to_string(), "b".to_string()], b2.to_string().as_str()));
    let gold = cache.list(&*view, "", &opts("resourceVersion=0&labelSelector=tier=gold")).await.unwrap().unwrap();
    assert_eq!(names(&gold), ["a"]);
    // Consistent: the cache has every change (events are flowing), so it answers.
    let all = cache.list(&*view, "", &opts("")).await.unwrap().expect("fresh cache answers a consistent list");
    assert_eq!(names(&all), ["a", "b", "c"]);
    assert!(cache.list(&*view, "", &opts(&format!("resourceVersion={a}"))).await.unwrap().is_some(), "not older than a");
    // Pages are the backend's.
    assert!(cache.list(&*view, "", &opts("limit=1")).await.unwrap().is_none());
    // An idle cache does not ask the backend for its current version (other resources move it, so the cache
    // would seldom be there): the backend answers, even when a bookmark happens to bring the cache up to date.
    feed.elsewhere();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(cache.list(&*view, "", &opts("")).await.unwrap().is_none());
    feed.bookmark();
    caught_up(&cache, feed.rv()).await;
    assert!(cache.list(&*view, "", &opts("")).await.unwrap().is_none());
    // Once events flow again, the cache answers.
    let b = feed.put("ns", "b", "Pg", &[], json!({"again": true}));
    caught_up(&cache, b).await;
    let list = cache.list(&*view, "ns", &opts("")).await.unwrap().expect("served from the cache");
    assert_eq!(list.items[1].value()["metadata"]["resourceVersion"], b.to_string());
}
