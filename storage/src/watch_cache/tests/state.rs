//! The history window and positions of [`State`], and how one cached change becomes a watcher's event.

use serde_json::{Value, json};

use super::feed::{KindView, filter};
use crate::registry::EventType;
use crate::watch_cache::entry::Entry;
use crate::watch_cache::state::{Read, Replaced, State};
use crate::watch_cache::view::convert;

fn obj(name: &str, rv: u64, labels: Value) -> Value {
    json!({"metadata": {"namespace": "ns", "name": name, "resourceVersion": rv.to_string(), "labels": labels}})
}

/// Objects as a list hands them to the state.
fn listed(objects: Vec<Value>) -> Vec<Entry> {
    objects.into_iter().filter_map(Entry::listed).collect()
}

fn rvs(read: Read) -> Vec<u64> {
    match read {
        Read::Events { events, .. } => events.iter().map(|e| e.rv).collect(),
        Read::Gone { oldest } => panic!("gone (oldest {oldest})"),
    }
}

#[test]
fn the_window_slides_and_positions_follow_it() {
    let mut s = State::new(3);
    assert_eq!(s.replace(listed(vec![obj("a", 5, json!({}))]), 10), Replaced::Initial);
    assert_eq!((s.rv(), s.oldest()), (10, 10));
    for rv in [11, 12, 13, 14, 15] {
        assert!(s.apply(false, obj("a", rv, json!({}))));
    }
    // Three events kept: 13, 14, 15; a watch may start from 12 (it needs everything after 12).
    assert_eq!(s.oldest(), 12);
    assert_eq!(s.history_len(), 3);
    assert_eq!(s.position(11), Err(12), "too old: the window starts after 12");
    let rows: &[(u64, &[u64])] = &[(12, &[13, 14, 15]), (13, &[14, 15]), (14, &[15]), (15, &[]), (99, &[])];
    for (from, want) in rows {
        let pos = s.position(*from).unwrap();
        assert_eq!(rvs(s.read(&pos, 100)), *want, "from {from}");
    }
    // Batches end where asked, and say whether the reader caught up.
    let pos = s.position(12).unwrap();
    match s.read(&pos, 2) {
        Read::Events { events, next, caught_up } => assert_eq!((events.len(), next, caught_up), (2, pos.seq + 2, None)),
        Read::Gone { .. } => unreachable!(),
    }
    // A reader left behind by the window is gone.
    let stale = s.position(12).unwrap();
    s.apply(false, obj("a", 16, json!({})));
    assert!(matches!(s.read(&stale, 10), Read::Gone { oldest: 13 }));
}

#[test]
fn stale_and_duplicate_events_change_nothing() {
    let mut s = State::new(10);
    s.replace(listed(vec![obj("a", 5, json!({}))]), 10);
    assert!(!s.apply(false, obj("a", 9, json!({}))), "older than the cache");
    assert!(!s.apply(false, obj("a", 10, json!({}))), "already in");
    assert!(!s.apply(true, obj("ghost", 11, json!({}))), "deleting what was never there");
    assert_eq!(s.rv(), 11, "but the resourceVersion moves on");
    assert_eq!(s.history_len(), 0);
    assert!(s.bookmark(20));
    assert!(!s.bookmark(15));
    assert_eq!(s.rv(), 20);
}

