//! /healthz, /livez and /readyz (with ?verbose and per-check paths), always allowed.
use std::sync::atomic::Ordering;

use http::{Request, Response, StatusCode};

use crate::body::{Body, respond};
use crate::server::ServerState;

/// Answers a health check; readiness also requires synced caches.
pub fn check(state: &ServerState, req: &Request<Body>, parts: &[&str]) -> Response<Body> {
    let ready = parts[0] != "readyz" || state.ready.load(Ordering::Relaxed);
    let checks: &[(&str, bool)] = &[("ping", true), ("informer-sync", ready)];
    if let Some(name) = parts.get(1) {
        return match checks.iter().find(|(n, _)| n == name) {
            Some((_, true)) => respond(StatusCode::OK, "text/plain; charset=utf-8", "ok"),
            Some((_, false)) => respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", format!("[-]{name} failed: reason withheld\n")),
            // A Status naming the checks there are, as every other rejection (found by fuzzing: plain text before).
            None => crate::body::status(&apis::status::Status {
                message: format!("there is no {} check {name:?}; the checks are: ping, informer-sync", parts[0]),
                ..apis::status::Status::not_found_path()
            }),
        };
    }
    let all_ok = checks.iter().all(|(_, ok)| *ok);
    let verbose = req.uri().query().is_some_and(|q| q.split('&').any(|p| p == "verbose" || p.starts_with("verbose=")));
    let code = if all_ok { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR };
    if !verbose && all_ok {
        return respond(code, "text/plain; charset=utf-8", "ok");
    }
    let mut body: String = checks.iter().map(|(n, ok)| if *ok { format!("[+]{n} ok\n") } else { format!("[-]{n} failed: reason withheld\n") }).collect();
    body.push_str(&format!("{} check {}\n", parts[0], if all_ok { "passed" } else { "failed" }));
    respond(code, "text/plain; charset=utf-8", body)
}
