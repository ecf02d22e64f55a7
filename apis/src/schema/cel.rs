//! `x-kubernetes-validations` rules: compiled once with kube-cel, evaluated per node as kube-apiserver does.
//!
//! Each node with rules gets its own kube-cel program set, compiled from a copy of the node whose
//! descendants carry neither rules nor defaults, so that kube-cel sees the node's value with the right
//! types (formats, int-or-string, map keys) and evaluates only this node's rules. The walk, the old-value
//! correlation, ratcheting and the error shapes follow apiextensions-apiserver's cel.Validator.

use serde_json::Value;

use super::node::{Additional, RawRule, Schema};
use super::path::Path;
use super::ratchet::{cel_unchanged, map_list_get};
use crate::status::{FieldError, FieldErrorKind};

/// The compiled rules of one schema node.
#[derive(Debug)]
pub(crate) struct CelNode {
    compiled: kube_cel::CompiledSchema,
    rules: Vec<CelRule>,
}

#[derive(Debug)]
struct CelRule {
    raw: RawRule,
    /// The expression given to kube-cel (differs from the rule for `optionalOldSelf` rules).
    compiled_text: String,
    /// The rule's fieldPath in field.Path form (`a.b`, `a[key]`), empty when unset.
    field_path: String,
    uses_old_self: bool,
}

/// Compiles the rules of every node of `s` (`raw` is the node's JSON); problems go to `errs`.
pub(crate) fn compile(s: &mut Schema, raw: &Value, at: &Path, errs: &mut Vec<String>) {
    let mut below = false;
    if let Some(items) = s.items.as_deref_mut() {
        compile(items, raw.get("items").unwrap_or(&Value::Null), &at.child("items"), errs);
        below |= items.cel_below;
    }
    for (k, p) in s.properties.iter_mut() {
        let praw = raw.get("properties").and_then(|x| x.get(k)).unwrap_or(&Value::Null);
        compile(p, praw, &at.child("properties").key(k), errs);
        below |= p.cel_below;
    }
    if let Some(Additional::Schema(ap)) = s.additional.as_mut() {
        compile(ap, raw.get("additionalProperties").unwrap_or(&Value::Null), &at.child("additionalProperties"), errs);
        below |= ap.cel_below;
    }
    if !s.rules.is_empty() {
        match compile_node(s, raw, at) {
            Ok(node) => s.cel = Some(Box::new(node)),
            Err(mut e) => errs.append(&mut e),
        }
    }
    s.cel_below = below || s.cel.is_some();
}

fn compile_node(s: &Schema, raw: &Value, at: &Path) -> Result<CelNode, Vec<String>> {
    let mut copy = raw.clone();
    let texts: Vec<String> = s.rules.iter().map(|r| if r.optional_old_self { optional_old_self(&r.rule) } else { r.rule.clone() }).collect();
    if let Some(m) = copy.as_object_mut() {
        m.remove("default");
        if let Some(Value::Array(list)) = m.get_mut("x-kubernetes-validations") {
            for (entry, text) in list.iter_mut().zip(&texts) {
                if let Some(e) = entry.as_object_mut() {
                    e.insert("rule".into(), Value::String(text.clone()));
                }
            }
        }
        for key in ["properties", "items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"] {
            if let Some(x) = m.get_mut(key) {
                strip_below(x, key == "properties");
            }
        }
    }
    let compiled = kube_cel::compile_schema(&copy);
    let mut errs = Vec::new();
    let mut rules = Vec::new();
    for (i, ((raw_rule, result), text)) in s.rules.iter().zip(&compiled.validations).zip(texts).enumerate() {
        let r_at = at.child("x-kubernetes-validations").index(i);
        match result {
            Ok(cr) if raw_rule.optional_old_self && !cr.is_transition_rule => {
                errs.push(format!("{}: Forbidden: may only be set when rule uses oldSelf", r_at.child("optionalOldSelf")))
            }
            Ok(cr) => {
                let field_path = if raw_rule.field_path.is_empty() { String::new() } else { normalize_field_path(&raw_rule.field_path, s).unwrap_or_default() };
                rules.push(CelRule { raw: raw_rule.clone(), compiled_text: text, field_path, uses_old_self: cr.is_transition_rule });
            }
            Err(e) => errs.push(format!("{r_at}: Invalid value: {}: {e}", super::gofmt::go_quote(&raw_rule.rule))),
        }
    }
    if errs.is_empty() { Ok(CelNode { compiled, rules }) } else { Err(errs) }
}

