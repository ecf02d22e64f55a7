//! The request pipeline: one list of filters in request order, each a small async function.
//!
//! A filter sees the request and either answers it or passes it to [`Next`]. [`build_handler_chain`] is the
//! only place the order is written down.

mod audit;
pub mod authentication;
mod authorization;
pub(crate) mod compress;
mod limits;
mod log;
mod panic;
mod readiness;
pub mod request_info;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use http::{Request, Response};
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

use crate::body::Body;
use crate::server::ServerState;

pub use limits::Limits;

/// A service of the pipeline.
pub type HttpService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// The rest of the pipeline after a filter.
pub struct Next(HttpService);

impl Next {
    /// Passes the request on and returns the answer.
    pub async fn run(mut self, req: Request<Body>) -> Response<Body> {
        match self.0.ready().await {
            Ok(svc) => match svc.call(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            },
            Err(never) => match never {},
        }
    }
}

/// Wraps an async function `(state, request, next) -> response` as a tower layer.
pub fn filter<F, Fut>(state: Arc<ServerState>, f: F) -> impl Layer<HttpService, Service = HttpService> + Clone
where
    F: Fn(Arc<ServerState>, Request<Body>, Next) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    tower::layer::layer_fn(move |inner: HttpService| {
        let (f, state) = (f.clone(), state.clone());
        HttpService::new(tower::service_fn(move |req| {
            let fut = f(state.clone(), req, Next(inner.clone()));
            async move { Ok::<_, Infallible>(fut.await) }
        }))
    })
}

/// Every filter, outermost first, in front of `handler`.
pub fn build_handler_chain(state: Arc<ServerState>, handler: HttpService) -> HttpService {
    let s = || state.clone();
    let chain = ServiceBuilder::new()
        .layer(filter(s(), audit::audit_id))
        .layer(filter(s(), panic::recover))
        .layer(filter(s(), request_info::parse))
        .layer(filter(s(), log::log_and_measure))
        .layer(filter(s(), compress::gzip))
        .layer(filter(s(), readiness::wait_for_ready))
        .layer(filter(s(), limits::in_flight))
        .layer(filter(s(), limits::timeout))
        .layer(filter(s(), authentication::authenticate))
        .layer(filter(s(), authorization::authorize))
        .layer(filter(s(), limits::body_size))
        .service(handler);
    HttpService::new(chain)
}

#[cfg(test)]
mod tests;
