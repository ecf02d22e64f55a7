//! Limits that keep the server responsive: requests in flight, request time and request body size.
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use tokio::sync::Semaphore;

use super::Next;
use super::request_info::info_of;
use crate::body::{Body, status};
use crate::server::ServerState;
use apis::status::Status;

/// The configured limits.
#[derive(Debug)]
pub struct Limits {
    /// Non-mutating requests in flight (watches excluded).
    pub readonly: Arc<Semaphore>,
    /// Mutating requests in flight.
    pub mutating: Arc<Semaphore>,
    /// Time a non-long-running request may take.
    pub request_timeout: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

impl Limits {
    /// Limits with the given numbers.
    pub fn new(max_readonly: usize, max_mutating: usize, request_timeout: Duration, max_body_bytes: usize) -> Self {
        Self { readonly: Arc::new(Semaphore::new(max_readonly)), mutating: Arc::new(Semaphore::new(max_mutating)), request_timeout, max_body_bytes }
    }
}

fn is_mutating(verb: &str) -> bool {
    matches!(verb, "create" | "update" | "patch" | "delete" | "deletecollection" | "post" | "put")
}

/// Answers 429 with Retry-After when too many requests are in flight; watches are long-running and not counted.
pub async fn in_flight(state: Arc<ServerState>, req: Request<Body>, next: Next) -> Response<Body> {
    let info = info_of(&req);
    if info.verb == "watch" {
        return next.run(req).await;
    }
    let pool = if is_mutating(&info.verb) { &state.limits.mutating } else { &state.limits.readonly };
    let Ok(_permit) = pool.clone().try_acquire_owned() else {
        return status(&Status::too_many_requests("Too many requests, please try again later.", 1));
    };
    next.run(req).await
}

/// Answers 504 when a request (other than a watch) takes longer than the limit.
pub async fn timeout(state: Arc<ServerState>, req: Request<Body>, next: Next) -> Response<Body> {
    if info_of(&req).verb == "watch" {
        return next.run(req).await;
    }
    match tokio::time::timeout(state.limits.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => status(&Status::timeout("request did not complete within the allowed duration")),
    }
}

/// Answers 413 when the body is larger than the limit (by Content-Length, or while it is read). The rest of an
/// oversized body is read and dropped before answering: a proxy in front (the aggregator) that is still sending it
/// would otherwise see its request fail and lose the answer. Reading is bounded by the request timeout.
pub async fn body_size(state: Arc<ServerState>, req: Request<Body>, next: Next) -> Response<Body> {
    let max = state.limits.max_body_bytes;
    let (parts, mut body) = req.into_parts();
    let declared = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let mut bytes = bytes::BytesMut::new();
    let mut too_large = declared.is_some_and(|n| n > max);
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                let Some(data) = f.data_ref() else { continue };
                too_large = too_large || bytes.len() + data.len() > max;
                if too_large {
                    bytes = bytes::BytesMut::new();
                } else {
                    bytes.extend_from_slice(data);
                }
            }
            Err(e) => return status(&Status::bad_request(format!("reading the request body: {e}"))),
        }
    }
    if too_large {
        // kube-apiserver's words for the same limit.
        return status(&Status::too_large(format!("Request entity too large: limit is {max}")));
    }
    next.run(Request::from_parts(parts, crate::body::full(bytes.freeze()))).await
}
