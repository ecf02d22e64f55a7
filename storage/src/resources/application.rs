//! ApplicationRegistry: one per ApplicationDefinition, served as `<plural>.apps.cozystack.io` over HelmReleases.

use apis::application::{self as app, AppKind, Application, ReleaseSettings};
use apis::status::{FieldError, Status};
use apis::table::TableColumnDefinition;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::StorageError;
use crate::backend::{BackingResource, HELM_RELEASES};
use crate::projection::Projection;
use crate::registry::{ALL_VERBS, RequestContext, ResourceInfo, TableConvertor, WriteOptions};

/// The hooks of one application kind.
pub struct ApplicationRegistry {
    info: ResourceInfo,
    kind: AppKind,
    settings: ReleaseSettings,
}

impl ApplicationRegistry {
    /// The registry of `kind`, writing HelmReleases with `settings`.
    pub fn new(kind: AppKind, settings: ReleaseSettings) -> Self {
        let info = ResourceInfo {
            group: apis::APPS_GROUP.into(),
            version: apis::VERSION.into(),
            plural: kind.plural.clone(),
            singular: kind.singular.clone(),
            kind: kind.kind.clone(),
            namespaced: true,
            verbs: ALL_VERBS.to_vec(),
            short_names: vec![],
            categories: vec![],
        };
        Self { info, kind, settings }
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

    /// Checks shared by create and update: reserved keys.
    fn check_spec(&self, obj: &Value) -> Result<(), StorageError> {
        if let Some(msg) = obj.get("spec").and_then(app::reserved_keys) {
            return Err(Status::bad_request(msg).into());
        }
        Ok(())
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

    fn backing_name(&self, name: &str) -> String {
        app::release_name(&self.kind, name)
    }

    fn backing_label_key(&self, key: &str) -> String {
        format!("{}{key}", app::USER_PREFIX)
    }

    fn from_backing(&self, backing: &Value) -> Option<Value> {
        if !app::is_owned_by(backing, &self.kind) {
            return None;
        }
        let a = app::from_helm_release(backing, &self.kind).ok()?;
        serde_json::to_value(a).ok()
    }

    fn to_backing(&self, obj: &Value, live: Option<&Value>) -> Result<Value, StorageError> {
        let a = self.decode(obj)?;
        Ok(app::to_helm_release(&a, &self.kind, &self.settings, live))
    }

    fn admit_create<'a>(&'a self, ctx: &'a RequestContext, obj: &'a mut Value, _opts: &'a WriteOptions) -> BoxFuture<'a, Result<Vec<String>, StorageError>> {
        Box::pin(async move {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
            let errors = app::validate_name(&name, &self.kind, &ctx.namespace);
            if !errors.is_empty() {
                return Err(self.invalid(&name, &errors));
            }
            self.check_spec(obj)?;
            Ok(vec![])
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
            self.check_spec(obj)?;
            Ok(vec![])
        })
    }
}
