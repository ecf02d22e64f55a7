//! The Jepsen-style checker: histories in, anomalies out, no I/O.
//!
//! The harness records what every client asked and was told ([`Op`]), what etcd, the ground truth, did to each
//! object ([`Change`], from a watch on etcd itself) and its final state, and what each watcher saw
//! ([`WatchRecord`]). Every write carries a token no other write has (the app's `spec.users.chaos.password`), so a value
//! found anywhere names the write that put it there. Each object is written by one client, one request at a time,
//! so its operations are totally ordered.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// `namespace/name` of an application (and of its HelmRelease).
pub type Key = String;

/// What a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    /// POST.
    Create,
    /// PUT with the resourceVersion the client last saw.
    Update,
    /// PATCH, JSON merge patch.
    Patch,
    /// PATCH, server-side apply with force.
    Apply,
    /// DELETE.
    Delete,
}

impl OpKind {
    /// Every kind, for tables.
    pub const ALL: [OpKind; 5] = [OpKind::Create, OpKind::Update, OpKind::Patch, OpKind::Apply, OpKind::Delete];
}

/// What the client was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer; the resourceVersion of the object it returned (for a delete, of the object before it).
    Ok {
        /// resourceVersion of the answer.
        rv: u64,
    },
    /// A 4xx answer: the write did not happen.
    Failed {
        /// The HTTP code.
        code: u16,
    },
    /// A timeout, a connection error or a 5xx: the write may or may not have happened.
    Unknown {
        /// What happened.
        why: String,
    },
}

/// One write of one client.
#[derive(Debug, Clone)]
pub struct Op {
    /// The client that sent it.
    pub client: usize,
    /// The object.
    pub key: Key,
    /// The verb.
    pub kind: OpKind,
    /// The token written (none for a delete).
    pub token: Option<String>,
    /// The answer.
    pub outcome: Outcome,
}

/// One change etcd made to an object, in revision order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The object was written at `rev` holding `token`.
    Put {
        /// etcd's mod revision (the resourceVersion).
        rev: u64,
        /// The token in the object, if any.
        token: Option<String>,
    },
    /// The object was deleted at `rev`.
    Delete {
        /// The revision of the deletion.
        rev: u64,
    },
}

impl Change {
    /// The revision of the change.
    pub fn rev(&self) -> u64 {
        match self {
            Change::Put { rev, .. } | Change::Delete { rev } => *rev,
        }
    }
}

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// ADDED.
    Added,
    /// MODIFIED.
    Modified,
    /// DELETED.
    Deleted,
}

/// What one watcher recorded, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchRecord {
    /// A list (the start, and every relist after a 410): its resourceVersion and the objects with theirs.
    Listed {
        /// The list's resourceVersion.
        rv: u64,
        /// The objects listed and their resourceVersions.
        items: BTreeMap<Key, u64>,
    },
    /// An event.
    Event {
        /// Its type.
        kind: EventType,
        /// The object.
        key: Key,
        /// The object's resourceVersion.
        rv: u64,
    },
    /// A 410 Gone (an HTTP answer or an ERROR event): the watcher relists next.
    Gone,
}

/// Everything the checker needs.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every write, in the order each client sent them.
    pub ops: Vec<Op>,
    /// Every change etcd made to the objects under test, per object in revision order.
    pub changes: BTreeMap<Key, Vec<Change>>,
    /// The objects in etcd at the end: key → (mod revision, token).
    pub final_state: BTreeMap<Key, (u64, Option<String>)>,
    /// What each watcher recorded.
    pub watchers: Vec<Vec<WatchRecord>>,
}

