//! Application ⇄ Flux HelmRelease (`helm.toolkit.fluxcd.io/v2`), as the upstream Go server maps them.
//!
//! The mapping writes what upstream writes, key for key, with two deliberate differences on update (see
//! docs/compatibility.md): labels, annotations and spec fields the mapping does not produce are kept
//! from the live HelmRelease instead of dropped, and the resourceVersion is always the client's, so a
//! stale write conflicts instead of silently winning.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value, json};

use super::kind::{AppKind, ReleaseSettings, format_go_duration};
use super::observed;
use super::{API_VERSION, Application, ApplicationStatus, CONDITION_READY, CONDITION_RELEASED, Condition, TENANT_KIND};
use crate::APPS_GROUP;

/// `apiVersion` of the backing object.
pub const HELM_RELEASE_API_VERSION: &str = "helm.toolkit.fluxcd.io/v2";
/// `kind` of the backing object.
pub const HELM_RELEASE_KIND: &str = "HelmRelease";
/// Prefix of user labels and annotations on the HelmRelease (a dash, not a slash).
pub const USER_PREFIX: &str = "apps.cozystack.io-";
/// Ownership label: the application kind.
pub const KIND_LABEL: &str = "apps.cozystack.io/application.kind";
/// Ownership label: the application group.
pub const GROUP_LABEL: &str = "apps.cozystack.io/application.group";
/// Ownership label: the application name.
pub const NAME_LABEL: &str = "apps.cozystack.io/application.name";
/// Flux shard label; flux-shard-operator rewrites it at runtime, so an update keeps the live value.
pub const SHARD_LABEL: &str = "sharding.fluxcd.io/key";
/// The Secret every tenant namespace carries with `_cluster` and `_namespace` values.
pub const VALUES_SECRET: &str = "cozystack-values";

/// The spec fields the mapping writes; anything else on a live HelmRelease belongs to someone else.
/// `chart` is listed because Flux accepts exactly one of `chart` and `chartRef`.
const OWNED_SPEC_FIELDS: &[&str] =
    &["chart", "chartRef", "interval", "maxHistory", "install", "upgrade", "valuesFrom", "values", "healthCheckExprs", "waitStrategy"];

/// Why a HelmRelease cannot be shown as an Application.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TranslateError {
    /// The object is not a JSON object.
    #[error("HelmRelease is not a JSON object")]
    NotAnObject,
    /// `metadata` does not decode as ObjectMeta.
    #[error("HelmRelease metadata is invalid: {0}")]
    BadMetadata(String),
    /// `metadata.name` is missing.
    #[error("HelmRelease has no name")]
    NoName,
    /// `status.conditions` does not decode.
    #[error("HelmRelease status is invalid: {0}")]
    BadStatus(String),
}

/// The HelmRelease name of an application: `<prefix><name>`.
pub fn release_name(kind: &AppKind, app_name: &str) -> String {
    format!("{}{}", kind.prefix, app_name)
}

/// The application name of a HelmRelease: its name with the prefix removed when present.
pub fn app_name_from_release<'a>(kind: &AppKind, release_name: &'a str) -> &'a str {
    release_name.strip_prefix(kind.prefix.as_str()).unwrap_or(release_name)
}

/// True when the HelmRelease carries this kind's ownership labels (kind and group; the name label is
/// not checked, as upstream's Get does not).
pub fn is_owned_by(hr: &Value, kind: &AppKind) -> bool {
    label(hr, KIND_LABEL) == Some(kind.kind.as_str()) && label(hr, GROUP_LABEL) == Some(APPS_GROUP)
}

/// The kind label of `kind`'s HelmReleases as it appears in their compact JSON encoding (`"key":"value"`, as
/// serde_json writes it): an encoding without it is not [`is_owned_by`] the kind.
pub fn kind_label_encoded(kind: &AppKind) -> String {
    let text = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!("{}:{}", text(KIND_LABEL), text(&kind.kind))
}

/// [`is_owned_by`] plus the name label equal to `app_name`, as upstream's Delete requires.
pub fn is_owned_by_name(hr: &Value, kind: &AppKind, app_name: &str) -> bool {
    is_owned_by(hr, kind) && label(hr, NAME_LABEL) == Some(app_name)
}

fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("labels")?.get(key)?.as_str()
}

