//! Tests of the schema module: fixtures, keyword tables, CEL rules, pruning, defaulting and property tests.
//!
//! Expected errors are written as kube-apiserver prints them (field.Error.Error()), rendered by [`kube_text`]
//! with Go's value formatting so the rows read like real API answers.

mod building;
mod cel_rules;
mod fixtures;
mod keywords;
mod mutation;
mod props;

use serde_json::Value;

use super::StructuralSchema;
use super::gofmt::{Num, go_json, go_quote};
use crate::status::{FieldError, FieldErrorKind};

/// A schema from JSON, panicking with the reason when it does not build.
fn build(v: Value) -> StructuralSchema {
    StructuralSchema::new(&v).unwrap_or_else(|e| panic!("schema builds: {e}"))
}

/// `field: body` as k8s.io/apimachinery's field.Error.Error() prints it.
fn kube_text(e: &FieldError) -> String {
    let mut s = e.kind.phrase().to_string();
    let hides = matches!(e.kind, FieldErrorKind::Required | FieldErrorKind::Forbidden | FieldErrorKind::TooLong | FieldErrorKind::Internal);
    if let (Some(v), false) = (&e.bad_value, hides) {
        s.push_str(": ");
        s.push_str(&match v {
            Value::String(x) => go_quote(x),
            Value::Number(_) => Num::of(v).map(Num::go_v).unwrap_or_default(),
            other => go_json(other),
        });
    }
    if !e.detail.is_empty() {
        s.push_str(": ");
        s.push_str(&e.detail);
    }
    format!("{}: {s}", e.field)
}

/// All errors of a validation, as kube-apiserver texts.
fn texts(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(kube_text).collect()
}