/// Something the history shows that must not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// The etcd watch missed something: its last change disagrees with etcd's final state (a harness fault).
    IncompleteGroundTruth {
        /// The object.
        key: Key,
    },
    /// A write acknowledged to a client is not in etcd as acknowledged.
    LostWrite {
        /// The object.
        key: Key,
        /// The write's token.
        token: String,
        /// The acknowledged resourceVersion.
        rv: u64,
    },
    /// An acknowledged delete that etcd never did.
    LostDelete {
        /// The object.
        key: Key,
    },
    /// A write that failed with a 4xx is visible.
    FailedWriteVisible {
        /// The object.
        key: Key,
        /// The write's token.
        token: String,
        /// The HTTP code the client got.
        code: u16,
    },
    /// A value no client wrote.
    Phantom {
        /// The object.
        key: Key,
        /// The token found (none: the object holds no token).
        token: Option<String>,
        /// The revision it appeared at.
        rev: u64,
    },
    /// etcd ended in a state no acknowledged or unknown write explains.
    UnexplainedFinalState {
        /// The object.
        key: Key,
        /// What is there.
        found: String,
    },
    /// A watcher's list disagrees with etcd at the list's resourceVersion.
    InconsistentList {
        /// Which watcher.
        watcher: usize,
        /// The object.
        key: Key,
        /// What differs.
        detail: String,
    },
    /// A watcher missed a change.
    Gap {
        /// Which watcher.
        watcher: usize,
        /// The object.
        key: Key,
        /// The revision it expected next.
        expected: u64,
        /// The revision it got.
        got: u64,
    },
    /// A watcher got a change it already had, or out of order.
    DuplicateOrReordered {
        /// Which watcher.
        watcher: usize,
        /// The object.
        key: Key,
        /// The revision it got.
        rv: u64,
    },
    /// A watcher's event has the wrong type for the change (ADDED for an object it holds, ...).
    WrongEventType {
        /// Which watcher.
        watcher: usize,
        /// The object.
        key: Key,
        /// The revision.
        rv: u64,
    },
    /// A watcher's event that etcd never made.
    UnknownEvent {
        /// Which watcher.
        watcher: usize,
        /// The object.
        key: Key,
        /// The revision.
        rv: u64,
    },
    /// A watcher whose events stop short of the object's final state.
    Stale {
        /// Which watcher.
        watcher: usize,
        /// The object.
        key: Key,
        /// The last revision it has.
        have: Option<u64>,
        /// The final revision.
        want: Option<u64>,
    },
    /// A watcher's records out of protocol (an event before any list, ...).
    Protocol {
        /// Which watcher.
        watcher: usize,
        /// What.
        detail: String,
    },
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl Anomaly {
    /// True for anomalies of watchers, false for lost, failed or phantom writes.
    pub fn is_watch(&self) -> bool {
        matches!(
            self,
            Anomaly::InconsistentList { .. }
                | Anomaly::Gap { .. }
                | Anomaly::DuplicateOrReordered { .. }
                | Anomaly::WrongEventType { .. }
                | Anomaly::UnknownEvent { .. }
                | Anomaly::Stale { .. }
                | Anomaly::Protocol { .. }
        )
    }
}

/// Checks a history; no anomalies means it is what a correct server may produce.
pub fn check(h: &History) -> Vec<Anomaly> {
    let mut out = Vec::new();
    check_ground_truth(h, &mut out);
    check_writes(h, &mut out);
    for (i, w) in h.watchers.iter().enumerate() {
        check_watcher(h, i, w, &mut out);
    }
    out
}

fn check_ground_truth(h: &History, out: &mut Vec<Anomaly>) {
    let keys: BTreeSet<&Key> = h.changes.keys().chain(h.final_state.keys()).collect();
    for key in keys {
        let last = h.changes.get(key).and_then(|c| c.last());
        let agrees = match (last, h.final_state.get(key)) {
            (Some(Change::Put { rev, token }), Some((frev, ftoken))) => rev == frev && token == ftoken,
            (Some(Change::Delete { .. }) | None, None) => true,
            _ => false,
        };
        if !agrees {
            out.push(Anomaly::IncompleteGroundTruth { key: key.clone() });
        }
    }
}

fn check_writes(h: &History, out: &mut Vec<Anomaly>) {
    let by_token: BTreeMap<&str, &Op> = h.ops.iter().filter_map(|o| Some((o.token.as_deref()?, o))).collect();
    // Nothing in etcd that no client wrote, and no write that failed.
    for (key, changes) in &h.changes {
        for c in changes {
            let Change::Put { rev, token } = c else { continue };
            match token.as_deref().and_then(|t| by_token.get(t)) {
                None => out.push(Anomaly::Phantom { key: key.clone(), token: token.clone(), rev: *rev }),
                Some(op) if op.key != *key => out.push(Anomaly::Phantom { key: key.clone(), token: token.clone(), rev: *rev }),
                Some(Op { outcome: Outcome::Failed { code }, .. }) => {
                    out.push(Anomaly::FailedWriteVisible { key: key.clone(), token: token.clone().unwrap_or_default(), code: *code })
                }
                Some(_) => {}
            }
        }
    }
    let mut per_key: BTreeMap<&Key, Vec<&Op>> = BTreeMap::new();
    for op in &h.ops {
        per_key.entry(&op.key).or_default().push(op);
    }
    let empty = Vec::new();
    for (key, ops) in per_key {
        let changes = h.changes.get(key).unwrap_or(&empty);
        // Every acknowledged write is in etcd as acknowledged; every acknowledged delete happened after the
        // acknowledged write before it.
        let mut last_acked_rev = 0;
        for op in &ops {
            let Outcome::Ok { rv } = op.outcome else { continue };
            match (&op.kind, &op.token) {
                (OpKind::Delete, _) => {
                    if !changes.iter().any(|c| matches!(c, Change::Delete { rev } if *rev > last_acked_rev)) {
                        out.push(Anomaly::LostDelete { key: key.clone() });
                    }
                }
                (_, Some(token)) => {
                    if !changes.iter().any(|c| matches!(c, Change::Put { rev, token: t } if *rev == rv && t.as_deref() == Some(token))) {
                        out.push(Anomaly::LostWrite { key: key.clone(), token: token.clone(), rv });
                    }
                    last_acked_rev = rv;
                }
                (_, None) => {}
            }
        }
        // After the last acknowledged write, only writes whose outcome is unknown may have changed the object.
        let last_acked = ops.iter().rposition(|o| matches!(o.outcome, Outcome::Ok { .. }));
        let unknown: Vec<&&Op> = ops.iter().filter(|o| matches!(o.outcome, Outcome::Unknown { .. })).collect();
        let explained = |found: &Option<(u64, Option<String>)>| -> bool {
            let by_unknown = match found {
                None => unknown.iter().any(|o| o.kind == OpKind::Delete),
                Some((_, t)) => unknown.iter().any(|o| o.token.is_some() && o.token == *t),
            };
            by_unknown
                || match last_acked.map(|i| ops[i]) {
                    None => found.is_none(),
                    Some(op) if op.kind == OpKind::Delete => found.is_none(),
                    Some(op) => found.as_ref().is_some_and(|(_, t)| *t == op.token),
                }
        };
        let found = h.final_state.get(key).cloned();
        if !explained(&found) {
            out.push(Anomaly::UnexplainedFinalState {
                key: key.clone(),
                found: found.map(|(rev, t)| format!("{} at {rev}", t.unwrap_or_default())).unwrap_or_else(|| "nothing".into()),
            });
        }
    }
}

