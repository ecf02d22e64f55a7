//! Parses the request once into a [`RequestInfo`] that every later step reads from the extensions.
use std::sync::Arc;

use http::{Request, Response};

use super::Next;
use crate::body::Body;
use crate::request_info::RequestInfo;
use crate::server::ServerState;

/// Attaches the RequestInfo.
pub async fn parse(_: Arc<ServerState>, mut req: Request<Body>, next: Next) -> Response<Body> {
    let info = RequestInfo::parse(req.method(), req.uri().path(), req.uri().query());
    req.extensions_mut().insert(Arc::new(info));
    next.run(req).await
}

/// The RequestInfo of a request that passed [`parse`].
pub fn info_of<B>(req: &Request<B>) -> Arc<RequestInfo> {
    req.extensions().get::<Arc<RequestInfo>>().cloned().unwrap_or_default()
}
