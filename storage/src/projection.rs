//! How a served resource is projected onto a backing Kubernetes resource: the hooks a registry writes. The
//! verbs themselves live once, in [`crate::store::Store`].

use futures::future::BoxFuture;
use serde_json::Value;

use crate::StorageError;
use crate::backend::BackingResource;
use crate::registry::{RequestContext, ResourceInfo, TableConvertor, WriteOptions};

/// What differs between resources backed by another resource.
pub trait Projection: TableConvertor + Send + Sync + 'static {
    /// Discovery facts of the served resource.
    fn info(&self) -> &ResourceInfo;

    /// The backing resource type.
    fn backing(&self) -> &BackingResource;

    /// Label selector (string syntax) that every backing object of this resource matches.
    fn backing_selector(&self) -> String;

    /// Label selector of the shared watch cache that lists and watches are served from: one cache per backing
    /// resource and selector, every resource over it a filtered view. None passes them through to the backend.
    fn cache_selector(&self) -> Option<String> {
        None
    }

    /// Name of the backing object of `name`.
    fn backing_name(&self, name: &str) -> String {
        name.to_string()
    }

    /// Backing label key of a user label key, for rewriting label selectors.
    fn backing_label_key(&self, key: &str) -> String {
        key.to_string()
    }

    /// The user's label or annotation key of a backing one, for errors the backend phrased about the backing
    /// object; None when `backing_key` is not a user's key.
    fn user_key(&self, backing_key: &str) -> Option<String> {
        let _ = backing_key;
        None
    }

    /// The user's field path of a backing field path (`spec.values.x` → `spec.x`), for errors the backend
    /// phrased about the backing object.
    fn user_field(&self, backing_field: &str) -> String {
        backing_field.to_string()
    }

    /// The served object of a backing object, or None when the backing object is not one of ours.
    #[allow(clippy::wrong_self_convention)] // "from" the backing object, through the projection's own settings
    fn from_backing(&self, backing: &Value) -> Option<Value>;

    /// The backing object of a served object; `live` is the current backing object on update.
    fn to_backing(&self, obj: &Value, live: Option<&Value>) -> Result<Value, StorageError>;

    /// Checks and completes a new object before it is written (defaults, validation, admission);
    /// returns warnings for the client.
    fn admit_create<'a>(&'a self, ctx: &'a RequestContext, obj: &'a mut Value, opts: &'a WriteOptions) -> BoxFuture<'a, Result<Vec<String>, StorageError>>;

    /// Checks and completes a changed object before it is written.
    fn admit_update<'a>(
        &'a self,
        ctx: &'a RequestContext,
        obj: &'a mut Value,
        old: &'a Value,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<Vec<String>, StorageError>>;

    /// Whether the backing object of the served object `name` is wholly ours to delete: reading it through the
    /// projection is not enough where the backing object may be shared (a delete answers 404 otherwise, and the
    /// backing object stays).
    fn owns_for_delete(&self, backing: &Value, name: &str) -> bool {
        let _ = (backing, name);
        true
    }

    /// Checks that an object may be deleted.
    fn admit_delete<'a>(&'a self, ctx: &'a RequestContext, old: &'a Value) -> BoxFuture<'a, Result<(), StorageError>> {
        let _ = (ctx, old);
        Box::pin(async { Ok(()) })
    }

    /// The kind's schema for the OpenAPI documents; see [`crate::registry::Registry::schema`].
    fn schema(&self) -> Option<apis::openapi::KindSchema> {
        None
    }
}
