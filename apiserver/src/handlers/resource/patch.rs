//! Patches: JSON patch (RFC 6902), merge patch (RFC 7386) and apply patches (server-side apply, in
//! `storage`); strategic merge is refused (415), as kube-apiserver does for custom resources.

use apis::status::Status;
use serde_json::Value;

/// The kinds of patch accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// application/json-patch+json.
    Json,
    /// application/merge-patch+json.
    Merge,
    /// application/apply-patch+yaml (server-side apply).
    Apply,
}

/// The patch type of a Content-Type, or 415.
pub fn patch_type(content_type: &str) -> Result<PatchType, Status> {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    match essence {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        // kube-apiserver has no `+json` apply type (a JSON body is YAML), and `+cbor` only behind a feature gate.
        "application/apply-patch+yaml" => Ok(PatchType::Apply),
        // Strategic merge patch included, as kube-apiserver answers for custom resources.
        _ => Err(Status::unsupported_media_type(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        )),
    }
}

/// Applies a JSON or merge patch to `current`.
pub fn apply(kind: PatchType, current: &Value, patch: &[u8]) -> Result<Value, Status> {
    match kind {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(patch).map_err(|e| Status::bad_request(format!("the JSON patch is invalid: {e}")))?;
            apis::json_patches::patched(current, &ops).map_err(|e| Status {
                code: 422,
                reason: "Invalid".into(),
                message: format!("the server rejected our request due to an error in our request: {e}"),
                ..Status::bad_request("")
            })
        }
        PatchType::Apply => apply_config(patch),
        PatchType::Merge => {
            let p: Value = super::decode_body(patch, "application/json")?;
            if !p.is_object() {
                return Err(Status::bad_request("the patch must be a JSON object"));
            }
            let mut doc = current.clone();
            json_patch::merge(&mut doc, &p);
            Ok(doc)
        }
    }
}

/// The configuration an apply patch carries (YAML, of which JSON is a part).
pub fn apply_config(patch: &[u8]) -> Result<Value, Status> {
    let config: Value = super::decode_body(patch, "application/yaml")?;
    if !config.is_object() {
        return Err(Status::bad_request("the apply patch must be an object"));
    }
    Ok(config)
}

/// The resourceVersion a patch sets explicitly, if any (then a conflict is final, not retried).
pub fn patch_sets_resource_version(kind: PatchType, patch: &[u8]) -> bool {
    let Ok(p) = serde_json::from_slice::<Value>(patch) else { return false };
    match kind {
        PatchType::Json => p.as_array().is_some_and(|ops| ops.iter().any(|op| op.get("path").and_then(Value::as_str) == Some("/metadata/resourceVersion"))),
        _ => p.pointer("/metadata/resourceVersion").is_some_and(|v| !v.is_null()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types() {
        assert_eq!(patch_type("application/merge-patch+json; charset=utf-8").unwrap(), PatchType::Merge);
        assert_eq!(patch_type("application/json-patch+json").unwrap(), PatchType::Json);
        assert_eq!(patch_type("application/strategic-merge-patch+json").unwrap_err().code, 415);
        assert_eq!(patch_type("text/plain").unwrap_err().code, 415);
        assert_eq!(patch_type("application/apply-patch+yaml").unwrap(), PatchType::Apply);
        assert_eq!(patch_type("application/apply-patch+json").unwrap_err().code, 415, "kube-apiserver has no JSON apply type");
    }

    #[test]
    fn merge_and_json_patches() {
        let cur = json!({"spec": {"replicas": 2, "size": "10Gi"}, "metadata": {"resourceVersion": "5"}});
        let merged = apply(PatchType::Merge, &cur, br#"{"spec":{"replicas":3,"size":null}}"#).unwrap();
        assert_eq!(merged["spec"], json!({"replicas": 3}));
        let patched = apply(PatchType::Json, &cur, br#"[{"op":"replace","path":"/spec/replicas","value":4}]"#).unwrap();
        assert_eq!(patched["spec"]["replicas"], 4);
        assert_eq!(apply(PatchType::Json, &cur, br#"[{"op":"test","path":"/spec/replicas","value":9}]"#).unwrap_err().code, 422);
        assert_eq!(apply(PatchType::Merge, &cur, b"{not json").unwrap_err().code, 400);
        assert!(patch_sets_resource_version(PatchType::Merge, br#"{"metadata":{"resourceVersion":"4"}}"#));
        assert!(!patch_sets_resource_version(PatchType::Merge, br#"{"spec":{}}"#));
    }

    #[test]
    fn a_json_patch_failing_after_a_move_onto_the_parent_is_422() {
        // Found by fuzzing: the patch library's rollback of such a move panicked, and the panic became a 500.
        let cur = json!({"spec": {"users": {"u": {"password": "x"}}}});
        let patch = br#"[{"op":"move","from":"/spec/users/u","path":"/spec/users"},{"op":"remove","path":"/spec/nothing"}]"#;
        let err = apply(PatchType::Json, &cur, patch).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.contains("/spec/nothing"), "{}", err.message);
    }
}
