//! Test support: a simulated backend (one resource with a global resourceVersion, an event log, compaction and
//! outages), a view of one kind over it, and helpers to read watch streams.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::backend::{BackendError, RawEvent};
use crate::registry::{EventType, ListOptions, ObjectList, ResourceInfo};
use crate::watch_cache::cache::WatchCache;
use crate::watch_cache::entry::{Entry, Key};
use crate::watch_cache::shared::{SharedEvent, SharedEventStream};
use crate::watch_cache::source::{Listing, Source};
use crate::watch_cache::view::{Filter, View};
use crate::watch_cache::{WatchCacheConfig, WatchCaches};

type Sender = mpsc::UnboundedSender<Result<RawEvent, BackendError>>;

#[derive(Default)]
struct Sim {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    log: Vec<(String, Value)>,
    compacted: u64,
    watches: Vec<Sender>,
    watch_calls: Vec<u64>,
    list_calls: usize,
    down: bool,
}

/// A simulated backend resource.
#[derive(Default)]
pub struct Feed(Mutex<Sim>);

fn status(code: u16, reason: &str) -> BackendError {
    BackendError::Status(Box::new(serde_json::from_value(json!({"status": "Failure", "code": code, "reason": reason, "message": reason})).unwrap()))
}

impl Feed {
    fn sim(&self) -> std::sync::MutexGuard<'_, Sim> {
        self.0.lock().unwrap()
    }

    fn emit(sim: &mut Sim, kind: &str, object: Value) {
        sim.log.push((kind.to_string(), object.clone()));
        sim.watches.retain(|w| w.send(Ok((kind.to_string(), object.clone()))).is_ok());
    }

    /// Creates or updates `ns/name` of kind `kind` with `labels` and `spec`; returns its resourceVersion.
    pub fn put(&self, ns: &str, name: &str, kind: &str, labels: &[(&str, &str)], spec: Value) -> u64 {
        let mut sim = self.sim();
        sim.rv += 1;
        let mut l: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        l.insert("kind".into(), kind.into());
        let obj = json!({"apiVersion": "test/v1", "kind": "Thing", "metadata": {"namespace": ns, "name": name, "resourceVersion": sim.rv.to_string(), "labels": l}, "spec": spec});
        let key = (ns.to_string(), name.to_string());
        let kind = if sim.objects.insert(key, obj.clone()).is_some() { "MODIFIED" } else { "ADDED" };
        Self::emit(&mut sim, kind, obj);
        sim.rv
    }

    /// Deletes `ns/name`; returns the deletion's resourceVersion.
    pub fn delete(&self, ns: &str, name: &str) -> u64 {
        let mut sim = self.sim();
        sim.rv += 1;
        let mut obj = sim.objects.remove(&(ns.to_string(), name.to_string())).expect("deleting an object that exists");
        obj["metadata"]["resourceVersion"] = sim.rv.to_string().into();
        Self::emit(&mut sim, "DELETED", obj);
        sim.rv
    }

    /// A write to another resource: the global resourceVersion moves, no event here.
    pub fn elsewhere(&self) -> u64 {
        let mut sim = self.sim();
        sim.rv += 1;
        sim.rv
    }

    /// A BOOKMARK at the current resourceVersion to every live watch.
    pub fn bookmark(&self) {
        let mut sim = self.sim();
        let rv = sim.rv.to_string();
        sim.watches.retain(|w| w.send(Ok(("BOOKMARK".into(), json!({"kind": "Thing", "metadata": {"resourceVersion": rv}})))).is_ok());
    }

    /// Ends every live watch.
    pub fn break_watches(&self) {
        self.sim().watches.clear();
    }

    /// Forgets the history: resuming from before now gets 410.
    pub fn compact(&self) {
        let mut sim = self.sim();
        sim.compacted = sim.rv;
    }

    /// Makes every request fail (or succeed again).
    pub fn set_down(&self, down: bool) {
        let mut sim = self.sim();
        sim.down = down;
        if down {
            sim.watches.clear();
        }
    }

    /// The resourceVersions watches were started from.
    pub fn watch_calls(&self) -> Vec<u64> {
        self.sim().watch_calls.clone()
    }

    /// How many full lists were made.
    pub fn list_calls(&self) -> usize {
        self.sim().list_calls
    }

    /// The backend's current resourceVersion.
    pub fn rv(&self) -> u64 {
        self.sim().rv
    }
}

impl Source for Feed {
    fn list(&self) -> BoxFuture<'_, Result<Listing, BackendError>> {
        Box::pin(async move {
            let mut sim = self.sim();
            if sim.down {
                return Err(BackendError::Transport("down".into()));
            }
            sim.list_calls += 1;
            Ok((sim.objects.values().cloned().filter_map(Entry::listed).collect(), sim.rv))
        })
    }

    fn watch(&self, from: u64) -> BoxFuture<'_, Result<BoxStream<'static, Result<RawEvent, BackendError>>, BackendError>> {
        Box::pin(async move {
            let mut sim = self.sim();
            if sim.down {
                return Err(BackendError::Transport("down".into()));
            }
            sim.watch_calls.push(from);
            if from < sim.compacted {
                return Err(status(410, "Expired"));
            }
            let (tx, rx) = mpsc::unbounded_channel();
            for (kind, obj) in &sim.log {
                if crate::watch_cache::entry::rv_of(obj).unwrap() > from {
                    tx.send(Ok((kind.clone(), obj.clone()))).unwrap();
                }
            }
            sim.watches.push(tx);
            Ok(tokio_stream(rx))
        })
    }

    fn current_rv(&self) -> BoxFuture<'_, Result<u64, BackendError>> {
        Box::pin(async move {
            let sim = self.sim();
            if sim.down { Err(BackendError::Transport("down".into())) } else { Ok(sim.rv) }
        })
    }
}

