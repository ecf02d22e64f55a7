//! The backend: kube-apiserver of the main cluster, reached with raw JSON requests so that every query
//! parameter (resourceVersion, resourceVersionMatch, limit, continue, sendInitialEvents) passes through as sent.
//! Its verbs are the [`BackendClient`] trait: [`KubeClient`] sends them, `testing::FakeBackend` (feature
//! `testing`, and this crate's tests) answers them from memory.

mod kube_client;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde_json::Value;

pub use self::kube_client::KubeClient;
use crate::batch::Batcher;
use crate::watch_cache::{BackendSource, WatchCache, WatchCacheConfig, WatchCaches};

/// A backing resource type (HelmRelease, Secret, Namespace, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackingResource {
    /// API group ("" for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Resource plural.
    pub plural: &'static str,
    /// True when namespaced.
    pub namespaced: bool,
}

/// Flux HelmReleases, the backing of every application kind.
pub const HELM_RELEASES: BackingResource = BackingResource { group: "helm.toolkit.fluxcd.io", version: "v2", plural: "helmreleases", namespaced: true };

impl BackingResource {
    /// The collection URL path, in `namespace` when namespaced and not empty.
    pub fn path(&self, namespace: &str, name: Option<&str>) -> String {
        let mut p = if self.group.is_empty() { format!("/api/{}", self.version) } else { format!("/apis/{}/{}", self.group, self.version) };
        if self.namespaced && !namespace.is_empty() {
            p.push_str("/namespaces/");
            p.push_str(namespace);
        }
        p.push('/');
        p.push_str(self.plural);
        if let Some(n) = name {
            p.push('/');
            p.push_str(n);
        }
        p
    }
}

/// Query parameters for the backend, appended in order.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(&'static str, String)>);

impl Query {
    /// Adds a parameter when the value is not empty.
    pub fn set(mut self, key: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        if !value.is_empty() {
            self.0.push((key, value));
        }
        self
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    /// `?key=value&...`, percent-encoded; empty without parameters.
    pub fn encode(&self) -> String {
        let mut ser = form_urlencoded_pairs(&self.0);
        if !ser.is_empty() {
            ser.insert(0, '?');
        }
        ser
    }
}

fn form_urlencoded_pairs(pairs: &[(&'static str, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect::<Vec<_>>().join("&")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A backend failure: the backend's Status when it answered, or a transport error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// The backend answered with a Status.
    #[error("{}", .0.message)]
    Status(Box<kube::core::Status>),
    /// It could not be reached, or answered nonsense.
    #[error("{0}")]
    Transport(String),
}

impl BackendError {
    /// The HTTP code of a Status answer.
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Status(s) => Some(s.code),
            Self::Transport(_) => None,
        }
    }

    /// The reason of a Status answer.
    pub fn reason(&self) -> &str {
        match self {
            Self::Status(s) => &s.reason,
            Self::Transport(_) => "",
        }
    }
}

impl From<kube::Error> for BackendError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => Self::Status(s),
            other => Self::Transport(other.to_string()),
        }
    }
}

/// One raw watch event of the backend.
pub type RawEvent = (String, Value);

/// A stream of raw watch events; it ends when the backend ends the watch.
pub type RawEventStream = BoxStream<'static, Result<RawEvent, BackendError>>;

/// The requests made of the backing kube-apiserver, raw JSON in and out. [`KubeClient`] sends them to the
/// cluster; `testing::FakeBackend` answers them from memory, as kube-apiserver would, for unit tests.
pub trait BackendClient: Send + Sync + 'static {
    /// GET one object.
    fn get<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str) -> BoxFuture<'a, Result<Value, BackendError>>;

    /// LIST with the given query.
    fn list<'a>(&'a self, r: &'a BackingResource, ns: &'a str, q: &'a Query) -> BoxFuture<'a, Result<Value, BackendError>>;

    /// POST a new object.
    fn create<'a>(&'a self, r: &'a BackingResource, ns: &'a str, obj: &'a Value, q: &'a Query) -> BoxFuture<'a, Result<Value, BackendError>>;

    /// PUT an object.
    fn replace<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str, obj: &'a Value, q: &'a Query) -> BoxFuture<'a, Result<Value, BackendError>>;

    /// PATCH an object with a JSON merge patch (RFC 7386).
    fn merge_patch<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str, patch: &'a Value) -> BoxFuture<'a, Result<Value, BackendError>>;

    /// DELETE an object with a DeleteOptions body; answers the object or a Status.
    fn delete<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str, options: &'a Value) -> BoxFuture<'a, Result<Value, BackendError>>;

    /// WATCH: a stream of (type, object) pairs that ends when the backend ends the watch.
    fn watch<'a>(&'a self, r: &'a BackingResource, ns: &'a str, q: &'a Query) -> BoxFuture<'a, Result<RawEventStream, BackendError>>;
}

