use proptest::prelude::*;
use serde_json::{Value, json};

use super::{T0, T1, mgr, obj, ty};
use crate::apply::{FieldSet, PathElement, apply};

fn pe_strategy() -> impl Strategy<Value = PathElement> {
    prop_oneof![
        "[a-c<>&.]{1,3}".prop_map(PathElement::Field),
        (0usize..4).prop_map(PathElement::Index),
        prop_oneof![Just(json!(1)), Just(json!("a<&>")), Just(json!(true)), Just(json!(2.5)), Just(json!(null))].prop_map(PathElement::Value),
        ("[a-b]{1,2}", 0i64..3).prop_map(|(s, n)| {
            let mut k = vec![("name".to_string(), json!(s)), ("port".to_string(), json!(n))];
            k.sort_by(|a, b| a.0.cmp(&b.0));
            PathElement::Key(k)
        }),
    ]
}

fn set_strategy() -> impl Strategy<Value = FieldSet> {
    prop::collection::vec(prop::collection::vec(pe_strategy(), 1..4), 0..12).prop_map(FieldSet::from_paths)
}

/// Specs for the schema of the tests. Associative lists are never empty: an empty one owns nothing, so
/// an apply may legitimately drop it (see `an_empty_associative_list_owns_nothing`).
fn spec_strategy() -> impl Strategy<Value = Value> {
    (
        prop::option::of(0i64..3),
        prop::option::of("[a-c]{1,2}"),
        prop::option::of(prop::collection::btree_set("[a-c]", 1..3)),
        prop::option::of(prop::collection::btree_map(("[a-b]", 0i64..2), prop::option::of("[x-z]"), 1..3)),
        prop::option::of(prop::collection::btree_map("[a-c]", "[x-z]", 0..3)),
        prop::option::of((prop::option::of("[x-z]"), prop::option::of("[x-z]"))),
    )
        .prop_map(|(replicas, name, tags, ports, labels, nested)| {
            let mut m = serde_json::Map::new();
            if let Some(r) = replicas {
                m.insert("replicas".into(), json!(r));
            }
            if let Some(n) = name {
                m.insert("name".into(), json!(n));
            }
            if let Some(t) = tags {
                m.insert("tags".into(), json!(t));
            }
            if let Some(p) = ports {
                let items: Vec<Value> = p
                    .into_iter()
                    .map(|((n, port), note)| {
                        let mut i = json!({"name": n, "port": port});
                        if let Some(note) = note {
                            i["note"] = json!(note);
                        }
                        i
                    })
                    .collect();
                m.insert("ports".into(), Value::Array(items));
            }
            if let Some(l) = labels {
                m.insert("labels".into(), json!(l));
            }
            if let Some((a, b)) = nested {
                let mut n = serde_json::Map::new();
                if let Some(a) = a {
                    n.insert("a".into(), json!(a));
                }
                if let Some(b) = b {
                    n.insert("b".into(), json!(b));
                }
                m.insert("nested".into(), Value::Object(n));
            }
            Value::Object(m)
        })
}