#[test]
fn a_relist_continues_when_nothing_was_missed_and_resets_otherwise() {
    let mut s = State::new(10);
    s.replace(listed(vec![obj("a", 5, json!({})), obj("b", 6, json!({}))]), 10);
    s.apply(false, obj("a", 11, json!({})));
    let reader = s.position(10).unwrap();
    // Same objects at a later list: the history goes on, readers keep their place.
    assert_eq!(s.replace(listed(vec![obj("a", 11, json!({})), obj("b", 6, json!({}))]), 20), Replaced::Continuous);
    assert_eq!((s.rv(), s.oldest()), (20, 10));
    assert_eq!(rvs(s.read(&reader, 10)), [11]);
    // An object changed unseen: every reader is sent away, the window restarts at the list.
    assert_eq!(s.replace(listed(vec![obj("a", 11, json!({})), obj("b", 25, json!({}))]), 30), Replaced::Reset);
    assert!(matches!(s.read(&reader, 10), Read::Gone { oldest: 30 }));
    assert_eq!((s.rv(), s.oldest(), s.history_len()), (30, 30, 0));
    let fresh = s.position(30).unwrap();
    s.apply(true, obj("a", 31, json!({})));
    assert_eq!(rvs(s.read(&fresh, 10)), [31]);
    // A vanished object is a change too.
    assert_eq!(s.replace(listed(vec![obj("b", 25, json!({}))]), 40), Replaced::Continuous, "a was deleted at 31, seen");
    assert_eq!(s.replace(listed(vec![]), 41), Replaced::Reset, "b vanished unseen");
}

#[test]
fn snapshots_are_in_key_order_and_scoped_to_a_namespace() {
    let mut s = State::new(10);
    let at = |ns: &str, name: &str| json!({"metadata": {"namespace": ns, "name": name, "resourceVersion": "1"}});
    s.replace(listed(vec![at("b", "x"), at("a", "z"), at("a", "y"), at("c", "w"), at("ab", "v")]), 10);
    let keys = |ns: &str| s.snapshot(ns).iter().map(|e| e.key()).map(|(n, m)| format!("{n}/{m}")).collect::<Vec<_>>();
    assert_eq!(keys(""), ["a/y", "a/z", "ab/v", "b/x", "c/w"]);
    assert_eq!(keys("a"), ["a/y", "a/z"]);
    assert_eq!(keys("zz"), Vec::<String>::new());
}

#[test]
fn changes_become_the_events_a_selection_sees() {
    let view = KindView::new("Pg");
    let mut s = State::new(10);
    s.replace(listed(vec![]), 1);
    let pg = |rv: u64, tier: &str| obj("a", rv, json!({"kind": "Pg", "tier": tier}));
    // (why, deleted, the new object, the watcher's label selector, the event it sees and its version)
    type Row<'a> = (&'a str, bool, Value, &'a str, Option<(EventType, &'a str)>);
    let rows: &[Row] = &[
        ("created, selected", false, pg(2, "gold"), "tier=gold", Some((EventType::Added, "2"))),
        ("changed, still selected", false, pg(3, "gold"), "tier=gold", Some((EventType::Modified, "3"))),
        ("leaves the selection: DELETED at the change's version", false, pg(4, "tin"), "tier=gold", Some((EventType::Deleted, "4"))),
        ("changed outside the selection", false, pg(5, "tin"), "tier=gold", None),
        ("enters the selection: ADDED", false, pg(6, "gold"), "tier=gold", Some((EventType::Added, "6"))),
        ("becomes another kind: gone for this one", false, obj("a", 7, json!({"kind": "Redis", "tier": "gold"})), "", Some((EventType::Deleted, "7"))),
        ("back to this kind", false, pg(8, "gold"), "", Some((EventType::Added, "8"))),
        ("deleted", true, pg(9, "gold"), "", Some((EventType::Deleted, "9"))),
    ];
    for (why, deleted, object, selector, want) in rows {
        let before = s.end();
        s.apply(*deleted, object.clone());
        let Read::Events { events, .. } = s.read(&before, 10) else { unreachable!() };
        let got = convert(&events[0], &*view, &filter("ns", selector));
        let got = got.map(|e| (e.event_type, e.object.value()["metadata"]["resourceVersion"].as_str().unwrap().to_string()));
        assert_eq!(got, want.map(|(t, rv)| (t, rv.to_string())), "{why}");
        if let Some(e) = convert(&events[0], &*view, &filter("ns", selector)) {
            assert_eq!(e.object.value()["kind"], "Pg", "{why}: served as the view's kind");
        }
    }
    let Read::Events { events, .. } = s.read(&s.position(1).unwrap(), 10) else { unreachable!() };
    assert!(convert(&events[0], &*view, &filter("other", "")).is_none(), "another namespace");
}

