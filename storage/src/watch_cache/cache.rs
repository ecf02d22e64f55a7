//! A watch cache: the state of one backing resource fed by one backend watch, and the reads served from it —
//! lists with kube-apiserver's resourceVersion semantics and watches from any point of its history.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use apis::status::Status;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::WatchCacheConfig;
use super::plan::{self, Freshness, ListPlan, WatchPlan};
use super::shared::{SharedEvent, SharedEventStream, SharedObject};
use super::source::Source;
use super::state::State;
use super::view::{Filter, View};
use super::watcher::{Initial, Pacing, Start, Watcher};
use crate::StorageError;
use crate::registry::{EventType, ListOptions, ObjectList};

/// A consistent read waits for the cache only when an event came in this recently: events are flowing, so the
/// one that brings the cache past the backend's resourceVersion is likely to come soon. An idle cache would wait
/// for nothing, so the read goes to the backend at once.
const ACTIVE: Duration = Duration::from_secs(1);

/// What the feeder and the watchers of one cache share.
pub struct Shared {
    state: RwLock<State>,
    /// Bumped after every change of the state; watchers wait on it.
    pub changed: watch::Sender<u64>,
    /// Settings.
    pub config: WatchCacheConfig,
    /// Where the objects come from.
    pub source: Arc<dyn Source>,
    /// What the cache holds, for logs.
    pub name: String,
}

impl Shared {
    /// A new shared state.
    pub fn new(name: String, source: Arc<dyn Source>, config: WatchCacheConfig) -> Self {
        Self { state: RwLock::new(State::new(config.history_size)), changed: watch::Sender::new(0), config, source, name }
    }

    /// The state, for reading.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The state, for changing; call [`Shared::notify`] after.
    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the watchers and waiters.
    pub fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Waits until `cond` holds, or `deadline`; true when it holds.
    pub async fn wait_for(&self, deadline: Instant, cond: impl Fn(&State) -> bool) -> bool {
        let mut changed = self.changed.subscribe();
        loop {
            changed.borrow_and_update();
            if cond(&self.read()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return cond(&self.read()),
            }
        }
    }
}

/// A watch cache of one backing resource. Dropping it stops its backend watch.
pub struct WatchCache {
    shared: Arc<Shared>,
    feeder: tokio::task::AbortHandle,
}

impl Drop for WatchCache {
    fn drop(&mut self) {
        self.feeder.abort();
    }
}

impl WatchCache {
    /// Starts a cache named `name` (for logs) over `source`.
    pub fn start(name: String, source: Arc<dyn Source>, config: WatchCacheConfig) -> Self {
        let shared = Arc::new(Shared::new(name, source, config));
        let feeder = tokio::spawn(super::reflector::run(shared.clone())).abort_handle();
        Self { shared, feeder }
    }

    /// Returns once the first list is in.
    pub async fn synced(&self) {
        while !self.shared.wait_for(Instant::now() + Duration::from_secs(3600), State::synced).await {}
    }

    /// Every change up to this resourceVersion is in.
    pub fn rv(&self) -> u64 {
        self.shared.read().rv()
    }

    /// True once the first list is in.
    pub fn is_synced(&self) -> bool {
        self.shared.read().synced()
    }

    /// The current objects of every namespace, and the resourceVersion they are current at.
    pub fn objects(&self) -> (Vec<Arc<super::entry::Entry>>, u64) {
        let s = self.shared.read();
        (s.snapshot(""), s.rv())
    }

    /// The cached entry of the backing object `key` if it is at resourceVersion `rv`: its translations can be
    /// reused for a copy of that version read from the backend.
    pub fn entry_at(&self, key: &super::entry::Key, rv: u64) -> Option<Arc<super::entry::Entry>> {
        self.shared.read().get(key).filter(|e| e.rv == rv)
    }

    /// The object of `view` under backing key `key`, for a get with `resource_version`, when the cache may answer
    /// it: `Some(None)` when the cache, recent enough, holds no such object of the view. None when the backend
    /// must answer: a get without resourceVersion (a consistent get: the backend's GET costs less than proving the
    /// cache current), a cache not synced yet, or one not at the version asked (after the short wait lists get).
    pub async fn get(&self, view: &dyn View, key: &super::entry::Key, resource_version: &str) -> Result<Option<Option<SharedObject>>, StorageError> {
        let fresh = match plan::get(resource_version)? {
            Freshness::Consistent => return Ok(None),
            _ if !self.shared.read().synced() => return Ok(None),
            Freshness::Any => true,
            Freshness::AtLeast(n) => self.fresh(n).await,
        };
        if !fresh {
            return Ok(None);
        }
        let entry = self.shared.read().get(key);
        Ok(Some(entry.and_then(|e| e.served(view))))
    }

