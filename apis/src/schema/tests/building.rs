//! Building a schema: what parses, what is structural, and what the errors say.

use serde_json::json;

use crate::schema::{SchemaError, StructuralSchema};

#[test]
fn refused_schemas() {
    let rows = [
        (json!("object"), "openAPISchema: must be an object, not string", "not an object"),
        (json!({"type": 1}), "openAPISchema.type: must be a string", "type is not a string"),
        (
            json!({"type": "object", "properties": {"a": {"$ref": "#/x", "type": "string"}}}),
            "openAPISchema.properties[a]: OpenAPIV3Schema '$ref' is not supported",
            "$ref",
        ),
        (
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": false}),
            "openAPISchema.x-kubernetes-preserve-unknown-fields: must be true or undefined",
            "explicit false",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}}),
            "OpenAPIV3Schema 'items' must be a schema, but is an array",
            "tuple items",
        ),
        (
            json!({"type": "object", "properties": {"a": {"description": "no type"}}}),
            "openAPISchema.properties[a].type: Required value: must not be empty for specified object fields",
            "missing type",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "array"}}}),
            "openAPISchema.properties[a].items: Required value: must be specified",
            "array without items",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"type": "string"}]}}}),
            "openAPISchema.properties[a].anyOf[0].type: Forbidden: must be empty to be structural",
            "types inside anyOf",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "object", "anyOf": [{"properties": {"b": {"minLength": 1}}}]}}}),
            "openAPISchema.properties[a].properties[b]: Required value: because it is defined in openAPISchema.properties[a].anyOf[0].properties[b]",
            "value validation of an unspecified field",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "(unclosed"}}}),
            "must be a valid regular expression, but isn't",
            "bad pattern",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-validations": [{"rule": "self ==", "message": "x"}]}}}),
            "openAPISchema.properties[a].x-kubernetes-validations[0]: Invalid value: \"self ==\"",
            "a rule that does not compile",
        ),
        (
            json!({"type": "object", "x-kubernetes-validations": [{"rule": "true", "fieldPath": ".nope"}], "properties": {"a": {"type": "string"}}}),
            "fieldPath: Invalid value: \".nope\": does not refer to a valid field",
            "a fieldPath that names no field",
        ),
        (
            json!({"type": "object", "x-kubernetes-validations": [{"rule": "true", "reason": "Nope"}]}),
            "reason: Unsupported value: \"Nope\"",
            "an unknown reason",
        ),
        (json!({"type": "object", "properties": {"a": {"type": "int"}}}), "properties[a].type: Unsupported value: \"int\"", "an unknown type name"),
        (
            json!({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "map"}),
            "x-kubernetes-list-map-keys: Required value",
            "a map list without keys",
        ),
    ];
    for (schema, want, why) in rows {
        let err = StructuralSchema::new(&schema).expect_err(why);
        let text = err.to_string();
        assert!(text.contains(want), "{why}: {text:?} should contain {want:?}");
    }
}

#[test]
fn error_kinds() {
    let parse = StructuralSchema::new(&json!({"type": 1})).expect_err("parse");
    assert!(matches!(parse, SchemaError::Parse(_)), "{parse:?}");
    let structural = StructuralSchema::new(&json!({"type": "object", "properties": {"a": {}}})).expect_err("structural");
    assert!(matches!(structural, SchemaError::NotStructural(_)), "{structural:?}");
    let rules = StructuralSchema::new(&json!({"type": "object", "x-kubernetes-validations": [{"rule": "(("}]})).expect_err("rules");
    assert!(matches!(rules, SchemaError::Rules(_)), "{rules:?}");
}

#[test]
fn accepted_shapes() {
    let rows = [
        (json!({"type": "object"}), "a bare object"),
        (json!({"type": "object", "x-cozystack-options": {"source": "x"}, "title": "Chart Values"}), "unknown extensions are ignored"),
        (
            json!({"type": "object", "properties": {"q": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true}}}),
            "int-or-string",
        ),
        (json!({"type": "object", "properties": {"q": {"x-kubernetes-preserve-unknown-fields": true}}}), "untyped preserve-unknown-fields"),
        (json!({"type": "object", "properties": {"q": {"type": "string", "default": null}}}), "a null default is no default"),
    ];
    for (schema, why) in rows {
        assert!(StructuralSchema::new(&schema).is_ok(), "{why}");
    }
}

#[test]
fn schemas_are_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<StructuralSchema>();
}
