//! The hierarchical quota gate of Tenants: a child tenant may declare at most what its parent has left
//! (parent quota − siblings' declared quotas − what the parent's pool uses now). Reads come from the backend.

use std::collections::BTreeMap;

use apis::application::{self as app, AppKind};
use apis::status::FieldError;
use apis::tenant;
use serde_json::Value;

use crate::StorageError;
use crate::backend::{Backend, BackingResource, HELM_RELEASES, Query};

const RESOURCE_QUOTAS: BackingResource = BackingResource { group: "", version: "v1", plural: "resourcequotas", namespaced: true };

fn items(list: &Value) -> &[Value] {
    list.get("items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

fn values(hr: &Value) -> &Value {
    hr.pointer("/spec/values").unwrap_or(&Value::Null)
}

/// The field errors of creating or updating tenant `name` in `namespace` with `spec`; empty when allowed.
pub async fn check(backend: &Backend, kind: &AppKind, namespace: &str, name: &str, spec: &Value) -> Result<Vec<FieldError>, StorageError> {
    let child = match tenant::declared_quotas(spec) {
        Ok(q) if q.is_empty() => return Ok(vec![]),
        Ok(q) => q,
        Err(e) => return Ok(vec![tenant::invalid_quotas(e)]),
    };
    let Some(parent_ref) = tenant::parent_release(namespace) else { return Ok(vec![]) };
    let parent = match backend.get(&HELM_RELEASES, &parent_ref.namespace, &parent_ref.name).await {
        Ok(hr) => hr,
        Err(e) if e.code() == Some(404) => return Ok(vec![]),
        Err(e) => return Err(e.into()),
    };
    let parent_quota = tenant::declared_quotas(values(&parent)).unwrap_or_default();
    if parent_quota.is_empty() {
        return Ok(vec![]);
    }
    let selector = format!("{}={},{}={}", app::KIND_LABEL, kind.kind, app::GROUP_LABEL, apis::APPS_GROUP);
    let all = backend.list(&HELM_RELEASES, "", &Query::default().set("labelSelector", selector)).await.map_err(StorageError::from)?;
    let own_release = app::release_name(kind, name);
    let mut siblings = Vec::new();
    let mut tenants = Vec::new();
    for hr in items(&all) {
        let (hr_ns, hr_name) =
            (hr.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(""), hr.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""));
        let quotas = tenant::declared_quotas(values(hr)).unwrap_or_default();
        let owned = tenant::tenant_namespace(hr_ns, app::app_name_from_release(kind, hr_name));
        tenants.push((owned, !quotas.is_empty()));
        if hr_ns == namespace && hr_name != own_release {
            siblings.push(quotas);
        }
    }
    let own_ns = tenant::tenant_namespace(namespace, name);
    let members = tenant::pool_members(namespace, &own_ns, &tenants);
    let mut usage = Vec::new();
    for ns in &members {
        let quotas = match backend.list(&RESOURCE_QUOTAS, ns, &Query::default()).await {
            Ok(l) => l,
            Err(e) if e.code() == Some(404) => continue,
            Err(e) => return Err(e.into()),
        };
        usage.push(items(&quotas).iter().map(used_of).collect::<Vec<_>>());
    }
    Ok(tenant::check_child_quota(&child, &parent_quota, &siblings, &tenant::pool_usage(&usage)))
}

fn used_of(rq: &Value) -> BTreeMap<String, String> {
    rq.pointer("/status/used")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default()
}
