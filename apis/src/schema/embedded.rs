//! TypeMeta and ObjectMeta checks of `x-kubernetes-embedded-resource` objects (apiextensions' objectmeta).

use serde_json::{Map, Value};

use super::node::{Additional, Schema};
use super::path::Path;
use crate::status::FieldError;

/// The errors of every embedded resource in `x`.
pub(crate) fn validate(s: &Schema, x: &Value, at: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk(s, x, at, &mut errs);
    errs
}

fn walk(s: &Schema, x: &Value, at: &Path, errs: &mut Vec<FieldError>) {
    match x {
        Value::Object(m) => {
            if s.embedded_resource {
                embedded(m, at, errs);
            }
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                if let Some(p) = s.properties.get(k) {
                    walk(p, &m[k], &at.child(k), errs);
                } else if let Some(Additional::Schema(ap)) = &s.additional {
                    walk(ap, &m[k], &at.key(k), errs);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.items.as_deref() {
                for (i, v) in a.iter().enumerate() {
                    walk(items, v, &at.index(i), errs);
                }
            }
        }
        _ => {}
    }
}

fn embedded(m: &Map<String, Value>, at: &Path, errs: &mut Vec<FieldError>) {
    if !m.contains_key("apiVersion") {
        errs.push(FieldError::required(at.child("apiVersion").as_str(), "must not be empty"));
    }
    if !m.contains_key("kind") {
        errs.push(FieldError::required(at.child("kind").as_str(), "must not be empty"));
    }
    if let Some(v) = m.get("apiVersion") {
        let p = at.child("apiVersion");
        match v.as_str() {
            None => errs.push(FieldError::invalid(p.as_str(), v.clone(), "must be a string")),
            Some("") => errs.push(FieldError::invalid(p.as_str(), v.clone(), "must not be empty")),
            Some(gv) if gv.matches('/').count() > 1 => errs.push(FieldError::invalid(p.as_str(), v.clone(), format!("unexpected GroupVersion string: {gv}"))),
            Some(_) => {}
        }
    }
    if let Some(v) = m.get("kind") {
        let p = at.child("kind");
        match v.as_str() {
            None => errs.push(FieldError::invalid(p.as_str(), v.clone(), "must be a string")),
            Some("") => errs.push(FieldError::invalid(p.as_str(), v.clone(), "must not be empty")),
            Some(kind) => {
                let problems = crate::names::is_dns1035_label(&kind.to_lowercase());
                if !problems.is_empty() {
                    let detail = format!("may have mixed case, but should otherwise match: {}", problems.join(","));
                    errs.push(FieldError::invalid(p.as_str(), v.clone(), detail));
                }
            }
        }
    }
    if let Some(meta) = m.get("metadata") {
        let p = at.child("metadata");
        if let Err(e) = serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(meta.clone()) {
            errs.push(FieldError::invalid(p.as_str(), meta.clone(), e.to_string()));
        } else if let Some(name) = meta.get("name").and_then(Value::as_str) {
            // ValidateObjectMeta with path.ValidatePathSegmentName.
            let bad = if name == "." || name == ".." {
                Some(format!("may not be '{name}'"))
            } else if name.contains('/') {
                Some("may not contain '/'".to_string())
            } else if name.contains('%') {
                Some("may not contain '%'".to_string())
            } else {
                None
            };
            if let Some(detail) = bad {
                errs.push(FieldError::invalid(p.child("name").as_str(), Value::String(name.into()), detail));
            }
        }
    }
}
