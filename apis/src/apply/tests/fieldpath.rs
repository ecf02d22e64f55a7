use serde_json::{Value, json};

use crate::apply::fieldpath::{FieldSet, PathElement, path_string};

fn f(s: &str) -> PathElement {
    PathElement::Field(s.into())
}

#[test]
fn leaves_are_empty_objects_and_members_with_children_carry_a_dot() {
    let s = FieldSet::from_paths([vec![f("spec")], vec![f("spec"), f("replicas")], vec![f("metadata"), f("labels"), f("a")]]);
    assert_eq!(s.to_fields_v1(), json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {".": {}, "f:replicas": {}}}));
}

#[test]
fn keys_are_sorted_compact_go_json_with_mixed_types() {
    let pe = PathElement::Key(vec![("name".into(), json!("http")), ("port".into(), json!(80))]);
    assert_eq!(pe.to_fields_v1_key(), r#"k:{"name":"http","port":80}"#);
    assert_eq!(path_string(&[f("spec"), f("ports"), pe]), r#".spec.ports[name="http",port=80]"#);
}

#[test]
fn set_values_escape_html_like_go() {
    let pe = PathElement::Value(json!("a<b>&c"));
    assert_eq!(pe.to_fields_v1_key(), r#"v:"a\u003cb\u003e\u0026c""#);
    assert_eq!(path_string(&[f("spec"), f("tags"), pe]), r#".spec.tags[="a<b>&c"]"#);
    let k = PathElement::Key(vec![("name".into(), json!("<&>"))]);
    assert_eq!(k.to_fields_v1_key(), r#"k:{"name":"\u003c\u0026\u003e"}"#);
}

#[test]
fn path_strings_cover_every_element() {
    let p = vec![f("spec"), f("x"), PathElement::Value(json!("elem")), PathElement::Index(3)];
    assert_eq!(path_string(&p), r#".spec.x[="elem"][3]"#);
    assert_eq!(path_string(&[PathElement::Value(json!(1.5))]), "[=1.5]");
    assert_eq!(path_string(&[PathElement::Value(json!(true))]), "[=true]");
}

#[test]
fn decodes_every_prefix_and_the_dot() {
    let v = json!({
        "f:spec": {".": {}, "f:a": {}, "i:3": {}, "v:\"x\"": {}, "v:5": {},
                   "k:{\"port\":80,\"name\":\"a\"}": {".": {}, "f:name": {}}}
    });
    let s = FieldSet::from_fields_v1(&v).unwrap();
    let key = PathElement::Key(vec![("name".into(), json!("a")), ("port".into(), json!(80))]);
    assert!(s.has(&[f("spec")]));
    assert!(s.has(&[f("spec"), f("a")]));
    assert!(s.has(&[f("spec"), PathElement::Index(3)]));
    assert!(s.has(&[f("spec"), PathElement::Value(json!("x"))]));
    assert!(s.has(&[f("spec"), PathElement::Value(json!(5))]));
    assert!(s.has(&[f("spec"), key.clone()]));
    assert!(s.has(&[f("spec"), key, f("name")]));
    // Re-encoding sorts the key's fields.
    let out = s.to_fields_v1();
    assert!(out["f:spec"].get("k:{\"name\":\"a\",\"port\":80}").is_some());
    assert_eq!(out["f:spec"]["i:3"], json!({}));
}

#[test]
fn a_dot_only_node_is_a_leaf_and_unknown_prefixes_are_skipped() {
    let s = FieldSet::from_fields_v1(&json!({"f:a": {".": {}}, "f:b": {"x:y": {}}, "z:q": {"f:c": {}}})).unwrap();
    assert_eq!(s.to_fields_v1(), json!({"f:a": {}, "f:b": {}}));
    assert!(FieldSet::from_fields_v1(&json!({})).unwrap().is_empty());
}

#[test]
fn malformed_keys_are_errors() {
    assert!(FieldSet::from_fields_v1(&json!({"f": {}})).unwrap_err().contains("key must be 2 characters long"));
    assert!(FieldSet::from_fields_v1(&json!({"fx": {}})).unwrap_err().contains("missing colon"));
    assert!(FieldSet::from_fields_v1(&json!({"v:{": {}})).is_err());
    assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
    assert!(FieldSet::from_fields_v1(&json!([])).is_err());
}

#[test]
fn element_order_is_fields_keys_values_indexes_and_values_by_kind() {
    let mut pes = vec![
        PathElement::Index(0),
        PathElement::Value(Value::Null),
        PathElement::Value(json!({"a": 1})),
        PathElement::Value(json!([1])),
        PathElement::Value(json!(true)),
        PathElement::Value(json!("s")),
        PathElement::Value(json!(2)),
        PathElement::Value(json!(1.5)),
        PathElement::Key(vec![("a".into(), json!(1))]),
        f("z"),
        f("a"),
    ];
    pes.sort();
    let keys: Vec<String> = pes.iter().map(PathElement::to_fields_v1_key).collect();
    assert_eq!(keys, vec!["f:a", "f:z", "k:{\"a\":1}", "v:1.5", "v:2", "v:\"s\"", "v:true", "v:[1]", "v:{\"a\":1}", "v:null", "i:0"]);
    assert_eq!(PathElement::Value(json!(1)), PathElement::Value(json!(1.0)));
}

#[test]
fn algebra_on_small_sets() {
    let a = FieldSet::from_paths([vec![f("spec")], vec![f("spec"), f("a")], vec![f("spec"), f("b")]]);
    let b = FieldSet::from_paths([vec![f("spec"), f("b")], vec![f("status")]]);
    assert_eq!(a.union(&b).to_fields_v1(), json!({"f:spec": {".": {}, "f:a": {}, "f:b": {}}, "f:status": {}}));
    assert_eq!(a.difference(&b).to_fields_v1(), json!({"f:spec": {".": {}, "f:a": {}}}));
    assert_eq!(a.intersection(&b).to_fields_v1(), json!({"f:spec": {"f:b": {}}}));
    let spec_only = FieldSet::from_paths([vec![f("spec")]]);
    assert!(a.recursive_difference(&spec_only).is_empty());
    assert_eq!(a.difference(&spec_only).to_fields_v1(), json!({"f:spec": {"f:a": {}, "f:b": {}}}));
    assert_eq!(a.paths().iter().map(|p| path_string(p)).collect::<Vec<_>>(), vec![".spec", ".spec.a", ".spec.b"]);
}

#[test]
fn the_canonical_string_orders_dot_fields_keys_values_indexes() {
    let s = FieldSet::from_fields_v1(&json!({"f:spec": {
        ".": {}, "i:0": {}, "v:\"s\"": {}, "v:1": {}, "k:{\"n\":\"<\"}": {"f:x": {}}, "f:b": {}, "f:a": {}
    }}))
    .unwrap();
    assert_eq!(s.to_fields_v1_string(), r#"{"f:spec":{".":{},"f:a":{},"f:b":{},"k:{\"n\":\"\\u003c\"}":{"f:x":{}},"v:1":{},"v:\"s\"":{},"i:0":{}}}"#);
    let back: Value = serde_json::from_str(&s.to_fields_v1_string()).unwrap();
    assert_eq!(back, s.to_fields_v1());
}
