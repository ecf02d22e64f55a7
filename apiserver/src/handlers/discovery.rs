//! Discovery: /apis, /apis/<group>, /apis/<group>/<version> and aggregated discovery v2, built from the
//! catalog's current snapshot and cached until it changes. Never waits on the backend.

use std::sync::{Arc, Mutex};

use http::{HeaderValue, Request, Response, StatusCode, header};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroup, APIGroupList, APIResource, APIResourceList, GroupVersionForDiscovery};
use kube::core::discovery::v2 as d2;
use serde_json::Value;
use sha2::{Digest, Sha512};
use storage::catalog::Snapshot;

use crate::body::{Body, json, respond};
use crate::negotiate::{parse_accept, wants_aggregated_discovery};

const V2_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Discovery documents of one catalog generation.
struct Documents {
    generation: u64,
    group_list: Value,
    aggregated: Arc<Vec<u8>>,
    etag: String,
}

/// Caches the documents per catalog generation.
#[derive(Default)]
pub struct DiscoveryCache {
    current: Mutex<Option<Arc<Documents>>>,
}

impl DiscoveryCache {
    fn documents(&self, groups: &[String], snap: &Snapshot) -> Arc<Documents> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = cur.as_ref().filter(|d| d.generation == snap.generation) {
            return d.clone();
        }
        let aggregated = serde_json::to_vec(&aggregated_list(groups, snap)).unwrap_or_default();
        let etag = format!("\"{}\"", hex::encode(Sha512::digest(&aggregated)));
        let docs = Arc::new(Documents { generation: snap.generation, group_list: group_list(groups), aggregated: Arc::new(aggregated), etag });
        *cur = Some(docs.clone());
        docs
    }
}

fn version_of(group: &str) -> GroupVersionForDiscovery {
    GroupVersionForDiscovery { group_version: format!("{group}/{}", apis::VERSION), version: apis::VERSION.into() }
}

fn api_group(group: &str) -> APIGroup {
    APIGroup { name: group.into(), versions: vec![version_of(group)], preferred_version: Some(version_of(group)), server_address_by_client_cidrs: None }
}

fn with_type(mut v: Value, api_version: &str, kind: &str) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.insert("kind".into(), kind.into());
        m.insert("apiVersion".into(), api_version.into());
    }
    v
}

fn group_list(groups: &[String]) -> Value {
    let list = APIGroupList { groups: groups.iter().map(|g| api_group(g)).collect() };
    with_type(serde_json::to_value(list).unwrap_or_default(), "v1", "APIGroupList")
}

/// The legacy resource list of one group version.
pub fn resource_list(group: &str, snap: &Snapshot) -> Value {
    let resources = snap
        .group(group)
        .map(|r| {
            let i = r.info();
            APIResource {
                name: i.plural.clone(),
                singular_name: i.singular.clone(),
                namespaced: i.namespaced,
                kind: i.kind.clone(),
                verbs: i.verbs.iter().map(|v| v.to_string()).collect(),
                short_names: (!i.short_names.is_empty()).then(|| i.short_names.clone()),
                categories: (!i.categories.is_empty()).then(|| i.categories.clone()),
                storage_version_hash: Some(storage_version_hash(group, &i.kind)),
                group: None,
                version: None,
            }
        })
        .collect();
    let list = APIResourceList { group_version: format!("{group}/{}", apis::VERSION), resources };
    with_type(serde_json::to_value(list).unwrap_or_default(), "v1", "APIResourceList")
}

/// base64 of the first 8 bytes of sha256("<group>/<version>/<Kind>"), as k8s.io/apiserver computes it.
fn storage_version_hash(group: &str, kind: &str) -> String {
    use base64::Engine;
    let digest = sha2::Sha256::digest(format!("{group}/{}/{kind}", apis::VERSION).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

fn aggregated_list(groups: &[String], snap: &Snapshot) -> Value {
    let items = groups
        .iter()
        .map(|g| d2::APIGroupDiscovery {
            metadata: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta { name: Some(g.clone()), ..Default::default() }),
            versions: vec![d2::APIVersionDiscovery {
                version: Some(apis::VERSION.into()),
                freshness: Some("Current".into()),
                resources: snap
                    .group(g)
                    .map(|r| {
                        let i = r.info();
                        d2::APIResourceDiscovery {
                            resource: Some(i.plural.clone()),
                            response_kind: Some(d2::GroupVersionKind {
                                group: Some(i.group.clone()),
                                version: Some(i.version.clone()),
                                kind: Some(i.kind.clone()),
                            }),
                            scope: Some(if i.namespaced { "Namespaced" } else { "Cluster" }.into()),
                            singular_resource: Some(i.singular.clone()),
                            verbs: i.verbs.iter().map(|v| v.to_string()).collect(),
                            short_names: i.short_names.clone(),
                            categories: i.categories.clone(),
                            subresources: vec![],
                        }
                    })
                    .collect(),
            }],
        })
        .collect();
    let list = d2::APIGroupDiscoveryList { metadata: None, items };
    with_type(serde_json::to_value(list).unwrap_or_default(), "apidiscovery.k8s.io/v2", "APIGroupDiscoveryList")
}

/// GET /apis: the legacy group list, or aggregated discovery v2 when asked, with ETag and 304.
pub fn apis_root(groups: &[String], snap: &Snapshot, cache: &DiscoveryCache, req: &Request<Body>) -> Response<Body> {
    let docs = cache.documents(groups, snap);
    let accept = parse_accept(req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let mut resp = if wants_aggregated_discovery(&accept) {
        let matches = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(docs.etag.as_str());
        let mut r = if matches {
            respond(StatusCode::NOT_MODIFIED, V2_CONTENT_TYPE, Vec::new())
        } else {
            respond(StatusCode::OK, V2_CONTENT_TYPE, (*docs.aggregated).clone())
        };
        if let Ok(v) = HeaderValue::from_str(&docs.etag) {
            r.headers_mut().insert(header::ETAG, v);
        }
        r
    } else {
        json(StatusCode::OK, &docs.group_list)
    };
    resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

/// GET /apis/<group>.
pub fn group(group: &str) -> Response<Body> {
    json(StatusCode::OK, &with_type(serde_json::to_value(api_group(group)).unwrap_or_default(), "v1", "APIGroup"))
}
