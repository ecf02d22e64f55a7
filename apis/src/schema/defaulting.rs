//! Structural defaulting, as apiextensions-apiserver's defaulting.Default does it.
//!
//! Objects: every declared property that is missing (or a null the schema does not allow) gets a deep copy of
//! its default, then every present key is visited, declared ones with their schema and the others with the
//! additionalProperties schema. Lists: every item is visited with the items schema. A default is copied in
//! before its subtree is visited, so defaults nested inside a default apply too. The root is never replaced.

use serde_json::Value;

use super::node::{Additional, Schema};

/// Applies the defaults of `s` to `x` in place.
pub(crate) fn apply(x: &mut Value, s: &Schema) {
    match x {
        Value::Object(m) => {
            for (k, prop) in &s.properties {
                let Some(d) = &prop.default else { continue };
                let missing = match m.get(k) {
                    None => true,
                    Some(v) => v.is_null() && !prop.nullable,
                };
                if missing {
                    m.insert(k.clone(), d.clone());
                }
            }
            for (k, v) in m.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    apply(v, prop);
                } else if let Some(Additional::Schema(ap)) = &s.additional {
                    if v.is_null() && !ap.nullable {
                        *v = ap.default.clone().unwrap_or(Value::Null);
                    }
                    apply(v, ap);
                }
            }
        }
        Value::Array(a) => {
            let Some(items) = &s.items else { return };
            for v in a.iter_mut() {
                if v.is_null() && !items.nullable {
                    *v = items.default.clone().unwrap_or(Value::Null);
                }
                apply(v, items);
            }
        }
        _ => {}
    }
}

/// Makes every default of the tree safe to copy in: pruned of unknown fields and of nulls the schema refuses,
/// which is what CRD validation demands of defaults before kube-apiserver ever uses them.
pub(crate) fn clean_defaults(s: &mut Schema) {
    if let Some(mut d) = s.default.take() {
        super::pruning::prune_value(&mut d, s);
        s.default = Some(d);
    }
    if let Some(items) = s.items.as_deref_mut() {
        clean_defaults(items);
    }
    for p in s.properties.values_mut() {
        clean_defaults(p);
    }
    if let Some(Additional::Schema(ap)) = s.additional.as_mut() {
        clean_defaults(ap);
    }
}
