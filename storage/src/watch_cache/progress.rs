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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
    backend: Arc<dyn BackendClient>,
    resource: BackingResource,
    namespace: String,
    /// The whole object, to create when it is missing.
    object: Value,
    /// Tells this process's writes apart from other replicas' (a write that changes nothing has no new version).
    writer: String,
    writes: Arc<AtomicU64>,
    /// Set while writes fail, so that a failing marker is reported once, not at every read.
    failing: Arc<AtomicBool>,
    batches: Batcher<(), Result<u64, BackendError>>,
}

impl ProgressMarker {
    /// The marker of a cache of `resource` objects matching `selector`, kept in `namespace`; None when this
    /// resource has no marker form or the selector is not a list of `key=value` labels a marker could carry.
    pub fn new(backend: Arc<dyn BackendClient>, resource: &BackingResource, selector: &str, namespace: &str) -> Option<Self> {
        let labels = equality_labels(selector)?;
        let object = marker_object(resource, namespace, labels)?;
        let writer = format!("{}-{}", std::process::id(), std::time::SystemTime::UNIX_EPOCH.elapsed().map(|d| d.as_nanos()).unwrap_or_default());
        Some(Self {
            backend,
            resource: resource.clone(),
            namespace: namespace.to_string(),
            object,
            writer,
            writes: Arc::default(),
            failing: Arc::default(),
            batches: Batcher::default(),
        })
    }

    /// True when `object` is the marker.
    pub fn is(&self, object: &Value) -> bool {
        let meta = &object["metadata"];
        meta["name"] == MARKER_NAME && meta["namespace"] == self.namespace.as_str()
    }

    /// Writes the marker (creating it if it is missing) in a write sent after this call, and answers the
    /// resourceVersion of that write: once the cache's watch has delivered it, the cache holds every change made
    /// before this call.
    pub async fn advance(&self) -> Result<u64, BackendError> {
        let (backend, resource, namespace, object, writer, writes, failing) = (
            self.backend.clone(),
            self.resource.clone(),
            self.namespace.clone(),
            self.object.clone(),
            self.writer.clone(),
            self.writes.clone(),
            self.failing.clone(),
        );
        self.batches
            .read((), move || async move {
                let stamp = format!("{writer}-{}", writes.fetch_add(1, Ordering::Relaxed));
                // The labels and suspension are written again too: a marker someone relabelled would never come
                // back on the cache's watch, and every consistent read would wait for it in vain.
                let patch = json!({
                    "metadata": {"labels": object["metadata"]["labels"], "annotations": {MARKER_ANNOTATION: stamp}},
                    "spec": {"suspend": true},
                });
                let written = match backend.merge_patch(&resource, &namespace, MARKER_NAME, &patch).await {
                    Err(e) if e.code() == Some(404) => {
                        let mut object = object;
                        object["metadata"]["annotations"] = json!({MARKER_ANNOTATION: stamp});
                        match backend.create(&resource, &namespace, &object, &Query::default()).await {
                            // Another replica created it meanwhile.
                            Err(e) if e.code() == Some(409) => backend.merge_patch(&resource, &namespace, MARKER_NAME, &patch).await,
                            created => created,
                        }
                    }
                    patched => patched,
                };
                let rv = written.and_then(|w| rv_of(&w).ok_or_else(|| BackendError::Transport("the answer has no resourceVersion".into())));
                match &rv {
                    Ok(_) if failing.swap(false, Ordering::Relaxed) => {
                        tracing::info!(namespace = %namespace, name = MARKER_NAME, "the progress marker is written again; consistent reads are answered from the cache")
                    }
                    Err(e) if !failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                        namespace = %namespace, name = MARKER_NAME, error = %e,
                        "the progress marker cannot be written; consistent reads of idle caches go to the backend until it can"
                    ),
                    _ => {}
                }
                rv
            })
            .await
    }
}

/// The labels a selector of `key=value` requirements (or `key==value`) asks for; None for any other form.
fn equality_labels(selector: &str) -> Option<Map<String, Value>> {
    let mut labels = Map::new();
    for requirement in selector.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let (key, value) = requirement.split_once("==").or_else(|| requirement.split_once('='))?;
        if key.ends_with('!') || key.contains(char::is_whitespace) || value.contains(char::is_whitespace) {
            return None;
        }
        labels.insert(key.to_string(), Value::String(value.to_string()));
    }
    Some(labels)
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
    fn only_equality_selectors_give_marker_labels() {
        let labels = equality_labels("a.io/group=apps, b==c").unwrap();
        assert_eq!(Value::Object(labels), json!({"a.io/group": "apps", "b": "c"}));
        assert_eq!(equality_labels("").unwrap().len(), 0);
        for other in ["a!=b", "a", "a in (b)", "!a"] {
            assert!(equality_labels(other).is_none(), "{other}");
        }
    }
}