/// With `optionalOldSelf`, kube-apiserver binds `oldSelf` to an optional (none on create); kube-cel binds the
/// plain old value or null, so every `oldSelf` identifier of the rule (outside string literals and field
/// selections) becomes an optional built from it.
fn optional_old_self(rule: &str) -> String {
    const WRAPPED: &str = "(oldSelf == null ? optional.none() : optional.of(oldSelf))";
    let b: Vec<char> = rule.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(rule.len() + 64);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '\'' || c == '"' {
            // A string literal, possibly triple-quoted; raw strings (r'..') have no escapes.
            let raw = i > 0 && matches!(b[i - 1], 'r' | 'R') && (i < 2 || !ident(b[i - 2]));
            let triple = b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&c);
            let quote_len = if triple { 3 } else { 1 };
            let start = i;
            i += quote_len;
            while i < b.len() {
                if !raw && b[i] == '\\' {
                    i += 2;
                    continue;
                }
                if b[i] == c && (!triple || (b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&c))) {
                    i += quote_len;
                    break;
                }
                i += 1;
            }
            out.extend(&b[start..i.min(b.len())]);
            continue;
        }
        let is_old_self = b[i..].starts_with(&['o', 'l', 'd', 'S', 'e', 'l', 'f'])
            && (i == 0 || !(ident(b[i - 1]) || b[i - 1] == '.'))
            && b.get(i + 7).is_none_or(|n| !ident(*n));
        if is_old_self {
            out.push_str(WRAPPED);
            i += 7;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Removes rules and defaults from every schema under a schema-valued keyword.
fn strip_below(x: &mut Value, is_map_of_schemas: bool) {
    let strip_schema = |s: &mut Value| {
        if let Some(m) = s.as_object_mut() {
            m.remove("x-kubernetes-validations");
            m.remove("default");
            for key in ["properties", "items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"] {
                if let Some(y) = m.get_mut(key) {
                    strip_below(y, key == "properties");
                }
            }
        }
    };
    match x {
        Value::Object(m) if is_map_of_schemas => m.values_mut().for_each(strip_schema),
        Value::Array(a) => a.iter_mut().for_each(strip_schema),
        other => strip_schema(other),
    }
}

/// ValidFieldPath: a JSON path of `.field` and `['key']` steps that must name a field of `s`; returns it as
/// field.Path prints it.
pub(crate) fn normalize_field_path(json_path: &str, s: &Schema) -> Result<String, String> {
    let tokens = tokenize(json_path);
    let mut out = String::new();
    let mut schema = s;
    let mut it = tokens.into_iter();
    let step = |name: &str, schema: &mut &Schema, out: &mut String| -> Result<(), String> {
        if !schema.properties.is_empty() {
            let Some(p) = schema.properties.get(name) else {
                return Err("does not refer to a valid field".into());
            };
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(name);
            *schema = p;
        } else if let Some(ap) = schema.additional_schema() {
            out.push_str(&format!("[{name}]"));
            *schema = ap;
        } else {
            return Err("does not refer to a valid field".into());
        }
        Ok(())
    };
    while let Some(tok) = it.next() {
        match tok.as_str() {
            "." => {
                let Some(name) = it.next() else {
                    return Err("unexpected end of JSON path".into());
                };
                step(&name, &mut schema, &mut out)?;
            }
            "[" => {
                let Some(q) = it.next() else {
                    return Err("unexpected end of JSON path".into());
                };
                if q.len() < 2 || !q.starts_with('\'') || !q.ends_with('\'') {
                    return Err(format!("expected single quoted string but got {q}"));
                }
                let name = unescape_single_quoted(&q[1..q.len() - 1])?;
                step(&name, &mut schema, &mut out)?;
                if it.next().as_deref() != Some("]") {
                    return Err("expected ] but got end of JSON path".into());
                }
            }
            other => return Err(format!("expected [ or . but got: {other}")),
        }
    }
    Ok(out)
}

fn tokenize(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '\'' {
            let mut j = i + 1;
            while j < b.len() && !(b[j] == '\'' && b[j - 1] != '\\') {
                j += 1;
            }
            let end = (j + 1).min(b.len());
            out.push(b[i..end].iter().collect());
            i = end;
        } else if matches!(b[i], '.' | '[' | ']') {
            out.push(b[i].to_string());
            i += 1;
        } else {
            let mut j = i;
            while j < b.len() && !matches!(b[j], '.' | '[' | ']' | '\'') {
                j += 1;
            }
            out.push(b[i..j].iter().collect());
            i = j;
        }
    }
    out
}

