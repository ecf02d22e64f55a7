//! The operations of one resource, for the verbs it serves, named, tagged and parameterised as kube-apiserver
//! publishes a resource's (`listAppsCozystackIoV1alpha1NamespacedPostgres`, tag `appsCozystackIo_v1alpha1`).
//!
//! Write operations list `dryRun`, `fieldManager` and `fieldValidation`, and PATCH also `force`: kubectl sends
//! `fieldValidation=Strict` only when the PATCH operation of the kind lists that parameter. PATCH accepts JSON
//! patch, merge patch and apply patch; strategic merge patch is not offered, as for custom resources.
//! Responses name what this server answers: the object on delete (200, or 202 while finalizers run), the list
//! of deleted objects on deletecollection.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::meta::META;
use super::{Resource, V3_REFS};

/// Query parameters of list and watch, in kube-apiserver's (alphabetical) order.
const LIST_PARAMS: [&str; 10] = [
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];
/// Query parameters that only make sense when the resource can be watched.
const WATCH_ONLY: [&str; 3] = ["allowWatchBookmarks", "sendInitialEvents", "watch"];
const DELETE_COLLECTION_PARAMS: [&str; 11] = [
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "labelSelector",
    "limit",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
];
const WRITE_PARAMS: [&str; 3] = ["dryRun", "fieldManager", "fieldValidation"];
const PATCH_PARAMS: [&str; 4] = ["dryRun", "fieldManager-patch", "fieldValidation", "force"];
const DELETE_PARAMS: [&str; 3] = ["dryRun", "gracePeriodSeconds", "propagationPolicy"];

const OBJECT_TYPES: [&str; 2] = ["application/json", "application/yaml"];
const STREAM_TYPES: [&str; 3] = ["application/json", "application/json;stream=watch", "application/yaml"];
const PATCH_TYPES: [&str; 3] = ["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"];

static PARAMETERS: OnceLock<Map<String, Value>> = OnceLock::new();

/// A parameter as kube-apiserver spells it (bundled in `data/parameters.json`).
fn param(name: &str) -> Value {
    let all = PARAMETERS.get_or_init(|| serde_json::from_str(include_str!("data/parameters.json")).expect("the bundled parameters are JSON"));
    all.get(name).cloned().unwrap_or_else(|| panic!("parameter {name} is bundled"))
}

fn params(names: &[&str]) -> Vec<Value> {
    names.iter().map(|n| param(n)).collect()
}

/// `AppsCozystackIo` for `apps.cozystack.io`.
fn camel(s: &str) -> String {
    s.split(['.', '-'])
        .map(|part| {
            let mut c = part.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_lowercase().to_string() + c.as_str()).unwrap_or_default()
}

fn schema_ref(definition: &str) -> Value {
    json!({"$ref": format!("{V3_REFS}{definition}")})
}

fn content(types: &[&str], definition: &str) -> Value {
    Value::Object(types.iter().map(|t| (t.to_string(), json!({"schema": schema_ref(definition)}))).collect())
}

/// The operations of one resource, and what they share.
struct Ops<'a> {
    r: &'a Resource,
    /// `AppsCozystackIoV1alpha1`.
    gv: String,
    tag: String,
    list: String,
}

