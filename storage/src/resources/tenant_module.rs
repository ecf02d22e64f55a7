//! TenantModuleRegistry: `tenantmodules.core.cozystack.io`, the HelmReleases a tenant chart creates for its
//! modules (labelled `internal.cozystack.io/tenantmodule=true`), read-only (get, list, watch).

use apis::application::{CONDITION_READY, CONDITION_RELEASED, Condition, observed};
use apis::table::TableColumnDefinition;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::StorageError;
use crate::backend::{BackingResource, HELM_RELEASES};
use crate::projection::Projection;
use crate::registry::{RequestContext, ResourceInfo, TableConvertor, WriteOptions, method_not_supported};

/// The label that makes a HelmRelease a tenant module; hidden from the served labels.
pub const MODULE_LABEL: &str = "internal.cozystack.io/tenantmodule";
/// Kind of the served object.
pub const KIND: &str = "TenantModule";

/// The hooks of TenantModule.
pub struct TenantModuleRegistry {
    info: ResourceInfo,
}

impl Default for TenantModuleRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl TenantModuleRegistry {
    /// The registry.
    pub fn new() -> Self {
        let info = ResourceInfo::tenant_module();
        Self { info }
    }
}

/// Copies `keys` of the object at `from` into `to`, skipping absent and null values.
pub(crate) fn copy_fields(from: Option<&Value>, to: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.and_then(|m| m.get(*k)).filter(|v| !v.is_null()) {
            to.insert((*k).into(), v.clone());
        }
    }
}

/// A string map without `hidden`, or None when nothing is left.
pub(crate) fn without(map: Option<&Value>, hidden: &str) -> Option<Value> {
    without_all(map, &[hidden])
}

/// A string map without any of `hidden`, or None when nothing is left.
pub(crate) fn without_all(map: Option<&Value>, hidden: &[&str]) -> Option<Value> {
    let mut m = map.and_then(Value::as_object).cloned()?;
    m.retain(|k, _| !hidden.contains(&k.as_str()));
    (!m.is_empty()).then_some(Value::Object(m))
}

/// The TenantModule of a HelmRelease (upstream's conversion): name as is, labels without the module label,
/// annotations without the server's observations (`apis::application::observed`),
/// `appVersion` from `spec.chart.spec.version`, `status.version` from `lastAttemptedRevision`, and the Ready and
/// Released conditions. None for a HelmRelease that is not a module.
pub fn from_helm_release(hr: &Value) -> Option<Value> {
    if hr.pointer(&format!("/metadata/labels/{}", MODULE_LABEL.replace('/', "~1"))).and_then(Value::as_str) != Some("true") {
        return None;
    }
    let src = hr.get("metadata");
    let mut meta = Map::new();
    copy_fields(src, &mut meta, &["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"]);
    if let Some(l) = without(src.and_then(|m| m.get("labels")), MODULE_LABEL) {
        meta.insert("labels".into(), l);
    }
    // Every annotation but the server's own observations (docs/compatibility.md).
    if let Some(a) = without_all(src.and_then(|m| m.get("annotations")), &[observed::WORKLOADS_ANNOTATION, observed::EXTERNAL_IPS_ANNOTATION]) {
        meta.insert("annotations".into(), a);
    }
    let mut out = json!({"apiVersion": format!("{}/{}", apis::CORE_GROUP, apis::VERSION), "kind": KIND, "metadata": meta});
    if let Some(v) = hr.pointer("/spec/chart/spec/version").and_then(Value::as_str).filter(|v| !v.is_empty()) {
        out["appVersion"] = v.into();
    }
    let mut status = Map::new();
    if let Some(v) = hr.pointer("/status/lastAttemptedRevision").and_then(Value::as_str).filter(|v| !v.is_empty()) {
        status.insert("version".into(), v.into());
    }
    let conditions: Vec<Condition> = hr.pointer("/status/conditions").and_then(|c| serde_json::from_value(c.clone()).ok()).unwrap_or_default();
    let conditions: Vec<Condition> = conditions
        .into_iter()
        .filter(|c| c.type_ == CONDITION_READY || c.type_ == CONDITION_RELEASED)
        .map(|c| Condition { observed_generation: None, ..c })
        .collect();
    if !conditions.is_empty() {
        status.insert("conditions".into(), serde_json::to_value(conditions).ok()?);
    }
    out["status"] = Value::Object(status);
    Some(out)
}

