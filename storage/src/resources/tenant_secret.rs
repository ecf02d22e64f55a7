//! TenantSecretRegistry: `tenantsecrets.core.cozystack.io`, the core Secrets labelled
//! `internal.cozystack.io/tenantresource=true` (stamped by the lineage webhook, or here on create), with full
//! CRUD. The marker label is hidden on read and always kept on write.
//!
//! Differences from upstream, on purpose:
//! - reads return `data` (base64, as a Secret does) and no `stringData`; upstream fills `stringData` with the
//!   base64 of each value, which is neither the plain text the field name promises nor needed by anyone who
//!   has `data`. Writes accept both, `stringData` merged over `data` (kube-apiserver merges them, as for any
//!   Secret), so a client that sends what upstream sent back still writes the same values.
//! - update replaces the user's labels and annotations (upstream merges: it can never remove one); metadata
//!   the TenantSecret does not show (owner references, finalizers) is kept from the live Secret.
//! - only the types tenants use are written ([`ALLOWED_TYPES`]), and never the service-account annotations:
//!   the Secret is written with this server's identity, and a service-account token Secret would be filled by
//!   kube-controller-manager with a token the user could then read back (docs/security.md).

use apis::status::{FieldError, FieldErrorKind, Status};
use apis::table::TableColumnDefinition;
use base64::Engine;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::tenant_module::{copy_fields, without};
use crate::StorageError;
use crate::backend::BackingResource;
use crate::projection::Projection;
use crate::registry::{RequestContext, ResourceInfo, TableConvertor, WriteOptions};

/// The label that makes a Secret a TenantSecret.
pub const TENANT_RESOURCE_LABEL: &str = "internal.cozystack.io/tenantresource";
/// Kind of the served object.
pub const KIND: &str = "TenantSecret";
/// The Secret types a TenantSecret may have (an absent type is Opaque). Each holds only what the user wrote;
/// other types are filled or acted on by controllers (`kubernetes.io/service-account-token` gets a token,
/// `bootstrap.kubernetes.io/token` joins nodes) and would give the user more than they could get themselves.
pub const ALLOWED_TYPES: &[&str] =
    &["Opaque", "kubernetes.io/basic-auth", "kubernetes.io/ssh-auth", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"];
/// Annotations under this prefix bind a Secret to a ServiceAccount; a TenantSecret never carries them.
pub const SERVICE_ACCOUNT_ANNOTATION_PREFIX: &str = "kubernetes.io/service-account.";
/// Core Secrets.
pub const SECRETS: BackingResource = BackingResource { group: "", version: "v1", plural: "secrets", namespaced: true };

/// The hooks of TenantSecret.
pub struct TenantSecretRegistry {
    info: ResourceInfo,
}

impl Default for TenantSecretRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl TenantSecretRegistry {
    /// The registry.
    pub fn new() -> Self {
        let info = ResourceInfo::tenant_secret();
        Self { info }
    }
}

fn marked(obj: &Value) -> bool {
    obj.pointer("/metadata/labels").and_then(|l| l.get(TENANT_RESOURCE_LABEL)).and_then(Value::as_str) == Some("true")
}

/// The TenantSecret of a Secret, or None for an unmarked one.
pub fn from_secret(secret: &Value) -> Option<Value> {
    if !marked(secret) {
        return None;
    }
    let src = secret.get("metadata");
    let mut meta = Map::new();
    copy_fields(src, &mut meta, &["name", "namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"]);
    if let Some(l) = without(src.and_then(|m| m.get("labels")), TENANT_RESOURCE_LABEL) {
        meta.insert("labels".into(), l);
    }
    copy_fields(src, &mut meta, &["annotations"]);
    let mut out = Map::new();
    out.insert("apiVersion".into(), format!("{}/{}", apis::CORE_GROUP, apis::VERSION).into());
    out.insert("kind".into(), KIND.into());
    out.insert("metadata".into(), Value::Object(meta));
    copy_fields(Some(secret), &mut out, &["type", "data"]);
    Some(Value::Object(out))
}

/// The Secret to write for a TenantSecret; `live` is the current Secret on update, whose unshown metadata stays.
pub fn to_secret(obj: &Value, live: Option<&Value>) -> Value {
    let src = obj.get("metadata");
    let mut meta = match live.and_then(|l| l.get("metadata")).and_then(Value::as_object) {
        Some(m) => {
            let mut m = m.clone();
            // The server keeps its managed fields when an update sends none.
            m.remove("managedFields");
            m
        }
        None => Map::new(),
    };
    for k in ["labels", "annotations", "resourceVersion"] {
        meta.remove(k);
    }
    copy_fields(src, &mut meta, &["name", "generateName", "namespace", "resourceVersion", "annotations"]);
    let mut labels = src.and_then(|m| m.get("labels")).and_then(Value::as_object).cloned().unwrap_or_default();
    labels.insert(TENANT_RESOURCE_LABEL.into(), "true".into());
    meta.insert("labels".into(), Value::Object(labels));
    let mut out = json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta});
    let body = out.as_object_mut().expect("an object");
    copy_fields(Some(obj), body, &["data", "stringData"]);
    match obj.get("type").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        Some(t) => {
            body.insert("type".into(), t.into());
        }
        // A replace without a type keeps the live one (it is immutable) instead of defaulting to Opaque.
        None => copy_fields(live, body, &["type"]),
    }
    out
}

