//! Kind and list schemas: the published schema of an application kind, the fallback for a kind without one,
//! and the pieces every kind shares (apiVersion, kind, metadata), worded as kube-apiserver words them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::meta::meta_ref;
use super::{KindSchema, V3_REFS};
use crate::schema::sanitize_for_openapi;

const API_VERSION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_METADATA: &str =
    "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// The `apiVersion` property.
pub fn api_version_property() -> Value {
    json!({"description": API_VERSION, "type": "string"})
}

/// The `kind` property.
pub fn kind_property() -> Value {
    json!({"description": KIND, "type": "string"})
}

/// The `metadata` property of an object (ObjectMeta).
pub fn metadata_property() -> Value {
    json!({"description": METADATA, "allOf": [meta_ref("ObjectMeta")]})
}

/// `{description, allOf: [{$ref: <definition>}]}`: a property of a named type, in kube-apiserver's v3 spelling.
pub fn reference(definition: &str, description: &str) -> Value {
    json!({"description": description, "allOf": [{"$ref": format!("{V3_REFS}{definition}")}]})
}

/// The list of a kind named `definition`.
pub fn list(definition: &str, kind: &str, plural: &str) -> Value {
    json!({
        "description": format!("{kind}List is a list of {kind}"),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": api_version_property(),
            "items": {
                "description": format!("List of {plural}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"),
                "type": "array",
                "items": {"$ref": format!("{V3_REFS}{definition}")},
            },
            "kind": kind_property(),
            "metadata": {"description": LIST_METADATA, "allOf": [meta_ref("ListMeta")]},
        },
    })
}

/// The schema of a kind that publishes none: apiVersion, kind and metadata, anything else preserved.
pub fn generic(package: &str, kind: &str) -> KindSchema {
    let name = format!("{package}.{kind}");
    let object = json!({
        "description": format!("{kind} objects."),
        "type": "object",
        "properties": {"apiVersion": api_version_property(), "kind": kind_property(), "metadata": metadata_property()},
        "x-kubernetes-preserve-unknown-fields": true,
    });
    KindSchema { definitions: BTreeMap::from([(name.clone(), object)]), name }
}

/// The schema of the application kind `kind`, whose `spec` is `spec_schema` (the definition's openAPISchema
/// when it is a usable structural schema, else the preserve-unknown-fields schema the server falls back to).
/// Definitions `<package>.<Kind>` and `<package>.<Kind>Status`, as upstream names them.
pub fn application(package: &str, kind: &str, spec_schema: &Value) -> KindSchema {
    let name = format!("{package}.{kind}");
    let status = format!("{name}Status");
    let object = json!({
        "description": format!("{kind} is an application: its spec holds the values of the Helm release that runs it."),
        "type": "object",
        "properties": {
            "apiVersion": api_version_property(),
            "kind": kind_property(),
            "metadata": metadata_property(),
            "appVersion": {"description": "Not used by applications; kept for compatibility.", "type": "string"},
            "spec": publishable_spec(spec_schema),
            "status": reference(&status, "Status of the application, read from its Helm release."),
        },
    });
    let status_schema = json!({
        "description": format!("{kind}Status is the observed state of a {kind}."),
        "type": "object",
        "properties": {
            "version": {"description": "The chart version the release last attempted.", "type": "string"},
            "conditions": {
                "description": "Ready and Released, copied from the Helm release, and WorkloadsReady.",
                "type": "array",
                "items": meta_ref("Condition"),
            },
            "namespace": {"description": "Tenants only: the namespace the tenant owns.", "type": "string"},
            "externalIPsCount": {"description": "Tenants only: LoadBalancer Services with an external IP in that namespace.", "type": "integer", "format": "int32"},
        },
    });
    KindSchema { definitions: BTreeMap::from([(name.clone(), object), (status, status_schema)]), name }
}

/// The spec schema as published: [`sanitize_for_openapi`] (no boolean `additionalProperties`, an empty schema
/// preserves unknown fields), but without the root `x-kubernetes-preserve-unknown-fields` that upstream adds
/// because it never prunes: this server prunes and validates against the schema, and publishes what it
/// enforces (docs/compatibility.md, Validation). Object defaults are completed with the defaults of their own
/// properties ([`complete_defaults`]).
pub fn publishable_spec(spec_schema: &Value) -> Value {
    let mut out = sanitize_for_openapi(spec_schema);
    complete_defaults(&mut out);
    let declared = |key: &str| spec_schema.get(key).is_some();
    let is_empty = spec_schema.as_object().is_none_or(|m| m.is_empty());
    if !is_empty
        && !declared("additionalProperties")
        && !declared("x-kubernetes-preserve-unknown-fields")
        && let Value::Object(m) = &mut out
    {
        m.remove("x-kubernetes-preserve-unknown-fields");
    }
    out
}

/// Makes every `default` what the server places, deepest first: filled with the defaults of its own schema, and
/// without the fields that schema would prune. `backup: {default: {}, required: [enabled], properties:
/// {enabled: {default: false}}}` publishes `default: {enabled: false}`.
///
/// Defaulting places a default and then defaults (and prunes) inside it, so the objects are the same; but a
/// published `default: {}` that lacks required fields is invalid OpenAPI (a validator or a generator checks
/// defaults against their schema, as kube-apiserver does for CRDs), while the completed one is valid.
pub fn complete_defaults(schema: &mut Value) {
    let Value::Object(m) = schema else { return };
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        props.values_mut().for_each(complete_defaults);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = m.get_mut(key) {
            complete_defaults(sub);
        }
    }
    if let Some(mut default) = m.remove("default") {
        fill(m, &mut default);
        m.insert("default".into(), default);
    }
}

/// Applies the defaults of `schema` (already completed) inside `value`.
fn fill(schema: &Map<String, Value>, value: &mut Value) {
    match value {
        Value::Object(obj) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, p) in props.into_iter().flatten() {
                match obj.get_mut(k) {
                    Some(v) => fill_with(p, v),
                    None => {
                        if let Some(d) = p.get("default") {
                            obj.insert(k.clone(), d.clone());
                        }
                    }
                }
            }
            let declared = |k: &str| props.is_some_and(|p| p.contains_key(k));
            match schema.get("additionalProperties").filter(|a| a.is_object()) {
                Some(ap) => obj.iter_mut().filter(|(k, _)| !declared(k)).for_each(|(_, v)| fill_with(ap, v)),
                None if keeps_unknown(schema) => {}
                None => obj.retain(|k, _| declared(k)),
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                items.iter_mut().for_each(|v| fill_with(item, v));
            }
        }
        _ => {}
    }
}

fn fill_with(schema: &Value, value: &mut Value) {
    if let Value::Object(m) = schema {
        fill(m, value);
    }
}

/// Whether pruning keeps the unknown fields of an object of this schema.
fn keeps_unknown(schema: &Map<String, Value>) -> bool {
    let flag = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
    if flag("x-kubernetes-preserve-unknown-fields") {
        return true;
    }
    // What an embedded resource always has; and a schema that says nothing about objects keeps them whole.
    flag("x-kubernetes-embedded-resource") || (schema.get("type").is_none() && schema.get("properties").is_none())
}
