//! ReservedMetadata: labels and annotations under reserved prefixes (ownership, tenancy, platform guards)
//! may be set, changed or removed only by cluster admins.
use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use storage::StorageError;
use storage::admission::{AdmissionPlugin, AdmissionRequest, Operation};

use super::{AdmissionConfig, forbidden, string_map};

/// The plugin.
pub struct ReservedMetadata(pub Arc<AdmissionConfig>);

impl ReservedMetadata {
    fn reserved(&self, key: &str) -> bool {
        self.0.reserved_prefixes.iter().any(|p| key.starts_with(p.as_str()))
    }
}

impl AdmissionPlugin for ReservedMetadata {
    fn name(&self) -> &'static str {
        "ReservedMetadata"
    }

    fn validate<'a>(&'a self, req: &'a AdmissionRequest<'a>) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            if req.operation == Operation::Delete || self.0.is_cluster_admin(req.user) {
                return Ok(());
            }
            for field in ["labels", "annotations"] {
                let new: BTreeMap<&str, &str> = string_map(req.object, field).filter(|(k, _)| self.reserved(k)).collect();
                let old: BTreeMap<&str, &str> = string_map(req.old_object, field).filter(|(k, _)| self.reserved(k)).collect();
                if let Some(key) = new.keys().chain(old.keys()).find(|k| new.get(*k) != old.get(*k)) {
                    let singular = field.trim_end_matches('s');
                    return Err(forbidden(req, self.name(), &format!("{singular} {key:?} is reserved; only cluster admins may set, change or remove it")));
                }
            }
            Ok(())
        })
    }
}
