//! Where a cache's objects come from: a backing resource of the backend (or, in tests, a scripted feed).

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::Value;

use std::sync::Arc;

use super::entry::Entry;
use super::progress::ProgressMarker;
use crate::backend::{BackendClient, BackendError, BackingResource, Query, RawEvent};

/// A full list: the objects, each encoded as it arrived, and the list's resourceVersion.
pub type Listing = (Vec<Entry>, u64);

/// The three requests a cache makes.
pub trait Source: Send + Sync + 'static {
    /// A consistent list of every object.
    fn list(&self) -> BoxFuture<'_, Result<Listing, BackendError>>;

    /// The events after resourceVersion `from`, bookmarks included.
    fn watch(&self, from: u64) -> BoxFuture<'_, Result<BoxStream<'static, Result<RawEvent, BackendError>>, BackendError>>;

    /// The backend's current resourceVersion (a consistent read).
    fn current_rv(&self) -> BoxFuture<'_, Result<u64, BackendError>>;

    /// A resourceVersion this source's watch is sure to deliver (as an event or a bookmark), at least as new as
    /// every change made before the call; None when the source cannot make one (see [`super::progress`]).
    fn progress(&self) -> BoxFuture<'_, Result<Option<u64>, BackendError>> {
        Box::pin(async { Ok(None) })
    }
}

/// Objects of one backing resource in all namespaces, matching a label selector.
pub struct BackendSource {
    backend: Arc<dyn BackendClient>,
    resource: BackingResource,
    selector: String,
    keep_managed_fields: bool,
    marker: Option<Arc<ProgressMarker>>,
}

/// Objects per page when listing.
const PAGE: &str = "500";

impl BackendSource {
    /// The objects of `resource` matching `selector`, read through `backend`.
    pub fn new(backend: Arc<dyn BackendClient>, resource: BackingResource, selector: String) -> Self {
        Self { backend, resource, selector, keep_managed_fields: false, marker: None }
    }

    /// With a progress marker in `namespace` (when this resource and selector can have one), for consistent reads
    /// from an idle cache. The marker itself is never listed or watched through this source.
    pub fn with_progress_marker(mut self, namespace: &str) -> Self {
        self.marker = ProgressMarker::new(self.backend.clone(), &self.resource, &self.selector, namespace).map(Arc::new);
        self
    }

    /// Whether objects keep their `metadata.managedFields` (dropped by default: the backend's bookkeeping takes
    /// much of an object's memory and no reader of the cache needs it).
    pub fn keeping_managed_fields(mut self, keep: bool) -> Self {
        self.keep_managed_fields = keep;
        self
    }

    fn trim(&self, object: Value) -> Value {
        if self.keep_managed_fields { object } else { without_managed_fields(object) }
    }

    fn is_marker(&self, object: &Value) -> bool {
        self.marker.as_ref().is_some_and(|m| m.is(object))
    }

    fn rv_of_list(list: &Value) -> Result<u64, BackendError> {
        let rv = list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default();
        rv.parse().map_err(|_| BackendError::Transport(format!("the backend list has no numeric resourceVersion ({rv:?})")))
    }
}

impl Source for BackendSource {
    fn list(&self) -> BoxFuture<'_, Result<Listing, BackendError>> {
        Box::pin(async move {
            let (mut items, mut continue_token, mut rv) = (Vec::new(), String::new(), 0);
            loop {
                let q = Query::default().set("labelSelector", self.selector.clone()).set("limit", PAGE).set("continue", continue_token.clone());
                let mut page = self.backend.list(&self.resource, "", &q).await?;
                if rv == 0 {
                    rv = Self::rv_of_list(&page)?;
                }
                if let Some(Value::Array(more)) = page.get_mut("items").map(Value::take) {
                    items.extend(more.into_iter().filter(|o| !self.is_marker(o)).filter_map(|o| Entry::listed(self.trim(o))));
                }
                continue_token = page.pointer("/metadata/continue").and_then(Value::as_str).unwrap_or_default().to_string();
                if continue_token.is_empty() {
                    return Ok((items, rv));
                }
            }
        })
    }

    fn watch(&self, from: u64) -> BoxFuture<'_, Result<BoxStream<'static, Result<RawEvent, BackendError>>, BackendError>> {
        Box::pin(async move {
            let q = Query::default().set("labelSelector", self.selector.clone()).set("resourceVersion", from.to_string()).set("allowWatchBookmarks", "true");
            let keep = self.keep_managed_fields;
            let mut events = self.backend.watch(&self.resource, "", &q).await?;
            if let Some(marker) = &self.marker {
                // The marker's changes only say how far the watch has come.
                let marker = marker.clone();
                events = events.map(move |e| e.map(|(t, o)| if t != "ERROR" && marker.is(&o) { ("BOOKMARK".to_string(), o) } else { (t, o) })).boxed();
            }
            Ok(if keep { events } else { events.map(|e| e.map(|(t, o)| (t, without_managed_fields(o)))).boxed() })
        })
    }

    fn current_rv(&self) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async move {
            let q = Query::default().set("labelSelector", self.selector.clone()).set("limit", "1");
            Self::rv_of_list(&self.backend.list(&self.resource, "", &q).await?)
        })
    }

    fn progress(&self) -> BoxFuture<'_, Result<Option<u64>, BackendError>> {
        Box::pin(async move {
            match &self.marker {
                Some(marker) => marker.advance().await.map(Some),
                None => Ok(None),
            }
        })
    }
}

/// `object` without `metadata.managedFields`.
fn without_managed_fields(mut object: Value) -> Value {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    object
}
