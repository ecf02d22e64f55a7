//! Audit-Id: echo the client's, or make one, on every response.
use std::sync::Arc;

use http::{HeaderValue, Request, Response};

use super::Next;
use crate::body::Body;
use crate::server::ServerState;

const AUDIT_ID: &str = "audit-id";

/// Sets the Audit-Id response header.
pub async fn audit_id(_: Arc<ServerState>, req: Request<Body>, next: Next) -> Response<Body> {
    let id = req
        .headers()
        .get(AUDIT_ID)
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("uuid is a valid header"));
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(AUDIT_ID, id);
    resp
}
