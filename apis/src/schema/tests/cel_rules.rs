//! `x-kubernetes-validations`: messages, reasons, field paths, transition rules, correlation and blocking.

use serde_json::{Value, json};

use super::{build, texts};

fn spec_with_rules(rules: Value) -> crate::schema::StructuralSchema {
    build(json!({
        "type": "object",
        "x-kubernetes-validations": rules,
        "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}
    }))
}

#[test]
fn rule_rows() {
    let rows: Vec<(Value, Value, Vec<&str>, &str)> = vec![
        (json!([{"rule": "self.a > 0"}]), json!({"a": 1}), vec![], "passing rule"),
        (json!([{"rule": "self.a > 0"}]), json!({"a": -1}), vec![r#"spec: Invalid value: failed rule: self.a > 0"#], "default message"),
        (
            json!([{"rule": "self.a > 0", "message": " must be positive "}]),
            json!({"a": -1}),
            vec![r#"spec: Invalid value: must be positive"#],
            "message, trimmed",
        ),
        (
            json!([{"rule": "self.a > 0", "messageExpression": "'a is ' + string(self.a)"}]),
            json!({"a": -1}),
            vec![r#"spec: Invalid value: a is -1"#],
            "messageExpression",
        ),
        (
            json!([{"rule": "self.a > 0", "message": "static", "messageExpression": "'  '"}]),
            json!({"a": -1}),
            vec![r#"spec: Invalid value: static"#],
            "a blank messageExpression falls back to the message",
        ),
        (json!([{"rule": "self.a > 0", "message": "no", "reason": "FieldValueForbidden"}]), json!({"a": -1}), vec!["spec: Forbidden: no"], "reason Forbidden"),
        (
            json!([{"rule": "self.a > 0", "message": "no", "reason": "FieldValueRequired"}]),
            json!({"a": -1}),
            vec!["spec: Required value: no"],
            "reason Required",
        ),
        (
            json!([{"rule": "self.a > 0", "message": "no", "reason": "FieldValueDuplicate"}]),
            json!({"a": -1}),
            vec!["spec: Duplicate value"],
            "reason Duplicate",
        ),
        (json!([{"rule": "self.a > 0", "message": "no", "fieldPath": ".a"}]), json!({"a": -1}), vec![r#"spec.a: Invalid value: no"#], "fieldPath"),
        (
            json!([{"rule": "self.a > 0", "message": "first"}, {"rule": "self.b == 'x'", "message": "second"}]),
            json!({"a": -1, "b": "y"}),
            vec![r#"spec: Invalid value: first"#, r#"spec: Invalid value: second"#],
            "every failing rule is reported, in order",
        ),
        (
            json!([{"rule": "self.b == 'x'"}]),
            json!({"a": 1}),
            vec![r#"spec: Invalid value: "object": no such key: b evaluating rule: self.b == 'x'"#],
            "an evaluation error names the rule",
        ),
    ];
    for (rules, value, want, why) in rows {
        let s = spec_with_rules(rules);
        assert_eq!(texts(&s.validate(&value, None, "spec")), want, "{why}");
    }
}

#[test]
fn transition_rules_need_an_old_value() {
    let s = build(json!({
        "type": "object",
        "properties": {
            "size": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "size is immutable"}]},
            "users": {"type": "object", "additionalProperties": {
                "type": "object",
                "properties": {"role": {"type": "string"}},
                "x-kubernetes-validations": [{"rule": "self.role == oldSelf.role", "message": "role is immutable"}]
            }},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                          "x-kubernetes-validations": [{"rule": "self.port >= oldSelf.port", "message": "port may only grow"}]}}
        }
    }));
    let old = json!({"size": "1Gi", "users": {"alice": {"role": "admin"}}, "ports": [{"name": "http", "port": 80}, {"name": "db", "port": 5432}]});
    let rows = [
        (old.clone(), vec![], "unchanged"),
        (json!({"size": "2Gi"}), vec![r#"spec.size: Invalid value: "2Gi": size is immutable"#], "changed scalar"),
        (
            json!({"users": {"alice": {"role": "user"}, "bob": {"role": "x"}}}),
            vec![r#"spec.users[alice]: Invalid value: role is immutable"#],
            "map values correlate by key; new keys have no old value",
        ),
        (
            json!({"ports": [{"name": "db", "port": 5432}, {"name": "http", "port": 8080}, {"name": "new", "port": 1}]}),
            vec![],
            "map-list items correlate by key, whatever their order",
        ),
        (json!({"ports": [{"name": "db", "port": 1}]}), vec![r#"spec.ports[0]: Invalid value: port may only grow"#], "a shrunk port"),
    ];
    for (new, want, why) in rows {
        assert_eq!(texts(&s.validate(&new, Some(&old), "spec")), want, "{why}");
    }
    assert!(s.validate(&json!({"size": "2Gi"}), None, "spec").is_empty(), "no transition rule on create");
}

#[test]
fn unchanged_values_ratchet_plain_rules() {
    let s = build(json!({
        "type": "object",
        "properties": {
            "a": {"type": "integer", "x-kubernetes-validations": [{"rule": "self > 0", "message": "positive"}]},
            "b": {"type": "integer"}
        }
    }));
    let old = json!({"a": -1, "b": 1});
    assert!(s.validate(&json!({"a": -1, "b": 2}), Some(&old), "spec").is_empty(), "an unchanged bad value passes on update");
    assert_eq!(texts(&s.validate(&json!({"a": -2, "b": 1}), Some(&old), "spec")), vec![r#"spec.a: Invalid value: -2: positive"#], "a changed bad value fails");
}

#[test]
fn schema_errors_block_rules() {
    let s = spec_with_rules(json!([{"rule": "self.a > 0"}]));
    assert_eq!(
        texts(&s.validate(&json!({"a": "x"}), None, "spec")),
        vec![
            r#"spec.a: Invalid value: "string": spec.a in body must be of type integer: "string""#,
            "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        ],
        "a type error keeps rules from running"
    );
    let plain = build(json!({"type": "object", "properties": {"a": {"type": "integer"}}}));
    assert_eq!(texts(&plain.validate(&json!({"a": "x"}), None, "spec")).len(), 1, "no rules, no extra error");
}

#[test]
fn rules_see_formats_and_escaped_names() {
    let s = build(json!({
        "type": "object",
        "properties": {
            "not-before": {"type": "string", "format": "date-time"},
            "not-after": {"type": "string", "format": "date-time"}
        },
        "x-kubernetes-validations": [{"rule": "self.not__dash__before < self.not__dash__after", "message": "bad window"}]
    }));
    let ok = json!({"not-before": "2024-01-01T00:00:00Z", "not-after": "2024-06-01T00:00:00Z"});
    assert!(s.validate(&ok, None, "spec").is_empty(), "timestamps compare");
    let bad = json!({"not-before": "2024-06-01T00:00:00Z", "not-after": "2024-01-01T00:00:00Z"});
    assert_eq!(texts(&s.validate(&bad, None, "spec")), vec![r#"spec: Invalid value: bad window"#]);
}

#[test]
fn rule_details_follow_the_node() {
    let s = build(json!({
        "type": "object",
        "properties": {
            "q": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true,
                  "x-kubernetes-validations": [{"rule": "self != 'bad'"}]},
            "n": {"type": "string", "nullable": true, "x-kubernetes-validations": [{"rule": "self != ''"}]},
            "m": {"type": "integer", "x-kubernetes-validations": [{"rule": "self > 0", "messageExpression": "1"}]},
            "o": {"type": "integer", "x-kubernetes-validations": [{"rule": "self + 'a' == 1"}]}
        }
    }));
    assert_eq!(
        texts(&s.validate(&json!({"q": "bad", "n": null, "m": -1, "o": 1}), None, "spec")),
        vec![
            r#"spec.m: Invalid value: -1: failed rule: self > 0"#,
            r#"spec.o: Invalid value: "integer": 'no such overload': call arguments did not match a supported operator, function or macro signature for rule: self + 'a' == 1"#,
            r#"spec.q: Invalid value: "bad": failed rule: self != 'bad'"#,
        ],
        "a non-string messageExpression falls back (showing the value); nulls skip rules; an evaluation error shows the type"
    );
}

#[test]
fn optional_old_self_binds_an_optional() {
    let s = build(json!({
        "type": "object",
        "properties": {"q": {"type": "string", "x-kubernetes-validations": [
            {"rule": "!oldSelf.hasValue() || self == oldSelf.value()", "optionalOldSelf": true, "message": "fixed once set"},
            {"rule": "oldSelf.orValue('none') != 'locked'", "optionalOldSelf": true, "message": "locked"}
        ]}}
    }));
    let rows = [
        (json!({"q": "a"}), None, vec![], "create: oldSelf is none"),
        (json!({"q": "a"}), Some(json!({"q": "a"})), vec![], "unchanged"),
        (json!({"q": "b"}), Some(json!({"q": "a"})), vec![r#"spec.q: Invalid value: "b": fixed once set"#], "changed"),
        (json!({"q": "b"}), Some(json!({})), vec![], "the field was absent: oldSelf is none"),
        (
            json!({"q": "x"}),
            Some(json!({"q": "locked"})),
            vec![r#"spec.q: Invalid value: "x": fixed once set"#, r#"spec.q: Invalid value: "x": locked"#],
            "both rules fail",
        ),
    ];
    for (new, old, want, why) in rows {
        assert_eq!(texts(&s.validate(&new, old.as_ref(), "spec")), want, "{why}");
    }
}
