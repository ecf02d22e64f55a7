//! Property tests: arbitrary JSON never makes prune, default or validate panic, and the pipeline settles.

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::schema::StructuralSchema;

fn arb_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "a",
        "b",
        "name",
        "replicas",
        "size",
        "storageClass",
        "users",
        "nodeGroups",
        "md0",
        "roles",
        "x",
        "items",
        "resources",
        "cpu",
        "memory",
        "template",
        "metadata",
        "kind",
        "apiVersion",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "[a-z0-9.\\-ąß]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

/// A schema with every keyword, so arbitrary values reach every check.
static EVERYTHING: LazyLock<StructuralSchema> = LazyLock::new(|| {
    super::build(json!({
        "type": "object",
        "minProperties": 1,
        "maxProperties": 5,
        "x-kubernetes-validations": [{"rule": "!has(self.a) || self.a != 'forbidden'", "messageExpression": "'a is ' + string(self.a)"}],
        "properties": {
            "a": {"type": "string", "maxLength": 3, "minLength": 1, "pattern": "^[a-z]*$", "enum": ["a", "bb", "ccc"], "format": "hostname"},
            "b": {"type": "number", "minimum": -5, "maximum": 5.5, "exclusiveMaximum": true, "multipleOf": 0.5, "nullable": true},
            "replicas": {"type": "integer", "default": 1, "x-kubernetes-validations": [{"rule": "self >= oldSelf"}]},
            "size": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true, "pattern": "^[0-9]+Gi$"},
            "users": {"type": "object", "additionalProperties": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "format": "date-time"}, "roles": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set", "maxItems": 2}
            }}},
            "items": {"type": "array", "minItems": 1, "uniqueItems": true, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}, "x": {"type": "integer"}},
                          "x-kubernetes-validations": [{"rule": "self.x == oldSelf.x", "fieldPath": ".x", "reason": "FieldValueForbidden"}]}},
            "x": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                  "oneOf": [{"required": ["a"]}, {"required": ["b"]}], "not": {"required": ["name"]}, "allOf": [{"minProperties": 1}]},
            "resources": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "default": {"cpu": "1"}},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
        }
    }))
});

static FIXTURES: LazyLock<Vec<StructuralSchema>> =
    LazyLock::new(|| super::fixtures::fixtures().into_iter().map(|(_, _, raw)| StructuralSchema::new(&raw).expect("fixture builds")).collect());

fn exercise(s: &StructuralSchema, value: &Value, old: &Value) {
    let _ = s.validate(value, None, "spec");
    let _ = s.validate(value, Some(old), "spec");
    let mut v = value.clone();
    let _ = s.prune(&mut v, "spec");
    s.apply_defaults(&mut v);
    let once = v.clone();
    s.apply_defaults(&mut v);
    assert_eq!(v, once, "defaulting is idempotent");
    let mut again = v.clone();
    assert!(s.prune(&mut again, "spec").is_empty(), "pruning a pruned and defaulted value removes nothing");
    let _ = s.validate(&v, Some(&once), "spec");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn nothing_panics_on_the_everything_schema(value in arb_json(), old in arb_json()) {
        exercise(&EVERYTHING, &value, &old);
    }

    #[test]
    fn nothing_panics_on_fixture_schemas(index in 0usize..31, value in arb_json(), old in arb_json()) {
        let s = &FIXTURES[index % FIXTURES.len()];
        exercise(s, &value, &old);
    }
}
