//! OptionRegistry: `options.core.cozystack.io`, the choices of the dashboard's dropdowns (namespaced; get,
//! list, watch). Nothing backs an Option: each read lists what its providers need (`apis::option`) with the
//! server's identity, so tenants need no access to Nodes, the KubeVirt CR or cluster instance types.
//!
//! - A resource type the cluster does not serve (its CRD absent: the backend answers 404) counts as empty.
//! - GET of a provider another failure stops answers 500; LIST leaves that provider out, so one broken source
//!   does not empty every dropdown.
//! - Options carry resourceVersion `0`, lists too. A watch sends ADDED for every current option and then stays
//!   open, without further events, until the client leaves or its `timeoutSeconds` pass; with
//!   `sendInitialEvents=true` a BOOKMARK marked `k8s.io/initial-events-end` follows the ADDED events.
//! - The `metadata.name` and `metadata.namespace` field selectors and label selectors (Options have no labels)
//!   are honoured on list and watch.

use std::collections::HashMap;

use apis::option::{OptionItem, Provider, Read, ReadScope, item_count, option_object};
use apis::status::Status;
use apis::table::TableColumnDefinition;
use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use serde_json::{Value, json};

use crate::StorageError;
use crate::backend::{Backend, BackendError, BackingResource, Query};
use crate::registry::{EventStream, EventType, ListOptions, ObjectList, Registry, RequestContext, ResourceInfo, SharedObject, TableConvertor, WatchEvent};

/// Field selectors Options support.
pub const SELECTABLE_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// The registry of Options.
pub struct OptionRegistry {
    info: ResourceInfo,
    backend: Backend,
}

/// What one provider's reads gave: the objects of each list, or why one failed.
type ReadResults = HashMap<Read, Result<Vec<Value>, String>>;

impl OptionRegistry {
    /// Serves Options from what `backend` answers.
    pub fn new(backend: Backend) -> Self {
        Self { info: ResourceInfo::option(), backend }
    }

