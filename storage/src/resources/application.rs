//! ApplicationRegistry: one per ApplicationDefinition, served as `<plural>.apps.cozystack.io` over HelmReleases.

use apis::application::{self as app, AppKind, Application, ReleaseSettings};
use apis::schema::StructuralSchema;
use apis::status::{FieldError, Status};
use apis::table::TableColumnDefinition;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::StorageError;
use crate::backend::{Backend, BackingResource, HELM_RELEASES};
use crate::projection::Projection;
use crate::registry::{FieldValidation, RequestContext, ResourceInfo, TableConvertor, WriteOptions};

use std::sync::Arc;

/// Top-level fields of an Application; anything else is an unknown field.
const OBJECT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status", "appVersion"];
/// Fields of ObjectMeta.
pub(crate) const METADATA_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// The hooks of one application kind.
pub struct ApplicationRegistry {
    info: ResourceInfo,
    kind: AppKind,
    settings: ReleaseSettings,
    schema: Arc<StructuralSchema>,
    /// For the Tenant quota gate, which reads parents, siblings and ResourceQuotas.
    backend: Backend,
    /// Finds the kind's label in an encoded HelmRelease: the HelmRelease cache is shared by every kind.
    kind_label: memchr::memmem::Finder<'static>,
}

impl ApplicationRegistry {
    /// The registry of `kind`, validating specs with `schema` and writing HelmReleases with `settings`.
    pub fn new(kind: AppKind, settings: ReleaseSettings, schema: Arc<StructuralSchema>, backend: Backend) -> Self {
        let info = ResourceInfo::application(&kind);
        let kind_label = memchr::memmem::Finder::new(app::kind_label_encoded(&kind).as_bytes()).into_owned();
        Self { info, kind, settings, schema, backend, kind_label }
    }

    /// The kind served.
    pub fn kind(&self) -> &AppKind {
        &self.kind
    }

    fn decode(&self, obj: &Value) -> Result<Application, StorageError> {
        serde_json::from_value(obj.clone()).map_err(|e| Status::bad_request(format!("decoding {}: {e}", self.kind.kind)).into())
    }

    fn invalid(&self, name: &str, errors: &[FieldError]) -> StorageError {
        Status::invalid(apis::APPS_GROUP, &self.kind.kind, name, errors).into()
    }

    /// Tenants only: the hierarchical quota gate.
    async fn check_tenant_quota(&self, namespace: &str, name: &str, obj: &Value) -> Result<(), StorageError> {
        if self.kind.kind != app::TENANT_KIND {
            return Ok(());
        }
        let errors = super::tenant_quota::check(&self.backend, &self.kind, namespace, name, obj.get("spec").unwrap_or(&Value::Null)).await?;
        if errors.is_empty() { Ok(()) } else { Err(self.invalid(name, &errors)) }
    }

    /// What create and update share, in kube-apiserver's order for custom resources: reserved keys, then unknown
    /// fields (pruned, and refused or warned about per fieldValidation), defaults, and validation against the
    /// schema and its CEL rules (with the old spec for transition rules). Returns the warnings.
    fn admit_spec(&self, obj: &mut Value, old: Option<&Value>, opts: &WriteOptions) -> Result<Vec<String>, StorageError> {
        if let Some(msg) = obj.get("spec").and_then(app::reserved_keys) {
            return Err(Status::bad_request(msg).into());
        }
        for (path, preset, replacement) in obj.get("spec").map(app::validate::legacy_presets).unwrap_or_default() {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
            tracing::warn!(kind = %self.kind.kind, name, field = %path, preset, replacement, "legacy resourcesPreset; use the instance type instead");
        }
        let mut unknown = unknown_fields(obj);
        let spec = obj.as_object_mut().map(|o| o.entry("spec").or_insert_with(|| Value::Object(Default::default())));
        let Some(spec) = spec else { return Err(Status::bad_request("the object must be a JSON object").into()) };
        if spec.is_null() {
            *spec = Value::Object(Default::default());
        }
        unknown.extend(self.schema.prune(spec, "spec"));
        let warnings = match opts.field_validation {
            FieldValidation::Strict if !unknown.is_empty() => {
                return Err(Status::bad_request(format!("strict decoding error: {}", unknown.join(", "))).into());
            }
            FieldValidation::Ignore => vec![],
            _ => unknown,
        };
        self.schema.apply_defaults(spec);
        let errors = self.schema.validate(spec, old.and_then(|o| o.get("spec")), "spec");
        if !errors.is_empty() {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            return Err(self.invalid(name, &errors));
        }
        Ok(warnings)
    }
}

impl TableConvertor for ApplicationRegistry {
    fn columns(&self) -> Vec<TableColumnDefinition> {
        apis::table::application_columns()
    }

