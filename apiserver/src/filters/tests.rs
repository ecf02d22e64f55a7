//! The filter chain in front of a stand-in handler: every protective filter answers with a Status.
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::authn::{AuthenticationConfig, Authenticator};
use crate::authz::Authorizer;
use crate::body::{self, Body};
use crate::server::ServerState;

fn state(limits: Limits) -> Arc<ServerState> {
    let state = unready_state(limits);
    state.ready.store(true, std::sync::atomic::Ordering::Relaxed);
    state
}

fn unready_state(limits: Limits) -> Arc<ServerState> {
    state_with(limits, false)
}

fn state_with(limits: Limits, access_log: bool) -> Arc<ServerState> {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    Arc::new(ServerState {
        authenticator: Authenticator::new(Arc::new(ArcSwap::from_pointee(AuthenticationConfig::default())), None, true),
        authorizer: Authorizer::new(None, vec![], Duration::from_secs(1), Duration::from_secs(1)),
        admission: Default::default(),
        limits,
        metrics: Default::default(),
        catalog: Arc::new(storage::catalog::Catalog::new(vec![])),
        discovery: Default::default(),
        openapi: Default::default(),
        shutdown: rx,
        ready: Default::default(),
        access_log,
    })
}

fn chain<F, Fut>(limits: Limits, handler: F) -> HttpService
where
    F: Fn(Request<Body>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let svc = HttpService::new(tower::service_fn(move |req| {
        let h = handler.clone();
        async move { Ok::<_, std::convert::Infallible>(h(req).await) }
    }));
    build_handler_chain(state(limits), svc)
}

fn limits() -> Limits {
    Limits::new(10, 10, Duration::from_secs(5), 16)
}

async fn status_of(resp: Response<Body>) -> (StatusCode, serde_json::Value) {
    let code = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(body::empty()).unwrap()
}

#[tokio::test]
async fn a_panic_becomes_a_500_status_with_an_audit_id() {
    let svc = chain(limits(), |_req| async { panic!("boom") });
    let resp = svc.oneshot(get("/apis/apps.cozystack.io/v1alpha1/namespaces/a/postgreses")).await.unwrap();
    assert!(resp.headers().contains_key("audit-id"));
    let (code, s) = status_of(resp).await;
    assert_eq!(code, 500);
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["reason"], "InternalError");
}

#[tokio::test]
async fn the_audit_id_of_the_client_is_echoed() {
    let svc = chain(limits(), |_req| async { body::respond(StatusCode::OK, "text/plain", "ok") });
    let req = Request::get("/healthz").header("audit-id", "abc-123").body(body::empty()).unwrap();
    let resp = svc.oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["audit-id"], "abc-123");
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let svc = chain(limits(), |_req| async { body::respond(StatusCode::OK, "text/plain", "ok") });
    let big = Request::post("/apis/apps.cozystack.io/v1alpha1/namespaces/a/postgreses").body(body::full(vec![b'x'; 17])).unwrap();
    let (code, s) = status_of(svc.clone().oneshot(big).await.unwrap()).await;
    assert_eq!(code, 413);
    assert_eq!(s["reason"], "RequestEntityTooLarge");
    let small = Request::post("/apis/apps.cozystack.io/v1alpha1/namespaces/a/postgreses").body(body::full(vec![b'x'; 16])).unwrap();
    assert_eq!(svc.oneshot(small).await.unwrap().status(), 200);
}

#[tokio::test]
async fn an_oversized_body_is_read_to_its_end_before_the_413() {
    use futures::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let svc = chain(limits(), |_req| async { body::respond(StatusCode::OK, "text/plain", "not reached") });
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let frames = futures::stream::iter(0..100).map(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok::<_, body::BoxError>(hyper::body::Frame::data(bytes::Bytes::from_static(b"0123456789")))
    });
    let streamed = http_body_util::StreamBody::new(frames).boxed_unsync();
    let req = Request::post("/apis/apps.cozystack.io/v1alpha1/namespaces/a/postgreses").body(streamed).unwrap();
    let (code, s) = status_of(svc.oneshot(req).await.unwrap()).await;
    assert_eq!(code, 413);
    assert_eq!(s["message"], "Request entity too large: limit is 16");
    assert_eq!(sent.load(Ordering::SeqCst), 100, "every frame was read, so a proxy still sending gets the answer");
}

