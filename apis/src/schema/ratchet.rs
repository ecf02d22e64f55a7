//! Correlating an updated value with its old value, for validation ratcheting and CEL transition rules.
//!
//! kube-apiserver keeps errors of an unchanged part of an object out of an update's answer (CRD validation
//! ratcheting): a property correlates by name, an item of a `map` list by its keys, an item of an untyped
//! list by index (schema validation only), items of `set` and `atomic` lists not at all.

use serde_json::Value;

use super::gofmt::go_deep_equal;
use super::node::{Additional, Schema};

/// The old item that corresponds to `new[i]` of a list with schema `s`, for schema-validation ratcheting.
pub(crate) fn correlate_index<'a>(s: &Schema, new: &[Value], old: Option<&'a Value>, i: usize) -> Option<&'a Value> {
    let old = old?.as_array()?;
    let item = new.get(i)?;
    match s.list_type.as_deref() {
        Some("map") => map_list_get(s, old, item),
        Some(_) => None,
        None => old.get(i),
    }
}

/// The old item of a `map` list whose key fields equal those of `item` (None for other list types).
pub(crate) fn map_list_get<'a>(s: &Schema, old: &'a [Value], item: &Value) -> Option<&'a Value> {
    if s.list_type.as_deref() != Some("map") {
        return None;
    }
    let key = map_key(s, item)?;
    old.iter().rev().find(|o| map_key(s, o).is_some_and(|k| k.iter().zip(&key).all(|(a, b)| go_deep_equal(a, b))))
}

/// The key values of a map-list item: each key field, or the key property's default when absent.
fn map_key(s: &Schema, item: &Value) -> Option<Vec<Value>> {
    let m = item.as_object()?;
    let items = s.items.as_deref();
    s.list_map_keys.iter().map(|k| m.get(k).cloned().or_else(|| items.and_then(|i| i.properties.get(k)).and_then(|p| p.default.clone()))).collect()
}

/// CachedDeepEqual of kube-apiserver's ratcheting validator: a node equals its old value when it is deeply
/// equal and every old child could be correlated and is itself equal. Children that validation never visits
/// (fields inside `x-kubernetes-preserve-unknown-fields`, items of set and atomic lists) make a non-empty
/// value count as changed.
pub(crate) fn unchanged(s: &Schema, new: &Value, old: &Value) -> bool {
    match (new, old) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Array(n), Value::Array(o)) => {
            if n.len() != o.len() {
                return false;
            }
            let Some(items) = s.items.as_deref() else {
                return o.is_empty();
            };
            (0..n.len()).all(|i| correlate_index(s, n, Some(old), i).is_some_and(|ov| unchanged(items, &n[i], ov)))
        }
        (Value::Object(n), Value::Object(o)) => {
            if n.len() != o.len() {
                return false;
            }
            if o.is_empty() {
                return true;
            }
            o.iter().all(|(k, ov)| {
                let child = match (s.properties.get(k), &s.additional) {
                    (Some(p), _) => Some(p),
                    (None, Some(Additional::Schema(ap))) => Some(ap.as_ref()),
                    _ => None,
                };
                match (child, n.get(k)) {
                    (Some(c), Some(nv)) => unchanged(c, nv, ov),
                    _ => false,
                }
            })
        }
        (Value::Array(_), _) | (_, Value::Array(_)) | (Value::Object(_), _) | (_, Value::Object(_)) => false,
        _ => go_deep_equal(new, old),
    }
}

/// CachedDeepEqual of the correlation kube-apiserver uses to ratchet CEL rule errors: like [`unchanged`],
/// but a list that is not a `map` list compares as a whole.
pub(crate) fn cel_unchanged(s: &Schema, new: &Value, old: &Value) -> bool {
    match (new, old) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Array(n), Value::Array(o)) => {
            if n.len() != o.len() {
                return false;
            }
            let Some(items) = s.items.as_deref().filter(|_| s.list_type.as_deref() == Some("map")) else {
                return go_deep_equal(new, old);
            };
            n.iter().all(|x| map_list_get(s, o, x).is_some_and(|ov| cel_unchanged(items, x, ov)))
        }
        (Value::Object(n), Value::Object(o)) => {
            n.len() == o.len()
                && n.iter().all(|(k, nv)| match (s.field_schema(k), o.get(k)) {
                    (Some(c), Some(ov)) => cel_unchanged(c, nv, ov),
                    _ => false,
                })
        }
        (Value::Array(_), _) | (_, Value::Array(_)) | (Value::Object(_), _) | (_, Value::Object(_)) => false,
        _ => go_deep_equal(new, old),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::path::Path;
    use serde_json::json;

    fn schema(v: Value) -> Schema {
        let mut errs = Vec::new();
        let s = Schema::parse(&v, &Path::new("openAPISchema"), &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        s
    }

    #[test]
    fn equality_follows_correlation() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "m": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                      "items": {"type": "object", "properties": {"k": {"type": "string"}, "v": {"type": "integer"}}}},
                "s": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        }));
        let rows = [
            (json!({"m": [{"k": "a", "v": 1}]}), json!({"m": [{"k": "a", "v": 1}]}), true, "same map list"),
            (json!({"m": [{"k": "a"}, {"k": "b"}]}), json!({"m": [{"k": "b"}, {"k": "a"}]}), true, "map list reordered"),
            (json!({"m": [{"k": "a", "v": 2}]}), json!({"m": [{"k": "a", "v": 1}]}), false, "map list item changed"),
            (json!({"s": []}), json!({"s": []}), true, "empty set"),
            (json!({"s": ["x"]}), json!({"s": ["x"]}), false, "set items never correlate"),
            (json!({"free": {"a": 1}}), json!({"free": {"a": 1}}), false, "unknown fields are never visited"),
            (json!({"free": {}}), json!({"free": {}}), true, "empty preserved object"),
            (json!({"m": []}), json!({}), false, "new field"),
        ];
        for (new, old, want, why) in rows {
            assert_eq!(unchanged(&s, &new, &old), want, "{why}");
        }
    }
}