#[test]
fn a_change_is_translated_once_per_view_and_shared() {
    let (pg, another_pg) = (KindView::new("Pg"), KindView::new("Pg"));
    let mut s = State::new(10);
    s.replace(listed(vec![]), 1);
    s.apply(false, obj("a", 2, json!({"kind": "Pg"})));
    let Read::Events { events, .. } = s.read(&s.position(1).unwrap(), 10) else { unreachable!() };
    let all = filter("", "");
    let (one, two) = (convert(&events[0], &*pg, &all).unwrap(), convert(&events[0], &*pg, &all).unwrap());
    assert!(one.object.ptr_eq(&two.object), "two watchers of one view share the object and its encoding");
    let other = convert(&events[0], &*another_pg, &all).unwrap();
    assert!(!one.object.ptr_eq(&other.object), "another view translates for itself");
    // One served copy is kept per entry, the latest view's: a view replaced by a new one (a changed definition)
    // leaves nothing behind.
    let again = convert(&events[0], &*another_pg, &all).unwrap();
    assert!(again.object.ptr_eq(&other.object));
    let first_again = convert(&events[0], &*pg, &all).unwrap();
    assert!(!first_again.object.ptr_eq(&one.object));
}

#[test]
fn a_change_is_parsed_only_for_the_views_that_may_serve_it() {
    let (pg, redis) = (KindView::new("Pg"), KindView::new("Redis"));
    let mut s = State::new(10);
    s.replace(listed(vec![]), 1);
    s.apply(false, obj("a", 2, json!({"kind": "Pg"})));
    let Read::Events { events, .. } = s.read(&s.position(1).unwrap(), 10) else { unreachable!() };
    let all = filter("", "");
    for _ in 0..3 {
        assert!(convert(&events[0], &*redis, &all).is_none());
        assert!(convert(&events[0], &*pg, &all).is_some());
    }
    let parsed = |v: &KindView| v.translations.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!((parsed(&pg), parsed(&redis)), (1, 0), "translated once for its view, never parsed for the other");
}

#[test]
fn entries_keep_objects_and_translations_encoded() {
    let mut s = State::new(10);
    let backing = obj("a", 5, json!({"kind": "Thing", "app": "db"}));
    s.replace(listed(vec![backing.clone()]), 5);
    let entry = s.get(&("ns".to_string(), "a".to_string())).unwrap();
    assert_eq!(entry.json()[..], serde_json::to_vec(&backing).unwrap()[..]);
    assert_eq!(entry.object(), backing);
    assert_eq!((entry.key(), entry.namespace()), (("ns".to_string(), "a".to_string()), "ns"));
    let served = entry.served(&*KindView::new("Thing")).unwrap();
    assert!(served.is_compact(), "the served form is kept as its encoding and selector metadata");
    assert_eq!(served.labels().get("app").map(String::as_str), Some("db"));
    // Selectors read the compact form without parsing it.
    assert!(filter("ns", "app=db").matches(&served));
    assert!(!filter("ns", "app=web").matches(&served));
    assert!(!filter("other", "").matches(&served));
}

#[test]
fn a_listed_object_is_kept_encoded_under_its_key_and_one_without_a_resource_version_is_skipped() {
    let object = obj("a", 7, json!({"app": "db"}));
    let entry = Entry::listed(object.clone()).expect("an entry");
    assert_eq!((entry.key(), entry.rv), (("ns".to_string(), "a".to_string()), 7));
    assert_eq!(entry.json()[..], serde_json::to_vec(&object).unwrap()[..]);
    assert!(Entry::listed(json!({"metadata": {"namespace": "ns", "name": "b"}})).is_none());
    let mut s = State::new(10);
    s.replace(listed(vec![object, json!({"metadata": {"namespace": "ns", "name": "b"}})]), 10);
    assert_eq!(s.len(), 1, "only the object with a resourceVersion is cached");
}
