//! Pruning and defaulting: what is removed and reported, what is filled in.

use serde_json::{Value, json};

use super::build;

fn schema() -> crate::schema::StructuralSchema {
    build(json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "size": {"type": "string", "default": "10Gi"},
            "note": {"type": "string", "nullable": true},
            "resources": {"type": "object", "default": {}, "properties": {
                "cpu": {"type": "string", "default": "1"},
                "limits": {"type": "object", "default": {"memory": "1Gi", "junk": true}, "properties": {"memory": {"type": "string"}}}
            }},
            "items": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string", "default": "x"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "default": "on"}},
            "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"known": {"type": "object", "properties": {"a": {"type": "integer"}}}}},
            "loose": {"type": "object", "additionalProperties": true},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
        }
    }))
}

#[test]
fn prune_rows() {
    let s = schema();
    let rows: Vec<(Value, Value, Vec<&str>, &str)> = vec![
        (json!({"name": "a"}), json!({"name": "a"}), vec![], "known fields stay"),
        (json!({"name": "a", "foo": 1}), json!({"name": "a"}), vec![r#"unknown field "spec.foo""#], "unknown top-level field"),
        (
            json!({"zeta": 1, "alpha": {"b": 1}, "resources": {"cpu": "1", "gpu": 2}}),
            json!({"resources": {"cpu": "1"}}),
            vec![r#"unknown field "spec.alpha""#, r#"unknown field "spec.resources.gpu""#, r#"unknown field "spec.zeta""#],
            "nested unknown fields, sorted by path",
        ),
        (
            json!({"items": [{"k": "a", "z": 1}, {"y": 2}]}),
            json!({"items": [{"k": "a"}, {}]}),
            vec![r#"unknown field "spec.items[0].z""#, r#"unknown field "spec.items[1].y""#],
            "list items",
        ),
        (json!({"labels": {"a.b": "x"}}), json!({"labels": {"a.b": "x"}}), vec![], "map keys are data"),
        (
            json!({"values": {"free": {"deep": 1}, "known": {"a": 1, "b": 2}}}),
            json!({"values": {"free": {"deep": 1}, "known": {"a": 1}}}),
            vec![r#"unknown field "spec.values.known.b""#],
            "preserve-unknown-fields keeps unknown keys but prunes inside specified ones",
        ),
        (
            json!({"loose": {"a": 1, "b": {"c": 1}}}),
            json!({"loose": {"a": 1, "b": {}}}),
            vec![r#"unknown field "spec.loose.b.c""#],
            "additionalProperties: true keeps keys but has no schema for their content",
        ),
        (json!({"name": null, "size": null, "note": null}), json!({"size": null, "note": null}), vec![], "nulls: dropped unless nullable or defaulted"),
        (
            json!({"template": {"apiVersion": "v1", "kind": "X", "metadata": {"name": "n", "bogus": 1}, "spec": {"any": 1}}}),
            json!({"template": {"apiVersion": "v1", "kind": "X", "metadata": {"name": "n"}, "spec": {"any": 1}}}),
            vec![r#"unknown field "spec.template.metadata.bogus""#],
            "embedded resources: unknown ObjectMeta fields go",
        ),
    ];
    for (mut value, want, removed, why) in rows {
        let got = s.prune(&mut value, "spec");
        assert_eq!(got, removed, "{why}: reported");
        assert_eq!(value, want, "{why}: result");
    }
}

#[test]
fn default_rows() {
    let s = schema();
    let rows = [
        (json!({}), json!({"size": "10Gi", "resources": {"cpu": "1", "limits": {"memory": "1Gi"}}}), "defaults of defaults apply, and defaults are pruned"),
        (
            json!({"size": null, "note": null}),
            json!({"size": "10Gi", "note": null, "resources": {"cpu": "1", "limits": {"memory": "1Gi"}}}),
            "a null of a non-nullable field takes its default",
        ),
        (json!({"size": "5Gi", "resources": {"cpu": "2"}}), json!({"size": "5Gi", "resources": {"cpu": "2", "limits": {"memory": "1Gi"}}}), "set values win"),
        (
            json!({"items": [{}, {"k": "y"}]}),
            json!({"items": [{"k": "x"}, {"k": "y"}], "size": "10Gi", "resources": {"cpu": "1", "limits": {"memory": "1Gi"}}}),
            "list items are defaulted",
        ),
        (
            json!({"labels": {"a": null, "b": "off"}}),
            json!({"labels": {"a": "on", "b": "off"}, "size": "10Gi", "resources": {"cpu": "1", "limits": {"memory": "1Gi"}}}),
            "a null map value takes the value default",
        ),
    ];
    for (mut value, want, why) in rows {
        s.apply_defaults(&mut value);
        assert_eq!(value, want, "{why}");
    }
    let mut not_an_object = json!("x");
    s.apply_defaults(&mut not_an_object);
    assert_eq!(not_an_object, json!("x"), "the root is never replaced");
}

#[test]
fn preserve_unknown_fallback_keeps_everything() {
    let s = crate::schema::StructuralSchema::preserve_unknown();
    let mut v = json!({"anything": {"goes": [1, null]}});
    assert!(s.prune(&mut v, "spec").is_empty());
    s.apply_defaults(&mut v);
    assert_eq!(v, json!({"anything": {"goes": [1, null]}}));
    assert!(s.validate(&v, None, "spec").is_empty());
    assert_eq!(s.validate(&json!([1]), None, "spec").len(), 1, "spec must still be an object");
    assert!(!s.has_rules());
}
