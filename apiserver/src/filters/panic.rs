//! A panic in a handler becomes a 500 Status instead of a dropped connection.
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use http::{Request, Response};

use super::Next;
use crate::body::{Body, status};
use crate::server::ServerState;

/// Catches panics of everything behind it.
pub async fn recover(_: Arc<ServerState>, req: Request<Body>, next: Next) -> Response<Body> {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(resp) => resp,
        Err(panic) => {
            let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
            tracing::error!(%method, %path, panic = %what, "handler panicked");
            status(&apis::status::Status::internal("the server could not complete the request"))
        }
    }
}
