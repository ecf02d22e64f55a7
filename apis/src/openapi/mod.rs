//! The OpenAPI documents of the served resources, as kube-apiserver's aggregator and kubectl read them:
//! v2 (`/openapi/v2`, merged by the aggregator) and v3 (one document per group version, proxied to clients).
//!
//! - [`Resource`], [`KindSchema`]: what the builder needs from one served resource (its
//!   [`ResourceInfo`] and schema).
//! - [`kinds`]: the published schema of an application kind, and the fallback for a kind without one.
//! - [`core`]: the static schemas of the core.cozystack.io kinds.
//! - [`sdn`]: the static schema of SecurityGroup (sdn.cozystack.io).
//! - [`document_v3`], [`document_v2`], [`v3_discovery`], [`etag`]: the documents and their hashes.
//!
//! Internals: `meta` (the apimachinery definitions shared with kube-apiserver, copied from it into `data/` by
//! `hack/openapi-meta.sh`, so that the aggregator de-duplicates rather than renames them), `paths` (the
//! operations of one resource, named and shaped as kube-apiserver names and shapes those of a custom
//! resource), `v2` (the v3 → v2 conversion).
//!
//! Everything is built in the v3 spelling (`#/components/schemas/` references, `requestBody`, parameter
//! `schema`) and converted for v2. Every schema published passes through
//! [`crate::schema::sanitize_for_openapi`] or is static, so no boolean `additionalProperties` is ever
//! published (one crashed kube-controller-manager's admission policy type checker upstream).

pub mod core;
pub mod kinds;
mod meta;
mod paths;
pub mod sdn;
mod v2;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};

use crate::resource::ResourceInfo;

/// The title of every document, as upstream.
pub const TITLE: &str = "Cozy";
/// Where v3 references point.
pub(crate) const V3_REFS: &str = "#/components/schemas/";

/// One served resource as the documents describe it: its description (only the operations of its verbs are
/// published) and its kind's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The resource's description.
    pub info: ResourceInfo,
    /// The kind's schema.
    pub schema: KindSchema,
}

/// The schema of a kind: its definition and those it refers to, in the v3 spelling.
#[derive(Debug, Clone, PartialEq)]
pub struct KindSchema {
    /// The definition name of the kind (`com.github.cozystack.cozystack.pkg.apis.apps.v1alpha1.Postgres`); its
    /// list is published as `<name>List`.
    pub name: String,
    /// The kind's definition under [`KindSchema::name`], and any other it refers to (its status), with
    /// references to `#/components/schemas/<name>`. The builder adds the group-version-kind extensions and the
    /// list.
    pub definitions: BTreeMap<String, Value>,
}

impl KindSchema {
    /// The kind's whole schema with every reference to its own definitions written in place: what typing an object
    /// (for server-side apply) needs. References to definitions it does not hold (ObjectMeta and the other
    /// apimachinery types) become open objects.
    pub fn resolved(&self) -> Value {
        fn resolve(v: &Value, defs: &BTreeMap<String, Value>, depth: usize) -> Value {
            let target = |r: &str| r.strip_prefix(V3_REFS).and_then(|n| defs.get(n));
            match v {
                Value::Object(m) => {
                    if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                        return match target(r).filter(|_| depth < 32) {
                            Some(def) => resolve(def, defs, depth + 1),
                            None => serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                        };
                    }
                    let mut out = Map::new();
                    for (k, x) in m {
                        if k == "allOf"
                            && let Some([only]) = x.as_array().map(Vec::as_slice)
                            && only.get("$ref").is_some()
                        {
                            // `{description, allOf: [{$ref}]}`: the referenced type, described.
                            if let Value::Object(inner) = resolve(only, defs, depth + 1) {
                                for (ik, iv) in inner {
                                    out.entry(ik).or_insert(iv);
                                }
                            }
                            continue;
                        }
                        out.insert(k.clone(), resolve(x, defs, depth));
                    }
                    Value::Object(out)
                }
                Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, defs, depth)).collect()),
                other => other.clone(),
            }
        }
        self.definitions.get(&self.name).map(|d| resolve(d, &self.definitions, 0)).unwrap_or_else(|| serde_json::json!({"type": "object"}))
    }
}

