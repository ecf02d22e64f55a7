use super::*;

fn op(kind: OpKind, token: Option<&str>, outcome: Outcome) -> Op {
    Op { client: 0, key: "ns/a".into(), kind, token: token.map(str::to_string), outcome }
}

fn ok(rv: u64) -> Outcome {
    Outcome::Ok { rv }
}

fn put(rev: u64, token: &str) -> Change {
    Change::Put { rev, token: Some(token.into()) }
}

fn event(kind: EventType, rv: u64) -> WatchRecord {
    WatchRecord::Event { kind, key: "ns/a".into(), rv }
}

fn listed(rv: u64, items: &[(&str, u64)]) -> WatchRecord {
    WatchRecord::Listed { rv, items: items.iter().map(|(k, v)| (k.to_string(), *v)).collect() }
}

/// create t1 (rv 10), update t2 (rv 12), a failed patch t3, a patch t4 of unknown outcome that did happen
/// (rv 15), delete (rv 15 → deleted at 16), create t5 (rv 20); a watcher that saw it all, one that got a 410
/// and relisted.
fn correct() -> History {
    History {
        ops: vec![
            op(OpKind::Create, Some("t1"), ok(10)),
            op(OpKind::Update, Some("t2"), ok(12)),
            op(OpKind::Patch, Some("t3"), Outcome::Failed { code: 409 }),
            op(OpKind::Patch, Some("t4"), Outcome::Unknown { why: "503".into() }),
            op(OpKind::Delete, None, ok(15)),
            op(OpKind::Apply, Some("t5"), ok(20)),
        ],
        changes: [("ns/a".to_string(), vec![put(10, "t1"), put(12, "t2"), put(15, "t4"), Change::Delete { rev: 16 }, put(20, "t5")])].into(),
        final_state: [("ns/a".to_string(), (20, Some("t5".to_string())))].into(),
        watchers: vec![
            vec![
                listed(5, &[]),
                event(EventType::Added, 10),
                event(EventType::Modified, 12),
                event(EventType::Modified, 15),
                event(EventType::Deleted, 16),
                event(EventType::Added, 20),
            ],
            vec![listed(5, &[]), event(EventType::Added, 10), WatchRecord::Gone, listed(17, &[]), event(EventType::Added, 20)],
        ],
    }
}

#[test]
fn a_correct_history_has_no_anomalies() {
    assert_eq!(check(&correct()), vec![]);
}

#[test]
fn an_unknown_write_that_never_happened_is_fine_too() {
    let mut h = correct();
    h.ops.push(op(OpKind::Patch, Some("t6"), Outcome::Unknown { why: "timeout".into() }));
    assert_eq!(check(&h), vec![]);
}

#[test]
fn a_missing_acknowledged_write_is_caught() {
    let mut h = correct();
    // etcd never had t2: the acknowledged update is lost.
    h.changes.get_mut("ns/a").unwrap().remove(1);
    h.watchers.clear();
    assert_eq!(check(&h), vec![Anomaly::LostWrite { key: "ns/a".into(), token: "t2".into(), rv: 12 }]);
}

#[test]
fn an_acknowledged_write_overwritten_by_nobody_is_caught_at_the_end() {
    let mut h = correct();
    // The last acknowledged write is t5, yet etcd ends holding t2 again (a replay of an old value).
    h.changes.get_mut("ns/a").unwrap().push(put(22, "t2"));
    h.final_state.insert("ns/a".into(), (22, Some("t2".into())));
    h.watchers.clear();
    assert_eq!(check(&h), vec![Anomaly::UnexplainedFinalState { key: "ns/a".into(), found: "t2 at 22".into() }]);
}

