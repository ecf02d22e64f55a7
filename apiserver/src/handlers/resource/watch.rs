//! Watch responses: newline-delimited JSON events streamed as they come, ended by the backend, the
//! client's timeoutSeconds, the server's own limit, or shutdown.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::json;
use storage::registry::{EventType, Registry, SharedEventStream};

use super::encode::Encoder;
use crate::body::Body;
use crate::metrics::WatcherLabels;
use crate::negotiate::Representation;
use crate::server::ServerState;

/// Longest a watch may run when the client gives no timeout (k8s.io/apiserver picks 30 to 60 minutes).
const MAX_WATCH: Duration = Duration::from_secs(1800);

struct WatcherGuard(Gauge);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Streams `events` to the client.
pub fn respond(state: &Arc<ServerState>, registry: Arc<dyn Registry>, events: SharedEventStream, encoder: Encoder<'_>, timeout: Option<u64>) -> Response<Body> {
    let info = registry.info().clone();
    let gauge =
        state.metrics.watchers.get_or_create(&WatcherLabels { group: info.group.clone(), version: info.version.clone(), kind: info.kind.clone() }).clone();
    gauge.inc();
    let guard = WatcherGuard(gauge);
    let limit = timeout.map(Duration::from_secs).unwrap_or(MAX_WATCH).min(MAX_WATCH);
    let deadline = tokio::time::sleep(limit);
    let mut shutdown = state.shutdown.clone();
    let stopped = async move {
        tokio::select! {
            _ = deadline => {},
            _ = shutdown.wait_for(|s| *s) => {},
        }
    };
    let repr = encoder.repr;
    let include = encoder.include_object.to_string();
    let mut first = true;
    let frames = events.take_until(Box::pin(stopped)).map(move |e| {
        let _keep = &guard;
        let line = if repr == Representation::Json || matches!(e.event_type, EventType::Error | EventType::Bookmark) {
            // The object as it is: its JSON is made once and shared by every watcher that gets it.
            e.json_line()
        } else {
            let enc = Encoder { repr, include_object: &include };
            let object = enc.event_object(&*registry, &e.object.value(), first);
            first = false;
            let mut line = serde_json::to_vec(&json!({"type": e.event_type.as_str(), "object": object})).unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        };
        Ok::<_, crate::body::BoxError>(Frame::data(line))
    });
    let mut r = Response::new(StreamBody::new(frames).boxed_unsync());
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}
