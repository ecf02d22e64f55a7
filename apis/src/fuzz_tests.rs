//! Property tests of the parsers that read what clients send: label and field selectors, YAML bodies, Go
//! durations, FieldsV1 keys and sets, managedFields, and Status encoding. Arbitrary input must give a value or an
//! error naming the problem, never a panic; what parses must round-trip.

use proptest::prelude::*;
use serde_json::Value;

use crate::apply::fieldpath::{FieldSet, PathElement};
use crate::selector::{FieldSelector, LabelSelector};

/// Text made of the characters selectors, YAML and durations give meaning to, and a few others.
fn syntax(alphabet: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(alphabet), 0..max).prop_map(|parts| parts.concat())
}

const SELECTOR: &[&str] =
    &["a", "b", "k", "x.y/z", "=", "==", "!=", "!", ",", " ", "in", "notin", "(", ")", "-", "_", ".", "/", "\0", "é", "1", ">", "<", "exists", "metadata.name"];
const YAML: &[&str] = &[
    "a",
    ": ",
    "\n",
    "  ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&x ",
    "*x",
    "!!str ",
    "!!binary ",
    "'",
    "\"",
    "|",
    ">",
    "#",
    "~",
    "1",
    "1e999",
    "-0",
    "0x1F",
    ".inf",
    "\t",
    "? ",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "<<: ",
    "\\u0000",
    "\u{feff}",
];
const DURATION: &[&str] = &["1", "0", "9", ".", "h", "m", "s", "ms", "us", "µs", "ns", "-", "+", "99999999999999999999", "e"];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[fkvi.:{}\"a-z0-9]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[fkvi]:[a-z\"{}0-9:]{0,8}|[a-z]{1,6}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn label_selectors_parse_or_name_the_problem_and_round_trip(s in prop_oneof![syntax(SELECTOR, 24), any::<String>()]) {
        match LabelSelector::parse(&s) {
            Ok(sel) => {
                let text: Vec<String> = sel.requirements().iter().map(|r| r.to_string()).collect();
                let again = LabelSelector::parse(&text.join(","));
                prop_assert_eq!(again.as_ref().ok(), Some(&sel), "{:?} printed as {:?}", s, text);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn field_selectors_parse_or_name_the_problem_and_round_trip(s in prop_oneof![syntax(SELECTOR, 24), any::<String>()]) {
        match FieldSelector::parse(&s) {
            Ok(sel) => {
                let text: Vec<String> = sel.requirements().iter().map(|r| r.to_string()).collect();
                let again = FieldSelector::parse(&text.join(","));
                prop_assert_eq!(again.as_ref().ok(), Some(&sel), "{:?} printed as {:?}", s, text);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn yaml_bodies_decode_or_name_the_problem(s in prop_oneof![syntax(YAML, 40), any::<String>()], cut in any::<prop::sample::Index>()) {
        for text in [s.as_str(), &s[..s.char_indices().map(|(i, _)| i).nth(cut.index(s.chars().count().max(1))).unwrap_or(s.len())]] {
            match crate::yaml::from_slice(text.as_bytes()) {
                Ok(v) => prop_assert!(serde_json::to_vec(&v).is_ok()),
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }
    }

    #[test]
    fn yaml_bodies_of_any_bytes_decode_or_name_the_problem(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Err(e) = crate::yaml::from_slice(&bytes) {
            prop_assert!(!e.is_empty());
        }
    }

    #[test]
    fn go_durations_parse_or_are_refused(s in prop_oneof![syntax(DURATION, 12), any::<String>()]) {
        let _ = crate::definition::parse_go_duration(&s);
        let _ = crate::application::parse_go_duration(&s);
    }

    #[test]
    fn fields_v1_keys_parse_or_name_the_problem_and_round_trip(s in prop_oneof!["[fkvi]:.{0,16}", any::<String>()]) {
        match PathElement::from_fields_v1_key(&s) {
            Ok(Some(pe)) => {
                let again = PathElement::from_fields_v1_key(&pe.to_fields_v1_key());
                prop_assert_eq!(again, Ok(Some(pe)));
            }
            Ok(None) => {}
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    #[test]
    fn fields_v1_sets_and_managed_fields_of_any_json_decode_or_name_the_problem(v in json_value()) {
        if let Err(e) = FieldSet::from_fields_v1(&v) {
            prop_assert!(!e.is_empty());
        }
        if let Err(e) = crate::apply::managed::decode_managed_fields(&v) {
            prop_assert!(!e.is_empty());
        }
    }

    #[test]
    fn statuses_encode_any_message_as_json_that_reads_back(message in any::<String>(), code in 400u16..600) {
        let mut s = crate::status::Status::bad_request(message.clone());
        s.code = code;
        let back: crate::status::Status = serde_json::from_slice(&s.to_json()).expect("a Status is JSON");
        prop_assert_eq!(back.message, message);
        prop_assert_eq!(back.code, code);
    }
}

/// A YAML "billion laughs": aliases that expand exponentially must be refused, not expanded.
#[test]
fn yaml_alias_bombs_are_refused() {
    let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        doc.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let err = crate::yaml::from_slice(doc.as_bytes()).expect_err("ten billion strings");
    assert!(!err.is_empty());
}
