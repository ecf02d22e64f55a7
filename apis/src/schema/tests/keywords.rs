//! One row per validation keyword: the schema of `spec.x`, a value, and kube-apiserver's errors for it.

use serde_json::{Value, json};

use super::{build, texts};

/// Validates `{"x": value}` against a spec schema whose property `x` is `x_schema`.
fn check_x(x_schema: Value, value: Value) -> Vec<String> {
    let s = build(json!({"type": "object", "properties": {"x": x_schema}}));
    texts(&s.validate(&json!({"x": value}), None, "spec"))
}

#[test]
fn keyword_rows() {
    let int_or_string = json!({"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true});
    let rows: Vec<(Value, Value, Vec<&str>, &str)> = vec![
        // type
        (
            json!({"type": "integer"}),
            json!("a"),
            vec![r#"spec.x: Invalid value: "string": spec.x in body must be of type integer: "string""#],
            "string for integer",
        ),
        (
            json!({"type": "integer"}),
            json!(3.5),
            vec![
                r#"spec.x: Invalid value: "number": spec.x in body must be of type integer: "number""#,
                r#"<nil>: Invalid value: "": Checked value must be of type integer (default format) in spec.x"#,
            ],
            "fraction for integer (and go-openapi's range check, reported without a field)",
        ),
        (json!({"type": "integer"}), json!(3.0), vec![], "an integral float is an integer"),
        (json!({"type": "number"}), json!(3), vec![], "number accepts integers"),
        (
            json!({"type": "boolean"}),
            json!("true"),
            vec![r#"spec.x: Invalid value: "string": spec.x in body must be of type boolean: "string""#],
            "string for boolean",
        ),
        (json!({"type": "object"}), json!([]), vec![r#"spec.x: Invalid value: "array": spec.x in body must be of type object: "array""#], "array for object"),
        (
            json!({"type": "array", "items": {"type": "string"}}),
            json!({}),
            vec![r#"spec.x: Invalid value: "object": spec.x in body must be of type array: "object""#],
            "object for array",
        ),
        (
            json!({"type": "string"}),
            json!(null),
            vec![r#"spec.x: Invalid value: "null": spec.x in body must be of type string: "null""#],
            "null for a non-nullable string",
        ),
        (json!({"type": "string", "nullable": true}), json!(null), vec![], "null for a nullable string"),
        (int_or_string.clone(), json!(5), vec![], "int-or-string takes an integer"),
        (int_or_string.clone(), json!("5Gi"), vec![], "int-or-string takes a string"),
        (
            int_or_string.clone(),
            json!(true),
            vec![
                r#"spec.x: Invalid value: "boolean": spec.x in body must be of type integer,string: "boolean""#,
                r#"<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)"#,
                r#"spec.x: Invalid value: "boolean": spec.x in body must be of type integer: "boolean""#,
            ],
            "int-or-string refuses a boolean, with the anyOf errors",
        ),
        // format
        (
            json!({"type": "string", "format": "uuid"}),
            json!("nope"),
            vec![r#"spec.x: Invalid value: "nope": spec.x in body must be of type uuid: "nope""#],
            "uuid",
        ),
        (
            json!({"type": "string", "format": "date-time"}),
            json!("yesterday"),
            vec![r#"spec.x: Invalid value: "yesterday": spec.x in body must be of type date-time: "yesterday""#],
            "date-time",
        ),
        (json!({"type": "string", "format": "date-time"}), json!("2024-05-01T10:00:00Z"), vec![], "valid date-time"),
        (
            json!({"type": "string", "format": "byte"}),
            json!("not base64!"),
            vec![r#"spec.x: Invalid value: "not base64!": spec.x in body must be of type byte: "not base64!""#],
            "byte",
        ),
        (
            json!({"type": "string", "format": "date"}),
            json!("2024-13-01"),
            vec![r#"spec.x: Invalid value: "2024-13-01": spec.x in body must be of type date: "2024-13-01""#],
            "date",
        ),
        (json!({"type": "integer", "format": "int32"}), json!(1_i64 << 40), vec![], "int32 is not a format kube-apiserver checks for CRDs"),
        (json!({"type": "number", "format": "double"}), json!(1.5), vec![], "double is ignored too"),
        (json!({"type": "string", "format": "no-such-format"}), json!("x"), vec![], "unknown formats are ignored"),
        (
            json!({"type": "string", "format": "byte"}),
            json!(5),
            vec![r#"spec.x: Invalid value: "int64": spec.x in body must be of type byte: "int64""#],
            "a number for a formatted string names the Go format",
        ),
        // enum
        (json!({"type": "string", "enum": ["a", "b"]}), json!("x"), vec![r#"spec.x: Unsupported value: "x": supported values: "a", "b""#], "string enum"),
        (json!({"type": "integer", "enum": [1, 2]}), json!(3), vec![r#"spec.x: Unsupported value: 3: supported values: "1", "2""#], "integer enum"),
        (json!({"type": "integer", "enum": [1, 2]}), json!(2), vec![], "integer in enum"),
        // pattern and lengths
        (
            json!({"type": "string", "pattern": "^[a-z]+$"}),
            json!("ABC"),
            vec![r#"spec.x: Invalid value: "ABC": spec.x in body should match '^[a-z]+$'"#],
            "pattern",
        ),
        (
            json!({"type": "string", "pattern": "^\\d+$"}),
            json!("١٢"),
            vec![r#"spec.x: Invalid value: "١٢": spec.x in body should match '^\d+$'"#],
            "Go's \\d is ASCII-only",
        ),
        (json!({"type": "string", "maxLength": 3}), json!("ąęść"), vec!["spec.x: Too long: may not be more than 3 bytes"], "maxLength counts characters"),
        (json!({"type": "string", "maxLength": 3}), json!("ąęś"), vec![], "three characters fit"),
        (
            json!({"type": "string", "minLength": 2}),
            json!("a"),
            vec![r#"spec.x: Invalid value: "a": spec.x in body should be at least 2 chars long"#],
            "minLength",
        ),
        (
            json!({"type": "string", "maxLength": 1, "pattern": "^a$"}),
            json!("bb"),
            vec!["spec.x: Too long: may not be more than 1 byte"],
            "the string validator stops at its first failure",
        ),
        // numbers
        (json!({"type": "integer", "maximum": 10}), json!(11), vec!["spec.x: Invalid value: 11: spec.x in body should be less than or equal to 10"], "maximum"),
        (
            json!({"type": "integer", "maximum": 10, "exclusiveMaximum": true}),
            json!(10),
            vec!["spec.x: Invalid value: 10: spec.x in body should be less than 10"],
            "exclusiveMaximum",
        ),
        (json!({"type": "integer", "minimum": 1}), json!(0), vec!["spec.x: Invalid value: 0: spec.x in body should be greater than or equal to 1"], "minimum"),
        (
            json!({"type": "integer", "minimum": 1, "exclusiveMinimum": true}),
            json!(1),
            vec!["spec.x: Invalid value: 1: spec.x in body should be greater than 1"],
            "exclusiveMinimum",
        ),
        (
            json!({"type": "number", "maximum": 1.5}),
            json!(2.5),
            vec!["spec.x: Invalid value: 2.5: spec.x in body should be less than or equal to 1.5"],
            "float maximum",
        ),
        (
            json!({"type": "number", "maximum": 1000000}),
            json!(2000000.5),
            vec!["spec.x: Invalid value: 2.0000005e+06: spec.x in body should be less than or equal to 1e+06"],
            "Go prints large floats with an exponent",
        ),
        (
            json!({"type": "integer", "maximum": 10.5}),
            json!(11),
            vec!["spec.x: Invalid value: 11: spec.x in body should be less than or equal to 10"],
            "integers compare with the bound truncated",
        ),
        (
            json!({"type": "integer", "multipleOf": 5}),
            json!(7),
            vec!["spec.x: Invalid value: 7: spec.x in body should be a multiple of 5"],
            "integer multipleOf",
        ),
        (
            json!({"type": "number", "multipleOf": 0.5}),
            json!(0.3),
            vec!["spec.x: Invalid value: 0.3: spec.x in body should be a multiple of 0.5"],
            "float multipleOf",
        ),
        (json!({"type": "number", "multipleOf": 0.5}), json!(1.5), vec![], "float multiple"),
        (
            json!({"type": "integer", "minimum": 5, "maximum": 1, "multipleOf": 2}),
            json!(3),
            vec![
                "spec.x: Invalid value: 3: spec.x in body should be a multiple of 2",
                "spec.x: Invalid value: 3: spec.x in body should be greater than or equal to 5",
                "spec.x: Invalid value: 3: spec.x in body should be less than or equal to 1",
            ],
            "number errors come as multipleOf, minimum, maximum",
        ),
        // lists
        (
            json!({"type": "array", "items": {"type": "string"}, "maxItems": 3}),
            json!(["a", "b", "c", "d"]),
            vec!["spec.x: Too many: 4: must have at most 3 items"],
            "maxItems",
        ),
        (
            json!({"type": "array", "items": {"type": "string"}, "maxItems": 1}),
            json!(["a", "b"]),
            vec!["spec.x: Too many: 2: must have at most 1 item"],
            "maxItems of one",
        ),
        (
            json!({"type": "array", "items": {"type": "string"}, "minItems": 2}),
            json!(["a"]),
            vec!["spec.x: Invalid value: 1: spec.x in body should have at least 2 items"],
            "minItems",
        ),
        (
            json!({"type": "array", "items": {"type": "string"}, "uniqueItems": true}),
            json!(["a", "a"]),
            vec![r#"spec.x: Invalid value: "": spec.x in body shouldn't contain duplicates"#],
            "uniqueItems",
        ),
        (
            json!({"type": "array", "items": {"type": "integer"}}),
            json!([1, "b"]),
            vec![r#"spec.x[1]: Invalid value: "string": spec.x[1] in body must be of type integer: "string""#],
            "item paths",
        ),
        (
            json!({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}),
            json!(["a", "b", "a", "a"]),
            vec![r#"spec.x[2]: Duplicate value: "a""#],
            "set items are unique; one error per repeated value",
        ),
        (
            json!({"type": "array", "items": {"type": "integer"}, "x-kubernetes-list-type": "set"}),
            json!([1, 1.0]),
            vec![],
            "int 1 and float 1.0 differ, as in Go",
        ),
        (
            json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                   "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}}),
            json!([{"name": "a", "v": 1}, {"name": "b"}, {"name": "a", "v": 2}]),
            vec![r#"spec.x[2]: Duplicate value: {"name":"a"}"#],
            "map keys are unique",
        ),
        (
            json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "port"],
                   "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}),
            json!([{"name": "a", "port": 1}, {"name": "a", "port": 2}, {"port": 1, "name": "a"}]),
            vec![r#"spec.x[2]: Duplicate value: {"name":"a","port":1}"#],
            "composite map keys",
        ),
        (
            json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                   "items": {"type": "object", "properties": {"name": {"type": "string"}}}}),
            json!(["a"]),
            vec![
                r#"spec.x[0]: Invalid value: "string": spec.x[0] in body must be of type object: "string""#,
                r#"spec.x[0]: Invalid value: "a": must be an object for an array of list-type map"#,
            ],
            "map lists hold objects",
        ),
        // objects
        (
            json!({"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}),
            json!({"a": "1"}),
            vec!["spec.x.b: Required value"],
            "required",
        ),
        (
            json!({"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1}),
            json!({"a": "1", "b": "2"}),
            vec!["spec.x: Too many: 2: must have at most 1 item"],
            "maxProperties",
        ),
        (
            json!({"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 2}),
            json!({"a": "1"}),
            vec!["spec.x: Invalid value: 1: spec.x in body should have at least 2 properties"],
            "minProperties",
        ),
        (
            json!({"type": "object", "additionalProperties": {"type": "integer"}}),
            json!({"a.b": "1"}),
            vec![r#"spec.x.a.b: Invalid value: "string": spec.x.a.b in body must be of type integer: "string""#],
            "map value paths join keys with dots",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}),
            json!({"a": "1", "b": 2}),
            vec![r#"spec.x: Invalid value: "b": spec.x.b in body is a forbidden property"#],
            "additionalProperties false",
        ),
        (
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            json!({"anything": [1, {"b": null}]}),
            vec![],
            "preserved fields are not validated",
        ),
        // logical junctors
        (
            json!({"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]}),
            json!("c"),
            vec![
                r#"<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)"#,
                r#"spec.x: Invalid value: "c": spec.x in body should match '^a'"#,
            ],
            "anyOf",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}),
            json!({"a": 1, "b": 2}),
            vec![r#"<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found 2 valid alternatives"#],
            "oneOf with two matches",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}),
            json!({}),
            vec![r#"<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf). Found none valid"#, "spec.x.a: Required value"],
            "oneOf with none",
        ),
        (
            json!({"type": "string", "allOf": [{"minLength": 2}, {"maxLength": 3}]}),
            json!("a"),
            vec![
                r#"spec.x: Invalid value: "a": spec.x in body should be at least 2 chars long"#,
                r#"<nil>: Invalid value: "": "spec.x" must validate all the schemas (allOf)"#,
            ],
            "allOf",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "integer"}}, "not": {"required": ["a"]}}),
            json!({"a": 1}),
            vec![r#"<nil>: Invalid value: "": "spec.x" must not validate the schema (not)"#],
            "not",
        ),
    ];
    for (schema, value, want, why) in rows {
        assert_eq!(check_x(schema, value), want, "{why}");
    }
}

#[test]
fn errors_are_reported_in_kube_order() {
    let s = build(json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "replicas": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}
        }
    }));
    let got = texts(&s.validate(&json!({"replicas": "3", "tags": ["a", "a"]}), None, "spec"));
    assert_eq!(
        got,
        vec![
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
            "spec.name: Required value",
            r#"spec.tags[1]: Duplicate value: "a""#,
        ],
        "schema errors (properties, then required), then list uniqueness"
    );
    let got = texts(&s.validate(&json!("nope"), None, "spec"));
    assert_eq!(got, vec![r#"spec: Invalid value: "string": spec in body must be of type object: "string""#], "the spec itself");
}

#[test]
fn updates_ratchet_unchanged_errors() {
    let s = build(json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 3},
            "other": {"type": "string"},
            "ports": {"type": "array", "items": {"type": "integer", "maximum": 10}},
            "keyed": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                      "items": {"type": "object", "properties": {"k": {"type": "string"}, "v": {"type": "integer", "maximum": 10}}}}
        }
    }));
    let old = json!({"name": "toolong", "other": "a", "ports": [20, 1], "keyed": [{"k": "a", "v": 20}, {"k": "b", "v": 1}]});
    let rows = [
        (
            json!({"name": "toolong", "other": "b", "ports": [20, 1], "keyed": [{"k": "b", "v": 1}, {"k": "a", "v": 20}]}),
            vec![],
            "untouched bad values stay allowed",
        ),
        (
            json!({"name": "toolonger", "other": "a", "ports": [20, 1], "keyed": [{"k": "a", "v": 20}, {"k": "b", "v": 1}]}),
            vec!["spec.name: Too long: may not be more than 3 bytes"],
            "a changed bad value is refused",
        ),
        (
            json!({"name": "toolong", "other": "a", "ports": [1, 20], "keyed": [{"k": "a", "v": 20}, {"k": "b", "v": 1}]}),
            vec!["spec.ports[1]: Invalid value: 20: spec.ports[1] in body should be less than or equal to 10"],
            "plain lists correlate by index",
        ),
        (
            json!({"name": "toolong", "other": "a", "ports": [20, 1], "keyed": [{"k": "a", "v": 21}]}),
            vec!["spec.keyed[0].v: Invalid value: 21: spec.keyed[0].v in body should be less than or equal to 10"],
            "map lists correlate by key",
        ),
    ];
    for (new, want, why) in rows {
        assert_eq!(texts(&s.validate(&new, Some(&old), "spec")), want, "{why}");
    }
    assert_eq!(texts(&s.validate(&old, None, "spec")).len(), 3, "on create every error counts");
}

#[test]
fn embedded_resources_need_type_meta() {
    let s = build(json!({
        "type": "object",
        "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
        }
    }));
    let rows = [
        (json!({"template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}}), vec![], "complete"),
        (
            json!({"template": {}}),
            vec!["spec.template.apiVersion: Required value: must not be empty", "spec.template.kind: Required value: must not be empty"],
            "apiVersion and kind are required",
        ),
        (
            json!({"template": {"apiVersion": "a/b/c", "kind": "Config_Map"}}),
            vec![
                r#"spec.template.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c"#,
                r#"spec.template.kind: Invalid value: "Config_Map": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#,
            ],
            "malformed type meta",
        ),
    ];
    for (value, want, why) in rows {
        assert_eq!(texts(&s.validate(&value, None, "spec")), want, "{why}");
    }
}