impl TableConvertor for TenantModuleRegistry {
    fn columns(&self) -> Vec<TableColumnDefinition> {
        apis::table::ready_columns(KIND, false)
    }

    fn cells(&self, object: &Value) -> Vec<Value> {
        apis::table::ready_cells(object, jiff::Timestamp::now(), false)
    }
}

impl Projection for TenantModuleRegistry {
    // Modules are read-only here: the managedFields their releases may carry belong to the application kind.
    fn tracks_managed_fields(&self) -> bool {
        false
    }

    fn info(&self) -> &ResourceInfo {
        &self.info
    }

    fn schema(&self) -> Option<apis::openapi::KindSchema> {
        Some(apis::openapi::core::tenant_module())
    }

    fn backing(&self) -> &BackingResource {
        &HELM_RELEASES
    }

    fn backing_selector(&self) -> String {
        format!("{MODULE_LABEL}=true")
    }

    fn from_backing(&self, backing: &Value) -> Option<Value> {
        from_helm_release(backing)
    }

    fn to_backing(&self, _obj: &Value, _live: Option<&Value>) -> Result<Value, StorageError> {
        Err(method_not_supported("update"))
    }

    fn admit_create<'a>(&'a self, _ctx: &'a RequestContext, _obj: &'a mut Value, _opts: &'a WriteOptions) -> BoxFuture<'a, Result<Vec<String>, StorageError>> {
        Box::pin(async { Err(method_not_supported("create")) })
    }

    fn admit_update<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        _obj: &'a mut Value,
        _old: &'a Value,
        _opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<Vec<String>, StorageError>> {
        Box::pin(async { Err(method_not_supported("update")) })
    }

    fn admit_delete<'a>(&'a self, _ctx: &'a RequestContext, _old: &'a Value) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async { Err(method_not_supported("delete")) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_of_a_helm_release() {
        let hr = json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "etcd", "namespace": "tenant-a", "uid": "u", "resourceVersion": "7", "generation": 3,
                         "creationTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["f"],
                         "labels": {MODULE_LABEL: "true", "apps.cozystack.io/application.kind": "Etcd"},
                         "annotations": {"a": "b", observed::WORKLOADS_ANNOTATION: r#"{"monitors":1,"observed":5}"#}},
            "spec": {"chart": {"spec": {"chart": "etcd", "version": "2.1.0"}}, "values": {"size": 3}},
            "status": {"lastAttemptedRevision": "2.1.0+abc", "conditions": [
                {"type": "Ready", "status": "True", "observedGeneration": 3, "reason": "Succeeded", "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Reconciling", "status": "False", "reason": "", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ]}
        });
        let m = from_helm_release(&hr).unwrap();
        assert_eq!(
            m,
            json!({
                "apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantModule",
                "metadata": {"name": "etcd", "namespace": "tenant-a", "uid": "u", "resourceVersion": "7", "generation": 3,
                             "creationTimestamp": "2026-01-01T00:00:00Z",
                             "labels": {"apps.cozystack.io/application.kind": "Etcd"}, "annotations": {"a": "b"}},
                "appVersion": "2.1.0",
                "status": {"version": "2.1.0+abc", "conditions": [
                    {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"}
                ]}
            })
        );
        let now = "2026-01-01T00:01:00Z".parse().unwrap();
        assert_eq!(apis::table::ready_cells(&m, now, false), vec![json!("etcd"), json!("True"), json!("60s"), json!("abc")]);
    }

    #[test]
    fn only_labelled_releases_are_modules() {
        for labels in [json!({}), json!({MODULE_LABEL: "false"}), json!(null)] {
            let hr = json!({"metadata": {"name": "x", "labels": labels}});
            assert!(from_helm_release(&hr).is_none(), "{labels}");
        }
        let bare = from_helm_release(&json!({"metadata": {"name": "x", "labels": {MODULE_LABEL: "true"}}})).unwrap();
        assert_eq!(bare["status"], json!({}));
        assert!(bare["metadata"].get("labels").is_none());
        assert!(bare.get("appVersion").is_none());
    }
}
