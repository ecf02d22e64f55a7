//! gzip of large responses, as kube-apiserver's APIResponseCompression (on by default) does it.
//!
//! kube-apiserver (k8s.io/apiserver/pkg/endpoints/handlers/responsewriters) gzips a response when the request's
//! `Accept-Encoding` lists `gzip` and the body is larger than 128 KiB, at compression level 1, and then sets
//! `Content-Encoding: gzip` and adds `Vary: Accept-Encoding`. Watches are never compressed. Here the body is
//! read until it passes the threshold or ends: a small streamed body is therefore held (at most 128 KiB plus
//! one frame) until it ends, a large one is compressed frame by frame as it streams, in slices of
//! [`SLICE_BYTES`] so that a body of many megabytes neither waits whole in memory nor holds a worker thread
//! for the time its compression takes. kube-apiserver decides on its first write (or on the writes it
//! buffered when the first one is a streaming encoder's few bytes); deciding on the total size gives the same
//! answer for every response it serves.
use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Body as _, Frame};

use super::Next;
use super::request_info::info_of;
use crate::body::{Body, BoxError};
use crate::server::ServerState;

/// Bodies larger than this are compressed (kube-apiserver's `defaultGzipThresholdBytes`).
pub const GZIP_THRESHOLD_BYTES: usize = 128 * 1024;
/// kube-apiserver's `gzipContentEncodingLevel`: the fastest level, with ratios close to the best ones.
const GZIP_LEVEL: u32 = 1;
/// Input compressed per step of the body stream.
const SLICE_BYTES: usize = 64 * 1024;

/// Whether the client accepts gzip: kube-apiserver's test, one of the comma-separated tokens of the first
/// `Accept-Encoding` header is exactly `gzip`.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|token| token.trim() == "gzip"))
}

/// Compresses the response when the client accepts gzip and the body is large enough.
pub async fn gzip(_: Arc<ServerState>, req: Request<Body>, next: Next) -> Response<Body> {
    let eligible = accepts_gzip(req.headers()) && info_of(&req).verb != "watch";
    let resp = next.run(req).await;
    if !eligible || resp.status() == StatusCode::SWITCHING_PROTOCOLS || resp.headers().contains_key(header::CONTENT_ENCODING) {
        return resp;
    }
    let (mut parts, mut body) = resp.into_parts();
    if body.size_hint().upper().is_some_and(|n| n <= GZIP_THRESHOLD_BYTES as u64) {
        return Response::from_parts(parts, body);
    }

    // Read until the threshold is passed or the body ends.
    let mut head = BytesMut::new();
    let mut after_head: VecDeque<Result<Frame<Bytes>, BoxError>> = VecDeque::new();
    let mut rest = Some(body);
    while head.len() <= GZIP_THRESHOLD_BYTES {
        let Some(b) = rest.as_mut() else { break };
        match b.frame().await {
            None => rest = None,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => head.extend_from_slice(&data),
                // Trailers end the data.
                Err(other) => {
                    after_head.push_back(Ok(other));
                    rest = None;
                }
            },
            Some(Err(e)) => {
                after_head.push_back(Err(e));
                rest = None;
            }
        }
    }
    body = match rest {
        None => body_of(head.freeze(), after_head),
        // The loop left the body unfinished: the threshold is passed.
        Some(rest) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            gzipped(head.freeze(), rest)
        }
    };
    Response::from_parts(parts, body)
}

/// `head`, then the frames `after`.
fn body_of(head: Bytes, after: VecDeque<Result<Frame<Bytes>, BoxError>>) -> Body {
    let first = (!head.is_empty()).then(|| Ok(Frame::data(head)));
    StreamBody::new(futures::stream::iter(first.into_iter().chain(after))).boxed_unsync()
}

/// The state of a body being compressed.
struct Gzipping {
    encoder: Option<GzEncoder<Vec<u8>>>,
    /// Input not compressed yet.
    input: Bytes,
    rest: Option<Body>,
    /// Frames to send once the compressed data is finished (trailers, an error).
    after: VecDeque<Result<Frame<Bytes>, BoxError>>,
}

impl Gzipping {
    /// The next frame of the compressed body.
    async fn next(&mut self) -> Option<Result<Frame<Bytes>, BoxError>> {
        loop {
            let Some(encoder) = self.encoder.as_mut() else { return self.after.pop_front() };
            if !self.input.is_empty() {
                let slice = self.input.split_to(self.input.len().min(SLICE_BYTES));
                if let Err(e) = encoder.write_all(&slice) {
                    self.encoder = None;
                    return Some(Err(e.into()));
                }
                let out = std::mem::take(encoder.get_mut());
                if !out.is_empty() {
                    return Some(Ok(Frame::data(out.into())));
                }
                continue;
            }
            let frame = match self.rest.as_mut() {
                Some(rest) => rest.frame().await,
                None => None,
            };
            match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.input = data,
                    Err(other) => {
                        self.after.push_back(Ok(other));
                        self.rest = None;
                    }
                },
                Some(Err(e)) => {
                    // The client sees the stream break; a proper gzip end would claim the data was complete.
                    self.encoder = None;
                    self.rest = None;
                    return Some(Err(e));
                }
                None => {
                    self.rest = None;
                    let encoder = self.encoder.take()?;
                    return Some(encoder.finish().map(|out| Frame::data(out.into())).map_err(Into::into));
                }
            }
        }
    }
}

fn gzipped(head: Bytes, rest: Body) -> Body {
    let state = Gzipping { encoder: Some(GzEncoder::new(Vec::new(), Compression::new(GZIP_LEVEL))), input: head, rest: Some(rest), after: VecDeque::new() };
    let frames = futures::stream::unfold(state, |mut s| async move { s.next().await.map(|f| (f, s)) });
    StreamBody::new(frames).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_accepted_as_kube_apiserver_reads_the_header() {
        let accepts = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        assert!(accepts("gzip"));
        assert!(accepts("deflate, gzip"));
        assert!(accepts(" gzip ,br"));
        assert!(!accepts("br"));
        assert!(!accepts("gzip;q=1.0"), "kube-apiserver compares whole tokens");
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