/// Rejects `data` values that are not base64 and `stringData` values that are not strings, as decoding a Secret
/// would, naming the TenantSecret rather than a Secret.
pub fn check_values(obj: &Value) -> Result<(), StorageError> {
    let bad =
        |msg: String| -> StorageError { Status::bad_request(format!("{KIND} in version \"{}\" cannot be handled as a {KIND}: {msg}", apis::VERSION)).into() };
    for (field, base64) in [("data", true), ("stringData", false)] {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    match v {
                        Value::String(s) if base64 => {
                            base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| bad(format!("{field}[{k}]: illegal base64 data: {e}")))?;
                        }
                        Value::String(_) | Value::Null => {}
                        _ => return Err(bad(format!("{field}[{k}]: expected a string"))),
                    }
                }
            }
            Some(_) => return Err(bad(format!("{field}: expected a map of strings"))),
        }
    }
    Ok(())
}

/// Refuses (422, naming the field) a type outside [`ALLOWED_TYPES`] and any service-account annotation. On
/// update an absent type is the live one, which was checked when it was written.
pub fn check_powers(obj: &Value) -> Result<(), StorageError> {
    let mut errors = Vec::new();
    match obj.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t.is_empty() || ALLOWED_TYPES.contains(&t.as_str()) => {}
        Some(t) => errors.push(FieldError::new(FieldErrorKind::NotSupported, "type", supported_values()).with_value(t.clone())),
    }
    let annotations = obj.pointer("/metadata/annotations").and_then(Value::as_object).into_iter().flatten();
    for key in annotations.map(|(k, _)| k).filter(|k| k.starts_with(SERVICE_ACCOUNT_ANNOTATION_PREFIX)) {
        errors.push(FieldError::forbidden(
            format!("metadata.annotations[{key}]"),
            "a TenantSecret cannot be bound to a ServiceAccount; create the token Secret with access to core Secrets",
        ));
    }
    if errors.is_empty() {
        return Ok(());
    }
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    Err(Status::invalid(apis::CORE_GROUP, KIND, name, &errors).into())
}

/// field.NotSupported's detail: the supported values, Go-quoted and comma-separated.
fn supported_values() -> String {
    let quoted: Vec<String> = ALLOWED_TYPES.iter().map(|t| format!("{t:?}")).collect();
    format!("supported values: {}", quoted.join(", "))
}

impl TableConvertor for TenantSecretRegistry {
    fn columns(&self) -> Vec<TableColumnDefinition> {
        vec![
            TableColumnDefinition::new("NAME", "string", "Name of the TenantSecret"),
            TableColumnDefinition::new("TYPE", "string", "Type of the TenantSecret"),
            TableColumnDefinition::new("AGE", "string", "Age of the TenantSecret"),
        ]
    }

    fn cells(&self, object: &Value) -> Vec<Value> {
        let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        let created = object.pointer("/metadata/creationTimestamp").and_then(|t| serde_json::from_value(t.clone()).ok());
        vec![text("/metadata/name").into(), text("/type").into(), apis::table::age(created.as_ref(), jiff::Timestamp::now()).into()]
    }
}

impl Projection for TenantSecretRegistry {
    fn info(&self) -> &ResourceInfo {
        &self.info
    }

    fn schema(&self) -> Option<apis::openapi::KindSchema> {
        Some(apis::openapi::core::tenant_secret())
    }

    fn backing(&self) -> &BackingResource {
        &SECRETS
    }

    fn backing_selector(&self) -> String {
        format!("{TENANT_RESOURCE_LABEL}=true")
    }

    fn from_backing(&self, backing: &Value) -> Option<Value> {
        from_secret(backing)
    }

    fn to_backing(&self, obj: &Value, live: Option<&Value>) -> Result<Value, StorageError> {
        Ok(to_secret(obj, live))
    }

    fn admit_create<'a>(&'a self, _ctx: &'a RequestContext, obj: &'a mut Value, _opts: &'a WriteOptions) -> BoxFuture<'a, Result<Vec<String>, StorageError>> {
        Box::pin(async move {
            check_powers(obj)?;
            check_values(obj).map(|_| vec![])
        })
    }