/// The backend every registry uses: a [`BackendClient`] (its verbs are reached through `Deref`), with the
/// watch caches reads are served from. Clones share both.
#[derive(Clone)]
pub struct Backend {
    client: Arc<dyn BackendClient>,
    caches: Arc<WatchCaches>,
    lists: Arc<Batcher<String, Result<Arc<Value>, BackendError>>>,
}

impl Backend {
    /// A backend using `client`, with watch caches of the default size.
    pub fn new(client: kube::Client) -> Self {
        Self::with_watch_caches(client, WatchCacheConfig::default())
    }

    /// A backend using `client`, with watch caches configured by `config`.
    pub fn with_watch_caches(client: kube::Client, config: WatchCacheConfig) -> Self {
        Self::over(Arc::new(KubeClient::new(client)), config)
    }

    /// A backend over any client (a fake one in tests), with watch caches configured by `config`.
    pub fn over(client: Arc<dyn BackendClient>, config: WatchCacheConfig) -> Self {
        Self { client, caches: Arc::new(WatchCaches::new(config)), lists: Arc::default() }
    }

    /// The watch cache of the `resource` objects matching `selector` in all namespaces, started on first use and
    /// shared by every caller of this backend (and its clones).
    ///
    /// The cached objects lack `metadata.managedFields`: the backend's own bookkeeping, a third of a HelmRelease,
    /// that no served object or observation shows (a served object's managedFields live in an annotation).
    pub fn watch_cache(&self, resource: &BackingResource, selector: &str) -> Arc<WatchCache> {
        self.cache_of(resource, selector, false)
    }

    /// As [`Backend::watch_cache`], with the objects whole: for objects handed on as they are (the
    /// `namespaceObject` and `params` of admission policies).
    pub fn watch_cache_of_whole_objects(&self, resource: &BackingResource, selector: &str) -> Arc<WatchCache> {
        self.cache_of(resource, selector, true)
    }

    fn cache_of(&self, resource: &BackingResource, selector: &str, whole: bool) -> Arc<WatchCache> {
        self.caches.get_or_start((resource.path("", None), selector.to_string(), whole), || {
            let source = BackendSource::new(self.client.clone(), resource.clone(), selector.to_string()).keeping_managed_fields(whole);
            Arc::new(match &self.caches.config().progress_marker_namespace {
                Some(namespace) => source.with_progress_marker(namespace),
                None => source,
            })
        })
    }

    /// LIST, as [`BackendClient::list`], batched with the identical lists asked at the same time (see
    /// [`crate::batch`]): each caller gets an answer read after it asked, shared with the others.
    pub async fn list_batched(&self, r: &BackingResource, ns: &str, q: &Query) -> Result<Arc<Value>, BackendError> {
        let key = format!("{}{}", r.path(ns, None), q.encode());
        let (client, r, ns, q) = (self.client.clone(), r.clone(), ns.to_string(), q.clone());
        self.lists.read(key, move || async move { client.list(&r, &ns, &q).await.map(Arc::new) }).await
    }

    /// What each running watch cache holds.
    pub fn watch_cache_stats(&self) -> Vec<crate::watch_cache::CacheStats> {
        self.caches.stats()
    }

    /// The settings of the watch caches, which other watches (TenantNamespace) follow too.
    pub fn watch_cache_config(&self) -> &WatchCacheConfig {
        self.caches.config()
    }
}

impl std::ops::Deref for Backend {
    type Target = dyn BackendClient;

    fn deref(&self) -> &Self::Target {
        &*self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries() {
        assert_eq!(HELM_RELEASES.path("tenant-root", Some("postgres-db")), "/apis/helm.toolkit.fluxcd.io/v2/namespaces/tenant-root/helmreleases/postgres-db");
        assert_eq!(HELM_RELEASES.path("", None), "/apis/helm.toolkit.fluxcd.io/v2/helmreleases");
        let secrets = BackingResource { group: "", version: "v1", plural: "secrets", namespaced: true };
        assert_eq!(secrets.path("a", None), "/api/v1/namespaces/a/secrets");
        let q = Query::default().set("labelSelector", "a=b,c in (x y)").set("limit", "").set("resourceVersion", "0");
        assert_eq!(q.encode(), "?labelSelector=a%3Db%2Cc%20in%20%28x%20y%29&resourceVersion=0");
    }
}
