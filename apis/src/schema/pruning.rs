//! Pruning of unknown fields and of disallowed nulls, as apiextensions-apiserver's pruning and
//! PruneNonNullableNullsWithoutDefaults do it, plus the ObjectMeta coercion of embedded resources.

use serde_json::{Map, Value};

use super::node::{Additional, Schema};

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Removes from `x` what `s` does not specify; returns the removed paths (`spec.foo`, `spec.items[0].bar`),
/// sorted, then the unknown ObjectMeta fields of embedded resources.
pub(crate) fn prune(x: &mut Value, s: &Schema, prefix: &str) -> Vec<String> {
    let mut t = Tracker { parent: prefix.to_string(), unknown: Vec::new(), track: true };
    prune_node(x, Some(s), &mut t);
    t.unknown.sort();
    prune_nulls(x, Some(s));
    let mut meta = Vec::new();
    coerce_embedded(x, Some(s), prefix, &mut meta);
    t.unknown.extend(meta);
    t.unknown
}

/// Prunes without recording anything (used on defaults at build time).
pub(crate) fn prune_value(x: &mut Value, s: &Schema) {
    let mut t = Tracker { parent: String::new(), unknown: Vec::new(), track: false };
    prune_node(x, Some(s), &mut t);
    prune_nulls(x, Some(s));
}

struct Tracker {
    parent: String,
    unknown: Vec<String>,
    track: bool,
}

impl Tracker {
    fn push_key(&mut self, k: &str) -> usize {
        let len = self.parent.len();
        if self.track {
            if !self.parent.is_empty() {
                self.parent.push('.');
            }
            self.parent.push_str(k);
        }
        len
    }

    fn push_index(&mut self, i: usize) -> usize {
        let len = self.parent.len();
        if self.track {
            self.parent.push_str(&format!("[{i}]"));
        }
        len
    }

    fn record(&mut self, k: &str) {
        if self.track {
            let len = self.push_key(k);
            self.unknown.push(self.parent.clone());
            self.parent.truncate(len);
        }
    }
}

fn child_of<'a>(s: &'a Schema, k: &str) -> Option<Option<&'a Schema>> {
    if let Some(p) = s.properties.get(k) {
        return Some(Some(p));
    }
    match &s.additional {
        Some(Additional::Schema(ap)) => Some(Some(ap)),
        Some(Additional::Bool(_)) => Some(None),
        None => None,
    }
}

fn prune_node(x: &mut Value, s: Option<&Schema>, t: &mut Tracker) {
    if let Some(s) = s
        && s.preserve_unknown
    {
        skip_prune(x, s, t);
        return;
    }
    match x {
        Value::Object(m) => {
            let Some(s) = s else {
                let mut keys: Vec<String> = m.keys().cloned().collect();
                keys.sort();
                for k in keys {
                    t.record(&k);
                }
                m.clear();
                return;
            };
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if s.embedded_resource && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                match child_of(s, &k) {
                    Some(child) => {
                        let len = t.push_key(&k);
                        if let Some(v) = m.get_mut(&k) {
                            prune_node(v, child, t);
                        }
                        t.parent.truncate(len);
                    }
                    None => {
                        if !META_FIELDS.contains(&k.as_str()) || !t.parent.is_empty() {
                            t.record(&k);
                        }
                        m.remove(&k);
                    }
                }
            }
        }
        Value::Array(a) => {
            let items = s.and_then(|s| s.items.as_deref());
            for (i, v) in a.iter_mut().enumerate() {
                let len = t.push_index(i);
                prune_node(v, items, t);
                t.parent.truncate(len);
            }
        }
        _ => {}
    }
}

/// Inside `x-kubernetes-preserve-unknown-fields`: unknown fields stay, specified ones are pruned normally.
fn skip_prune(x: &mut Value, s: &Schema, t: &mut Tracker) {
    match x {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if s.embedded_resource && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(child) = child_of(s, k) {
                    let len = t.push_key(k);
                    prune_node(v, child, t);
                    t.parent.truncate(len);
                }
            }
        }
        Value::Array(a) => {
            let Some(items) = s.items.as_deref() else {
                return;
            };
            for (i, v) in a.iter_mut().enumerate() {
                let len = t.push_index(i);
                skip_prune(v, items, t);
                t.parent.truncate(len);
            }
        }
        _ => {}
    }
}

/// Drops null object fields whose schema neither allows null nor has a default to replace it with.
fn prune_nulls(x: &mut Value, s: Option<&Schema>) {
    match x {
        Value::Object(m) => {
            let field = |k: &str| s.and_then(|s| s.field_schema(k));
            m.retain(|k, v| !(v.is_null() && field(k).is_some_and(|f| !f.nullable && f.default.is_none())));
            for (k, v) in m.iter_mut() {
                prune_nulls(v, field(k));
            }
        }
        Value::Array(a) => {
            let items = s.and_then(|s| s.items.as_deref());
            for v in a.iter_mut() {
                prune_nulls(v, items);
            }
        }
        _ => {}
    }
}

/// ObjectMeta fields kube-apiserver knows; other keys of an embedded resource's metadata are dropped.
const OBJECT_META_FIELDS: &[&str] = &[
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
];

/// For embedded resources: unknown ObjectMeta fields are dropped and reported as `<path>.metadata.<field>`.
fn coerce_embedded(x: &mut Value, s: Option<&Schema>, at: &str, unknown: &mut Vec<String>) {
    let Some(s) = s else { return };
    match x {
        Value::Object(m) => {
            if s.embedded_resource {
                coerce_metadata(m, at, unknown);
            }
            for (k, v) in m.iter_mut() {
                if let Some(p) = s.properties.get(k) {
                    coerce_embedded(v, Some(p), &join(at, k), unknown);
                } else if let Some(Additional::Schema(ap)) = &s.additional {
                    coerce_embedded(v, Some(ap), &join(at, k), unknown);
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter_mut().enumerate() {
                coerce_embedded(v, s.items.as_deref(), &format!("{at}[{i}]"), unknown);
            }
        }
        _ => {}
    }
}

fn coerce_metadata(obj: &mut Map<String, Value>, at: &str, unknown: &mut Vec<String>) {
    let Some(Value::Object(meta)) = obj.get_mut("metadata") else {
        return;
    };
    let mut keys: Vec<String> = meta.keys().filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str())).cloned().collect();
    keys.sort();
    for k in keys {
        meta.remove(&k);
        unknown.push(format!("{}.{k}", join(at, "metadata")));
    }
}

fn join(at: &str, k: &str) -> String {
    if at.is_empty() { k.to_string() } else { format!("{at}.{k}") }
}
