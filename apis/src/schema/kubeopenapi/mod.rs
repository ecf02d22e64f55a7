//! OpenAPI schema validation as kube-openapi's SchemaValidator does it for a CRD, with update ratcheting.
//!
//! - [`checks`]: the leaf validators and their messages.
//! - [`result`]: errors, results, and the conversion to field errors.
//!
//! The walk mirrors SchemaValidator.Validate: for each value the type, logical (allOf/anyOf/oneOf/not),
//! string, format, number, slice, enum and object validators run in this order, each only for the value
//! kinds it applies to. Errors are deduplicated by message, and anyOf/oneOf keep the failures of the branch
//! with the most successful checks, as kube-openapi does.

pub(crate) mod checks;
pub(crate) mod result;

use serde_json::Value;

use self::result::{OErr, Res};
use super::gofmt::go_quote;
use super::node::{Additional, Schema};
use super::ratchet::{correlate_index, unchanged};
use crate::status::FieldError;

/// Validates `value` (at `name`, e.g. `spec`) against `s`; `old` is the old value on update, for ratcheting.
pub(crate) fn validate(s: &Schema, value: &Value, old: Option<&Value>, name: &str) -> Vec<FieldError> {
    let res = validate_node(s, value, name, old);
    result::to_field_errors(res.errors)
}

/// A node whose value correlates with an old value: its errors vanish when the value is unchanged.
fn validate_node(s: &Schema, data: &Value, name: &str, old: Option<&Value>) -> Res {
    let mut res = validate_plain(s, data, name, old);
    if let Some(o) = old
        && !res.is_valid()
        && unchanged(s, data, o)
    {
        res.errors.clear();
    }
    res
}

/// SchemaValidator.Validate; `old` is only used to correlate children.
fn validate_plain(s: &Schema, data: &Value, name: &str, old: Option<&Value>) -> Res {
    let mut res = Res::default();
    if data.is_null() {
        res.merge(checks::type_check(s, data, name));
        res.merge(checks::enum_check(s, data, name));
        return res;
    }
    if checks::type_applies(s) {
        res.merge(checks::type_check(s, data, name));
        res.inc();
    }
    res.merge(logical(s, data, name, old));
    res.inc();
    if let Value::String(st) = data {
        res.merge(checks::string_check(s, st, name));
        res.inc();
        if let Some(f) = &s.vv.format {
            res.merge(checks::format_check(f, st, name));
            res.inc();
        }
    }
    if data.is_number() {
        res.merge(checks::number_check(s, data, name));
        res.inc();
    }
    if let Value::Array(a) = data {
        res.merge(slice(s, a, name, old));
        res.inc();
    }
    res.merge(checks::enum_check(s, data, name));
    res.inc();
    if let Value::Object(_) = data {
        res.merge(object(s, data, name, old));
        res.inc();
    }
    res.inc();
    res
}

/// schemaPropsValidator.Validate: anyOf, oneOf, allOf and not.
fn logical(s: &Schema, data: &Value, name: &str, old: Option<&Value>) -> Res {
    let mut main = Res::default();
    if !s.vv.any_of.is_empty() {
        let mut best: Option<Res> = None;
        let mut first_success: Option<Res> = None;
        for branch in &s.vv.any_of {
            let r = validate_plain(branch, data, name, old);
            if r.is_valid() {
                best = None;
                first_success = Some(r);
                break;
            }
            if best.as_ref().is_none_or(|b| r.match_count > b.match_count) {
                best = Some(r);
            }
        }
        if first_success.is_none() {
            main.add(OErr::Composite(format!("{} must validate at least one schema (anyOf)", go_quote(name))));
        }
        if let Some(b) = best {
            main.merge(b);
        } else if let Some(f) = first_success {
            main.merge(f);
        }
    }
    if !s.vv.one_of.is_empty() {
        let mut best: Option<Res> = None;
        let mut first_success: Option<Res> = None;
        let mut validated = 0;
        for branch in &s.vv.one_of {
            let r = validate_plain(branch, data, name, old);
            if r.is_valid() {
                validated += 1;
                best = None;
                if first_success.is_none() {
                    first_success = Some(r);
                }
                continue;
            }
            if validated == 0 && best.as_ref().is_none_or(|b| r.match_count > b.match_count) {
                best = Some(r);
            }
        }
        if validated != 1 {
            let extra = if validated == 0 { "Found none valid".to_string() } else { format!("Found {validated} valid alternatives") };
            main.add(OErr::Composite(format!("{} must validate one and only one schema (oneOf). {extra}", go_quote(name))));
            if let Some(b) = best {
                main.merge(b);
            }
        } else if let Some(f) = first_success {
            main.merge(f);
        }
    }
    if !s.vv.all_of.is_empty() {
        let mut validated = 0;
        for branch in &s.vv.all_of {
            let r = validate_plain(branch, data, name, old);
            if r.is_valid() {
                validated += 1;
            }
            main.merge(r);
        }
        if validated != s.vv.all_of.len() {
            let extra = if validated == 0 { ". None validated" } else { "" };
            main.add(OErr::Composite(format!("{} must validate all the schemas (allOf){extra}", go_quote(name))));
        }
    }
    if let Some(not) = &s.vv.not
        && validate_plain(not, data, name, old).is_valid()
    {
        main.add(OErr::Composite(format!("{} must not validate the schema (not)", go_quote(name))));
    }
    main.inc();
    main
}

/// schemaSliceValidator.Validate: every item with the items schema, then minItems, maxItems, uniqueItems.
fn slice(s: &Schema, a: &[Value], name: &str, old: Option<&Value>) -> Res {
    let mut res = Res::default();
    if let Some(items) = s.items.as_deref() {
        for (i, item) in a.iter().enumerate() {
            let item_name = format!("{name}[{i}]");
            let item_old = correlate_index(s, a, old, i);
            res.merge(validate_node(items, item, &item_name, item_old));
        }
    }
    checks::list_bounds(s, a, name, &mut res);
    res.inc();
    res
}

/// objectValidator.Validate: property counts, forbidden or additional properties, declared properties,
/// then required ones.
fn object(s: &Schema, data: &Value, name: &str, old: Option<&Value>) -> Res {
    let Some(m) = data.as_object() else {
        return Res::default();
    };
    let mut res = Res::default();
    checks::object_bounds(s, m.len(), name, &mut res);
    let old_map = old.and_then(Value::as_object);
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    match &s.additional {
        Some(Additional::Bool(false)) => {
            for k in keys.iter().filter(|k| !s.properties.contains_key(k.as_str())) {
                let msg = format!("{name}.{k} in body is a forbidden property");
                res.add(OErr::v(result::Code::Other, name, Some(Value::String(k.to_string())), msg));
            }
        }
        Some(Additional::Schema(ap)) => {
            for k in keys.iter().filter(|k| !s.properties.contains_key(k.as_str())) {
                let child_old = old_map.and_then(|o| o.get(k.as_str()));
                res.merge(validate_node(ap, &m[k.as_str()], &format!("{name}.{k}"), child_old));
            }
        }
        _ => {}
    }
    for (p, ps) in &s.properties {
        if let Some(v) = m.get(p) {
            let child_name = if name.is_empty() { p.clone() } else { format!("{name}.{p}") };
            let child_old = old_map.and_then(|o| o.get(p));
            res.merge(validate_node(ps, v, &child_name, child_old));
        }
    }
    for k in &s.vv.required {
        if !m.contains_key(k) {
            let field = format!("{name}.{k}");
            let msg = format!("{field} in body is required");
            res.add(OErr::v(result::Code::Required, &field, None, msg));
        }
    }
    res
}
