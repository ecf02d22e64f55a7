//! TenantNamespaceRegistry: `tenantnamespaces.core.cozystack.io`, the tenant namespaces a caller may see
//! (cluster-scoped; get, list, watch), answered from the [`RbacIndex`] without a backend call.
//!
//! Differences from upstream, on purpose: a namespace the caller may not see answers 404 NotFound, as a
//! missing one does (upstream answers 403 first, which confirms the name exists); label selectors and the
//! `metadata.name` field selector are honoured (upstream ignores them on list); which bindings count is
//! described in [`crate::rbac_index`]. `limit` is ignored: the answer is always whole, without `continue`.
//!
//! resourceVersion: lists and bookmarks carry the index's resourceVersion. A list with `resourceVersion=N`
//! (not older than) waits briefly for the index to reach N; `resourceVersionMatch=Exact` serves only the
//! current one. Watches follow [`watch`].

mod watch;

use std::sync::Arc;
use std::time::Duration;

use apis::selector::{FieldSelector, LabelSelector};
use apis::status::Status;
use apis::table::TableColumnDefinition;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::StorageError;
use crate::rbac_index::RbacIndex;
use crate::rbac_index::rules::{TENANT_PREFIX, TenantNamespace};
use crate::registry::{EventStream, ListOptions, ObjectList, Registry, RequestContext, ResourceInfo, SharedObject, TableConvertor};
use crate::watch_cache::plan::parse_rv;

/// The resource plural.
pub const PLURAL: &str = "tenantnamespaces";
/// Field selectors TenantNamespaces support.
pub const SELECTABLE_FIELDS: &[&str] = &["metadata.name"];
/// Longest a request waits for the index's first sync before answering 503.
const SYNC_WAIT: Duration = Duration::from_secs(30);
/// Longest a request waits for the index to reach a resourceVersion the client already saw.
const RV_WAIT: Duration = Duration::from_secs(3);

/// The registry of TenantNamespaces.
pub struct TenantNamespaceRegistry {
    info: ResourceInfo,
    index: Arc<RbacIndex>,
    /// How often an idle watch with bookmarks hears the index's resourceVersion (`--watch-bookmark-interval`).
    bookmark_interval: Duration,
}

impl TenantNamespaceRegistry {
    /// Serves TenantNamespaces from `index`, with watch bookmarks every `bookmark_interval`.
    pub fn new(index: Arc<RbacIndex>, bookmark_interval: Duration) -> Self {
        let info = ResourceInfo::tenant_namespace();
        Self { info, index, bookmark_interval }
    }

    async fn synced(&self) -> Result<(), StorageError> {
        if self.index.wait_synced(SYNC_WAIT).await {
            Ok(())
        } else {
            Err(Status::unavailable("the tenant namespace index is not synced yet; try again later").into())
        }
    }

    fn not_found(&self, name: &str) -> StorageError {
        Status::not_found(apis::CORE_GROUP, PLURAL, name).into()
    }
}

/// True when `ns` passes the request's selectors.
fn selected(labels: &LabelSelector, fields: &FieldSelector, ns: &TenantNamespace) -> bool {
    labels.matches(&ns.labels) && fields.matches(|f| (f == "metadata.name").then_some(ns.name.as_str()))
}

/// Checks the selectors a request may use.
fn check_fields(opts: &ListOptions) -> Result<(), StorageError> {
    opts.field_selector.check_supported(SELECTABLE_FIELDS).map_err(|e| Status::bad_request(e.to_string()).into())
}

/// The number in a resourceVersion parameter, parsed as the watch cache parses it; None for "" and "0" (any
/// state will do).
fn requested_rv(rv: &str) -> Result<Option<u64>, StorageError> {
    match rv {
        "" | "0" => Ok(None),
        other => parse_rv(other).map(Some),
    }
}

/// 504 for a resourceVersion the index has not reached, as the watch cache answers it, so clients relist.
fn too_large(requested: u64, current: u64) -> StorageError {
    Status::too_large_resource_version(requested, current).into()
}

/// 410 for a resourceVersion the index no longer serves, as the watch cache answers it.
fn too_old(requested: u64, current: u64) -> StorageError {
    Status::too_old_resource_version(requested, current).into()
}

impl TableConvertor for TenantNamespaceRegistry {
    fn columns(&self) -> Vec<TableColumnDefinition> {
        vec![
            TableColumnDefinition::new("NAME", "string", "Name of the TenantNamespace"),
            TableColumnDefinition::new("AGE", "string", "Age of the TenantNamespace"),
        ]
    }

    fn cells(&self, object: &Value) -> Vec<Value> {
        let created = object.pointer("/metadata/creationTimestamp").and_then(|t| serde_json::from_value(t.clone()).ok());
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        vec![name.into(), apis::table::age(created.as_ref(), jiff::Timestamp::now()).into()]
    }
}

impl Registry for TenantNamespaceRegistry {
    fn info(&self) -> &ResourceInfo {
        &self.info
    }

    fn schema(&self) -> Option<apis::openapi::KindSchema> {
        Some(apis::openapi::core::tenant_namespace())
    }

    fn get<'a>(&'a self, ctx: &'a RequestContext, name: &'a str) -> BoxFuture<'a, Result<Value, StorageError>> {
        Box::pin(async move {
            if !name.starts_with(TENANT_PREFIX) {
                return Err(self.not_found(name));
            }
            self.synced().await?;
            let state = self.index.read();
            state.visible_namespace(&ctx.user, name).map(|ns| ns.object.clone()).ok_or_else(|| self.not_found(name))
        })
    }

    fn list<'a>(&'a self, ctx: &'a RequestContext, opts: &'a ListOptions) -> BoxFuture<'a, Result<ObjectList, StorageError>> {
        Box::pin(async move {
            check_fields(opts)?;
            let requested = requested_rv(&opts.resource_version)?;
            self.synced().await?;
            if let Some(rv) = requested
                && !self.index.wait_for_rv(rv, RV_WAIT).await
            {
                return Err(too_large(rv, self.index.latest_rv()));
            }
            let state = self.index.read();
            let latest = state.latest_rv();
            if let Some(rv) = requested.filter(|rv| opts.resource_version_match == "Exact" && *rv != latest) {
                return Err(too_old(rv, latest));
            }
            let items = match opts.field_selector.exact_value("metadata.name") {
                // One name: one lookup, whatever the caller's grants.
                Some(name) => state.visible_namespace(&ctx.user, name).into_iter().cloned().collect(),
                None => state.visible(&ctx.user),
            };
            let items =
                items.iter().filter(|ns| selected(&opts.label_selector, &opts.field_selector, ns)).map(|ns| SharedObject::from(ns.object.clone())).collect();
            Ok(ObjectList { items, resource_version: latest.to_string(), ..Default::default() })
        })
    }

    fn watch<'a>(&'a self, ctx: &'a RequestContext, opts: &'a ListOptions) -> BoxFuture<'a, Result<EventStream, StorageError>> {
        Box::pin(async move {
            check_fields(opts)?;
            let requested = requested_rv(&opts.resource_version)?;
            self.synced().await?;
            watch::start(self.index.clone(), ctx.user.clone(), opts, requested, self.bookmark_interval).await
        })
    }
}