    fn cells(&self, object: &Value) -> Vec<Value> {
        apis::table::application_cells(object)
    }
}

impl Projection for ApplicationRegistry {
    fn info(&self) -> &ResourceInfo {
        &self.info
    }

    fn backing(&self) -> &BackingResource {
        &HELM_RELEASES
    }

    fn backing_selector(&self) -> String {
        format!("{}={},{}={}", app::KIND_LABEL, self.kind.kind, app::GROUP_LABEL, apis::APPS_GROUP)
    }

    fn cache_selector(&self) -> Option<String> {
        Some(cache_selector())
    }

    fn backing_name(&self, name: &str) -> String {
        app::release_name(&self.kind, name)
    }

    fn backing_label_key(&self, key: &str) -> String {
        format!("{}{key}", app::USER_PREFIX)
    }

    fn user_key(&self, backing_key: &str) -> Option<String> {
        backing_key.strip_prefix(app::USER_PREFIX).map(str::to_string)
    }

    fn user_field(&self, backing_field: &str) -> String {
        // The spec is written as the release's values.
        match backing_field.strip_prefix("spec.values") {
            Some(rest) if rest.is_empty() || rest.starts_with(['.', '[']) => format!("spec{rest}"),
            _ => backing_field.to_string(),
        }
    }

    fn may_own_encoded(&self, backing_json: &[u8]) -> bool {
        self.kind_label.find(backing_json).is_some()
    }

    fn from_backing(&self, backing: &Value) -> Option<Value> {
        if !app::is_owned_by(backing, &self.kind) {
            return None;
        }
        let mut a = app::from_helm_release(backing, &self.kind).ok()?;
        // Defaults apply on read too, so releases written without them read like new ones.
        if a.spec.is_null() {
            a.spec = Value::Object(Default::default());
        }
        self.schema.apply_defaults(&mut a.spec);
        serde_json::to_value(a).ok()
    }

    /// A HelmRelease is deleted through the app only when it also carries the app's name label, as upstream
    /// requires: one labelled for the kind but not for this app may belong to someone else.
    fn owns_for_delete(&self, backing: &Value, name: &str) -> bool {
        app::is_owned_by_name(backing, &self.kind, name)
    }

    fn to_backing(&self, obj: &Value, live: Option<&Value>) -> Result<Value, StorageError> {
        let a = self.decode(obj)?;
        Ok(app::to_helm_release(&a, &self.kind, &self.settings, live))
    }

    fn default_decoded(&self, obj: &mut Value) {
        if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) {
            self.schema.apply_defaults(spec);
        }
    }

    fn admit_create<'a>(&'a self, ctx: &'a RequestContext, obj: &'a mut Value, opts: &'a WriteOptions) -> BoxFuture<'a, Result<Vec<String>, StorageError>> {
        Box::pin(async move {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
            let errors = app::validate_name(&name, &self.kind, &ctx.namespace);
            if !errors.is_empty() {
                return Err(self.invalid(&name, &errors));
            }
            let warnings = self.admit_spec(obj, None, opts)?;
            self.check_tenant_quota(&ctx.namespace, &name, obj).await?;
            Ok(warnings)
        })
    }

    fn admit_update<'a>(
        &'a self,
        ctx: &'a RequestContext,
        obj: &'a mut Value,
        old: &'a Value,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<Vec<String>, StorageError>> {
        Box::pin(async move {
            let warnings = self.admit_spec(obj, Some(old), opts)?;
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
            self.check_tenant_quota(&ctx.namespace, &name, obj).await?;
            Ok(warnings)
        })
    }

    fn schema(&self) -> Option<apis::openapi::KindSchema> {
        // The definition's spec schema when it built, else the preserve-unknown-fields fallback the kind is
        // served with: the published spec is always what the server enforces.
        let package = apis::openapi::package(&self.info.group, &self.info.version);
        Some(apis::openapi::kinds::application(&package, &self.kind.kind, self.schema.source()))
    }
}

/// Unknown top-level and metadata fields, as kube-apiserver names them.
fn unknown_fields(obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(o) = obj.as_object() {
        out.extend(o.keys().filter(|k| !OBJECT_FIELDS.contains(&k.as_str())).map(|k| format!("unknown field \"{k}\"")));
        if let Some(m) = o.get("metadata").and_then(Value::as_object) {
            out.extend(m.keys().filter(|k| !METADATA_FIELDS.contains(&k.as_str())).map(|k| format!("unknown field \"metadata.{k}\"")));
        }
    }
    out
}

/// The selector of the one HelmRelease watch cache every application kind is a view of: all applications.
pub fn cache_selector() -> String {
    format!("{}={}", app::GROUP_LABEL, apis::APPS_GROUP)
}
