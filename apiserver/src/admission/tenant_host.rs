//! TenantHost: a Tenant's `spec.host` may be set or changed only by cluster admins (upstream enforces this
//! with the cluster policy `cozystack-tenant-host-policy`).
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use storage::StorageError;
use storage::admission::{AdmissionPlugin, AdmissionRequest, Operation};

use super::{AdmissionConfig, forbidden};

/// The plugin.
pub struct TenantHost(pub Arc<AdmissionConfig>);

fn host(obj: Option<&Value>) -> &str {
    obj.and_then(|o| o.pointer("/spec/host")).and_then(Value::as_str).unwrap_or("")
}

impl AdmissionPlugin for TenantHost {
    fn name(&self) -> &'static str {
        "TenantHost"
    }

    fn validate<'a>(&'a self, req: &'a AdmissionRequest<'a>) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            if req.operation == Operation::Delete || req.resource.group != apis::APPS_GROUP || req.resource.kind != apis::application::TENANT_KIND {
                return Ok(());
            }
            let (new, old) = (host(req.object), host(req.old_object));
            if new == old || self.0.is_cluster_admin(req.user) {
                return Ok(());
            }
            Err(forbidden(
                req,
                self.name(),
                &format!("tenant.spec.host can only be set or changed by cluster admins ({})", self.0.cluster_admin_groups.join(", ")),
            ))
        })
    }
}
