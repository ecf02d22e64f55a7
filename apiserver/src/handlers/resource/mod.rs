//! The verbs of every served resource, routed from the RequestInfo to the resource's registry. Authorization
//! already happened in the filter chain; everything here is per-verb plumbing, written once for all resources.

mod encode;
mod params;
mod patch;
mod watch;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use apis::status::Status;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use storage::StorageError;
use storage::registry::{Deleted, ObjectList, Registry, RequestContext, ResourceInfo};

use self::encode::Encoder;
use self::patch::PatchType;
use crate::body::{Body, status};
use crate::filters::authentication::user_of;
use crate::filters::request_info::info_of;
use crate::negotiate::{choose_representation, parse_accept};
use crate::request_info::RequestInfo;
use crate::server::ServerState;

/// How often a patch is retried when the object changed underneath it.
const PATCH_ATTEMPTS: usize = 5;

/// Decodes a JSON or YAML request body into a value (400 on malformed input).
pub fn decode_body(bytes: &[u8], content_type: &str) -> Result<Value, Status> {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let parsed = if essence == "application/yaml" || essence.ends_with("+yaml") {
        apis::yaml::from_slice(bytes).map_err(|e| format!("yaml: {e}"))
    } else {
        serde_json::from_slice::<Value>(bytes).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| Status::bad_request(format!("the request body could not be decoded: {e}")))
}

fn body_content_type(req: &Request<Body>) -> Result<String, Status> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_string();
    let essence = ct.split(';').next().unwrap_or("").trim().to_string();
    if req.method() != http::Method::PATCH && !matches!(essence.as_str(), "application/json" | "application/yaml" | "") {
        return Err(Status::unsupported_media_type(format!(
            "the body of the request was in an unknown format {essence:?} - accepted media types include: application/json, application/yaml"
        )));
    }
    Ok(ct)
}

/// The Status of a storage error; faults of this server or the backend are also logged.
fn status_of(e: StorageError) -> Status {
    if let StorageError::Internal(m) | StorageError::Backend(m) = &e {
        tracing::warn!(error = %m, "request failed");
    }
    e.to_status()
}

/// Serves a resource request.
pub async fn serve(state: Arc<ServerState>, req: Request<Body>) -> Response<Body> {
    let info = info_of(&req);
    let snap = state.catalog.snapshot();
    let Some(registry) = snap.get(&info.api_group, &info.resource).cloned() else {
        return status(&Status::not_found_path());
    };
    let warnings = storage::admission::Warnings::default();
    let mut response = match dispatch(&state, registry, &info, req, &warnings).await {
        Ok(r) => r,
        Err(s) => status(&s),
    };
    encode::add_warnings(&mut response, &warnings.all());
    response
}

/// Whether a request reaches the resource `ri` at all: its version and scope, no subresource, and a verb the
/// resource serves (405 otherwise).
pub(crate) fn route(ri: &ResourceInfo, info: &RequestInfo) -> Result<(), Status> {
    if !info.subresource.is_empty() || info.api_version != ri.version {
        return Err(Status::not_found_path());
    }
    if ri.namespaced && info.namespace.is_empty() && !matches!(info.verb.as_str(), "list" | "watch") {
        return Err(Status::not_found_path());
    }
    if !ri.namespaced && !info.namespace.is_empty() {
        return Err(Status::not_found_path());
    }
    if !ri.serves(&info.verb) {
        return Err(Status::method_not_allowed(format!("{} is not supported on resources of kind \"{}.{}\"", info.verb, ri.plural, ri.group)));
    }
    Ok(())
}

