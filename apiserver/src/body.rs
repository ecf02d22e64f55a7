//! The body type of every request and response, and helpers to build JSON and Status responses.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};

/// Error type of body streams.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
/// The body of requests and responses in the pipeline (full or streaming).
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// A response with the given code, content type and bytes.
pub fn respond(code: StatusCode, content_type: &'static str, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(bytes));
    *r.status_mut() = code;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A JSON response.
pub fn json(code: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => respond(code, "application/json", bytes),
        Err(e) => status(&apis::status::Status::internal(format!("encoding the response: {e}"))),
    }
}

/// A Status response whose HTTP code is the Status code.
pub fn status(s: &apis::status::Status) -> Response<Body> {
    let code = StatusCode::from_u16(s.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = respond(code, "application/json", s.to_json());
    if let Some(secs) = s.details.as_ref().and_then(|d| d.retry_after_seconds) {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}
