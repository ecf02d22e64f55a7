//! The backend: kube-apiserver of the main cluster, reached with raw JSON requests so that every query
//! parameter (resourceVersion, resourceVersionMatch, limit, continue, sendInitialEvents) passes through as sent.

use std::sync::Arc;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use serde_json::Value;

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

    fn encode(&self) -> String {
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
#[derive(Debug, thiserror::Error)]
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

/// A client for backing resources, with the watch caches reads are served from.
#[derive(Clone)]
pub struct Backend {
    client: kube::Client,
    caches: Arc<WatchCaches>,
}

/// One raw watch event of the backend.
pub type RawEvent = (String, Value);

impl Backend {
    /// A backend using `client`, with watch caches of the default size.
    pub fn new(client: kube::Client) -> Self {
        Self::with_watch_caches(client, WatchCacheConfig::default())
    }

    /// A backend using `client`, with watch caches configured by `config`.
    pub fn with_watch_caches(client: kube::Client, config: WatchCacheConfig) -> Self {
        Self { client, caches: Arc::new(WatchCaches::new(config)) }
    }

    /// The watch cache of the `resource` objects matching `selector` in all namespaces, started on first use and
    /// shared by every caller of this backend (and its clones).
    pub fn watch_cache(&self, resource: &BackingResource, selector: &str) -> Arc<WatchCache> {
        self.caches.get_or_start((resource.path("", None), selector.to_string()), || {
            Arc::new(BackendSource::new(Backend::new(self.client.clone()), resource.clone(), selector.to_string()))
        })
    }

    /// The underlying client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    async fn call(&self, method: http::Method, uri: String, body: Option<&Value>) -> Result<Value, BackendError> {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
        let mut req = http::Request::builder().method(method).uri(uri);
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(bytes).map_err(|e| BackendError::Transport(e.to_string()))?;
        Ok(self.client.request::<Value>(req).await?)
    }

    /// GET one object.
    pub async fn get(&self, r: &BackingResource, ns: &str, name: &str) -> Result<Value, BackendError> {
        self.call(http::Method::GET, r.path(ns, Some(name)), None).await
    }

    /// LIST with the given query.
    pub async fn list(&self, r: &BackingResource, ns: &str, q: &Query) -> Result<Value, BackendError> {
        self.call(http::Method::GET, format!("{}{}", r.path(ns, None), q.encode()), None).await
    }

    /// POST a new object.
    pub async fn create(&self, r: &BackingResource, ns: &str, obj: &Value, q: &Query) -> Result<Value, BackendError> {
        self.call(http::Method::POST, format!("{}{}", r.path(ns, None), q.encode()), Some(obj)).await
    }

    /// PUT an object.
    pub async fn replace(&self, r: &BackingResource, ns: &str, name: &str, obj: &Value, q: &Query) -> Result<Value, BackendError> {
        self.call(http::Method::PUT, format!("{}{}", r.path(ns, Some(name)), q.encode()), Some(obj)).await
    }

    /// DELETE an object with a DeleteOptions body; answers the object or a Status.
    pub async fn delete(&self, r: &BackingResource, ns: &str, name: &str, options: &Value) -> Result<Value, BackendError> {
        self.call(http::Method::DELETE, r.path(ns, Some(name)), Some(options)).await
    }

    /// WATCH: a stream of (type, object) pairs that ends when the backend ends the watch.
    pub async fn watch(
        &self,
        r: &BackingResource,
        ns: &str,
        q: &Query,
    ) -> Result<futures::stream::BoxStream<'static, Result<RawEvent, BackendError>>, BackendError> {
        let q = q.clone().set("watch", "true");
        let req = http::Request::get(format!("{}{}", r.path(ns, None), q.encode())).body(Vec::new()).map_err(|e| BackendError::Transport(e.to_string()))?;
        let reader = self.client.request_stream(req).await?;
        let lines = reader.lines().map_err(|e| BackendError::Transport(e.to_string()));
        Ok(lines
            .try_filter(|l| futures::future::ready(!l.trim().is_empty()))
            .and_then(|line| async move {
                let mut v: Value = serde_json::from_str(&line).map_err(|e| BackendError::Transport(format!("bad watch event: {e}")))?;
                let t = v.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
                Ok((t, v.get_mut("object").map(Value::take).unwrap_or_default()))
            })
            .boxed())
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
