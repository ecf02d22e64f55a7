//! The server: shared state, the TLS accept loop over HTTP/1.1 and HTTP/2, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::Service;

use crate::authn::Authenticator;
use crate::authz::Authorizer;
use crate::connection::{Activity, ConnectionLimits, RequestGuard, Tracked};
use crate::filters::{HttpService, Limits};
use crate::handlers::discovery::DiscoveryCache;
use crate::metrics::Metrics;
use crate::tls::PeerCertificates;

/// Everything the filters and handlers share.
pub struct ServerState {
    /// Authentication chain.
    pub authenticator: Authenticator,
    /// Authorization.
    pub authorizer: Authorizer,
    /// Admission for writes.
    pub admission: Arc<storage::admission::AdmissionChain>,
    /// Request limits.
    pub limits: Limits,
    /// Metrics.
    pub metrics: Metrics,
    /// The served resources.
    pub catalog: Arc<storage::catalog::Catalog>,
    /// Discovery documents, rebuilt when the catalog changes.
    pub discovery: DiscoveryCache,
    /// OpenAPI documents, rebuilt when the catalog changes.
    pub openapi: crate::handlers::openapi::OpenApiCache,
    /// Flips to true when the server shuts down; watches end when they see it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// True once the server is ready to serve (caches synced).
    pub ready: std::sync::atomic::AtomicBool,
    /// Log each request at info (`--access-log`) rather than debug.
    pub access_log: bool,
}

/// Accepts connections until `shutdown` flips, then lets in-flight requests finish for up to `grace`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: HttpService,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
    limits: ConnectionLimits,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: retrying at once would spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(%remote, max = limits.max_connections, "too many connections; closing the new one");
            drop(tcp);
            continue;
        };

        // Small responses (watch events, single objects) must not wait for delayed ACKs.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%remote, error = %e, "could not set TCP_NODELAY");
        }
        let activity = Arc::new(Activity::default());
        let tcp = Tracked::new(tcp, activity.clone());
        let (acceptor, service) = (acceptor.clone(), service.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return tracing::debug!(%remote, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%remote, "TLS handshake timed out"),
            };
            let peer =
                PeerCertificates(Arc::new(tls.get_ref().1.peer_certificates().map(|c| c.iter().map(|c| c.clone().into_owned()).collect()).unwrap_or_default()));
            // Boxing the future as Send here sidesteps a rustc limitation with higher-ranked lifetimes in async blocks.
            let requests = activity.clone();
            let svc = hyper::service::service_fn(move |req| -> futures::future::BoxFuture<'static, _> {
                Box::pin(handle(service.clone(), peer.clone(), requests.request(), req))
            });
            // The aggregator sends one X-Remote-Group header per group; users in hundreds of groups need room
            // (Go servers accept about 1 MiB of headers).
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().max_headers(4096).timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(limits.header_timeout);
            builder.http2().max_header_list_size(1 << 20);
            let conn = watcher.watch(builder.serve_connection_with_upgrades(TokioIo::new(tls), svc));
            tokio::pin!(conn);
            // Checked a few times per limit: an idle connection, or one whose client stopped reading, is dropped.
            let mut check = tokio::time::interval(limits.idle_timeout.min(limits.write_timeout) / 4);
            loop {
                tokio::select! {
                    ended = &mut conn => {
                        if let Err(e) = ended {
                            tracing::debug!(%remote, error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = check.tick() => if let Some(why) = activity.verdict(&limits) {
                        tracing::debug!(%remote, why, "closing the connection");
                        break;
                    }
                }
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not finish within {grace:?}");
    }
}

fn box_error(e: hyper::Error) -> crate::body::BoxError {
    Box::new(e)
}

/// Hands one request of a connection to the pipeline, with the connection's client certificates attached.
async fn handle(
    service: HttpService,
    peer: PeerCertificates,
    in_flight: RequestGuard,
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<crate::body::Body>, std::convert::Infallible> {
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(peer);
    let body: crate::body::Body = http_body_util::BodyExt::boxed_unsync(http_body_util::BodyExt::map_err(body, box_error));
    // A boxed clone service is always ready; calling it directly keeps the future's type simple.
    let mut service = service;
    let resp = service.call(http::Request::from_parts(parts, body)).await?;
    // The request is in flight until its response body (a watch's, say) is done.
    Ok(resp.map(|b| {
        http_body_util::BodyExt::boxed_unsync(http_body_util::BodyExt::map_frame(b, move |f| {
            let _ = &in_flight;
            f
        }))
    }))
}

/// Binds the listening socket with a clear error.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}
