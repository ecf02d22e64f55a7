//! One log line and the apiserver_* metrics per request.
//!
//! The line is a debug event with target `request`; `--access-log` makes it an info event. kube-apiserver
//! logs requests only at a higher verbosity (`-v=3`), and a line per request at info costs formatting and a
//! write to standard error on every call.
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
    // The level of a tracing event is fixed where it is written, hence one macro call per level.
    macro_rules! request_line {
        ($event:ident) => {
            tracing::$event!(
                target: "request",
                user = %resp.extensions().get::<Arc<UserInfo>>().map(|u| u.name.as_str()).unwrap_or_default(),
                verb = %info.verb,
                resource = %info.resource,
                subresource = %info.subresource,
                namespace = %info.namespace,
                name = %info.name,
                path = %info.path,
                code,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
            )
        };
    }
    if state.access_log {
        request_line!(info);
    } else {
        request_line!(debug);
    }
    resp
}
