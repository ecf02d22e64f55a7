//! A served resource seen through a cache of its backing objects: the translation per kind, the client's
//! selectors, and how one cached change becomes the event a watcher sees (ADDED, MODIFIED or DELETED as the object
//! enters, stays in or leaves the watcher's selection, as kube-apiserver's cacheWatcher decides).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use apis::selector::{FieldSelector, LabelSelector};
use serde_json::{Value, json};

use super::shared::{SharedEvent, SharedObject};
use super::state::HistoryEvent;
use crate::projection::Projection;
use crate::registry::{EventType, ListOptions, ResourceInfo};

/// Annotation on the BOOKMARK that ends the initial events of a WatchList.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// A served resource over a cache: one per kind; many views share one cache.
pub trait View: Send + Sync + 'static {
    /// A number no other view has: translations are remembered under it.
    fn id(&self) -> u64;

    /// Discovery facts of the served resource.
    fn info(&self) -> &ResourceInfo;

    /// The served object of a backing object, or None when it is not one of this view's.
    fn translate(&self, backing: &Value) -> Option<Value>;

    /// False only when [`View::translate`] would give None for the backing object with this JSON encoding:
    /// a test that spares parsing objects of the other views of a shared cache.
    fn may_translate(&self, backing_json: &[u8]) -> bool {
        let _ = backing_json;
        true
    }

    /// A BOOKMARK object: apiVersion, kind and resourceVersion only, plus the WatchList annotation.
    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Value {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({INITIAL_EVENTS_END: "true"});
        }
        json!({"apiVersion": self.info().api_version(), "kind": self.info().kind, "metadata": metadata})
    }
}

/// The view of a [`Projection`].
pub struct ProjectionView<P> {
    id: u64,
    projection: Arc<P>,
}

impl<P: Projection> ProjectionView<P> {
    /// A view of `projection` with a fresh id.
    pub fn new(projection: Arc<P>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self { id: NEXT.fetch_add(1, Ordering::Relaxed), projection }
    }
}

impl<P: Projection> View for ProjectionView<P> {
    fn id(&self) -> u64 {
        self.id
    }

    fn info(&self) -> &ResourceInfo {
        self.projection.info()
    }

    fn translate(&self, backing: &Value) -> Option<Value> {
        self.projection.served(backing)
    }

    fn may_translate(&self, backing_json: &[u8]) -> bool {
        self.projection.may_own_encoded(backing_json)
    }
}

/// Which served objects a client asked for: a namespace (or all), and the label and field selectors of list and
/// watch, matched against the served object exactly as a list matches.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// "" for all namespaces.
    pub namespace: String,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector` (metadata.name and metadata.namespace).
    pub fields: FieldSelector,
}

impl Filter {
    /// The filter of a request in `namespace` with `opts`.
    pub fn new(namespace: &str, opts: &ListOptions) -> Self {
        Self { namespace: namespace.to_string(), labels: opts.label_selector.clone(), fields: opts.field_selector.clone() }
    }

    /// True when the served object is selected.
    pub fn matches(&self, served: &SharedObject) -> bool {
        if !self.namespace.is_empty() && served.namespace() != Some(self.namespace.as_str()) {
            return false;
        }
        let fields_ok = self.fields.matches(|field| match field {
            "metadata.name" => served.name(),
            "metadata.namespace" => served.namespace(),
            _ => None,
        });
        fields_ok && (self.labels.is_empty() || self.labels.matches(&served.labels()))
    }

    fn select(&self, served: Option<SharedObject>) -> Option<SharedObject> {
        served.filter(|o| self.matches(o))
    }
}

/// The event a watcher of `view` with `filter` sees for a cached change, if any.
pub fn convert(event: &HistoryEvent, view: &dyn View, filter: &Filter) -> Option<SharedEvent> {
    let (now, before) = if event.deleted {
        // The deleted object carries the deletion's resourceVersion; its content is the last state.
        (None, filter.select(event.object.served(view)))
    } else {
        (filter.select(event.object.served(view)), event.prev.as_ref().and_then(|p| filter.select(p.served(view))))
    };
    match (now, before) {
        (Some(now), None) => Some(SharedEvent::new(EventType::Added, now)),
        (Some(now), Some(_)) => Some(SharedEvent::new(EventType::Modified, now)),
        (None, Some(before)) if event.deleted => Some(SharedEvent::new(EventType::Deleted, before)),
        (None, Some(before)) => {
            // It left the selection: the last selected state, at the resourceVersion of the change.
            let mut last = before.value().into_owned();
            last["metadata"]["resourceVersion"] = event.rv.to_string().into();
            Some(SharedEvent::new(EventType::Deleted, last))
        }
        (None, None) => None,
    }
}