    /// A receiver that sees every change of the cache.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    async fn current_rv(&self) -> Result<u64, StorageError> {
        self.shared.source.current_rv().await.map_err(StorageError::from)
    }

    /// True when events came in lately (see [`ACTIVE`]).
    fn active(&self) -> bool {
        self.shared.read().last_event().is_some_and(|t| t.elapsed() < ACTIVE)
    }

    /// True when the cache is at `target` or gets there soon (see [`ACTIVE`]).
    async fn fresh(&self, target: u64) -> bool {
        if self.rv() >= target {
            return true;
        }
        let wait = self.shared.config.consistent_read_wait;
        self.active() && !wait.is_zero() && self.shared.wait_for(Instant::now() + wait, |s| s.rv() >= target).await
    }

    /// True when the cache holds every change made before this call, so that a consistent read may be answered
    /// from it; false when the backend must answer.
    ///
    /// With a progress marker, the cache waits for the marker's write to come back on its watch. Without one, it
    /// asks the backend's current resourceVersion and waits for it only while events flow: an idle cache is
    /// almost never at that version (other resources move it), so the backend answers at once.
    async fn caught_up(&self) -> Result<bool, StorageError> {
        match self.shared.source.progress().await {
            Ok(Some(rv)) => return Ok(self.shared.wait_for(Instant::now() + self.shared.config.progress_wait, |s| s.rv() >= rv).await),
            Ok(None) => {}
            // The marker reports its failures; the read goes on as without one.
            Err(e) => tracing::debug!(cache = %self.shared.name, error = %e, "no progress marker for a consistent read"),
        }
        if !self.active() {
            return Ok(false);
        }
        let current = self.current_rv().await?;
        Ok(self.fresh(current).await)
    }

    /// Ok when resourceVersion `n` exists: the cache or the backend has reached it, or the cache reaches it
    /// within [`WatchCacheConfig::too_large_wait`]; otherwise the "Too large resource version" Status.
    async fn reachable(&self, n: u64) -> Result<Result<(), Status>, StorageError> {
        if self.rv() >= n {
            return Ok(Ok(()));
        }
        let current = self.current_rv().await?;
        if n <= current {
            return Ok(Ok(()));
        }
        let deadline = Instant::now() + self.shared.config.too_large_wait;
        if self.shared.wait_for(deadline, |s| s.rv() >= n).await {
            return Ok(Ok(()));
        }
        let current = self.current_rv().await.unwrap_or(current);
        Ok(Err(Status::too_large_resource_version(n, current)))
    }

    /// A list of `view` objects in `namespace` from the cache, or None when the backend must answer (pages,
    /// Exact, or a cache that is not fresh enough).
    pub async fn list(&self, view: &dyn View, namespace: &str, opts: &ListOptions) -> Result<Option<ObjectList>, StorageError> {
        let ListPlan::Cache(freshness) = plan::list(opts)? else {
            return Ok(None);
        };
        if !self.shared.read().synced() {
            return Ok(None);
        }
        let fresh = match freshness {
            Freshness::Any => true,
            Freshness::Consistent => self.caught_up().await?,
            Freshness::AtLeast(n) => self.fresh(n).await,
        };
        if !fresh {
            return Ok(None);
        }
        let (entries, rv) = {
            let s = self.shared.read();
            (s.snapshot(namespace), s.rv())
        };
        let filter = Filter::new(namespace, opts);
        let items = entries.iter().filter_map(|e| e.served(view)).filter(|o| filter.matches(o)).collect();
        Ok(Some(ObjectList { items, resource_version: rv.to_string(), ..Default::default() }))
    }

    /// A watch of `view` objects in `namespace`. `backend_list` answers a consistent list when the initial
    /// state cannot come from the cache. Errors after the options are checked (a resourceVersion too old or too
    /// new) come as one ERROR event, as kube-apiserver sends them.
    pub async fn watch<F, Fut>(&self, view: Arc<dyn View>, namespace: &str, opts: &ListOptions, backend_list: F) -> Result<SharedEventStream, StorageError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<ObjectList, StorageError>>,
    {
        let plan = plan::watch(opts)?;
        let deadline = Instant::now() + self.shared.config.sync_wait;
        if !self.shared.wait_for(deadline, State::synced).await {
            return Err(Status::unavailable(format!("the cache of {} is not ready yet", self.shared.name)).into());
        }
        let start = match self.begin(&plan, namespace, backend_list).await? {
            Ok(start) => start,
            Err(status) => {
                let error = SharedEvent::new(EventType::Error, serde_json::to_value(status).unwrap_or_default());
                return Ok(futures::stream::iter([error]).boxed());
            }
        };
        let pacing = Pacing {
            bookmarks: opts.allow_watch_bookmarks,
            interval: self.shared.config.bookmark_interval,
            deadline: opts.timeout_seconds.filter(|t| *t > 0).map(|t| Instant::now() + Duration::from_secs(t)),
        };
        Ok(Watcher::new(self.shared.clone(), view, Filter::new(namespace, opts), start, pacing).into_stream())
    }

    async fn begin<F, Fut>(&self, plan: &WatchPlan, namespace: &str, backend_list: F) -> Result<Result<Start, Status>, StorageError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<ObjectList, StorageError>>,
    {
        let from = match plan.from {
            Freshness::Any => None,
            // As for lists: the initial state comes from the cache once it is caught up, else from the backend.
            Freshness::Consistent if plan.initial_events => {
                if !self.caught_up().await? {
                    return self.start_from_backend(plan, backend_list).await;
                }
                None
            }
            Freshness::Consistent => Some(self.current_rv().await?),
            Freshness::AtLeast(n) => {
                if let Err(status) = self.reachable(n).await? {
                    return Ok(Err(status));
                }
                Some(n)
            }
        };
        if !plan.initial_events {
            let s = self.shared.read();
            return Ok(match from {
                None => Ok(Start::at(s.end())),
                Some(n) => s.position(n).map(Start::at).map_err(|oldest| Status::too_old_resource_version(n, oldest)),
            });
        }
        if let Some(n) = from
            && !self.fresh(n).await
        {
            return self.start_from_backend(plan, backend_list).await;
        }
        let s = self.shared.read();
        let initial = s.snapshot(namespace).into_iter().map(Initial::Cached).collect();
        Ok(Ok(Start { initial, pos: s.end(), rv: s.rv(), end_bookmark: plan.end_bookmark }))
    }

    /// The cache cannot prove it holds everything a consistent initial state needs: the backend lists it, and the
    /// watch goes on from the list's resourceVersion.
    async fn start_from_backend<F, Fut>(&self, plan: &WatchPlan, backend_list: F) -> Result<Result<Start, Status>, StorageError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<ObjectList, StorageError>>,
    {
        let list = backend_list().await?;
        let rv = plan::parse_rv(&list.resource_version)?;
        let pos = match self.shared.read().position(rv) {
            Ok(pos) => pos,
            Err(oldest) => return Ok(Err(Status::too_old_resource_version(rv, oldest))),
        };
        let initial = list.items.into_iter().map(Initial::Listed).collect();
        Ok(Ok(Start { initial, pos, rv, end_bookmark: plan.end_bookmark }))
    }
}