/// Builds the HelmRelease for an Application (§2.1). `live` is the current HelmRelease on update, `None`
/// on create.
///
/// On update the live object is the base: labels and annotations without the user prefix stay (the
/// live shard label value wins over the definition's), spec fields outside the mapping stay (`suspend`,
/// `timeout`, ...), and so do finalizers and ownerReferences. `status` is dropped (it is not written
/// through the main resource) and so are `managedFields` (omitting them keeps the server's own).
/// `resourceVersion` and `uid` come from the Application only.
pub fn to_helm_release(app: &Application, kind: &AppKind, settings: &ReleaseSettings, live: Option<&Value>) -> Value {
    let live = live.and_then(Value::as_object);
    let mut hr = live.cloned().unwrap_or_default();
    hr.remove("status");
    hr.insert("apiVersion".into(), HELM_RELEASE_API_VERSION.into());
    hr.insert("kind".into(), HELM_RELEASE_KIND.into());

    let mut meta = take_object(&mut hr, "metadata");
    meta.remove("managedFields");
    meta.insert("name".into(), release_name(kind, app.name()).into());
    set_or_remove(&mut meta, "namespace", app.metadata.namespace.as_deref());
    let live_labels = string_map(meta.get("labels"));
    let live_annotations = string_map(meta.get("annotations"));
    put_map(&mut meta, "labels", release_labels(app, kind, live.map(|_| &live_labels)));
    put_map(&mut meta, "annotations", release_annotations(app, live.map(|_| &live_annotations)));
    set_or_remove(&mut meta, "resourceVersion", app.metadata.resource_version.as_deref());
    set_or_remove(&mut meta, "uid", app.metadata.uid.as_deref());
    hr.insert("metadata".into(), Value::Object(meta));

    let mut spec = take_object(&mut hr, "spec");
    for field in OWNED_SPEC_FIELDS {
        spec.remove(*field);
    }
    spec.extend(release_spec(app, kind, settings));
    hr.insert("spec".into(), Value::Object(spec));
    Value::Object(hr)
}

/// The spec fields the mapping owns.
fn release_spec(app: &Application, kind: &AppKind, settings: &ReleaseSettings) -> Map<String, Value> {
    let (install_timeout, upgrade_timeout) = kind.timeouts(settings);
    let go = |d: std::time::Duration| format_go_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let strategy = json!({"name": "RetryOnFailure", "retryInterval": go(settings.retry_interval)});
    let mut install = json!({"timeout": go(install_timeout), "strategy": strategy});
    let mut upgrade = json!({"timeout": go(upgrade_timeout), "strategy": strategy});
    if kind.overrides.disable_wait {
        install["disableWait"] = true.into();
        upgrade["disableWait"] = true.into();
    }
    let mut chart_ref = json!({"kind": kind.chart_ref.kind, "name": kind.chart_ref.name});
    if !kind.chart_ref.namespace.is_empty() {
        chart_ref["namespace"] = kind.chart_ref.namespace.clone().into();
    }
    let mut spec = Map::new();
    spec.insert("chartRef".into(), chart_ref);
    spec.insert("interval".into(), go(settings.interval).into());
    spec.insert("maxHistory".into(), settings.max_history.into());
    spec.insert("install".into(), install);
    spec.insert("upgrade".into(), upgrade);
    spec.insert("valuesFrom".into(), json!([{"kind": "Secret", "name": VALUES_SECRET}]));
    if !app.spec.is_null() {
        spec.insert("values".into(), app.spec.clone());
    }
    if !kind.health_check_exprs.is_empty() {
        spec.insert("healthCheckExprs".into(), Value::Array(kind.health_check_exprs.clone()));
    }
    if let Some(name) = kind.resolved_wait_strategy() {
        spec.insert("waitStrategy".into(), json!({"name": name}));
    }
    spec
}

