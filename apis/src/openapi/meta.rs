//! The apimachinery definitions (ObjectMeta, ListMeta, Status, DeleteOptions, Patch, WatchEvent, Condition and
//! what they refer to) exactly as kube-apiserver publishes them, so that its v2 aggregator finds ours equal
//! (modulo group-version-kinds, which it merges) instead of renaming them. Refreshed by `hack/openapi-meta.sh`.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// The prefix of the apimachinery meta/v1 definitions.
pub(crate) const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";

/// Definitions that every group version lists as one of its kinds.
const SHARED_KINDS: [&str; 2] = ["DeleteOptions", "WatchEvent"];

static V2: OnceLock<Map<String, Value>> = OnceLock::new();
static V3: OnceLock<Map<String, Value>> = OnceLock::new();

fn load(cell: &'static OnceLock<Map<String, Value>>, text: &str) -> &'static Map<String, Value> {
    cell.get_or_init(|| serde_json::from_str(text).expect("the bundled apimachinery definitions are JSON"))
}

/// The definitions in the v2 spelling, with `gvs` added to the group-version-kinds of the shared kinds.
pub(crate) fn definitions_v2(gvs: &[(&str, &str)]) -> Map<String, Value> {
    with_group_versions(load(&V2, include_str!("data/meta-v2.json")), gvs)
}

/// The definitions in the v3 spelling, with `gvs` added to the group-version-kinds of the shared kinds.
pub(crate) fn definitions_v3(gvs: &[(&str, &str)]) -> Map<String, Value> {
    with_group_versions(load(&V3, include_str!("data/meta-v3.json")), gvs)
}

/// A reference to a meta/v1 definition, e.g. `meta_ref("ObjectMeta")`.
pub(crate) fn meta_ref(name: &str) -> Value {
    json!({"$ref": format!("{}{META}{name}", super::V3_REFS)})
}

fn with_group_versions(defs: &Map<String, Value>, gvs: &[(&str, &str)]) -> Map<String, Value> {
    let mut out = defs.clone();
    for kind in SHARED_KINDS {
        let Some(Value::Array(list)) = out.get_mut(&format!("{META}{kind}")).and_then(|d| d.get_mut("x-kubernetes-group-version-kind")) else {
            continue;
        };
        for (group, version) in gvs {
            list.push(json!({"group": group, "kind": kind, "version": version}));
        }
    }
    out
}