/// What one cache holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStats {
    /// The backing resource's path (`/apis/helm.toolkit.fluxcd.io/v2/helmreleases`).
    pub path: String,
    /// Current objects.
    pub objects: usize,
    /// Events in the history.
    pub history: usize,
    /// Events the history keeps at most.
    pub capacity: usize,
}

/// What tells caches apart: the resource's path, the label selector, and whether objects are kept whole (with
/// their managedFields).
pub type CacheKey = (String, String, bool);

/// The caches of one backend, one per backing resource and selector, started on first use.
#[derive(Default)]
pub struct WatchCaches {
    config: WatchCacheConfig,
    caches: Mutex<HashMap<CacheKey, Arc<WatchCache>>>,
}

impl WatchCaches {
    /// No caches yet; those started will use `config`.
    pub fn new(config: WatchCacheConfig) -> Self {
        Self { config, caches: Mutex::new(HashMap::new()) }
    }

    /// The settings every cache started here uses.
    pub fn config(&self) -> &WatchCacheConfig {
        &self.config
    }

    /// What each running cache holds, for metrics.
    pub fn stats(&self) -> Vec<CacheStats> {
        let caches: Vec<_> = self.caches.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, c)| (k.0.clone(), c.clone())).collect();
        caches
            .into_iter()
            .map(|(path, cache)| {
                let s = cache.shared.read();
                CacheStats { path, objects: s.len(), history: s.history_len(), capacity: cache.shared.config.history_size }
            })
            .collect()
    }

    /// The cache named `key`, started with the source `make` builds if it is not running yet.
    pub fn get_or_start(&self, key: CacheKey, make: impl FnOnce() -> Arc<dyn Source>) -> Arc<WatchCache> {
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        caches
            .entry(key)
            .or_insert_with_key(|(path, selector, _)| Arc::new(WatchCache::start(format!("{path}?labelSelector={selector}"), make(), self.config.clone())))
            .clone()
    }
}
