//! Property: for any history of creates, updates, deletes, kind and label changes, relists and window sizes, a
//! watcher starting from any resourceVersion the cache still serves, with any selection, receives exactly the
//! events that turn the selected state at that version into the selected state now: each ADDED for an object it
//! does not have, each MODIFIED and DELETED for one it has, in resourceVersion order, nothing twice.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::feed::{KindView, filter};
use crate::registry::{EventType, SharedObject};
use crate::watch_cache::entry::Entry;
use crate::watch_cache::state::{Read, State};
use crate::watch_cache::view::{Filter, View, convert};

#[derive(Debug, Clone)]
enum Op {
    Put {
        name: u8,
        kind: bool,
        gold: bool,
    },
    Delete {
        name: u8,
    },
    /// A relist that saw everything.
    Relist,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, any::<bool>(), any::<bool>()).prop_map(|(name, kind, gold)| Op::Put { name, kind, gold }),
        2 => (0u8..4).prop_map(|name| Op::Delete { name }),
        1 => Just(Op::Relist),
    ]
}

fn object(name: u8, kind: bool, gold: bool, rv: u64) -> Value {
    let labels = json!({"kind": if kind { "Pg" } else { "Redis" }, "tier": if gold { "gold" } else { "tin" }});
    json!({"metadata": {"namespace": "ns", "name": format!("o{name}"), "resourceVersion": rv.to_string(), "labels": labels}})
}

/// The selected served state (name → resourceVersion) of backing objects.
fn selected(backing: &BTreeMap<u8, Value>, view: &dyn View, f: &Filter) -> BTreeMap<String, String> {
    backing
        .values()
        .filter_map(|o| view.translate(o).map(SharedObject::compact))
        .filter(|o| f.matches(o))
        .map(|o| o.value().into_owned())
        .map(|o| (o["metadata"]["name"].as_str().unwrap().to_string(), o["metadata"]["resourceVersion"].as_str().unwrap().to_string()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn resuming_anywhere_in_the_window_replays_exactly_the_difference(ops in prop::collection::vec(op(), 1..40), capacity in 1usize..12, selector in 0usize..3) {
        let view = KindView::new("Pg");
        let f = filter("ns", ["", "tier=gold", "tier!=gold"][selector]);
        let mut state = State::new(capacity);
        let mut truth: BTreeMap<u8, Value> = BTreeMap::new();
        let mut rv = 10;
        state.replace(Vec::new(), rv);
        let mut versions = vec![(rv, truth.clone())];
        for op in ops {
            rv += 1;
            match op {
                Op::Put { name, kind, gold } => {
                    let o = object(name, kind, gold, rv);
                    truth.insert(name, o.clone());
                    state.apply(false, o);
                }
                Op::Delete { name } => {
                    let Some(mut o) = truth.remove(&name) else { continue };
                    o["metadata"]["resourceVersion"] = rv.to_string().into();
                    state.apply(true, o);
                }
                Op::Relist => {
                    let replaced = state.replace(truth.values().cloned().filter_map(Entry::listed).collect(), rv);
                    prop_assert_eq!(replaced, crate::watch_cache::state::Replaced::Continuous);
                }
            }
            versions.push((rv, truth.clone()));
        }
        let now = selected(&truth, &*view, &f);
        for (from, at) in &versions {
            let Ok(pos) = state.position(*from) else {
                prop_assert!(*from < state.oldest());
                continue;
            };
            let Read::Events { events, caught_up, .. } = state.read(&pos, usize::MAX) else { panic!("a fresh position is never gone") };
            prop_assert_eq!(caught_up, Some(state.rv()));
            let mut have = selected(at, &*view, &f);
            let mut last = *from;
            for e in &events {
                prop_assert!(e.rv > last, "in order, after the start");
                last = e.rv;
                let Some(out) = convert(e, &*view, &f) else { continue };
                let name = out.object.value()["metadata"]["name"].as_str().unwrap().to_string();
                let version = out.object.value()["metadata"]["resourceVersion"].as_str().unwrap().to_string();
                prop_assert_eq!(version.parse::<u64>().unwrap(), e.rv, "every event carries its own version");
                match out.event_type {
                    EventType::Added => prop_assert!(have.insert(name, version).is_none(), "ADDED for an object the watcher had"),
                    EventType::Modified => prop_assert!(have.insert(name, version).is_some(), "MODIFIED for an object the watcher lacked"),
                    EventType::Deleted => prop_assert!(have.remove(&name).is_some(), "DELETED for an object the watcher lacked"),
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            prop_assert_eq!(&have, &now, "from {}", from);
        }
    }
}
