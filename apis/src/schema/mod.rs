//! Structural schemas of application kinds: defaulting, pruning, validation and CEL rules, as kube-apiserver
//! applies them to custom resources.
//!
//! - [`StructuralSchema`]: built once from a definition's spec schema, then used for every object.
//! - [`SchemaError`]: why a spec schema cannot be used (the caller falls back to
//!   [`StructuralSchema::preserve_unknown`]).
//! - [`sanitize_for_openapi`], [`to_openapi_v2`]: the spec schema as published in the OpenAPI documents.
//!
//! Internals, one concern per file: `node` (the parsed tree), `structural` (the structural rules),
//! `defaulting`, `pruning`, `kubeopenapi` (OpenAPI value validation with ratcheting), `listtype`
//! (set and map uniqueness), `embedded` (embedded resources), `cel` (`x-kubernetes-validations`),
//! `ratchet` (old-value correlation), `formats` and `gofmt` (Go-compatible checks and spelling), `path`.
//!
//! kube-apiserver's order for a write is: prune, default, then validate; [`StructuralSchema::prune`],
//! [`StructuralSchema::apply_defaults`] and [`StructuralSchema::validate`] are meant to be called in that order.

mod cel;
mod defaulting;
mod embedded;
mod formats;
pub(crate) mod gofmt;
mod kubeopenapi;
mod listtype;
mod node;
mod openapi;
mod path;
mod pruning;
mod ratchet;
mod structural;

#[cfg(test)]
mod tests;

use serde_json::{Value, json};

use self::node::Schema;
pub use self::openapi::{sanitize_for_openapi, to_openapi_v2};
use self::path::Path;
use crate::status::{FieldError, FieldErrorKind};

/// Why a spec schema cannot be used as a structural schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The JSON is not a JSONSchemaProps object (wrong keyword types, unsupported keywords).
    #[error("spec schema does not parse: {}", .0.join("; "))]
    Parse(Vec<String>),
    /// The schema parses but breaks the structural-schema rules.
    #[error("spec schema is not structural: {}", .0.join("; "))]
    NotStructural(Vec<String>),
    /// An `x-kubernetes-validations` rule or its messageExpression does not compile.
    #[error("spec schema has rules that do not compile: {}", .0.join("; "))]
    Rules(Vec<String>),
}

/// The structural schema of a kind's `spec`, with its rules compiled.
#[derive(Debug)]
pub struct StructuralSchema {
    root: Schema,
    /// The JSON the schema was built from, for publishing.
    source: Value,
}

/// The detail kube-apiserver gives when schema errors keep CEL rules from running.
const RULES_NOT_CHECKED: &str = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

impl StructuralSchema {
    /// Builds the structural schema of `spec` from its OpenAPI v3 schema (apiextensions v1 JSONSchemaProps).
    pub fn new(spec_schema: &Value) -> Result<Self, SchemaError> {
        let at = Path::new("openAPISchema");
        let mut errs = Vec::new();
        let mut root = Schema::parse(spec_schema, &at, &mut errs);
        if !errs.is_empty() {
            return Err(SchemaError::Parse(errs));
        }
        let errs = structural::check(&root, &at);
        if !errs.is_empty() {
            return Err(SchemaError::NotStructural(errs));
        }
        let mut errs = Vec::new();
        cel::compile(&mut root, spec_schema, &at, &mut errs);
        if !errs.is_empty() {
            return Err(SchemaError::Rules(errs));
        }
        defaulting::clean_defaults(&mut root);
        Ok(Self { root, source: spec_schema.clone() })
    }

    /// The fallback schema: `{type: object, x-kubernetes-preserve-unknown-fields: true}`; nothing is pruned,
    /// defaulted or checked beyond `spec` being an object.
    pub fn preserve_unknown() -> Self {
        let v = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        Self::new(&v).expect("the preserve-unknown-fields schema is structural")
    }

    /// The JSON (apiextensions v1 JSONSchemaProps) the schema was built from: what the OpenAPI documents
    /// publish as the kind's `spec`, through [`crate::openapi::kinds::publishable_spec`].
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Whether the schema carries `x-kubernetes-validations` rules.
    pub fn has_rules(&self) -> bool {
        self.root.cel_below
    }

    /// Applies the schema's defaults to a `spec` value in place (never replacing the value itself).
    pub fn apply_defaults(&self, value: &mut Value) {
        defaulting::apply(value, &self.root);
    }

    /// Removes from a `spec` value every field the schema does not know, and nulls it does not allow.
    ///
    /// Returns what kube-apiserver reports for `fieldValidation=Strict` (as errors) or `Warn` (as warnings):
    /// one `unknown field "<path>"` per removed field, with paths under `path_prefix` (`spec`), sorted.
    pub fn prune(&self, value: &mut Value, path_prefix: &str) -> Vec<String> {
        let paths = pruning::prune(value, &self.root, path_prefix);
        paths.iter().map(|p| format!("unknown field {}", gofmt::go_quote(p))).collect()
    }

    /// Validates a pruned and defaulted `spec` value as kube-apiserver validates a custom resource.
    ///
    /// `old` is the stored `spec` on update: transition rules (`oldSelf`) run only then, and errors of parts
    /// that did not change are dropped (ratcheting). `path_prefix` names the value in field paths (`spec`).
    /// Errors come in kube-apiserver's order: OpenAPI schema, embedded resources, list uniqueness, then CEL
    /// rules, which are skipped (with one error saying so) when the value has type, required, enum or size
    /// errors.
    pub fn validate(&self, value: &Value, old: Option<&Value>, path_prefix: &str) -> Vec<FieldError> {
        let at = Path::new(path_prefix);
        let mut errs = kubeopenapi::validate(&self.root, value, old, path_prefix);
        errs.extend(embedded::validate(&self.root, value, &at));
        let old_lists_valid = old.is_none_or(|o| listtype::validate(&self.root, o, &at).is_empty());
        if old_lists_valid {
            errs.extend(listtype::validate(&self.root, value, &at));
        }
        if self.has_rules() {
            if errs.iter().any(|e| is_blocking(e.kind)) {
                errs.push(FieldError::invalid("<nil>", Value::Null, RULES_NOT_CHECKED));
            } else {
                cel::validate(&self.root, value, old, old, &at, false, &mut errs);
            }
        }
        errs
    }
}

/// The error kinds after which kube-apiserver does not evaluate CEL rules.
fn is_blocking(kind: FieldErrorKind) -> bool {
    matches!(kind, FieldErrorKind::NotSupported | FieldErrorKind::Required | FieldErrorKind::TooLong | FieldErrorKind::TooMany | FieldErrorKind::TypeInvalid)
}