/// The package that names the definitions of `group` (`com.github.cozystack.cozystack.pkg.apis.apps.v1alpha1`
/// for `apps.cozystack.io`), as the upstream Go types are named.
pub fn package(group: &str, version: &str) -> String {
    let short = group.split('.').next().unwrap_or(group);
    format!("com.github.cozystack.cozystack.pkg.apis.{short}.{version}")
}

/// The v3 document of one group version: the operations of `resources` in that group version, their kinds
/// and lists, and the apimachinery definitions they refer to.
pub fn document_v3(group: &str, version: &str, resources: &[Resource]) -> Value {
    let mine: Vec<&Resource> = resources.iter().filter(|r| r.info.group == group && r.info.version == version).collect();
    let mut paths = Map::new();
    let mut schemas = meta::definitions_v3(&[(group, version)]);
    for r in &mine {
        paths::add(r, &mut paths);
        for (name, def) in kind_definitions(r) {
            schemas.entry(name).or_insert(def);
        }
    }
    let body = json!({"paths": paths, "components": {"schemas": schemas}});
    let mut doc = json!({"openapi": "3.0.0", "info": info(&body)});
    merge(&mut doc, body);
    doc
}

/// The v2 document of every resource: the aggregator keeps, per APIService, the paths under its group version
/// and the definitions they reach.
pub fn document_v2(resources: &[Resource]) -> Value {
    let mut gvs: Vec<(&str, &str)> = resources.iter().map(|r| (r.info.group.as_str(), r.info.version.as_str())).collect();
    gvs.sort_unstable();
    gvs.dedup();
    let mut paths = Map::new();
    let mut defs = Map::new();
    for r in resources {
        paths::add(r, &mut paths);
        for (name, def) in kind_definitions(r) {
            defs.entry(name).or_insert(def);
        }
    }
    let mut definitions = meta::definitions_v2(&gvs);
    for (name, def) in defs {
        definitions.entry(name).or_insert_with(|| v2::schema(&def));
    }
    let paths: Map<String, Value> = paths.into_iter().map(|(p, item)| (p, v2::path_item(&item))).collect();
    let body = json!({"paths": paths, "definitions": definitions});
    let mut doc = json!({"swagger": "2.0", "info": info(&body)});
    merge(&mut doc, body);
    doc
}

/// The v3 discovery document (`/openapi/v3`): for each group version with the hex hash of its current
/// document, where to fetch it.
pub fn v3_discovery<'a>(documents: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> Value {
    let paths: Map<String, Value> = documents
        .into_iter()
        .map(|(group, version, hash)| {
            let key = format!("apis/{group}/{version}");
            let url = format!("/openapi/v3/{key}?hash={hash}");
            (key, json!({"serverRelativeURL": url}))
        })
        .collect();
    json!({"paths": paths})
}

/// The upper-case hex SHA-512 of a document's bytes: its ETag (quoted) and its v3 `hash`, as kube-openapi
/// computes them.
pub fn etag(bytes: &[u8]) -> String {
    hex::encode_upper(Sha512::digest(bytes))
}

/// The kind's definitions with the group-version-kind extensions, and its list.
fn kind_definitions(r: &Resource) -> BTreeMap<String, Value> {
    let mut defs = r.schema.definitions.clone();
    let gvk = |kind: &str| json!([{"group": r.info.group, "kind": kind, "version": r.info.version}]);
    let object = defs.entry(r.schema.name.clone()).or_insert_with(|| json!({"type": "object"}));
    if let Value::Object(m) = object {
        m.insert("x-kubernetes-group-version-kind".into(), gvk(&r.info.kind));
    }
    let mut list = kinds::list(&r.schema.name, &r.info.kind, &r.info.plural);
    list["x-kubernetes-group-version-kind"] = gvk(&format!("{}List", r.info.kind));
    defs.insert(format!("{}List", r.schema.name), list);
    defs
}

/// `info` of a document: title `Cozy`, version `0.1-<16 hex digits of the content's SHA-256>` as upstream.
fn info(body: &Value) -> Value {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    json!({"title": TITLE, "version": format!("0.1-{}", hex::encode(&digest[..8]))})
}

fn merge(doc: &mut Value, body: Value) {
    if let (Value::Object(d), Value::Object(b)) = (doc, body) {
        d.extend(b);
    }
}
