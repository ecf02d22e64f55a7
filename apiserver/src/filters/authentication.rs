//! Authenticates every request; the user travels in the request extensions, and back in the response's for the log.
use std::sync::Arc;

use http::{Request, Response};

use super::Next;
use crate::authn::UserInfo;
use crate::body::{Body, status};
use crate::server::ServerState;
use crate::tls::PeerCertificates;

/// Attaches the [`UserInfo`] or answers 401.
pub async fn authenticate(state: Arc<ServerState>, mut req: Request<Body>, next: Next) -> Response<Body> {
    let peer = req.extensions().get::<PeerCertificates>().cloned();
    let user = match state.authenticator.authenticate(req.headers(), peer.as_ref()).await {
        Ok(Some(user)) => user,
        Ok(None) => return status(&apis::status::Status::unauthorized("Unauthorized")),
        Err(e) => {
            tracing::debug!(error = %e, "authentication failed");
            return status(&apis::status::Status::unauthorized("Unauthorized"));
        }
    };
    // The identity headers have done their job; nothing behind this point may read them.
    strip_identity_headers(&mut req);
    let user = Arc::new(user);
    req.extensions_mut().insert(user.clone());
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(user);
    resp
}

fn strip_identity_headers(req: &mut Request<Body>) {
    let doomed: Vec<_> = req.headers().keys().filter(|k| k.as_str().starts_with("x-remote-")).cloned().collect();
    for k in doomed {
        req.headers_mut().remove(k);
    }
    req.headers_mut().remove(http::header::AUTHORIZATION);
}

/// The user of an authenticated request.
pub fn user_of<B>(req: &Request<B>) -> Arc<UserInfo> {
    req.extensions().get::<Arc<UserInfo>>().cloned().unwrap_or_else(|| Arc::new(UserInfo::anonymous()))
}