fn tokio_stream(mut rx: mpsc::UnboundedReceiver<Result<RawEvent, BackendError>>) -> BoxStream<'static, Result<RawEvent, BackendError>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// Objects of one kind (label `kind`), served with that label dropped and `served: true` added.
pub struct KindView {
    id: u64,
    info: ResourceInfo,
    /// How many objects it has parsed and translated (or found not its own).
    pub translations: AtomicU64,
}

impl KindView {
    /// The view of `kind`.
    pub fn new(kind: &str) -> Arc<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(1_000_000);
        let info = ResourceInfo {
            group: "test.io".into(),
            version: "v1".into(),
            plural: format!("{}s", kind.to_lowercase()),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced: true,
            verbs: vec![],
            short_names: vec![],
            categories: vec![],
        };
        Arc::new(Self { id: NEXT.fetch_add(1, Ordering::Relaxed), info, translations: AtomicU64::new(0) })
    }
}

impl View for KindView {
    fn id(&self) -> u64 {
        self.id
    }

    fn info(&self) -> &ResourceInfo {
        &self.info
    }

    fn translate(&self, backing: &Value) -> Option<Value> {
        self.translations.fetch_add(1, Ordering::Relaxed);
        if backing.pointer("/metadata/labels/kind").and_then(Value::as_str) != Some(self.info.kind.as_str()) {
            return None;
        }
        let mut served = backing.clone();
        served["apiVersion"] = "test.io/v1".into();
        served["kind"] = self.info.kind.clone().into();
        served["metadata"]["labels"].as_object_mut().map(|l| l.remove("kind"));
        served["served"] = true.into();
        Some(served)
    }

    fn may_translate(&self, backing_json: &[u8]) -> bool {
        memchr::memmem::find(backing_json, format!("\"kind\":\"{}\"", self.info.kind).as_bytes()).is_some()
    }
}

/// A config for tests: small history, fast timers.
pub fn config(history_size: usize) -> WatchCacheConfig {
    WatchCacheConfig {
        history_size,
        bookmark_interval: Duration::from_millis(100),
        consistent_read_wait: Duration::from_millis(300),
        progress_marker_namespace: None,
        progress_wait: Duration::from_millis(300),
        too_large_wait: Duration::from_millis(200),
        sync_wait: Duration::from_secs(5),
        retry_delay: Duration::from_millis(10),
    }
}

/// A feed and a synced cache over it.
pub async fn cache(history_size: usize) -> (Arc<Feed>, Arc<WatchCache>) {
    let feed = Arc::new(Feed::default());
    let caches = WatchCaches::new(config(history_size));
    let source = feed.clone();
    let cache = caches.get_or_start(("things".into(), String::new(), false), move || source);
    cache.synced().await;
    (feed, cache)
}

/// Watch options from a query string (`resourceVersion=5&allowWatchBookmarks=true&...`).
pub fn opts(query: &str) -> ListOptions {
    let mut o = ListOptions::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap();
        match k {
            "resourceVersion" => o.resource_version = v.into(),
            "resourceVersionMatch" => o.resource_version_match = v.into(),
            "allowWatchBookmarks" => o.allow_watch_bookmarks = v == "true",
            "sendInitialEvents" => o.send_initial_events = Some(v == "true"),
            "timeoutSeconds" => o.timeout_seconds = Some(v.parse().unwrap()),
            "labelSelector" => o.label_selector = apis::selector::LabelSelector::parse(v).unwrap(),
            "fieldSelector" => o.field_selector = apis::selector::FieldSelector::parse(v).unwrap(),
            "limit" => o.limit = v.parse().unwrap(),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// A watch of `view` in `namespace`, whose backend list (if needed) is `fallback`.
pub async fn watch(cache: &WatchCache, view: &Arc<KindView>, namespace: &str, query: &str, fallback: Option<ObjectList>) -> SharedEventStream {
    let view: Arc<dyn View> = view.clone();
    cache
        .watch(
            view,
            namespace,
            &opts(query),
            || async move { fallback.ok_or_else(|| crate::StorageError::Internal("the backend list was not expected".into())) },
        )
        .await
        .unwrap()
}

/// The next event, within five seconds.
pub async fn next(w: &mut SharedEventStream) -> SharedEvent {
    tokio::time::timeout(Duration::from_secs(5), w.next()).await.expect("an event within 5 s").expect("the watch goes on")
}

/// True when nothing comes within 200 ms.
pub async fn quiet(w: &mut SharedEventStream) -> bool {
    tokio::time::timeout(Duration::from_millis(200), w.next()).await.is_err()
}

/// An event as (type, name, resourceVersion).
pub fn brief(e: &SharedEvent) -> (EventType, String, String) {
    let text = |p: &str| e.object.value().pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    (e.event_type, text("/metadata/name"), text("/metadata/resourceVersion"))
}

/// The next `n` events, brief.
pub async fn take(w: &mut SharedEventStream, n: usize) -> Vec<(EventType, String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(brief(&next(w).await));
    }
    out
}

/// The filter of a namespace and label selector.
pub fn filter(namespace: &str, labels: &str) -> Filter {
    Filter::new(namespace, &opts(&format!("labelSelector={labels}")))
}

/// Waits until the cache has every change up to `rv`.
pub async fn caught_up(cache: &WatchCache, rv: u64) {
    let wait = async {
        while cache.rv() < rv {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait).await.expect("the cache catches up within 5 s");
}
