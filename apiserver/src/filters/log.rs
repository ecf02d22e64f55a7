//! One log line and the apiserver_* metrics per request.
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response};

use super::Next;
use super::request_info::info_of;
use crate::authn::UserInfo;
use crate::body::Body;
use crate::server::ServerState;

/// Logs and measures the request.
pub async fn log_and_measure(state: Arc<ServerState>, req: Request<Body>, next: Next) -> Response<Body> {
    let info = info_of(&req);
    let started = Instant::now();
    let inflight = state.metrics.start(&info);
    let resp = next.run(req).await;
    drop(inflight);
    let elapsed = started.elapsed();
    let code = resp.status().as_u16();
    state.metrics.finish(&info, code, elapsed);
    let user = resp.extensions().get::<Arc<UserInfo>>().map(|u| u.name.clone()).unwrap_or_default();
    tracing::info!(
        target: "request",
        user = %user,
        verb = %info.verb,
        resource = %info.resource,
        subresource = %info.subresource,
        namespace = %info.namespace,
        name = %info.name,
        path = %info.path,
        code,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
    );
    resp
}