async fn dispatch(
    state: &Arc<ServerState>,
    registry: Arc<dyn Registry>,
    info: &RequestInfo,
    req: Request<Body>,
    warnings: &storage::admission::Warnings,
) -> Result<Response<Body>, Status> {
    route(registry.info(), info)?;
    let raw_query = req.uri().query().map(str::to_string);
    let q = params::query_map(raw_query.as_deref());
    let accept = parse_accept(req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let repr = choose_representation(&accept).ok_or_else(|| Status::not_acceptable("only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"))?;
    let enc = Encoder::new(repr, &q);
    let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let ctx = RequestContext {
        user: (*user_of(&req)).clone(),
        namespace: info.namespace.clone(),
        admission: state.admission.clone(),
        user_agent,
        warnings: warnings.clone(),
        in_collection: false,
    };
    let content_type = body_content_type(&req)?;
    let body: Bytes = req.into_body().collect().await.map(|c| c.to_bytes()).map_err(|e| Status::bad_request(format!("reading the request body: {e}")))?;
    let reg = &*registry;
    match info.verb.as_str() {
        "get" => {
            let resource_version = q.get("resourceVersion").map(String::as_str).unwrap_or_default();
            let obj = reg.get_at(&ctx, &info.name, resource_version).await.map_err(status_of)?;
            if repr == crate::negotiate::Representation::Json {
                // The object's one encoding, shared with every list and watch that sends this version.
                return Ok(crate::body::respond(StatusCode::OK, "application/json", obj.json().clone()));
            }
            Ok(enc.respond(StatusCode::OK, &enc.object(reg, &obj.value()), &[]))
        }
        "list" => {
            let opts = list_options_for(&q, info)?;
            let list = reg.list(&ctx, &opts).await.map_err(status_of)?;
            Ok(enc.respond_list(reg, list))
        }
        "watch" => {
            let opts = list_options_for(&q, info)?;
            if repr == crate::negotiate::Representation::Yaml {
                return Err(Status::not_acceptable("watch responses are only available as JSON"));
            }
            let events = reg.watch_shared(&ctx, &opts).await.map_err(status_of)?;
            Ok(watch::respond(state, registry.clone(), events, enc, opts.timeout_seconds))
        }
        "create" => {
            let opts = params::write_options_of("CreateOptions", &q, raw_query.as_deref(), false)?;
            let obj = decode_body(&body, &content_type)?;
            let w = reg.create(&ctx, obj, &opts).await.map_err(status_of)?;
            Ok(enc.respond(StatusCode::CREATED, &enc.object(reg, &w.object), &w.warnings))
        }
        "update" => {
            let opts = params::write_options(&q, raw_query.as_deref())?;
            let obj = decode_body(&body, &content_type)?;
            let w = reg.update(&ctx, &info.name, obj, &opts).await.map_err(status_of)?;
            Ok(enc.respond(StatusCode::OK, &enc.object(reg, &w.object), &w.warnings))
        }
        "patch" => {
            let kind = patch::patch_type(&content_type)?;
            let opts = params::write_options_of("PatchOptions", &q, raw_query.as_deref(), kind == PatchType::Apply)?;
            let (code, w) = if kind == PatchType::Apply {
                let config = patch::apply_config(&body)?;
                let (created, w) = reg.apply(&ctx, &info.name, config, &opts).await.map_err(status_of)?;
                (if created { StatusCode::CREATED } else { StatusCode::OK }, w)
            } else {
                patch_object(reg, &ctx, &info.name, kind, &body, &opts).await?
            };
            Ok(enc.respond(code, &enc.object(reg, &w.object), &w.warnings))
        }
        "delete" => {
            let opts = params::delete_options(&q, raw_query.as_deref(), &body)?;
            match reg.delete(&ctx, &info.name, &opts).await.map_err(status_of)? {
                Deleted::Gone(obj) => Ok(enc.respond(StatusCode::OK, &enc.object(reg, &obj), &[])),
                Deleted::Pending(obj) => Ok(enc.respond(StatusCode::ACCEPTED, &enc.object(reg, &obj), &[])),
            }
        }
        "deletecollection" => {
            let list_opts = params::list_options(&q)?;
            let opts = params::delete_options(&q, raw_query.as_deref(), &body)?;
            let out = delete_collection(reg, &ctx, &list_opts, &opts).await?;
            Ok(enc.respond_list(reg, out))
        }
        other => Err(Status::method_not_allowed(format!("{other} is not supported"))),
    }
}

/// Deletes every object a list selects, one delete each; answers the objects deleted (or being deleted).
async fn delete_collection(
    reg: &dyn Registry,
    ctx: &RequestContext,
    list_opts: &storage::registry::ListOptions,
    opts: &storage::registry::DeleteOptions,
) -> Result<ObjectList, Status> {
    let list = reg.list(ctx, list_opts).await.map_err(status_of)?;
    let mut deleted = Vec::new();
    for obj in &list.items {
        let name = obj.name().unwrap_or_default();
        let ns = obj.namespace().unwrap_or_default();
        let item_ctx = RequestContext { namespace: ns.to_string(), in_collection: true, ..ctx.clone() };
        match reg.delete(&item_ctx, name, opts).await {
            Ok(Deleted::Gone(o) | Deleted::Pending(o)) => deleted.push(o.into()),
            // Someone else deleted it meanwhile: the goal is reached.
            Err(e) if e.to_status().code == 404 => {}
            Err(e) => return Err(e.to_status()),
        }
    }
    Ok(ObjectList { items: deleted, resource_version: list.resource_version, ..Default::default() })
}

/// List and watch options; a name in the path (`.../postgreses/db?watch=1`) narrows the field selector.
fn list_options_for(q: &std::collections::HashMap<String, String>, info: &RequestInfo) -> Result<storage::registry::ListOptions, Status> {
    let mut opts = params::list_options(q)?;
    if !info.name.is_empty() && opts.field_selector.exact_value("metadata.name").is_none() {
        let term = apis::selector::FieldRequirement { field: "metadata.name".into(), op: apis::selector::FieldOperator::Eq, value: info.name.clone() };
        let combined = if opts.field_selector.is_empty() { term.to_string() } else { format!("{},{term}", opts.field_selector) };
        opts.field_selector = apis::selector::FieldSelector::parse(&combined).map_err(|e| Status::bad_request(e.to_string()))?;
    }
    Ok(opts)
}

/// Get, patch, update (JSON and merge patches); retried on conflicts unless the patch itself pins a
/// resourceVersion.
async fn patch_object(
    reg: &dyn Registry,
    ctx: &RequestContext,
    name: &str,
    kind: PatchType,
    body: &[u8],
    opts: &storage::registry::WriteOptions,
) -> Result<(StatusCode, storage::registry::WriteResult), Status> {
    let pinned = patch::patch_sets_resource_version(kind, body);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = reg.get(ctx, name).await.map_err(status_of)?;
        let patched = patch::apply(kind, &current, body)?;
        match reg.update(ctx, name, patched, opts).await {
            Ok(w) => return Ok((StatusCode::OK, w)),
            Err(e) => {
                let s = e.to_status();
                if s.code == 409 && s.reason == "Conflict" && !pinned && attempt < PATCH_ATTEMPTS {
                    continue;
                }
                return Err(s);
            }
        }
    }
}
