//! Handlers, and the router that picks one from the parsed RequestInfo.

pub mod discovery;
pub(crate) mod health;
pub mod openapi;
pub mod resource;

#[cfg(test)]
mod served_verbs_tests;

use std::sync::Arc;

use http::{Request, Response, StatusCode};

use crate::body::{Body, respond, status};
use crate::filters::request_info::info_of;
use crate::server::ServerState;
use apis::status::Status;

/// Routes a request that passed the filter chain.
pub async fn route(state: Arc<ServerState>, req: Request<Body>) -> Response<Body> {
    let info = info_of(&req);
    if info.is_resource_request {
        return resource::serve(state, req).await;
    }
    let path = info.path.trim_end_matches('/');
    let snap = state.catalog.snapshot();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["healthz" | "livez" | "readyz", ..] => health::check(&state, &req, &parts),
        ["version"] => crate::body::json(StatusCode::OK, &version()),
        ["metrics"] => respond(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", state.metrics.encode()),
        ["apis"] => discovery::apis_root(&state.catalog.groups, &snap, &state.discovery, &req),
        ["apis", g] if state.catalog.groups.iter().any(|x| x == g) => discovery::group(g),
        ["apis", g, v] if *v == apis::VERSION && state.catalog.groups.iter().any(|x| x == g) => {
            crate::body::json(StatusCode::OK, &discovery::resource_list(g, &snap))
        }
        // Only the head goes along: the body type is not Sync, and the documents may be built first.
        ["openapi", "v2"] => openapi::v2(&state.openapi, &state.catalog.groups, snap.clone(), &req.into_parts().0).await,
        ["openapi", "v3"] => openapi::v3_discovery(&state.openapi, &state.catalog.groups, snap.clone()).await,
        ["openapi", "v3", "apis", g, v] => openapi::v3_group_version(&state.openapi, &state.catalog.groups, snap.clone(), &req.into_parts().0, g, v).await,
        _ => status(&Status::not_found_path()),
    }
}

fn version() -> serde_json::Value {
    serde_json::json!({
        "major": "1",
        "minor": "37",
        "gitVersion": concat!("v", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}
