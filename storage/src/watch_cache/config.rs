//! Settings of the watch caches, with the defaults the server starts with.

use std::time::Duration;

/// How big a cache's history is and how its watchers and readers are paced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchCacheConfig {
    /// Events kept per cache. A watch may start from any resourceVersion they cover; older ones get 410 Gone,
    /// and so does a watcher that falls that far behind. Memory grows with it (one old object per event).
    pub history_size: usize,
    /// Time between BOOKMARK events to watchers that allow them (kube-apiserver: about a minute). Watchers with
    /// a timeout also get one two seconds before it, as kube-apiserver sends.
    pub bookmark_interval: Duration,
    /// How long a consistent read (resourceVersion unset) waits for the cache to reach the backend's current
    /// resourceVersion while events are arriving; after that, or at once when the cache is idle, the read is
    /// answered by the backend.
    pub consistent_read_wait: Duration,
    /// Namespace of the progress marker (see [`super::progress`]) of the caches that can have one; None: no
    /// marker, and a consistent read of an idle cache is answered by the backend.
    pub progress_marker_namespace: Option<String>,
    /// How long a consistent read waits for the marker's write to come back on the cache's watch before the
    /// backend answers it instead.
    pub progress_wait: Duration,
    /// How long a watch from a resourceVersion the backend has not reached waits before it fails with
    /// "Too large resource version" (kube-apiserver: 3 s).
    pub too_large_wait: Duration,
    /// How long a watch waits for the cache's first sync before it fails with 503.
    pub sync_wait: Duration,
    /// First delay before retrying a failed backend list or watch; doubles up to 30 s.
    pub retry_delay: Duration,
}

impl Default for WatchCacheConfig {
    fn default() -> Self {
        Self {
            history_size: 10_000,
            bookmark_interval: Duration::from_secs(60),
            consistent_read_wait: Duration::from_millis(100),
            progress_marker_namespace: None,
            progress_wait: Duration::from_secs(1),
            too_large_wait: Duration::from_secs(3),
            sync_wait: Duration::from_secs(30),
            retry_delay: Duration::from_millis(250),
        }
    }
}