#[tokio::test]
async fn too_many_requests_in_flight_get_429_with_retry_after() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    // Only the request marked "hold" waits at the gate; the others answer at once.
    let svc = chain(Limits::new(1, 1, Duration::from_secs(5), 1024), move |req: Request<Body>| {
        let g = g.clone();
        async move {
            if req.headers().contains_key("hold") {
                g.notified().await;
            }
            body::respond(StatusCode::OK, "text/plain", "ok")
        }
    });
    let path = "/apis/apps.cozystack.io/v1alpha1/postgreses";
    let held = Request::get(path).header("hold", "1").body(body::empty()).unwrap();
    let first = tokio::spawn(svc.clone().oneshot(held));
    // Until the held request has taken the only permit, others pass; then they are refused.
    let mut second = svc.clone().oneshot(get(path)).await.unwrap();
    while second.status() != 429 {
        tokio::task::yield_now().await;
        second = svc.clone().oneshot(get(path)).await.unwrap();
    }
    assert_eq!(second.headers()["retry-after"], "1");
    let (_, s) = status_of(second).await;
    assert_eq!(s["reason"], "TooManyRequests");
    gate.notify_one();
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_slow_request_gets_504_but_a_watch_does_not() {
    let svc = chain(Limits::new(10, 10, Duration::from_secs(1), 1024), |_req| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        body::respond(StatusCode::OK, "text/plain", "ok")
    });
    let (code, s) = status_of(svc.clone().oneshot(get("/apis/apps.cozystack.io/v1alpha1/postgreses")).await.unwrap()).await;
    assert_eq!(code, 504);
    assert_eq!(s["reason"], "Timeout");
    let watch = svc.oneshot(get("/apis/apps.cozystack.io/v1alpha1/postgreses?watch=1")).await.unwrap();
    assert_eq!(watch.status(), 200);
}

#[tokio::test]
async fn before_ready_requests_get_503_with_retry_after_and_health_checks_pass() {
    let svc = HttpService::new(tower::service_fn(|_req| async { Ok::<_, std::convert::Infallible>(body::respond(StatusCode::OK, "text/plain", "ok")) }));
    let state = unready_state(limits());
    let svc = build_handler_chain(state.clone(), svc);
    let resp = svc.clone().oneshot(get("/apis/apps.cozystack.io/v1alpha1/namespaces/tenant-a/postgreses")).await.unwrap();
    assert_eq!(resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()), Some("1".into()));
    let (code, s) = status_of(resp).await;
    assert_eq!((code, s["reason"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("ServiceUnavailable")));
    assert!(s["message"].as_str().unwrap().contains("starting"), "{s}");
    let (code, _) = status_of(svc.clone().oneshot(get("/readyz")).await.unwrap()).await;
    assert_eq!(code, StatusCode::OK);
    state.ready.store(true, std::sync::atomic::Ordering::Relaxed);
    let (code, _) = status_of(svc.oneshot(get("/apis/apps.cozystack.io/v1alpha1/namespaces/tenant-a/postgreses")).await.unwrap()).await;
    assert_ne!(code, StatusCode::SERVICE_UNAVAILABLE);
}

/// Found by fuzzing: an unknown health check was answered in plain text; every rejection is a Status.
#[tokio::test]
async fn an_unknown_health_check_is_a_404_status_naming_the_checks() {
    let state = state(limits());
    let req = get("/healthz/status");
    let (code, s) = status_of(crate::handlers::health::check(&state, &req, &["healthz", "status"])).await;
    assert_eq!((code, s["kind"].as_str(), s["code"].as_u64()), (StatusCode::NOT_FOUND, Some("Status"), Some(404)));
    assert_eq!(s["message"], "there is no healthz check \"status\"; the checks are: ping, informer-sync");
}

/// Records the level and target of every event that passes the filter of the subscriber it is part of.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<(tracing::Level, String)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.lock().unwrap().push((*event.metadata().level(), event.metadata().target().to_string()));
    }
}

/// Runs one request through the chain under the filter the binary uses by default (`info`), and returns
/// the events that passed it.
async fn events_of_one_request(access_log: bool, filter: &str) -> Vec<(tracing::Level, String)> {
    use tracing_subscriber::layer::SubscriberExt;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone().with_filter(tracing_subscriber::EnvFilter::new(filter)));
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut state = state_with(limits(), access_log);
    Arc::get_mut(&mut state).unwrap().ready.store(true, std::sync::atomic::Ordering::Relaxed);
    let svc = build_handler_chain(
        state,
        HttpService::new(tower::service_fn(|_req| async { Ok::<_, std::convert::Infallible>(body::respond(StatusCode::OK, "text/plain", "ok")) })),
    );
    tracing::info!("serving");
    let resp = svc.oneshot(get("/apis/apps.cozystack.io/v1alpha1/namespaces/a/postgreses")).await.unwrap();
    assert_eq!(resp.status(), 200);
    captured.0.lock().unwrap().clone()
}

