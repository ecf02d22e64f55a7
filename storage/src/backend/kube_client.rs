//! The real [`BackendClient`]: raw JSON requests to kube-apiserver through a `kube::Client`.

use futures::future::BoxFuture;
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use serde_json::Value;

use super::{BackendClient, BackendError, BackingResource, Query, RawEventStream};

/// Sends the backend's requests to the cluster `kube::Client` points at.
#[derive(Clone)]
pub struct KubeClient {
    client: kube::Client,
}

impl KubeClient {
    /// Requests through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    async fn call(&self, method: http::Method, uri: String, body: Option<&Value>, content_type: &str) -> Result<Value, BackendError> {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
        let mut req = http::Request::builder().method(method).uri(uri);
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, content_type);
        }
        let req = req.body(bytes).map_err(|e| BackendError::Transport(e.to_string()))?;
        Ok(self.client.request::<Value>(req).await?)
    }
}

const JSON: &str = "application/json";

impl BackendClient for KubeClient {
    fn get<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(self.call(http::Method::GET, r.path(ns, Some(name)), None, JSON))
    }

    fn list<'a>(&'a self, r: &'a BackingResource, ns: &'a str, q: &'a Query) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(self.call(http::Method::GET, format!("{}{}", r.path(ns, None), q.encode()), None, JSON))
    }

    fn create<'a>(&'a self, r: &'a BackingResource, ns: &'a str, obj: &'a Value, q: &'a Query) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(self.call(http::Method::POST, format!("{}{}", r.path(ns, None), q.encode()), Some(obj), JSON))
    }

    fn replace<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str, obj: &'a Value, q: &'a Query) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(self.call(http::Method::PUT, format!("{}{}", r.path(ns, Some(name)), q.encode()), Some(obj), JSON))
    }

    fn merge_patch<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str, patch: &'a Value) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(self.call(http::Method::PATCH, r.path(ns, Some(name)), Some(patch), "application/merge-patch+json"))
    }

    fn delete<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str, options: &'a Value) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(self.call(http::Method::DELETE, r.path(ns, Some(name)), Some(options), JSON))
    }

    fn watch<'a>(&'a self, r: &'a BackingResource, ns: &'a str, q: &'a Query) -> BoxFuture<'a, Result<RawEventStream, BackendError>> {
        Box::pin(async move {
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
        })
    }
}