fn unescape_single_quoted(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('a') => '\u{7}',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('v') => '\u{b}',
            Some('\'') => '\'',
            Some('\\') => '\\',
            other => {
                return Err(format!("invalid string literal: invalid escape char \\{}", other.unwrap_or(' ')));
            }
        });
    }
    Ok(out)
}

/// Evaluates every rule under `s` against `value`.
///
/// `old` is the old value correlated for transition rules (None on create, for new map keys, for items of
/// lists other than `map` lists, and under `x-kubernetes-map-type: atomic`); `ratchet_old` is the old value
/// correlated for ratcheting; when there is none, `parent_unchanged` tells whether the nearest correlated
/// ancestor is unchanged. Errors of non-transition rules in unchanged parts are only warnings in
/// kube-apiserver, so they are dropped.
pub(crate) fn validate(
    s: &Schema,
    value: &Value,
    old: Option<&Value>,
    ratchet_old: Option<&Value>,
    at: &Path,
    parent_unchanged: bool,
    errs: &mut Vec<FieldError>,
) {
    if value.is_null() || !s.cel_below {
        return;
    }
    let unchanged = match ratchet_old {
        Some(o) => cel_unchanged(s, value, o),
        None => parent_unchanged,
    };
    if let Some(node) = &s.cel {
        node.evaluate(s, value, old.filter(|o| !o.is_null()), at, unchanged, errs);
    }
    match value {
        Value::Object(m) => {
            let correlatable = s.map_type.as_deref() != Some("atomic");
            let old_map = old.filter(|_| correlatable).and_then(Value::as_object);
            let ratchet_map = ratchet_old.and_then(Value::as_object);
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let children = |k: &str| (old_map.and_then(|o| o.get(k)), ratchet_map.and_then(|o| o.get(k)));
            if let Some(ap) = s.additional_schema() {
                for k in &keys {
                    let (o, r) = children(k);
                    validate(ap, &m[k.as_str()], o, r, &at.key(k), unchanged, errs);
                }
            }
            for k in &keys {
                if let Some(p) = s.properties.get(k.as_str()) {
                    let (o, r) = children(k);
                    validate(p, &m[k.as_str()], o, r, &at.child(k), unchanged, errs);
                }
            }
        }
        Value::Array(a) => {
            let Some(items) = s.items.as_deref() else {
                return;
            };
            let old_list = old.and_then(Value::as_array);
            let ratchet_list = ratchet_old.and_then(Value::as_array);
            for (i, v) in a.iter().enumerate() {
                let o = old_list.and_then(|ol| map_list_get(s, ol, v));
                let r = ratchet_list.and_then(|rl| map_list_get(s, rl, v));
                validate(items, v, o, r, &at.index(i), unchanged, errs);
            }
        }
        _ => {}
    }
}