use tracing_subscriber::Layer as _;

#[tokio::test]
async fn requests_are_logged_at_debug_unless_the_access_log_is_on() {
    let request_lines = |events: &[(tracing::Level, String)]| events.iter().filter(|(_, t)| t == "request").map(|(l, _)| *l).collect::<Vec<_>>();

    let default = events_of_one_request(false, "info").await;
    assert!(default.iter().any(|(l, t)| *l == tracing::Level::INFO && t.starts_with("apiserver")), "startup lines still show: {default:?}");
    assert!(request_lines(&default).is_empty(), "no per-request line at info by default");

    let debug = events_of_one_request(false, "debug").await;
    assert_eq!(request_lines(&debug), vec![tracing::Level::DEBUG], "the per-request line is a debug event");

    let access_log = events_of_one_request(true, "info").await;
    assert_eq!(request_lines(&access_log), vec![tracing::Level::INFO], "--access-log logs it at info");
}

const APPS: &str = "/apis/apps.cozystack.io/v1alpha1/namespaces/a/postgreses";

/// A JSON-looking body of `n` bytes.
fn list_bytes(n: usize) -> Vec<u8> {
    let item = br#"{"metadata":{"name":"db-0000","namespace":"tenant-a"},"spec":{"replicas":2}},"#;
    item.iter().copied().cycle().take(n).collect()
}

async fn fetch(svc: HttpService, path: &str, accept_encoding: Option<&str>) -> (http::HeaderMap, bytes::Bytes) {
    let mut req = Request::get(path);
    if let Some(a) = accept_encoding {
        req = req.header("accept-encoding", a);
    }
    let resp = svc.oneshot(req.body(body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    (headers, resp.into_body().collect().await.unwrap().to_bytes())
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b).read_to_end(&mut out).unwrap();
    out
}

fn serving(bytes: Vec<u8>, streamed: bool) -> HttpService {
    let bytes = bytes::Bytes::from(bytes);
    chain(limits(), move |_req| {
        let bytes = bytes.clone();
        async move {
            let body = if streamed {
                // Small frames, as a streaming list encoder writes them.
                let frames: Vec<_> = bytes.chunks(1000).map(|c| Ok::<_, body::BoxError>(hyper::body::Frame::data(bytes::Bytes::copy_from_slice(c)))).collect();
                http_body_util::StreamBody::new(futures::stream::iter(frames)).boxed_unsync()
            } else {
                body::full(bytes)
            };
            let mut r = Response::new(body);
            r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            r
        }
    })
}

#[tokio::test]
async fn a_large_list_is_gzipped_and_decompresses_to_the_same_bytes() {
    let large = list_bytes(super::compress::GZIP_THRESHOLD_BYTES * 3 + 17);
    for streamed in [false, true] {
        let (headers, got) = fetch(serving(large.clone(), streamed), APPS, Some("deflate, gzip")).await;
        assert_eq!(headers["content-encoding"], "gzip", "streamed: {streamed}");
        assert_eq!(headers["vary"], "Accept-Encoding");
        assert!(!headers.contains_key("content-length"));
        assert!(got.len() < large.len() / 4, "{} bytes compressed to {}", large.len(), got.len());
        assert_eq!(gunzip(&got), large, "streamed: {streamed}");
    }
}

#[tokio::test]
async fn small_bodies_watches_and_clients_without_gzip_get_plain_bytes() {
    let at_threshold = list_bytes(super::compress::GZIP_THRESHOLD_BYTES);
    let large = list_bytes(super::compress::GZIP_THRESHOLD_BYTES * 2);
    for streamed in [false, true] {
        let (h, got) = fetch(serving(at_threshold.clone(), streamed), APPS, Some("gzip")).await;
        assert!(!h.contains_key("content-encoding") && !h.contains_key("vary"), "not above the threshold");
        assert_eq!(got, at_threshold);
        let (h, got) = fetch(serving(large.clone(), streamed), &format!("{APPS}?watch=true"), Some("gzip")).await;
        assert!(!h.contains_key("content-encoding"), "a watch");
        assert_eq!(got, large);
        let (h, got) = fetch(serving(large.clone(), streamed), APPS, None).await;
        assert!(!h.contains_key("content-encoding"), "no Accept-Encoding");
        assert_eq!(got, large);
        let (h, _) = fetch(serving(large.clone(), streamed), APPS, Some("br")).await;
        assert!(!h.contains_key("content-encoding"), "only other encodings");
    }
}
