//! Uniqueness of `x-kubernetes-list-type: set` items and `map` keys (apiextensions-apiserver's listtype).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::gofmt::{Num, go_json};
use super::node::{Additional, Schema};
use super::path::Path;
use crate::status::{FieldError, FieldErrorKind};

/// Duplicate set items and map keys anywhere in `x`, with field.Path paths (`spec.users[alice].roles[1]`).
pub(crate) fn validate(s: &Schema, x: &Value, at: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk(s, x, at, &mut errs);
    errs
}

fn walk(s: &Schema, x: &Value, at: &Path, errs: &mut Vec<FieldError>) {
    match x {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            if let Some(Additional::Schema(ap)) = &s.additional {
                for k in &keys {
                    walk(ap, &m[k.as_str()], &at.key(k), errs);
                }
            }
            for k in &keys {
                if let Some(p) = s.properties.get(k.as_str()) {
                    walk(p, &m[k.as_str()], &at.child(k), errs);
                }
            }
        }
        Value::Array(a) => {
            match s.list_type.as_deref() {
                Some("set") => {
                    for i in non_unique(a) {
                        errs.push(duplicate(at.index(i), a[i].clone()));
                    }
                }
                Some("map") => map_list(s, a, at, errs),
                _ => {}
            }
            if let Some(items) = s.items.as_deref() {
                for (i, v) in a.iter().enumerate() {
                    walk(items, v, &at.index(i), errs);
                }
            }
        }
        _ => {}
    }
}

fn duplicate(at: Path, value: Value) -> FieldError {
    FieldError::new(FieldErrorKind::Duplicate, at.as_str(), "").with_value(value)
}

/// The index of the second appearance of every value that appears more than once (validateListSet).
fn non_unique(items: &[Value]) -> Vec<usize> {
    let keys: Vec<String> = items.iter().map(set_key).collect();
    second_appearances(&keys)
}

/// How Go tells set items apart: scalars by type and value (int64 1 and float64 1 differ), compounds by JSON.
fn set_key(x: &Value) -> String {
    match x {
        Value::String(s) => format!("s{s}"),
        Value::Number(_) => match Num::of(x) {
            Some(Num::Int(n)) => format!("i{n}"),
            other => format!("f{}", other.map(Num::go_v).unwrap_or_default()),
        },
        Value::Array(_) | Value::Object(_) => format!("j{}", go_json(x)),
        other => format!("o{other}"),
    }
}

fn second_appearances(keys: &[String]) -> Vec<usize> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let times = seen.entry(k.as_str()).or_insert(0);
        *times += 1;
        if *times == 2 {
            out.push(i);
        }
    }
    out
}

fn map_list(s: &Schema, a: &[Value], at: &Path, errs: &mut Vec<FieldError>) {
    if let Some((i, x)) = a.iter().enumerate().find(|(_, x)| !x.is_null() && !x.is_object()) {
        errs.push(FieldError::invalid(at.index(i).as_str(), x.clone(), "must be an object for an array of list-type map"));
        return;
    }
    if a.len() <= 1 {
        return;
    }
    if let [key_field] = s.list_map_keys.as_slice() {
        // One key: a missing key is its own value, distinct from null.
        let keys: Vec<Option<&Value>> = a.iter().map(|x| x.as_object().and_then(|m| m.get(key_field))).collect();
        let tagged: Vec<String> = keys.iter().map(|k| k.map(set_key).unwrap_or_else(|| "unspecified".into())).collect();
        for i in second_appearances(&tagged) {
            let mut shown = Map::new();
            if let Some(k) = keys[i] {
                shown.insert(key_field.clone(), k.clone());
            }
            errs.push(duplicate(at.index(i), Value::Object(shown)));
        }
        return;
    }
    let keys: Vec<Value> = a
        .iter()
        .map(|x| {
            let mut key = Map::new();
            if let Some(m) = x.as_object() {
                for k in &s.list_map_keys {
                    if let Some(v) = m.get(k) {
                        key.insert(k.clone(), v.clone());
                    }
                }
            }
            Value::Object(key)
        })
        .collect();
    for i in non_unique(&keys) {
        errs.push(duplicate(at.index(i), keys[i].clone()));
    }
}
