//! Twin CRDs: kube-apiserver serving the fixture schemas as custom resources, the standard the server's answers
//! are compared with.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{APPS, raw, req, wait_until};

/// The ApplicationDefinition collection.
pub const DEFS: &str = "/apis/cozystack.io/v1alpha1/applicationdefinitions";
/// The CRD collection.
pub const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// The fixture ApplicationDefinition in `file`.
pub fn fixture(file: &str) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(apis::fixtures::application_definitions_dir().join(file)).unwrap()).unwrap()
}

/// Every fixture definition, in file order.
pub fn fixtures() -> Vec<Value> {
    let mut files: Vec<_> =
        std::fs::read_dir(apis::fixtures::application_definitions_dir()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    files.iter().map(|f| fixture(f)).collect()
}

/// The spec schema a definition carries.
pub fn spec_schema(def: &Value) -> Value {
    serde_json::from_str(def["spec"]["application"]["openAPISchema"].as_str().unwrap()).unwrap()
}

/// The spec schema as a CRD can carry it: without cozystack's own extensions (the CRD API refuses unknown
/// fields) and with object defaults completed (kube-apiserver refuses a `default: {}` lacking required fields;
/// defaulting gives the same objects either way).
pub fn crd_spec(schema: &Value) -> Value {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().filter(|(k, _)| !k.starts_with("x-") || k.starts_with("x-kubernetes-")).map(|(k, x)| (k.clone(), strip(x))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let mut out = strip(schema);
    apis::openapi::kinds::complete_defaults(&mut out);
    out
}

/// CRDs in `group` serving (kind, plural, spec schema); returns the kinds kube-apiserver accepted (some fixtures
/// carry defaults that a CRD may not have even when completed) once their objects are served.
pub async fn create_crds(admin: &kube::Client, group: &str, kinds: &[(String, String, Value)]) -> BTreeSet<String> {
    let mut accepted = BTreeSet::new();
    for (kind, plural, spec) in kinds {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {"group": group, "scope": "Namespaced",
                "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "listKind": format!("{kind}List")},
                "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": crd_spec(spec)}}}}]},
        });
        let (code, body) = raw(admin, req("POST", CRDS, Some(crd.clone()))).await.unwrap();
        if code == 201 {
            accepted.insert(kind.clone());
        } else {
            eprintln!("kube-apiserver refuses {kind} as a CRD: {}", body["message"]);
        }
    }
    for (kind, plural, _) in kinds.iter().filter(|(k, _, _)| accepted.contains(k)) {
        let path = format!("/apis/{group}/v1alpha1/{plural}");
        wait_until(&format!("the {kind} CRD to be served"), Duration::from_secs(60), || async {
            raw(admin, req("GET", &path, None)).await.map(|(c, _)| c == 200).unwrap_or(false)
        })
        .await
        .unwrap();
    }
    accepted
}

/// A definition like the Redis fixture, serving `kind` with `schema` (raw JSON text, so that broken ones can be
/// written too).
pub fn definition(kind: &str, schema_text: &str) -> Value {
    let lower = kind.to_lowercase();
    let mut def = fixture("redis.yaml");
    def["metadata"] = json!({"name": lower});
    def["spec"]["application"] = json!({"kind": kind, "plural": format!("{lower}s"), "singular": lower, "openAPISchema": schema_text});
    def["spec"]["release"]["prefix"] = format!("{lower}-").into();
    def
}

/// Creates a definition and waits until its kind is served.
pub async fn serve(admin: &kube::Client, def: &Value) -> String {
    let (code, body) = raw(admin, req("POST", DEFS, Some(def.clone()))).await.unwrap();
    assert_eq!(code, 201, "{body}");
    let plural = def["spec"]["application"]["plural"].as_str().unwrap().to_string();
    let path = format!("{APPS}/namespaces/tenant-root/{plural}");
    wait_until("the new kind to be served", Duration::from_secs(10), || async {
        raw(admin, req("GET", &path, None)).await.map(|(c, _)| c == 200).unwrap_or(false)
    })
    .await
    .unwrap();
    plural
}