/// Whether every leaf of `cfg` is found, equal, in `out` (list items matched by content). An empty
/// map may come back null: a prune that empties a map leaves null, for defaulting to drop.
fn contains(out: &Value, cfg: &Value) -> bool {
    match (out, cfg) {
        (Value::Null, Value::Object(c)) => c.is_empty(),
        (Value::Object(o), Value::Object(c)) => c.iter().all(|(k, v)| o.get(k).is_some_and(|ov| contains(ov, v))),
        (Value::Array(o), Value::Array(c)) => c.iter().all(|ci| o.iter().any(|oi| contains(oi, ci))),
        (o, c) => o == c,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fields_v1_round_trips(s in set_strategy()) {
        let encoded = s.to_fields_v1();
        let decoded = FieldSet::from_fields_v1(&encoded).unwrap();
        prop_assert_eq!(&decoded, &s);
        prop_assert_eq!(decoded.to_fields_v1(), encoded);
        let text: Value = serde_json::from_str(&s.to_fields_v1_string()).unwrap();
        prop_assert_eq!(FieldSet::from_fields_v1(&text).unwrap(), s);
    }

    #[test]
    fn set_algebra_laws(a in set_strategy(), b in set_strategy(), c in set_strategy()) {
        prop_assert_eq!(a.union(&b), b.union(&a));
        prop_assert_eq!(a.union(&b).union(&c), a.union(&b.union(&c)));
        prop_assert_eq!(a.intersection(&b), b.intersection(&a));
        prop_assert_eq!(a.intersection(&b).intersection(&c), a.intersection(&b.intersection(&c)));
        prop_assert_eq!(a.union(&a), a.clone());
        prop_assert_eq!(a.intersection(&a), a.clone());
        prop_assert!(a.difference(&a).is_empty());
        prop_assert!(a.difference(&b).intersection(&b).is_empty());
        prop_assert_eq!(a.difference(&b).union(&a.intersection(&b)), a.clone());
        prop_assert!(a.difference(&a.union(&b)).is_empty());
        prop_assert_eq!(a.union(&b).len(), a.len() + b.len() - a.intersection(&b).len());
        for p in a.paths() {
            prop_assert!(a.has(&p));
            prop_assert!(a.union(&b).has(&p));
            prop_assert_eq!(a.intersection(&b).has(&p), b.has(&p));
            prop_assert_eq!(a.difference(&b).has(&p), !b.has(&p));
        }
    }

    #[test]
    fn applying_the_same_config_twice_is_a_no_op(live_spec in spec_strategy(), spec in spec_strategy()) {
        let t = ty();
        let (live, entries) = apply(&t, None, &obj(live_spec), vec![], &mgr("other", T0), false, &["status"]).unwrap();
        let cfg = obj(spec);
        let (o1, e1) = apply(&t, Some(&live), &cfg, entries, &mgr("a", T0), true, &["status"]).unwrap();
        let (o2, e2) = apply(&t, Some(&o1), &cfg, e1.clone(), &mgr("a", T1), false, &["status"]).unwrap();
        prop_assert_eq!(o1, o2);
        prop_assert_eq!(e1, e2);
    }

    #[test]
    fn an_apply_result_contains_the_config(first in spec_strategy(), second in spec_strategy(), spec in spec_strategy()) {
        let t = ty();
        let (live, entries) = apply(&t, None, &obj(first), vec![], &mgr("a", T0), false, &["status"]).unwrap();
        let (live, entries) = apply(&t, Some(&live), &obj(second), entries, &mgr("b", T0), true, &["status"]).unwrap();
        let cfg = obj(spec);
        let (out, _) = apply(&t, Some(&live), &cfg, entries, &mgr("a", T1), true, &["status"]).unwrap();
        prop_assert!(contains(&out, &cfg), "{} does not contain {}", out, cfg);
    }
}

/// Whether the path names something present in the object.
fn resolves(v: &Value, path: &[PathElement]) -> bool {
    let Some((pe, rest)) = path.split_first() else { return true };
    match (pe, v) {
        (PathElement::Field(f), Value::Object(m)) => m.get(f).is_some_and(|c| resolves(c, rest)),
        (PathElement::Key(keys), Value::Array(items)) => {
            items.iter().any(|i| keys.iter().all(|(k, kv)| i.get(k) == Some(kv) || (k == "protocol" && i.get(k).is_none())) && resolves(i, rest))
        }
        (PathElement::Value(x), Value::Array(items)) => rest.is_empty() && items.contains(x),
        (PathElement::Index(i), Value::Array(items)) => items.get(*i).is_some_and(|c| resolves(c, rest)),
        _ => false,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Apply(&'static str, Value, bool),
    Update(&'static str, Value),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (prop_oneof![Just("a"), Just("b")], spec_strategy(), any::<bool>()).prop_map(|(m, s, f)| Op::Apply(m, s, f)),
        (prop_oneof![Just("c"), Just("d")], spec_strategy()).prop_map(|(m, s)| Op::Update(m, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_owned_path_is_in_the_object(first in spec_strategy(), ops in prop::collection::vec(op_strategy(), 1..6)) {
        let t = ty();
        let mut o = obj(first);
        let mut entries = crate::apply::update(&t, None, &o, vec![], &mgr("creator", T0), &["status"]).unwrap();
        for (i, op) in ops.into_iter().enumerate() {
            let now = format!("2026-01-01T01:00:{:02}Z", i);
            match op {
                Op::Apply(m, spec, force) => {
                    if let Ok((out, e)) = apply(&t, Some(&o), &obj(spec), entries.clone(), &mgr(m, &now), force, &["status"]) {
                        o = out;
                        entries = e;
                    }
                }
                Op::Update(m, spec) => {
                    let new = obj(spec);
                    entries = crate::apply::update(&t, Some(&o), &new, entries, &mgr(m, &now), &["status"]).unwrap();
                    o = new;
                }
            }
            for e in &entries {
                prop_assert!(!e.fields.is_empty());
                for p in e.fields.paths() {
                    prop_assert!(resolves(&o, &p), "{} owns {} missing from {}", e.manager, crate::apply::path_string(&p), o);
                }
            }
        }
    }
}
