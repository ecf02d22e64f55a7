//! One registry per served resource: only what differs from the generic store lives here.
//!
//! - [`application`]: one registry per ApplicationDefinition (apps.cozystack.io).
//! - [`tenant_quota`]: the hierarchical quota check of Tenant writes.
//! - [`tenant_namespace`], [`tenant_module`], [`tenant_secret`]: the tenant resources of core.cozystack.io,
//!   gathered by [`core_registries`] with [`option`], the dashboard's dropdown choices, and [`security_group`]
//!   (sdn.cozystack.io).

pub mod application;
pub mod option;
pub mod security_group;
pub mod tenant_module;
pub mod tenant_namespace;
pub mod tenant_quota;
pub mod tenant_secret;

use std::sync::Arc;

use crate::backend::Backend;
use crate::rbac_index::RbacIndex;
use crate::registry::Registry;
use crate::store::Store;

/// The resources served whatever the definitions say (core.cozystack.io's and SecurityGroup), keyed by (group,
/// plural).
pub fn core_registries(backend: &Backend, index: Arc<RbacIndex>) -> crate::catalog::Resources {
    let registries: [Arc<dyn Registry>; 5] = [
        Arc::new(tenant_namespace::TenantNamespaceRegistry::new(index, backend.watch_cache_config().bookmark_interval)),
        Arc::new(Store::new(Arc::new(tenant_module::TenantModuleRegistry::new()), backend.clone())),
        Arc::new(Store::new(Arc::new(tenant_secret::TenantSecretRegistry::new()), backend.clone())),
        Arc::new(option::OptionRegistry::new(backend.clone())),
        Arc::new(Store::new(Arc::new(security_group::SecurityGroupRegistry::new()), backend.clone())),
    ];
    registries.into_iter().map(|r| ((r.info().group.clone(), r.info().plural.clone()), r)).collect()
}
