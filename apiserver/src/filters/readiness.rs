//! Until the server is ready (authentication settings, definitions and caches loaded), requests other than health
//! checks and metrics get 503 with Retry-After: before that a served kind would be missing (404) or the
//! aggregator's identity unverifiable (401), definite answers for a passing state.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{Request, Response};

use super::Next;
use crate::body::{Body, status};
use crate::server::ServerState;
use apis::status::Status;

/// Paths served before the server is ready.
fn always_served(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    matches!(first, "healthz" | "livez" | "readyz" | "metrics" | "version")
}

/// Answers 503 (Retry-After: 1) until the server is ready.
pub async fn wait_for_ready(state: Arc<ServerState>, req: Request<Body>, next: Next) -> Response<Body> {
    if state.ready.load(Ordering::Relaxed) || always_served(req.uri().path()) {
        return next.run(req).await;
    }
    let mut s = Status::unavailable("the server is starting: its definitions and caches are not loaded yet");
    s.details = Some(apis::status::StatusDetails { retry_after_seconds: Some(1), ..Default::default() });
    status(&s)
}