/// Definition labels, then prefixed user labels, then ownership labels (later sets win). On update the
/// live labels outside the mapping come first and the live shard label value is kept.
fn release_labels(app: &Application, kind: &AppKind, live: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let owned = |k: &str| k.starts_with(USER_PREFIX) || [KIND_LABEL, GROUP_LABEL, NAME_LABEL].contains(&k);
    let mut labels: BTreeMap<String, String> = live.into_iter().flatten().filter(|(k, _)| !owned(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    labels.extend(kind.release_labels.clone());
    if let Some(shard) = live.and_then(|l| l.get(SHARD_LABEL)) {
        labels.insert(SHARD_LABEL.into(), shard.clone());
    }
    labels.extend(prefixed(app.metadata.labels.as_ref()));
    labels.insert(KIND_LABEL.into(), kind.kind.clone());
    labels.insert(GROUP_LABEL.into(), APPS_GROUP.into());
    labels.insert(NAME_LABEL.into(), app.name().into());
    labels
}

/// Prefixed user annotations; on update the live annotations without the prefix stay.
fn release_annotations(app: &Application, live: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let mut annotations: BTreeMap<String, String> =
        live.into_iter().flatten().filter(|(k, _)| !k.starts_with(USER_PREFIX)).map(|(k, v)| (k.clone(), v.clone())).collect();
    annotations.extend(prefixed(app.metadata.annotations.as_ref()));
    annotations
}

fn prefixed(map: Option<&BTreeMap<String, String>>) -> impl Iterator<Item = (String, String)> + '_ {
    map.into_iter().flatten().map(|(k, v)| (format!("{USER_PREFIX}{k}"), v.clone()))
}

/// The entries of `map` whose key has the user prefix, prefix removed; None when there are none, so
/// that an empty result is absent on the wire.
fn unprefixed(map: Option<&BTreeMap<String, String>>) -> Option<BTreeMap<String, String>> {
    let out: BTreeMap<String, String> =
        map.into_iter().flatten().filter_map(|(k, v)| k.strip_prefix(USER_PREFIX).map(|k| (k.to_string(), v.clone()))).collect();
    (!out.is_empty()).then_some(out)
}

fn take_object(obj: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match obj.remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn set_or_remove(obj: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    match value.filter(|v| !v.is_empty()) {
        Some(v) => obj.insert(key.into(), v.into()),
        None => obj.remove(key),
    };
}

fn put_map(obj: &mut Map<String, Value>, key: &str, map: BTreeMap<String, String>) {
    if map.is_empty() {
        obj.remove(key);
    } else {
        obj.insert(key.into(), Value::Object(map.into_iter().map(|(k, v)| (k, v.into())).collect()));
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object).map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()).unwrap_or_default()
}

/// Shows a HelmRelease as an Application (§2.2), before defaults.
///
/// Metadata keeps name (prefix stripped), namespace, uid, resourceVersion, generation (the HelmRelease's
/// spec generation: it moves when the values do, as a custom resource's does on spec changes), creation and
/// deletion timestamps, and the user labels and annotations; finalizers, ownerReferences and managedFields
/// belong to the HelmRelease and are not shown. Spec is `spec.values` without its top-level `_` keys
/// (`_cluster`, `_namespace` come from the values Secret). Status has Ready and Released from the
/// HelmRelease, then WorkloadsReady and a Tenant's external IP count from the server's observations
/// ([`super::observed`]).
pub fn from_helm_release(hr: &Value, kind: &AppKind) -> Result<Application, TranslateError> {
    let obj = hr.as_object().ok_or(TranslateError::NotAnObject)?;
    let meta: ObjectMeta = match obj.get("metadata") {
        Some(m) => serde_json::from_value(m.clone()).map_err(|e| TranslateError::BadMetadata(e.to_string()))?,
        None => ObjectMeta::default(),
    };
    let hr_name = meta.name.as_deref().filter(|n| !n.is_empty()).ok_or(TranslateError::NoName)?;
    let name = app_name_from_release(kind, hr_name).to_string();

    let mut spec = hr.pointer("/spec/values").cloned().unwrap_or(Value::Null);
    if let Value::Object(values) = &mut spec {
        values.retain(|k, _| !k.starts_with('_'));
    }

    let status = hr.get("status");
    let version = status.and_then(|s| s.get("lastAttemptedRevision")).and_then(Value::as_str).unwrap_or_default().to_string();
    let conditions: Vec<Condition> = match status.and_then(|s| s.get("conditions")) {
        None | Some(Value::Null) => Vec::new(),
        Some(c) => serde_json::from_value(c.clone()).map_err(|e| TranslateError::BadStatus(e.to_string()))?,
    };
    let mut conditions: Vec<Condition> = conditions
        .into_iter()
        .filter(|c| c.type_ == CONDITION_READY || c.type_ == CONDITION_RELEASED)
        .map(|c| Condition { observed_generation: None, ..c })
        .collect();
    if let Some(workloads) = observed::read_annotation::<observed::WorkloadsSummary>(hr, observed::WORKLOADS_ANNOTATION) {
        conditions.push(observed::workloads_condition(&workloads.value, hr));
    }

    let namespace = meta.namespace.clone().unwrap_or_default();
    let is_tenant = kind.kind == TENANT_KIND;
    let tenant_namespace = if is_tenant { crate::tenant::tenant_namespace(&namespace, &name) } else { String::new() };
    let external_ips_count = match observed::read_annotation::<observed::ExternalIps>(hr, observed::EXTERNAL_IPS_ANNOTATION) {
        Some(ips) if is_tenant => i32::try_from(ips.value.count).unwrap_or(i32::MAX),
        _ => 0,
    };
    Ok(Application {
        api_version: API_VERSION.into(),
        kind: kind.kind.clone(),
        metadata: ObjectMeta {
            name: Some(name),
            namespace: meta.namespace,
            uid: meta.uid,
            resource_version: meta.resource_version,
            generation: meta.generation,
            creation_timestamp: meta.creation_timestamp,
            deletion_timestamp: meta.deletion_timestamp,
            labels: unprefixed(meta.labels.as_ref()),
            annotations: unprefixed(meta.annotations.as_ref()),
            ..Default::default()
        },
        app_version: String::new(),
        spec,
        status: ApplicationStatus { version, conditions, namespace: tenant_namespace, external_ips_count },
    })
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