    fn admit_update<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        obj: &'a mut Value,
        _old: &'a Value,
        _opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<Vec<String>, StorageError>> {
        Box::pin(async move {
            check_powers(obj)?;
            check_values(obj).map(|_| vec![])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "tenant-a", "uid": "u", "resourceVersion": "9", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {TENANT_RESOURCE_LABEL: "true", "app": "db"}, "annotations": {"n": "1"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "x"}],
                         "managedFields": [{"manager": "kubectl"}]},
            "type": "Opaque",
            "data": {"password": "aHVudGVyMg=="}
        })
    }

    #[test]
    fn reads_show_data_and_hide_the_marker() {
        assert_eq!(
            from_secret(&secret()).unwrap(),
            json!({
                "apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantSecret",
                "metadata": {"name": "s", "namespace": "tenant-a", "uid": "u", "resourceVersion": "9", "creationTimestamp": "2026-01-01T00:00:00Z",
                             "labels": {"app": "db"}, "annotations": {"n": "1"}},
                "type": "Opaque",
                "data": {"password": "aHVudGVyMg=="}
            })
        );
        let mut unmarked = secret();
        unmarked["metadata"]["labels"] = json!({"app": "db"});
        assert!(from_secret(&unmarked).is_none());
    }

    #[test]
    fn create_stamps_the_marker_and_passes_both_data_fields() {
        let ts = json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantSecret",
                        "metadata": {"name": "s", "namespace": "tenant-a", "labels": {"app": "db"}},
                        "data": {"a": "YQ=="}, "stringData": {"b": "plain"}});
        assert_eq!(
            to_secret(&ts, None),
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "s", "namespace": "tenant-a", "labels": {"app": "db", TENANT_RESOURCE_LABEL: "true"}},
                   "data": {"a": "YQ=="}, "stringData": {"b": "plain"}})
        );
    }

    #[test]
    fn update_replaces_labels_and_keeps_unshown_metadata() {
        let live = secret();
        let mut ts = from_secret(&live).unwrap();
        ts["metadata"]["labels"] = json!({"tier": "x"});
        ts["metadata"].as_object_mut().unwrap().remove("annotations");
        ts.as_object_mut().unwrap().remove("type");
        let out = to_secret(&ts, Some(&live));
        assert_eq!(out["metadata"]["labels"], json!({"tier": "x", TENANT_RESOURCE_LABEL: "true"}));
        assert!(out["metadata"].get("annotations").is_none());
        assert_eq!(out["metadata"]["ownerReferences"], live["metadata"]["ownerReferences"]);
        assert!(out["metadata"].get("managedFields").is_none());
        assert_eq!(out["metadata"]["resourceVersion"], "9");
        assert_eq!(out["type"], "Opaque");
        assert_eq!(out["data"], live["data"]);
    }

    #[test]
    fn only_powerless_types_and_no_service_account_annotations_are_written() {
        let ts = |extra: Value| {
            let mut o = json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantSecret", "metadata": {"name": "s", "namespace": "tenant-a"}});
            o.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            o
        };
        for t in ALLOWED_TYPES {
            assert!(check_powers(&ts(json!({"type": t}))).is_ok(), "{t}");
        }
        assert!(check_powers(&ts(json!({}))).is_ok(), "no type");
        assert!(check_powers(&ts(json!({"type": ""}))).is_ok(), "empty type");

        let token = check_powers(&ts(json!({"type": "kubernetes.io/service-account-token"}))).unwrap_err().to_status();
        assert_eq!((token.code, token.reason.as_str()), (422, "Invalid"));
        assert!(
            token.message.starts_with("TenantSecret.core.cozystack.io \"s\" is invalid: type: Unsupported value: \"kubernetes.io/service-account-token\": supported values: \"Opaque\", "),
            "{}",
            token.message
        );
        assert_eq!(token.details.as_ref().unwrap().causes[0].field, "type");
        assert!(check_powers(&ts(json!({"type": "bootstrap.kubernetes.io/token"}))).is_err());

        let mut bound = ts(json!({"type": "Opaque"}));
        bound["metadata"]["annotations"] = json!({"kubernetes.io/service-account.name": "default", "note": "x"});
        let s = check_powers(&bound).unwrap_err().to_status();
        assert_eq!(s.code, 422);
        let causes = &s.details.as_ref().unwrap().causes;
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "metadata.annotations[kubernetes.io/service-account.name]");
        assert_eq!(causes[0].reason, "FieldValueForbidden");
    }

    #[test]
    fn values_are_checked() {
        let cases = [
            (json!({}), true),
            (json!({"data": {"a": "YQ=="}, "stringData": {"b": "x"}}), true),
            (json!({"data": {"a": "not base64!"}}), false),
            (json!({"data": {"a": 1}}), false),
            (json!({"stringData": {"b": true}}), false),
            (json!({"data": ["a"]}), false),
        ];
        for (obj, ok) in cases {
            assert_eq!(check_values(&obj).is_ok(), ok, "{obj}");
        }
        let e = check_values(&json!({"data": {"k": "%%"}})).unwrap_err().to_status();
        assert_eq!(e.code, 400);
        assert!(e.message.starts_with("TenantSecret in version \"v1alpha1\" cannot be handled as a TenantSecret: data[k]: illegal base64"), "{}", e.message);
    }
}