    /// The objects of one list; a 404 (the resource type is not served) is an empty list.
    async fn read(&self, read: Read, namespace: &str) -> Result<Vec<Value>, BackendError> {
        let (ns, namespaced) = match read.scope {
            ReadScope::Cluster => ("", false),
            ReadScope::RequestNamespace => (namespace, true),
            ReadScope::Namespace(ns) => (ns, true),
        };
        let resource = BackingResource { group: read.group, version: read.version, plural: read.plural, namespaced };
        match self.backend.list(&resource, ns, &Query::default()).await {
            Ok(mut list) => match list.get_mut("items").map(Value::take) {
                Some(Value::Array(items)) => Ok(items),
                _ => Ok(Vec::new()),
            },
            Err(e) if e.code() == Some(404) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Makes every list `providers` need in `namespace`, each once and all at once.
    async fn read_all(&self, providers: &[Provider], namespace: &str) -> ReadResults {
        let mut reads: Vec<Read> = Vec::new();
        for read in providers.iter().filter(|p| !namespace.is_empty() || !p.namespaced()).flat_map(|p| p.reads()) {
            if !reads.contains(read) {
                reads.push(*read);
            }
        }
        let answers = futures::future::join_all(reads.iter().map(|r| self.read(*r, namespace))).await;
        reads.into_iter().zip(answers).map(|(r, a)| (r, a.map_err(|e| format!("list {}: {e}", apis::status::qualified(r.plural, r.group))))).collect()
    }

    /// The items of `provider` from the lists read; a provider of the request's namespace offers nothing
    /// without one.
    fn items(provider: Provider, namespace: &str, results: &ReadResults) -> Result<Vec<OptionItem>, String> {
        if namespace.is_empty() && provider.namespaced() {
            return Ok(Vec::new());
        }
        let lists = provider
            .reads()
            .iter()
            .map(|r| results.get(r).cloned().unwrap_or_else(|| Err(format!("{} was not read", r.plural))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(provider.items(&lists))
    }

    /// The Options the selectors of `opts` pick, leaving out those whose provider failed.
    async fn options(&self, namespace: &str, opts: &ListOptions) -> Result<Vec<Value>, StorageError> {
        opts.field_selector.check_supported(SELECTABLE_FIELDS).map_err(|e| Status::bad_request(e.to_string()))?;
        let no_labels = Default::default();
        let providers: Vec<Provider> = Provider::ALL
            .into_iter()
            .filter(|_| opts.label_selector.matches(&no_labels))
            .filter(|p| {
                opts.field_selector.matches(|f| match f {
                    "metadata.name" => Some(p.name()),
                    "metadata.namespace" => Some(namespace),
                    _ => None,
                })
            })
            .collect();
        let results = self.read_all(&providers, namespace).await;
        let mut options = Vec::with_capacity(providers.len());
        for provider in providers {
            match Self::items(provider, namespace, &results) {
                Ok(items) => options.push(option_object(provider, namespace, &items)),
                Err(error) => tracing::warn!(provider = provider.name(), namespace, %error, "an option provider failed; leaving it out"),
            }
        }
        Ok(options)
    }
}

impl TableConvertor for OptionRegistry {
    fn columns(&self) -> Vec<TableColumnDefinition> {
        vec![
            TableColumnDefinition::new("NAME", "string", "Name of the option source"),
            TableColumnDefinition::new("ITEMS", "integer", "Number of choices the source offers"),
        ]
    }

    fn cells(&self, object: &Value) -> Vec<Value> {
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        vec![name.into(), item_count(object).into()]
    }
}

impl Registry for OptionRegistry {
    fn info(&self) -> &ResourceInfo {
        &self.info
    }

    fn schema(&self) -> Option<apis::openapi::KindSchema> {
        Some(apis::openapi::core::option())
    }

    fn get<'a>(&'a self, ctx: &'a RequestContext, name: &'a str) -> BoxFuture<'a, Result<Value, StorageError>> {
        Box::pin(async move {
            let provider = Provider::from_name(name).ok_or_else(|| Status::not_found(apis::CORE_GROUP, apis::option::PLURAL, name))?;
            let results = self.read_all(&[provider], &ctx.namespace).await;
            let items = Self::items(provider, &ctx.namespace, &results).map_err(|e| Status::internal(format!("compute options for {name:?}: {e}")))?;
            Ok(option_object(provider, &ctx.namespace, &items))
        })
    }

    fn list<'a>(&'a self, ctx: &'a RequestContext, opts: &'a ListOptions) -> BoxFuture<'a, Result<ObjectList, StorageError>> {
        Box::pin(async move {
            let items = self.options(&ctx.namespace, opts).await?;
            Ok(ObjectList { items: items.into_iter().map(SharedObject::from).collect(), resource_version: "0".into(), ..Default::default() })
        })
    }

    fn watch<'a>(&'a self, ctx: &'a RequestContext, opts: &'a ListOptions) -> BoxFuture<'a, Result<EventStream, StorageError>> {
        Box::pin(async move {
            let options = self.options(&ctx.namespace, opts).await?;
            let mut events = Vec::new();
            if opts.send_initial_events != Some(false) {
                events.extend(options.into_iter().map(|object| WatchEvent { event_type: EventType::Added, object }));
            }
            if opts.send_initial_events == Some(true) {
                let object = json!({"apiVersion": self.info.api_version(), "kind": self.info.kind,
                                    "metadata": {"resourceVersion": "0", "annotations": {"k8s.io/initial-events-end": "true"}}});
                events.push(WatchEvent { event_type: EventType::Bookmark, object });
            }
            // Nothing ever changes an Option in place: the watch stays open, quiet, until the client goes.
            Ok(stream::iter(events).chain(stream::pending()).boxed())
        })
    }
}

#[cfg(test)]
#[path = "option_tests.rs"]
mod tests;