impl Ops<'_> {
    fn serves(&self, verb: &str) -> bool {
        self.r.info.serves(verb)
    }

    fn list_params(&self) -> Vec<Value> {
        let watch = self.serves("watch");
        LIST_PARAMS.iter().filter(|p| watch || !WATCH_ONLY.contains(p)).map(|p| param(p)).collect()
    }

    /// One operation; `responses` are (code, description, definition, content types).
    fn op(
        &self,
        action: &str,
        id: String,
        description: String,
        parameters: Vec<Value>,
        body: Option<Value>,
        responses: &[(&str, &str, &str, &[&str])],
    ) -> Value {
        let mut out = json!({"tags": [self.tag], "description": description, "operationId": id});
        if !parameters.is_empty() {
            out["parameters"] = Value::Array(parameters);
        }
        if let Some(b) = body {
            out["requestBody"] = b;
        }
        let mut rs = Map::new();
        for (code, desc, definition, types) in responses {
            rs.insert(code.to_string(), json!({"description": desc, "content": content(types, definition)}));
        }
        rs.insert("401".into(), json!({"description": "Unauthorized"}));
        out["responses"] = Value::Object(rs);
        out["x-kubernetes-action"] = action.into();
        out["x-kubernetes-group-version-kind"] = json!({"group": self.r.info.group, "version": self.r.info.version, "kind": self.r.info.kind});
        out
    }

    fn name_param(&self) -> Value {
        json!({"name": "name", "in": "path", "description": format!("name of the {}", self.r.info.kind), "required": true, "schema": {"type": "string", "uniqueItems": true}})
    }

    fn scope_params(&self, with_name: bool) -> Vec<Value> {
        let mut out = Vec::new();
        if with_name {
            out.push(self.name_param());
        }
        if self.r.info.namespaced {
            out.push(param("namespace"));
        }
        out.push(param("pretty"));
        out
    }

    fn watch_item(&self, with_name: bool, id: String, description: String, action: &str) -> Value {
        let mut path_params = self.list_params();
        path_params.extend(self.scope_params(with_name));
        path_params.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let op = self.op(action, id, description, vec![], None, &[("200", "OK", &format!("{META}WatchEvent"), &STREAM_TYPES)]);
        json!({"get": op, "parameters": path_params})
    }
}

