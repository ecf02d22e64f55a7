//! Authorizes every request before any handler runs; no handler authorizes itself.
use std::sync::Arc;

use http::{Request, Response};

use super::Next;
use super::authentication::user_of;
use super::request_info::info_of;
use crate::authz::{Decision, forbidden_message};
use crate::body::{Body, status};
use crate::server::ServerState;
use apis::status::{Status, StatusDetails};

/// Answers 403 unless the authorizer allows the request.
pub async fn authorize(state: Arc<ServerState>, req: Request<Body>, next: Next) -> Response<Body> {
    let (user, info) = (user_of(&req), info_of(&req));
    match state.authorizer.authorize(&user, &info).await {
        Ok(Decision::Allow) => next.run(req).await,
        Ok(Decision::Deny(reason)) => {
            let mut s = Status::forbidden_message(forbidden_message(&user, &info, &reason));
            if info.is_resource_request {
                s.details = Some(StatusDetails { name: info.name.clone(), group: info.api_group.clone(), kind: info.resource.clone(), ..Default::default() });
            }
            status(&s)
        }
        Err(e) => {
            tracing::warn!(error = %e, "authorization failed");
            status(&Status::internal(format!("authorization failed: {e}")))
        }
    }
}
