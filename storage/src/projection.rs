//! How a served resource is projected onto a backing Kubernetes resource: the hooks a registry writes. The
//! verbs themselves live once, in [`crate::store::Store`].

use futures::future::BoxFuture;
use serde_json::Value;

use crate::StorageError;
use crate::backend::BackingResource;
use crate::registry::{RequestContext, ResourceInfo, TableConvertor, WriteOptions};

/// Annotation of a backing object holding the managedFields of the served object, as compact JSON: written by the
/// server on every write, hidden on read (docs/architecture.md, Server-side apply).
pub const MANAGED_FIELDS_ANNOTATION: &str = "cozystack.io/managed-fields";

/// The managedFields list a backing object keeps for its served object, if any.
pub fn managed_fields_of(backing: &Value) -> Option<Value> {
    let raw = backing.pointer("/metadata/annotations")?.get(MANAGED_FIELDS_ANNOTATION)?.as_str()?;
    serde_json::from_str::<Value>(raw).ok().filter(Value::is_array)
}

/// Records `entries` (a managedFields list, or None for none) on a backing object about to be written.
pub fn set_managed_fields(backing: &mut Value, entries: Option<&Value>) {
    let Some(meta) = backing.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let annotations = meta.entry("annotations").or_insert_with(|| Value::Object(Default::default()));
    if let Some(a) = annotations.as_object_mut() {
        match entries {
            Some(e) => {
                a.insert(MANAGED_FIELDS_ANNOTATION.into(), Value::String(e.to_string()));
            }
            None => {
                a.remove(MANAGED_FIELDS_ANNOTATION);
            }
        }
        if a.is_empty() {
            meta.remove("annotations");
        }
    }
}

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

    /// A cheap test on a backing object's JSON encoding (compact, as serde_json writes it): false only when
    /// [`Projection::from_backing`] would give None. A cache shared by many kinds asks it before parsing an
    /// object, so that each change is parsed for the kind it belongs to, not for every kind being watched.
    fn may_own_encoded(&self, backing_json: &[u8]) -> bool {
        let _ = backing_json;
        true
    }

    /// The served object of a backing object, or None when the backing object is not one of ours.
    #[allow(clippy::wrong_self_convention)] // "from" the backing object, through the projection's own settings
    fn from_backing(&self, backing: &Value) -> Option<Value>;

    /// Whether the served objects carry managedFields (kept on the backing object, see
    /// [`MANAGED_FIELDS_ANNOTATION`]): every writable resource does.
    fn tracks_managed_fields(&self) -> bool {
        true
    }

    /// The served object of a backing object as clients see it: [`Projection::from_backing`], with its
    /// managedFields read from the backing object's annotation, which is never shown as an annotation.
    fn served(&self, backing: &Value) -> Option<Value> {
        let mut obj = self.from_backing(backing)?;
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                annotations.remove(MANAGED_FIELDS_ANNOTATION);
                if annotations.is_empty() {
                    meta.remove("annotations");
                }
            }
            meta.remove("managedFields");
            if self.tracks_managed_fields()
                && let Some(entries) = managed_fields_of(backing)
            {
                meta.insert("managedFields".into(), entries);
            }
        }
        Some(obj)
    }

    /// The backing object of a served object; `live` is the current backing object on update.
    fn to_backing(&self, obj: &Value, live: Option<&Value>) -> Result<Value, StorageError>;

    /// Applies the kind's defaults to an object as decoded from a request, before mutating admission sees it
    /// (kube-apiserver's decoder defaults a custom resource before admission). Defaults come again with
    /// [`Projection::admit_create`] and [`Projection::admit_update`], after the mutations.
    fn default_decoded(&self, _obj: &mut Value) {}

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
