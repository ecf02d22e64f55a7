//! The v3 → v2 conversion of paths and schemas, for `/openapi/v2`: request bodies become `body` parameters and
//! `consumes`, response contents become `produces` and a `schema`, parameter schemas are flattened, references
//! point to `#/definitions/`, `allOf: [{$ref}]` wrappers become plain references (kube-apiserver's v2 spelling),
//! and schemas lose what v2 lacks (`anyOf`, `oneOf`, `nullable`; see [`crate::schema::to_openapi_v2`]) and
//! their defaults, as kube-apiserver's v2 of a custom resource does.

use serde_json::{Map, Value, json};

use super::V3_REFS;
use crate::schema::to_openapi_v2;

const V2_REFS: &str = "#/definitions/";
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// A v3 schema in the v2 spelling.
pub(crate) fn schema(v3: &Value) -> Value {
    let mut out = v3.clone();
    rewrite_refs(&mut out);
    walk(&mut out, &mut |m| {
        m.remove("nullable");
        let single_ref = match m.get("allOf") {
            Some(Value::Array(a)) if a.len() == 1 => a[0].get("$ref").filter(|_| a[0].as_object().is_some_and(|o| o.len() == 1)).cloned(),
            _ => None,
        };
        if let Some(r) = single_ref {
            m.remove("allOf");
            m.insert("$ref".into(), r);
        }
    });
    let mut out = to_openapi_v2(&out);
    // As kube-apiserver publishes custom resources in v2: without defaults, which v2 tools do not apply and
    // which would not always fit the v2 types (a number default of an int-or-string, a string in v2).
    walk(&mut out, &mut |m| {
        m.remove("default");
    });
    out
}

/// A v3 path item in the v2 spelling.
pub(crate) fn path_item(v3: &Value) -> Value {
    let mut out = Map::new();
    if let Some(Value::Array(ps)) = v3.get("parameters") {
        out.insert("parameters".into(), Value::Array(ps.iter().map(parameter).collect()));
    }
    for method in METHODS {
        if let Some(op) = v3.get(method) {
            out.insert(method.into(), operation(op));
        }
    }
    Value::Object(out)
}

fn operation(op: &Value) -> Value {
    let mut out = Map::new();
    let mut params = Vec::new();
    if let Some(body) = op.get("requestBody") {
        let types: Vec<&String> = body["content"].as_object().map(|c| c.keys().collect()).unwrap_or_default();
        out.insert("consumes".into(), json!(types));
        let schema = types.first().map(|t| schema(&body["content"][t.as_str()]["schema"])).unwrap_or(json!({}));
        let required = body.get("required").and_then(Value::as_bool).unwrap_or(false);
        params.push(json!({"name": "body", "in": "body", "required": required, "schema": schema}));
    }
    let mut produces: Vec<String> = Vec::new();
    let mut responses = Map::new();
    for (code, r) in op["responses"].as_object().into_iter().flatten() {
        let mut resp = json!({"description": r["description"]});
        if let Some(c) = r.get("content").and_then(Value::as_object) {
            for t in c.keys() {
                if !produces.contains(t) {
                    produces.push(t.clone());
                }
            }
            if let Some((_, first)) = c.iter().next() {
                resp["schema"] = schema(&first["schema"]);
            }
        }
        responses.insert(code.clone(), resp);
    }
    if !produces.is_empty() {
        out.insert("produces".into(), json!(produces));
    }
    out.insert("schemes".into(), json!(["https"]));
    for key in ["tags", "description", "operationId"] {
        if let Some(v) = op.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(Value::Array(ps)) = op.get("parameters") {
        params.extend(ps.iter().map(parameter));
    }
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    out.insert("responses".into(), Value::Object(responses));
    for (k, v) in op.as_object().into_iter().flatten().filter(|(k, _)| k.starts_with("x-")) {
        out.insert(k.clone(), v.clone());
    }
    Value::Object(out)
}

/// `{name, in, description, required, schema: {type, uniqueItems}}` → `{name, in, description, required, type,
/// uniqueItems}`.
fn parameter(p: &Value) -> Value {
    let mut out = p.as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(s)) = out.remove("schema") {
        out.extend(s);
    }
    Value::Object(out)
}

fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match x {
                    Value::String(s) if k == "$ref" => {
                        if let Some(name) = s.strip_prefix(V3_REFS) {
                            *s = format!("{V2_REFS}{name}");
                        }
                    }
                    _ => rewrite_refs(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// Calls `f` on every schema object of a schema tree (the root, properties, items, additionalProperties, not,
/// allOf, anyOf, oneOf), parents before children.
fn walk(v: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    let Value::Object(m) = v else { return };
    f(m);
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        props.values_mut().for_each(|p| walk(p, f));
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(x) = m.get_mut(key) {
            walk(x, f);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(a)) = m.get_mut(key) {
            a.iter_mut().for_each(|x| walk(x, f));
        }
    }
}