/// Where a watcher stands for one object: the index of the last change it holds, or none (before the first
/// change after its list).
#[derive(Clone, Copy)]
struct Position {
    index: Option<usize>,
    present: bool,
}

fn check_watcher(h: &History, watcher: usize, records: &[WatchRecord], out: &mut Vec<Anomaly>) {
    let empty = Vec::new();
    let mut positions: BTreeMap<Key, Position> = BTreeMap::new();
    let mut listed_at: Option<u64> = None;
    let mut last_rv = 0;
    let mut gone = false;
    for r in records {
        match r {
            WatchRecord::Listed { rv, items } => {
                listed_at = Some(*rv);
                last_rv = *rv;
                gone = false;
                positions.clear();
                let keys: BTreeSet<&Key> = h.changes.keys().chain(items.keys()).collect();
                for key in keys {
                    let changes = h.changes.get(key).unwrap_or(&empty);
                    let index = changes.iter().rposition(|c| c.rev() <= *rv);
                    let at = index.map(|i| &changes[i]);
                    let (present, ok) = match (at, items.get(key)) {
                        (Some(Change::Put { rev, .. }), Some(item_rv)) => (true, rev == item_rv),
                        (Some(Change::Delete { .. }) | None, None) => (false, true),
                        (at, _) => (matches!(at, Some(Change::Put { .. })), false),
                    };
                    if !ok {
                        out.push(Anomaly::InconsistentList {
                            watcher,
                            key: key.clone(),
                            detail: format!("listed {:?} at {rv}, etcd had {at:?}", items.get(key)),
                        });
                    }
                    positions.insert(key.clone(), Position { index, present });
                }
            }
            WatchRecord::Gone => {
                if listed_at.is_none() {
                    out.push(Anomaly::Protocol { watcher, detail: "410 before any list".into() });
                }
                gone = true;
            }
            WatchRecord::Event { kind, key, rv } => {
                if listed_at.is_none() || gone {
                    out.push(Anomaly::Protocol { watcher, detail: format!("event {kind:?} {key}@{rv} without a list before it") });
                    continue;
                }
                if *rv <= last_rv {
                    out.push(Anomaly::DuplicateOrReordered { watcher, key: key.clone(), rv: *rv });
                    continue;
                }
                last_rv = *rv;
                let changes = h.changes.get(key).unwrap_or(&empty);
                let pos = positions.entry(key.clone()).or_insert(Position { index: None, present: false });
                let next = pos.index.map_or(0, |i| i + 1);
                let Some(found) = changes.iter().position(|c| c.rev() == *rv) else {
                    out.push(Anomaly::UnknownEvent { watcher, key: key.clone(), rv: *rv });
                    continue;
                };
                if found < next {
                    out.push(Anomaly::DuplicateOrReordered { watcher, key: key.clone(), rv: *rv });
                    continue;
                }
                if found > next {
                    out.push(Anomaly::Gap { watcher, key: key.clone(), expected: changes[next].rev(), got: *rv });
                }
                let want = match changes[found] {
                    Change::Delete { .. } => EventType::Deleted,
                    Change::Put { .. } if pos.present => EventType::Modified,
                    Change::Put { .. } => EventType::Added,
                };
                if *kind != want {
                    out.push(Anomaly::WrongEventType { watcher, key: key.clone(), rv: *rv });
                }
                *pos = Position { index: Some(found), present: want != EventType::Deleted };
            }
        }
    }
    if listed_at.is_none() || gone {
        out.push(Anomaly::Protocol { watcher, detail: "the watcher ended without a current list".into() });
        return;
    }
    // The watcher ends holding every object's final state.
    for (key, changes) in &h.changes {
        let have = positions.get(key).and_then(|p| p.index);
        if have != changes.len().checked_sub(1) {
            out.push(Anomaly::Stale { watcher, key: key.clone(), have: have.map(|i| changes[i].rev()), want: changes.last().map(Change::rev) });
        }
    }
}

#[cfg(test)]
#[path = "checker_tests.rs"]
mod tests;
