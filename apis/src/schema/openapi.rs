//! The spec schema as published in the OpenAPI documents (v3 and v2), per upstream cozystack-api.

use serde_json::{Map, Value, json};

/// Keywords whose value is a schema.
const SCHEMA_KEYS: [&str; 3] = ["items", "additionalProperties", "not"];
/// Keywords whose value is a list of schemas.
const SCHEMA_LIST_KEYS: [&str; 3] = ["allOf", "anyOf", "oneOf"];

/// The definition's spec schema made safe to publish as `properties.spec` of a kind.
///
/// An empty schema (null or `{}`) becomes `{type: object, x-kubernetes-preserve-unknown-fields: true}`; a
/// root without `additionalProperties` gets `type: object` and `x-kubernetes-preserve-unknown-fields: true`;
/// every boolean `additionalProperties` is replaced: `true` by `x-kubernetes-preserve-unknown-fields: true`
/// (and `type: object`), `false` by nothing. Schema-valued `additionalProperties` stay.
pub fn sanitize_for_openapi(schema: &Value) -> Value {
    let empty = match schema {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    };
    if empty {
        return json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    }
    let mut out = schema.clone();
    if let Value::Object(m) = &mut out
        && !m.contains_key("additionalProperties")
    {
        m.insert("type".into(), json!("object"));
        m.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
    }
    replace_boolean_additional_properties(&mut out);
    out
}

fn replace_boolean_additional_properties(v: &mut Value) {
    let Value::Object(m) = v else { return };
    match m.get("additionalProperties") {
        Some(Value::Bool(true)) => {
            m.remove("additionalProperties");
            m.insert("type".into(), json!("object"));
            m.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
        }
        Some(Value::Bool(false)) => {
            m.remove("additionalProperties");
        }
        _ => {}
    }
    for_each_subschema(m, replace_boolean_additional_properties);
}

/// The schema for the OpenAPI v2 document: an `anyOf` of exactly `integer` and `string` becomes
/// `type: string` with `x-kubernetes-int-or-string: true`; every other `anyOf` and `oneOf` is dropped, at every
/// depth. Apply it to the output of [`sanitize_for_openapi`].
pub fn to_openapi_v2(schema: &Value) -> Value {
    let mut out = schema.clone();
    v2_node(&mut out);
    out
}

fn v2_node(v: &mut Value) {
    let Value::Object(m) = v else { return };
    let int_or_string = m.get("anyOf").and_then(Value::as_array).is_some_and(|a| is_int_or_string(a));
    m.remove("anyOf");
    m.remove("oneOf");
    if int_or_string {
        m.insert("type".into(), json!("string"));
        m.insert("x-kubernetes-int-or-string".into(), json!(true));
    }
    for_each_subschema(m, v2_node);
}

fn is_int_or_string(branches: &[Value]) -> bool {
    let mut types: Vec<&str> = Vec::new();
    for b in branches {
        let Some(o) = b.as_object() else { return false };
        if o.len() != 1 {
            return false;
        }
        let Some(t) = o.get("type").and_then(Value::as_str) else {
            return false;
        };
        types.push(t);
    }
    types.sort_unstable();
    types == ["integer", "string"]
}

fn for_each_subschema(m: &mut Map<String, Value>, f: fn(&mut Value)) {
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        props.values_mut().for_each(f);
    }
    for key in SCHEMA_KEYS {
        if let Some(x) = m.get_mut(key) {
            f(x);
        }
    }
    for key in SCHEMA_LIST_KEYS {
        if let Some(Value::Array(a)) = m.get_mut(key) {
            a.iter_mut().for_each(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_rows() {
        let rows = [
            (json!(null), json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}), "null schema"),
            (json!({}), json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}), "empty schema"),
            (
                json!({"type": "object", "properties": {"a": {"type": "string"}}}),
                json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"a": {"type": "string"}}}),
                "root without additionalProperties preserves unknown fields",
            ),
            (
                json!({"type": "object", "additionalProperties": {"type": "object", "properties": {"x": {"additionalProperties": true}}}}),
                json!({"type": "object", "additionalProperties": {"type": "object", "properties": {"x": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}),
                "nested boolean true becomes preserve-unknown-fields",
            ),
            (
                json!({"type": "object", "additionalProperties": false, "properties": {"y": {"type": "object", "additionalProperties": false}}}),
                json!({"type": "object", "properties": {"y": {"type": "object"}}}),
                "boolean false is removed everywhere",
            ),
        ];
        for (input, want, why) in rows {
            assert_eq!(sanitize_for_openapi(&input), want, "{why}");
        }
    }

    #[test]
    fn v2_rows() {
        let rows = [
            (
                json!({"properties": {"cpu": {"anyOf": [{"type": "integer"}, {"type": "string"}], "pattern": "^x$", "x-kubernetes-int-or-string": true}}}),
                json!({"properties": {"cpu": {"type": "string", "pattern": "^x$", "x-kubernetes-int-or-string": true}}}),
                "int-or-string anyOf becomes a string",
            ),
            (
                json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
                json!({"type": "string", "x-kubernetes-int-or-string": true}),
                "order does not matter",
            ),
            (
                json!({"items": {"oneOf": [{"required": ["a"]}], "anyOf": [{"required": ["b"]}], "type": "object"}}),
                json!({"items": {"type": "object"}}),
                "other anyOf and oneOf are dropped, nested too",
            ),
        ];
        for (input, want, why) in rows {
            assert_eq!(to_openapi_v2(&input), want, "{why}");
        }
    }
}
