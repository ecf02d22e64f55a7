//! NoDeleteGuard: objects labelled `platform.cozystack.io/no-delete=true` cannot be deleted by anyone; the
//! label must be removed first (which ReservedMetadata limits to cluster admins).
use futures::future::BoxFuture;
use storage::StorageError;
use storage::admission::{AdmissionPlugin, AdmissionRequest, Operation};

use super::{forbidden, string_map};

/// The guarding label.
pub const NO_DELETE_LABEL: &str = "platform.cozystack.io/no-delete";

/// The plugin.
pub struct NoDeleteGuard;

impl AdmissionPlugin for NoDeleteGuard {
    fn name(&self) -> &'static str {
        "NoDeleteGuard"
    }

    fn validate<'a>(&'a self, req: &'a AdmissionRequest<'a>) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            if req.operation != Operation::Delete {
                return Ok(());
            }
            if string_map(req.old_object, "labels").any(|(k, v)| k == NO_DELETE_LABEL && v == "true") {
                return Err(forbidden(req, self.name(), &format!("the object is labelled {NO_DELETE_LABEL}=true; remove the label before deleting it")));
            }
            Ok(())
        })
    }
}
