//! What a served resource offers: its discovery facts and its verbs. One registry type per resource implements
//! [`Registry`]; the HTTP layer derives routes and the discovery verb list from [`ResourceInfo::verbs`].

use std::collections::BTreeMap;

use apis::selector::{FieldSelector, LabelSelector};
use apis::table::TableColumnDefinition;
use apis::user::UserInfo;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::Value;

use crate::StorageError;

pub use apis::resource::{ALL_VERBS, READ_VERBS, ResourceInfo};

/// Options of list and watch, parsed once from the query string.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub label_selector: LabelSelector,
    /// `fieldSelector`.
    pub field_selector: FieldSelector,
    /// `resourceVersion`.
    pub resource_version: String,
    /// `resourceVersionMatch` (NotOlderThan or Exact).
    pub resource_version_match: String,
    /// `limit` (0 = no limit).
    pub limit: i64,
    /// `continue`.
    pub continue_token: String,
    /// `timeoutSeconds` of a watch.
    pub timeout_seconds: Option<u64>,
    /// `allowWatchBookmarks`.
    pub allow_watch_bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
}

/// How unknown or duplicate fields are treated on writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop them and warn (the default, as for CRDs).
    #[default]
    Warn,
    /// Refuse the request.
    Strict,
}

/// Options of create, update and patch.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and answer, but write nothing.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: String,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `force` of an apply patch.
    pub force: bool,
}

/// Options of delete (query and DeleteOptions body merged).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// Orphan, Background or Foreground.
    pub propagation_policy: Option<String>,
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_resource_version: Option<String>,
}

/// Who asks, in which namespace, and the admission chain writes must pass.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The caller.
    pub user: UserInfo,
    /// Namespace of the request ("" for cluster-scoped).
    pub namespace: String,
    /// Validating admission for writes.
    pub admission: std::sync::Arc<crate::admission::AdmissionChain>,
    /// The request's User-Agent: the field manager of a write without `fieldManager`.
    pub user_agent: String,
    /// Warnings admission adds to the response.
    pub warnings: crate::admission::Warnings,
    /// True for the deletes of a deletecollection: admission sees them without a name, as kube-apiserver's do.
    pub in_collection: bool,
}

/// A list answer.
#[derive(Debug, Clone, Default)]
pub struct ObjectList {
    /// The objects, shared with the watch cache they may come from (and with their JSON encoding).
    pub items: Vec<SharedObject>,
    /// `metadata.resourceVersion` of the list.
    pub resource_version: String,
    /// `metadata.continue`.
    pub continue_token: String,
    /// `metadata.remainingItemCount`.
    pub remaining_item_count: Option<i64>,
}

/// Type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// ADDED.
    Added,
    /// MODIFIED.
    Modified,
    /// DELETED.
    Deleted,
    /// BOOKMARK.
    Bookmark,
    /// ERROR (object is a Status).
    Error,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
            Self::Bookmark => "BOOKMARK",
            Self::Error => "ERROR",
        }
    }
}

/// One watch event carrying a served object (or a Status for errors).
#[derive(Debug, Clone)]
pub struct WatchEvent {
    /// Its type.
    pub event_type: EventType,
    /// The object.
    pub object: Value,
}

/// A stream of watch events; it ends when the watch ends.
pub type EventStream = BoxStream<'static, WatchEvent>;

pub use crate::watch_cache::shared::{SharedEvent, SharedEventStream, SharedObject};

/// What a delete did.
#[derive(Debug, Clone)]
pub enum Deleted {
    /// The object is gone; the last state is returned.
    Gone(Value),
    /// The object is being deleted (finalizers); its current state is returned.
    Pending(Value),
}

/// Rows of a Table for a resource.
pub trait TableConvertor: Send + Sync {
    /// The columns.
    fn columns(&self) -> Vec<TableColumnDefinition>;
    /// The cells of one object, one per column.
    fn cells(&self, object: &Value) -> Vec<Value>;
}

/// A served resource: its facts and verbs. Verbs a resource does not list in [`ResourceInfo::verbs`] are never
/// routed to it, so their default bodies only guard against misuse.
pub trait Registry: TableConvertor {
    /// Discovery facts.
    fn info(&self) -> &ResourceInfo;