impl CelNode {
    fn evaluate(&self, s: &Schema, value: &Value, old: Option<&Value>, at: &Path, unchanged: bool, errs: &mut Vec<FieldError>) {
        let found = match kube_cel::validate_compiled(&self.compiled, value, old) {
            Ok(()) => return,
            Err(e) => e.into_vec(),
        };
        let type_value = Value::String(s.type_.clone());
        let mut found = found.into_iter().peekable();
        for rule in &self.rules {
            // kube-cel reports at most one error per rule, in rule order.
            let Some(e) = found.next_if(|e| e.rule == rule.compiled_text) else {
                continue;
            };
            match e.kind {
                kube_cel::ErrorKind::ValidationFailure | kube_cel::ErrorKind::InvalidResult => {
                    if !rule.uses_old_self && unchanged {
                        continue;
                    }
                    let path = if rule.field_path.is_empty() { at.clone() } else { at.child(&rule.field_path) };
                    let detail = rule.detail(&e.message);
                    // As kube-apiserver 1.33+: the value itself, but never an object or a list.
                    let shown = (!value.is_object() && !value.is_array()).then(|| value.clone());
                    errs.push(match rule.raw.reason.as_deref() {
                        Some("FieldValueForbidden") => FieldError::forbidden(path.as_str(), detail),
                        Some("FieldValueRequired") => FieldError::required(path.as_str(), detail),
                        Some("FieldValueDuplicate") => FieldError { bad_value: shown, ..FieldError::new(FieldErrorKind::Duplicate, path.as_str(), "") },
                        _ => FieldError { bad_value: shown, ..FieldError::new(FieldErrorKind::Invalid, path.as_str(), detail) },
                    });
                }
                _ => {
                    let text = cel_go_error_text(&e);
                    let detail = if text.starts_with("no such overload") {
                        format!(
                            "'{text}': call arguments did not match a supported operator, function or macro signature for rule: {}",
                            rule.raw.error_string()
                        )
                    } else {
                        format!("{text} evaluating rule: {}", rule.raw.error_string())
                    };
                    errs.push(FieldError::invalid(at.as_str(), type_value.clone(), detail));
                }
            }
        }
        // Anything kube-cel reported that matches no rule (it should not happen) still fails the value.
        for e in found {
            errs.push(FieldError::invalid(at.as_str(), type_value.clone(), e.message));
        }
    }
}

impl CelRule {
    /// The message of a failed rule: the messageExpression result when it is a usable one-line string, else
    /// the message, else `failed rule: <rule>`.
    fn detail(&self, kube_cel_message: &str) -> String {
        if self.raw.message_expression.is_empty() {
            return self.raw.message_or_default();
        }
        let kube_cel_fallback = if self.raw.message.is_empty() { format!("failed rule: {}", self.raw.rule) } else { self.raw.message.clone() };
        let m = kube_cel_message.trim();
        if kube_cel_message == kube_cel_fallback || m.is_empty() || m.contains('\n') || m.len() > 5 * 1024 {
            self.raw.message_or_default()
        } else {
            m.to_string()
        }
    }
}

impl RawRule {
    /// ruleMessageOrDefault.
    fn message_or_default(&self) -> String {
        if self.message.is_empty() { format!("failed rule: {}", self.error_string()) } else { self.message.trim().to_string() }
    }

    /// ruleErrorString: the message if any, else the rule.
    fn error_string(&self) -> String {
        if self.message.is_empty() { self.rule.trim().to_string() } else { self.message.trim().to_string() }
    }
}

/// The evaluation error as cel-go words it (`no such key: x`, `no such overload`, `division by zero`).
fn cel_go_error_text(e: &kube_cel::ValidationError) -> String {
    use kube_cel::cel::ExecutionError as X;
    let Some(x) = std::error::Error::source(e).and_then(|s| s.downcast_ref::<X>()) else {
        return e.message.clone();
    };
    match x {
        X::NoSuchKey(k) => format!("no such key: {k}"),
        X::NoSuchOverload => "no such overload".into(),
        X::DivisionByZero(_) => "division by zero".into(),
        X::UndeclaredReference(n) => format!("undeclared reference to '{n}' (in container '')"),
        other => other.to_string(),
    }
}
