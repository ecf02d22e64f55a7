//! TenantPlacement: applications, Tenants included, live only in tenant namespaces (`tenant-*`), apart from
//! configured exceptions.
use std::sync::Arc;

use futures::future::BoxFuture;
use storage::StorageError;
use storage::admission::{AdmissionPlugin, AdmissionRequest, Operation};

use super::{AdmissionConfig, forbidden};

/// The plugin.
pub struct TenantPlacement(pub Arc<AdmissionConfig>);

impl AdmissionPlugin for TenantPlacement {
    fn name(&self) -> &'static str {
        "TenantPlacement"
    }

    fn validate<'a>(&'a self, req: &'a AdmissionRequest<'a>) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            if req.operation != Operation::Create || req.resource.group != apis::APPS_GROUP {
                return Ok(());
            }
            let ns = req.namespace;
            if ns.starts_with(apis::tenant::TENANT_PREFIX) || self.0.app_namespace_exceptions.iter().any(|e| e == ns) {
                return Ok(());
            }
            let what = if req.resource.kind == apis::application::TENANT_KIND { "tenants" } else { "applications" };
            Err(forbidden(req, self.name(), &format!("{what} may only be created in tenant namespaces (tenant-*), and {ns:?} is not one")))
        })
    }
}