/// Adds the paths of `r` to `paths` (v3 spelling).
pub(crate) fn add(r: &Resource, paths: &mut Map<String, Value>) {
    let gv = format!("{}{}", camel(&r.info.group), camel(&r.info.version));
    let tag = format!("{}_{}", lower_first(&camel(&r.info.group)), r.info.version);
    let o = Ops { r, gv, tag, list: format!("{}List", r.schema.name) };
    let (k, gv, name) = (&r.info.kind, &o.gv, &r.schema.name);
    let scope = if r.info.namespaced { "Namespaced" } else { "" };
    let prefix = format!("/apis/{}/{}", r.info.group, r.info.version);
    let ns = if r.info.namespaced { "/namespaces/{namespace}" } else { "" };
    let collection = format!("{prefix}{ns}/{}", r.info.plural);

    let mut coll = Map::new();
    if o.serves("list") {
        let desc = if o.serves("watch") { format!("list or watch objects of kind {k}") } else { format!("list objects of kind {k}") };
        let types: &[&str] = if o.serves("watch") { &STREAM_TYPES } else { &OBJECT_TYPES };
        coll.insert("get".into(), o.op("list", format!("list{gv}{scope}{k}"), desc, o.list_params(), None, &[("200", "OK", &o.list, types)]));
    }
    if o.serves("create") {
        let body = json!({"content": content(&OBJECT_TYPES, name), "required": true});
        let responses: [(&str, &str, &str, &[&str]); 3] =
            [("200", "OK", name, &OBJECT_TYPES), ("201", "Created", name, &OBJECT_TYPES), ("202", "Accepted", name, &OBJECT_TYPES)];
        coll.insert("post".into(), o.op("post", format!("create{gv}{scope}{k}"), format!("create a {k}"), params(&WRITE_PARAMS), Some(body), &responses));
    }
    if o.serves("deletecollection") {
        let body = json!({"content": content(&OBJECT_TYPES, &format!("{META}DeleteOptions"))});
        let id = format!("delete{gv}Collection{scope}{k}");
        coll.insert(
            "delete".into(),
            o.op(
                "deletecollection",
                id,
                format!("delete collection of {k}"),
                params(&DELETE_COLLECTION_PARAMS),
                Some(body),
                &[("200", "OK", &o.list, &OBJECT_TYPES)],
            ),
        );
    }
    if !coll.is_empty() {
        coll.insert("parameters".into(), Value::Array(o.scope_params(false)));
        paths.insert(collection.clone(), Value::Object(coll));
    }

    let mut item = Map::new();
    if o.serves("get") {
        item.insert(
            "get".into(),
            o.op("get", format!("read{gv}{scope}{k}"), format!("read the specified {k}"), vec![], None, &[("200", "OK", name, &OBJECT_TYPES)]),
        );
    }
    if o.serves("update") {
        let body = json!({"content": content(&OBJECT_TYPES, name), "required": true});
        let responses: [(&str, &str, &str, &[&str]); 2] = [("200", "OK", name, &OBJECT_TYPES), ("201", "Created", name, &OBJECT_TYPES)];
        item.insert(
            "put".into(),
            o.op("put", format!("replace{gv}{scope}{k}"), format!("replace the specified {k}"), params(&WRITE_PARAMS), Some(body), &responses),
        );
    }
    if o.serves("delete") {
        let body = json!({"content": content(&OBJECT_TYPES, &format!("{META}DeleteOptions"))});
        let responses: [(&str, &str, &str, &[&str]); 2] = [("200", "OK", name, &OBJECT_TYPES), ("202", "Accepted", name, &OBJECT_TYPES)];
        item.insert("delete".into(), o.op("delete", format!("delete{gv}{scope}{k}"), format!("delete a {k}"), params(&DELETE_PARAMS), Some(body), &responses));
    }
    if o.serves("patch") {
        let body = json!({"content": content(&PATCH_TYPES, &format!("{META}Patch")), "required": true});
        let responses: [(&str, &str, &str, &[&str]); 2] = [("200", "OK", name, &OBJECT_TYPES), ("201", "Created", name, &OBJECT_TYPES)];
        item.insert(
            "patch".into(),
            o.op("patch", format!("patch{gv}{scope}{k}"), format!("partially update the specified {k}"), params(&PATCH_PARAMS), Some(body), &responses),
        );
    }
    if !item.is_empty() {
        item.insert("parameters".into(), Value::Array(o.scope_params(true)));
        paths.insert(format!("{collection}/{{name}}"), Value::Object(item));
    }

    if r.info.namespaced && o.serves("list") {
        let mut ps = o.list_params();
        ps.push(param("pretty"));
        ps.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let desc = if o.serves("watch") { format!("list or watch objects of kind {k}") } else { format!("list objects of kind {k}") };
        let types: &[&str] = if o.serves("watch") { &STREAM_TYPES } else { &OBJECT_TYPES };
        let op = o.op("list", format!("list{gv}{k}ForAllNamespaces"), desc, vec![], None, &[("200", "OK", &o.list, types)]);
        paths.insert(format!("{prefix}/{}", r.info.plural), json!({"get": op, "parameters": ps}));
    }
    if o.serves("watch") {
        let deprecated = "deprecated: use the 'watch' parameter with a list operation instead";
        let list_desc = format!("watch individual changes to a list of {k}. {deprecated}.");
        let watch_coll = format!("{prefix}/watch{ns}/{}", r.info.plural);
        paths.insert(watch_coll.clone(), o.watch_item(false, format!("watch{gv}{scope}{k}List"), list_desc.clone(), "watchlist"));
        let item_desc = format!("watch changes to an object of kind {k}. {deprecated}, filtered to a single item with the 'fieldSelector' parameter.");
        paths.insert(format!("{watch_coll}/{{name}}"), o.watch_item(true, format!("watch{gv}{scope}{k}"), item_desc, "watch"));
        if r.info.namespaced {
            let mut all = o.watch_item(false, format!("watch{gv}{k}ListForAllNamespaces"), list_desc, "watchlist");
            if let Some(Value::Array(ps)) = all.get_mut("parameters") {
                ps.retain(|p| p["name"] != "namespace");
            }
            paths.insert(format!("{prefix}/watch/{}", r.info.plural), all);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_rows() {
        for (input, want) in [
            ("apps.cozystack.io", "AppsCozystackIo"),
            ("v1alpha1", "V1alpha1"),
            ("helm.toolkit.fluxcd.io", "HelmToolkitFluxcdIo"),
            ("my-group.io", "MyGroupIo"),
        ] {
            assert_eq!(camel(input), want, "{input}");
        }
        assert_eq!(lower_first("AppsCozystackIo"), "appsCozystackIo");
    }

    #[test]
    fn every_bundled_parameter_is_a_v3_parameter() {
        for name in
            LIST_PARAMS.iter().chain(&DELETE_COLLECTION_PARAMS).chain(&WRITE_PARAMS).chain(&PATCH_PARAMS).chain(&DELETE_PARAMS).chain(&["namespace", "pretty"])
        {
            let p = param(name);
            assert_eq!(p["name"], name.trim_end_matches("-patch"), "{name}");
            assert!(p["in"] == "query" || p["in"] == "path", "{name}");
            assert!(p["schema"]["type"].is_string(), "{name}");
            assert!(p["description"].as_str().is_some_and(|d| !d.is_empty()), "{name}");
        }
    }
}
