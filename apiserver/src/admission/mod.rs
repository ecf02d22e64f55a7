//! The built-in admission plugins that keep tenants apart, and the chain they form with the cluster's
//! ValidatingAdmissionPolicies (`policies`) and validating webhooks (`webhooks`). Rules Cozystack ships as
//! policies (a Tenant's `spec.host`, the no-delete label) are left to those policies.

pub mod policies;
mod reserved_metadata;
mod tenant_placement;
pub mod webhooks;

use std::sync::Arc;

use apis::user::UserInfo;
use serde_json::Value;
use storage::admission::{AdmissionChain, AdmissionPlugin};

pub use reserved_metadata::ReservedMetadata;
pub use tenant_placement::TenantPlacement;

/// Settings of the built-in plugins.
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// Groups treated as cluster admins (may set reserved keys).
    pub cluster_admin_groups: Vec<String>,
    /// Namespaces outside `tenant-*` where applications may still be created.
    pub app_namespace_exceptions: Vec<String>,
    /// Label and annotation prefixes only cluster admins may set, change or remove.
    pub reserved_prefixes: Vec<String>,
}

impl AdmissionConfig {
    /// True when `user` is a cluster admin.
    pub fn is_cluster_admin(&self, user: &UserInfo) -> bool {
        self.cluster_admin_groups.iter().any(|g| user.in_group(g))
    }
}

/// The built-in plugins, in the order the rules are checked.
pub fn built_in_plugins(config: AdmissionConfig) -> Vec<Arc<dyn AdmissionPlugin>> {
    let config = Arc::new(config);
    vec![Arc::new(TenantPlacement(config.clone())), Arc::new(ReservedMetadata(config))]
}

/// The built-in chain alone.
pub fn built_in_chain(config: AdmissionConfig) -> AdmissionChain {
    AdmissionChain::new(built_in_plugins(config))
}

/// The `metadata.<field>` map of an object (labels or annotations).
fn string_map<'a>(obj: Option<&'a Value>, field: &str) -> impl Iterator<Item = (&'a str, &'a str)> {
    obj.and_then(|o| o.get("metadata"))
        .and_then(|m| m.get(field))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
}

/// The 403 every plugin answers with: `<resource> "<name>" is forbidden: <Rule>: <reason>`.
fn forbidden(req: &storage::admission::AdmissionRequest<'_>, rule: &str, reason: &str) -> storage::StorageError {
    apis::status::Status::forbidden(&req.resource.group, &req.resource.plural, req.name, &format!("{rule}: {reason}")).into()
}

#[cfg(test)]
mod tests;
