//! The structural-schema rules of apiextensions-apiserver (ValidateStructural), with the messages it gives.
//!
//! The spec schema sits at field level of the served kind (the kind's root holds apiVersion, kind, metadata
//! and spec), so root-only rules do not apply to it.

use super::node::{Additional, Schema};
use super::path::Path;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Item,
    Field,
}

/// Every reason the schema is not structural, as `path: message` lines.
pub(crate) fn check(s: &Schema, at: &Path) -> Vec<String> {
    let mut errs = Vec::new();
    invariants(s, Level::Field, at, &mut errs);
    completeness(s, at, &mut errs);
    extra(s, at, &mut errs);
    errs.sort();
    errs
}

fn required(errs: &mut Vec<String>, at: &Path, detail: &str) {
    errs.push(format!("{at}: Required value: {detail}"));
}

fn forbidden(errs: &mut Vec<String>, at: &Path, detail: &str) {
    errs.push(format!("{at}: Forbidden: {detail}"));
}

fn invalid(errs: &mut Vec<String>, at: &Path, value: &str, detail: &str) {
    errs.push(format!("{at}: Invalid value: {}: {detail}", super::gofmt::go_quote(value)));
}

fn invariants(s: &Schema, lvl: Level, at: &Path, errs: &mut Vec<String>) {
    if s.type_ == "array" && s.items.is_none() {
        required(errs, &at.child("items"), "must be specified");
    }
    if let Some(items) = &s.items {
        invariants(items, Level::Item, &at.child("items"), errs);
    }
    for (k, v) in &s.properties {
        invariants(v, Level::Field, &at.child("properties").key(k), errs);
    }
    if let Some(Additional::Schema(ap)) = &s.additional {
        invariants(ap, Level::Field, &at.child("additionalProperties"), errs);
    }
    if s.int_or_string && s.preserve_unknown {
        errs.push(format!("{}: Invalid value: true: must be false if x-kubernetes-int-or-string is true", at.child("x-kubernetes-preserve-unknown-fields")));
    }
    if s.int_or_string && s.embedded_resource {
        errs.push(format!("{}: Invalid value: true: must be false if x-kubernetes-int-or-string is true", at.child("x-kubernetes-embedded-resource")));
    }
    let skip_any_of = is_int_or_string_any_of(&s.vv.any_of);
    let skip_first_all_of_any_of = s.vv.all_of.first().is_some_and(|a| is_int_or_string_any_of(&a.vv.any_of));
    value_validation(s, skip_any_of, skip_first_all_of_any_of, at, errs);

    if s.embedded_resource && s.type_ != "object" {
        if s.type_.is_empty() {
            required(errs, &at.child("type"), "must be object if x-kubernetes-embedded-resource is true");
        } else {
            invalid(errs, &at.child("type"), &s.type_, "must be object if x-kubernetes-embedded-resource is true");
        }
    } else if s.type_.is_empty() && !s.int_or_string && !s.preserve_unknown {
        let detail = match lvl {
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        required(errs, &at.child("type"), detail);
    }
    if s.embedded_resource && s.additional.is_some() {
        forbidden(errs, &at.child("additionalProperties"), "must not be used if x-kubernetes-embedded-resource is set");
    }
    if s.embedded_resource {
        for meta in ["kind", "apiVersion"] {
            if let Some(p) = s.properties.get(meta).filter(|p| p.type_ != "string") {
                invalid(errs, &at.child("properties").key(meta).child("type"), &p.type_, "must be string");
            }
        }
        if let Some(m) = s.properties.get("metadata").filter(|m| m.type_ != "object") {
            invalid(errs, &at.child("properties").key("metadata").child("type"), &m.type_, "must be object");
        }
    }
    if s.embedded_resource && !s.preserve_unknown && s.properties.is_empty() {
        required(errs, &at.child("properties"), "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields");
    }
}

fn is_int_or_string_any_of(any_of: &[Schema]) -> bool {
    let bare = |s: &Schema, t: &str| {
        s.type_ == t
            && s.properties.is_empty()
            && s.items.is_none()
            && s.additional.is_none()
            && s.default.is_none()
            && !s.nullable
            && !s.has_title
            && !s.has_description
            && s.rules.is_empty()
            && is_empty_vv(s)
    };
    any_of.len() == 2 && bare(&any_of[0], "integer") && bare(&any_of[1], "string")
}

fn is_empty_vv(s: &Schema) -> bool {
    let v = &s.vv;
    v.format.is_none()
        && v.maximum.is_none()
        && v.minimum.is_none()
        && v.max_length.is_none()
        && v.min_length.is_none()
        && v.pattern.is_none()
        && v.max_items.is_none()
        && v.min_items.is_none()
        && !v.unique_items
        && v.multiple_of.is_none()
        && v.enum_.is_none()
        && v.max_properties.is_none()
        && v.min_properties.is_none()
        && v.required.is_empty()
        && v.all_of.is_empty()
        && v.any_of.is_empty()
        && v.one_of.is_empty()
        && v.not.is_none()
}

fn value_validation(s: &Schema, skip_any_of: bool, skip_first_all_of_any_of: bool, at: &Path, errs: &mut Vec<String>) {
    if !skip_any_of {
        for (i, x) in s.vv.any_of.iter().enumerate() {
            nested(x, false, &at.child("anyOf").index(i), errs);
        }
    }
    for (i, x) in s.vv.all_of.iter().enumerate() {
        nested(x, skip_first_all_of_any_of && i == 0, &at.child("allOf").index(i), errs);
    }
    for (i, x) in s.vv.one_of.iter().enumerate() {
        nested(x, false, &at.child("oneOf").index(i), errs);
    }
    if let Some(x) = &s.vv.not {
        nested(x, false, &at.child("not"), errs);
    }
}

fn nested(s: &Schema, skip_any_of: bool, at: &Path, errs: &mut Vec<String>) {
    value_validation(s, skip_any_of, false, at, errs);
    if let Some(items) = &s.items {
        nested(items, false, &at.child("items"), errs);
    }
    for (k, v) in &s.properties {
        nested(v, false, &at.child("properties").key(k), errs);
    }
    if !s.type_.is_empty() {
        forbidden(errs, &at.child("type"), "must be empty to be structural");
    }
    if s.additional.is_some() {
        forbidden(errs, &at.child("additionalProperties"), "must be undefined to be structural");
    }
    if s.default.is_some() {
        forbidden(errs, &at.child("default"), "must be undefined to be structural");
    }
    if s.has_title {
        forbidden(errs, &at.child("title"), "must be empty to be structural");
    }
    if s.has_description {
        forbidden(errs, &at.child("description"), "must be empty to be structural");
    }
    if s.nullable {
        forbidden(errs, &at.child("nullable"), "must be false to be structural");
    }
    let flags = [
        (s.preserve_unknown, "x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
        (s.embedded_resource, "x-kubernetes-embedded-resource", "must be false to be structural"),
        (s.int_or_string, "x-kubernetes-int-or-string", "must be false to be structural"),
        (!s.list_map_keys.is_empty(), "x-kubernetes-list-map-keys", "must be empty to be structural"),
        (s.list_type.is_some(), "x-kubernetes-list-type", "must be undefined to be structural"),
        (s.map_type.is_some(), "x-kubernetes-map-type", "must be undefined to be structural"),
        (!s.rules.is_empty(), "x-kubernetes-validations", "must be empty to be structural"),
    ];
    for (set, key, detail) in flags {
        if set {
            forbidden(errs, &at.child(key), detail);
        }
    }
    if s.properties.contains_key("metadata") {
        forbidden(errs, &at.child("properties").key("metadata"), "must not be specified in a nested context");
    }
}

/// Every property or item named in a value validation must exist in the structural part.
fn completeness(s: &Schema, at: &Path, errs: &mut Vec<String>) {
    if let Some(items) = &s.items {
        completeness(items, &at.child("items"), errs);
    }
    for (k, v) in &s.properties {
        completeness(v, &at.child("properties").key(k), errs);
    }
    if let Some(Additional::Schema(ap)) = &s.additional {
        completeness(ap, &at.child("additionalProperties"), errs);
    }
    vv_completeness(s, Some(s), at, at, errs);
}

fn vv_completeness(v: &Schema, s: Option<&Schema>, s_at: &Path, v_at: &Path, errs: &mut Vec<String>) {
    let branches = v.vv.all_of.iter().enumerate().map(|(i, x)| (x, v_at.child("allOf").index(i)));
    let branches = branches
        .chain(v.vv.any_of.iter().enumerate().map(|(i, x)| (x, v_at.child("anyOf").index(i))))
        .chain(v.vv.one_of.iter().enumerate().map(|(i, x)| (x, v_at.child("oneOf").index(i))))
        .chain(v.vv.not.iter().map(|x| (x.as_ref(), v_at.child("not"))));
    for (x, x_at) in branches {
        nested_completeness(x, s, s_at, &x_at, errs);
    }
}

fn nested_completeness(v: &Schema, s: Option<&Schema>, s_at: &Path, v_at: &Path, errs: &mut Vec<String>) {
    let Some(s) = s else {
        required(errs, s_at, &format!("because it is defined in {v_at}"));
        return;
    };
    vv_completeness(v, Some(s), s_at, v_at, errs);
    if let Some(items) = &v.items {
        nested_completeness(items, s.items.as_deref(), &s_at.child("items"), &v_at.child("items"), errs);
    }
    for (k, x) in &v.properties {
        let s_child_at = s_at.child("properties").key(k);
        let v_child_at = v_at.child("properties").key(k);
        match s.properties.get(k) {
            Some(sf) => nested_completeness(x, Some(sf), &s_child_at, &v_child_at, errs),
            None => required(errs, &s_child_at, &format!("because it is defined in {v_child_at}")),
        }
    }
}

/// Checks of CRD validation that the algorithms here rely on: list types, map keys and rule settings.
fn extra(s: &Schema, at: &Path, errs: &mut Vec<String>) {
    const TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];
    if !s.type_.is_empty() && !TYPES.contains(&s.type_.as_str()) {
        errs.push(format!(
            "{}: Unsupported value: {}: supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\"",
            at.child("type"),
            super::gofmt::go_quote(&s.type_)
        ));
    }
    if let Some(lt) = &s.list_type {
        if !matches!(lt.as_str(), "atomic" | "set" | "map") {
            errs.push(format!(
                "{}: Unsupported value: {}: supported values: \"atomic\", \"map\", \"set\"",
                at.child("x-kubernetes-list-type"),
                super::gofmt::go_quote(lt)
            ));
        } else if s.type_ != "array" {
            invalid(errs, &at.child("x-kubernetes-list-type"), lt, "must only be used on arrays");
        }
        if lt == "map" {
            if s.list_map_keys.is_empty() {
                required(errs, &at.child("x-kubernetes-list-map-keys"), "must not be empty if x-kubernetes-list-type is map");
            }
            if let Some(items) = &s.items {
                for k in &s.list_map_keys {
                    if !items.properties.contains_key(k) {
                        invalid(errs, &at.child("x-kubernetes-list-map-keys"), k, "entries must all be names of item properties");
                    }
                }
            }
        }
    }
    if !s.list_map_keys.is_empty() && s.list_type.as_deref() != Some("map") {
        forbidden(errs, &at.child("x-kubernetes-list-map-keys"), "must only be used if x-kubernetes-list-type is `map`");
    }
    if let Some(mt) = &s.map_type
        && !matches!(mt.as_str(), "atomic" | "granular")
    {
        errs.push(format!(
            "{}: Unsupported value: {}: supported values: \"atomic\", \"granular\"",
            at.child("x-kubernetes-map-type"),
            super::gofmt::go_quote(mt)
        ));
    }
    for (i, r) in s.rules.iter().enumerate() {
        let r_at = at.child("x-kubernetes-validations").index(i);
        if r.rule.trim().is_empty() {
            required(errs, &r_at.child("rule"), "rule is not specified");
        }
        if let Some(reason) = &r.reason
            && !matches!(reason.as_str(), "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate")
        {
            errs.push(format!(
                "{}: Unsupported value: {}: supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\"",
                r_at.child("reason"),
                super::gofmt::go_quote(reason)
            ));
        }
        if !r.field_path.is_empty()
            && let Err(e) = super::cel::normalize_field_path(&r.field_path, s)
        {
            invalid(errs, &r_at.child("fieldPath"), &r.field_path, &e);
        }
    }
    if let Some(items) = &s.items {
        extra(items, &at.child("items"), errs);
    }
    for (k, v) in &s.properties {
        extra(v, &at.child("properties").key(k), errs);
    }
    if let Some(Additional::Schema(ap)) = &s.additional {
        extra(ap, &at.child("additionalProperties"), errs);
    }
}