#[test]
fn a_lost_delete_is_caught() {
    let mut h = correct();
    h.ops.truncate(5);
    h.changes.insert("ns/a".into(), vec![put(10, "t1"), put(12, "t2"), put(15, "t4")]);
    h.final_state.insert("ns/a".into(), (15, Some("t4".into())));
    h.watchers.clear();
    // etcd still holding t4 is explained by the unknown patch alone; the delete acknowledged after it is lost.
    assert_eq!(check(&h), vec![Anomaly::LostDelete { key: "ns/a".into() }]);
}

#[test]
fn a_failed_write_that_is_visible_is_caught() {
    let mut h = correct();
    h.changes.get_mut("ns/a").unwrap().insert(2, put(13, "t3"));
    h.watchers.clear();
    assert_eq!(check(&h), vec![Anomaly::FailedWriteVisible { key: "ns/a".into(), token: "t3".into(), code: 409 }]);
}

#[test]
fn a_value_no_client_wrote_is_caught() {
    let mut h = correct();
    h.changes.get_mut("ns/a").unwrap().insert(2, put(13, "nobody"));
    h.changes.insert("ns/b".into(), vec![Change::Put { rev: 14, token: None }, Change::Delete { rev: 18 }]);
    h.watchers.clear();
    assert_eq!(
        check(&h),
        vec![Anomaly::Phantom { key: "ns/a".into(), token: Some("nobody".into()), rev: 13 }, Anomaly::Phantom { key: "ns/b".into(), token: None, rev: 14 },]
    );
}

#[test]
fn a_watch_that_skipped_an_event_is_caught() {
    let mut h = correct();
    h.watchers[0].remove(2);
    assert_eq!(check(&h), vec![Anomaly::Gap { watcher: 0, key: "ns/a".into(), expected: 12, got: 15 }]);
}

#[test]
fn a_duplicate_or_reordered_event_is_caught() {
    let mut h = correct();
    h.watchers[0].insert(3, event(EventType::Modified, 12));
    assert_eq!(check(&h), vec![Anomaly::DuplicateOrReordered { watcher: 0, key: "ns/a".into(), rv: 12 }]);
    let mut h = correct();
    h.watchers[0].swap(2, 3);
    let found = check(&h);
    assert!(found.contains(&Anomaly::DuplicateOrReordered { watcher: 0, key: "ns/a".into(), rv: 12 }), "{found:?}");
}

#[test]
fn a_watch_that_stops_short_of_the_final_state_is_caught() {
    let mut h = correct();
    h.watchers[0].pop();
    assert_eq!(check(&h), vec![Anomaly::Stale { watcher: 0, key: "ns/a".into(), have: Some(16), want: Some(20) }]);
}

#[test]
fn wrong_event_types_and_made_up_events_are_caught() {
    let mut h = correct();
    h.watchers[0][2] = event(EventType::Added, 12);
    assert_eq!(check(&h), vec![Anomaly::WrongEventType { watcher: 0, key: "ns/a".into(), rv: 12 }]);
    let mut h = correct();
    h.watchers[1].push(event(EventType::Modified, 21));
    assert_eq!(check(&h), vec![Anomaly::UnknownEvent { watcher: 1, key: "ns/a".into(), rv: 21 }]);
}

#[test]
fn a_list_that_disagrees_with_etcd_and_events_without_a_relist_are_caught() {
    let mut h = correct();
    h.watchers[1][3] = listed(17, &[("ns/a", 15)]);
    let found = check(&h);
    assert!(found.iter().any(|a| matches!(a, Anomaly::InconsistentList { watcher: 1, .. })), "{found:?}");
    let mut h = correct();
    h.watchers[1].remove(3);
    let found = check(&h);
    assert!(found.iter().any(|a| matches!(a, Anomaly::Protocol { watcher: 1, .. })), "{found:?}");
}

#[test]
fn a_harness_that_missed_an_etcd_change_is_told_so() {
    let mut h = correct();
    h.final_state.insert("ns/a".into(), (25, Some("t5".into())));
    h.watchers.clear();
    assert_eq!(check(&h), vec![Anomaly::IncompleteGroundTruth { key: "ns/a".into() }]);
}
