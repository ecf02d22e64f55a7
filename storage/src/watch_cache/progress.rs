//! Progress of a backend watch on demand, for consistent reads from an idle cache.
//!
//! kube-apiserver serves a consistent list from its watch cache once the cache has reached etcd's current
//! revision, which an idle watch learns from etcd's progress notifications. A watch through kube-apiserver has no
//! such notification: when none of the watched objects change, the cache cannot tell whether it is current. So
//! the cache changes one object of its own, the marker, and waits for that change to come back on its watch:
//! every change made before the marker's write has a smaller resourceVersion, and the watch delivers in order.
//!
//! The marker is one object in the server's namespace, labelled to match the cache's selector. The cache's source
//! hides it from every reader (its events only move the cache's resourceVersion on). Writes are batched: reads
//! that ask while one write is in flight share the next, so a burst of consistent lists costs one or two writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use apis::selector::LabelSelector;
use serde_json::{Map, Value, json};

use super::entry::rv_of;
use crate::backend::{BackendClient, BackendError, BackingResource, HELM_RELEASES, Query};
use crate::batch::Batcher;

/// The marker's name.
pub const MARKER_NAME: &str = "cozystack-api-progress";

/// The annotation each write of the marker changes.
pub const MARKER_ANNOTATION: &str = "internal.cozystack.io/progress";

/// The marker of one cache: where it lives and how to write it.
pub struct ProgressMarker {
    writer: Arc<MarkerWriter>,
    batches: Batcher<(), Result<u64, BackendError>>,
}

/// What each write of the marker needs, shared with the task that sends a batch's write.
struct MarkerWriter {
    backend: Arc<dyn BackendClient>,
    resource: BackingResource,
    namespace: String,
    /// The whole object, to create when it is missing.
    object: Value,
    /// Tells this process's writes apart from other replicas' (a write that changes nothing has no new version).
    id: String,
    writes: AtomicU64,
    /// Set while writes fail, so that a failing marker is reported once, not at every read.
    failing: AtomicBool,
}

impl ProgressMarker {
    /// The marker of a cache of `resource` objects matching `selector`, kept in `namespace`; None when this
    /// resource has no marker form or no set of labels satisfies the selector by exact values.
    pub fn new(backend: Arc<dyn BackendClient>, resource: &BackingResource, selector: &str, namespace: &str) -> Option<Self> {
        let object = marker_object(resource, namespace, labels_selected_by(selector)?)?;
        let id = format!("{}-{}", std::process::id(), std::time::SystemTime::UNIX_EPOCH.elapsed().map(|d| d.as_nanos()).unwrap_or_default());
        let writer = MarkerWriter {
            backend,
            resource: resource.clone(),
            namespace: namespace.to_string(),
            object,
            id,
            writes: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        };
        Some(Self { writer: Arc::new(writer), batches: Batcher::default() })
    }

    /// True when `object` is the marker.
    pub fn is(&self, object: &Value) -> bool {
        let meta = &object["metadata"];
        meta["name"] == MARKER_NAME && meta["namespace"] == self.writer.namespace.as_str()
    }

    /// Writes the marker (creating it if it is missing) in a write sent after this call, and answers the
    /// resourceVersion of that write: once the cache's watch has delivered it, the cache holds every change made
    /// before this call.
    pub async fn advance(&self) -> Result<u64, BackendError> {
        let writer = self.writer.clone();
        self.batches.read((), move || async move { writer.write().await }).await
    }
}

impl MarkerWriter {
    /// One write of the marker; its resourceVersion.
    async fn write(&self) -> Result<u64, BackendError> {
        let stamp = format!("{}-{}", self.id, self.writes.fetch_add(1, Ordering::Relaxed));
        // The labels and suspension are written again too: a marker someone relabelled would never come back on
        // the cache's watch, and every consistent read would wait for it in vain.
        let patch = json!({
            "metadata": {"labels": self.object["metadata"]["labels"], "annotations": {MARKER_ANNOTATION: stamp}},
            "spec": {"suspend": true},
        });
        let (backend, resource, namespace) = (&self.backend, &self.resource, self.namespace.as_str());
        let written = match backend.merge_patch(resource, namespace, MARKER_NAME, &patch).await {
            Err(e) if e.code() == Some(404) => {
                let mut object = self.object.clone();
                object["metadata"]["annotations"] = json!({MARKER_ANNOTATION: stamp});
                match backend.create(resource, namespace, &object, &Query::default()).await {
                    // Another replica created it meanwhile.
                    Err(e) if e.code() == Some(409) => backend.merge_patch(resource, namespace, MARKER_NAME, &patch).await,
                    created => created,
                }
            }
            patched => patched,
        };
        let rv = written.and_then(|w| rv_of(&w).ok_or_else(|| BackendError::Transport("the answer has no resourceVersion".into())));
        match &rv {
            Ok(_) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!(namespace, name = MARKER_NAME, "the progress marker is written again; consistent reads are answered from the cache")
            }
            Err(e) if !self.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                namespace, name = MARKER_NAME, error = %e,
                "the progress marker cannot be written; consistent reads of idle caches go to the backend until it can"
            ),
            _ => {}
        }
        rv
    }
}

/// Labels that satisfy `selector`, each requirement pinning its key to one value (`a=b`, `a==b`, `a in (b)`);
/// None for a selector that cannot be read that way (`!=`, `exists`, several values).
fn labels_selected_by(selector: &str) -> Option<Map<String, Value>> {
    let selector = LabelSelector::parse(selector).ok()?;
    let labels: BTreeMap<String, String> =
        selector.requirements().iter().map(|r| selector.exact_value(r.key()).map(|v| (r.key().to_string(), v.to_string()))).collect::<Option<_>>()?;
    // Two requirements on one key (`a=b,a!=b`) may still exclude what the first pins.
    selector.matches(&labels).then(|| labels.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// The marker object of `resource`. Only HelmReleases have one: a suspended release of a chart that does not
/// exist, which Flux leaves alone (its writes change only an annotation, never the generation).
fn marker_object(resource: &BackingResource, namespace: &str, labels: Map<String, Value>) -> Option<Value> {
    (*resource == HELM_RELEASES).then(|| {
        json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": MARKER_NAME, "namespace": namespace, "labels": labels},
            "spec": {"suspend": true, "interval": "24h", "chartRef": {"kind": "HelmChart", "name": MARKER_NAME}},
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selectors_pinning_each_key_to_one_value_give_marker_labels() {
        let labels = labels_selected_by("a.io/group=apps, b==c, d in (e)").unwrap();
        assert_eq!(Value::Object(labels), json!({"a.io/group": "apps", "b": "c", "d": "e"}));
        assert_eq!(labels_selected_by("").unwrap().len(), 0);
        for other in ["a!=b", "a", "a in (b,c)", "!a", "a=b,a!=b", "a=("] {
            assert!(labels_selected_by(other).is_none(), "{other}");
        }
    }
}