    /// The kind's schema for the OpenAPI documents (static ones in `apis::openapi::core`); None publishes a
    /// generic object (apiVersion, kind, metadata, anything else preserved).
    fn schema(&self) -> Option<apis::openapi::KindSchema> {
        None
    }

    /// Reads one object.
    fn get<'a>(&'a self, ctx: &'a RequestContext, name: &'a str) -> BoxFuture<'a, Result<Value, StorageError>>;

    /// Reads one object, shared with the watch cache where the registry has one (with its JSON encoding); by
    /// default, [`Registry::get`] with nothing shared.
    fn get_shared<'a>(&'a self, ctx: &'a RequestContext, name: &'a str) -> BoxFuture<'a, Result<SharedObject, StorageError>> {
        Box::pin(async move { self.get(ctx, name).await.map(SharedObject::from) })
    }

    /// Reads one object for a get with `resource_version` (as the request's query gives it; "" asks for the
    /// latest): any version at least that new may answer. By default the latest, from [`Registry::get_shared`].
    fn get_at<'a>(&'a self, ctx: &'a RequestContext, name: &'a str, resource_version: &'a str) -> BoxFuture<'a, Result<SharedObject, StorageError>> {
        let _ = resource_version;
        self.get_shared(ctx, name)
    }

    /// Lists objects.
    fn list<'a>(&'a self, ctx: &'a RequestContext, opts: &'a ListOptions) -> BoxFuture<'a, Result<ObjectList, StorageError>>;

    /// Watches objects.
    fn watch<'a>(&'a self, ctx: &'a RequestContext, opts: &'a ListOptions) -> BoxFuture<'a, Result<EventStream, StorageError>>;

    /// Watches objects, sharing each object and its encoding with the other watchers of the resource where the
    /// registry can (a watch cache); by default, [`Registry::watch`] with nothing shared.
    fn watch_shared<'a>(&'a self, ctx: &'a RequestContext, opts: &'a ListOptions) -> BoxFuture<'a, Result<SharedEventStream, StorageError>> {
        Box::pin(async move {
            use futures::StreamExt;
            Ok(self.watch(ctx, opts).await?.map(SharedEvent::from).boxed())
        })
    }

    /// Creates an object.
    fn create<'a>(&'a self, ctx: &'a RequestContext, obj: Value, opts: &'a WriteOptions) -> BoxFuture<'a, Result<WriteResult, StorageError>> {
        let _ = (ctx, obj, opts);
        Box::pin(async { Err(method_not_supported("create")) })
    }

    /// Replaces an object; `old` is what the caller based the change on (for patches), if any.
    fn update<'a>(&'a self, ctx: &'a RequestContext, name: &'a str, obj: Value, opts: &'a WriteOptions) -> BoxFuture<'a, Result<WriteResult, StorageError>> {
        let _ = (ctx, name, obj, opts);
        Box::pin(async { Err(method_not_supported("update")) })
    }

    /// Deletes an object.
    fn delete<'a>(&'a self, ctx: &'a RequestContext, name: &'a str, opts: &'a DeleteOptions) -> BoxFuture<'a, Result<Deleted, StorageError>> {
        let _ = (ctx, name, opts);
        Box::pin(async { Err(method_not_supported("delete")) })
    }

    /// Server-side apply of `config` (the decoded apply patch) to object `name` by `opts.field_manager`, creating it
    /// when absent; answers whether it was created.
    fn apply<'a>(
        &'a self,
        ctx: &'a RequestContext,
        name: &'a str,
        config: Value,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<(bool, WriteResult), StorageError>> {
        let _ = (ctx, name, config, opts);
        Box::pin(async { Err(method_not_supported("patch")) })
    }
}

/// The result of a write: the object as stored, and warnings for the client (field validation).
#[derive(Debug, Clone, Default)]
pub struct WriteResult {
    /// The object as it is now.
    pub object: Value,
    /// Warnings for `Warning` headers.
    pub warnings: Vec<String>,
}

/// 405 for a verb a resource does not serve.
pub fn method_not_supported(verb: &str) -> StorageError {
    apis::status::Status::method_not_allowed(format!("{verb} is not supported on this resource")).into()
}

/// Labels of an object, or none.
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default()
}
