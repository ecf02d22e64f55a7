//! MutatingAdmissionPolicies and their bindings: compiled from their JSON once, run per request as
//! kube-apiserver's mutating policy dispatcher runs them (matching, params, matchConditions, variables, then each
//! mutation in order: `ApplyConfiguration` merged with the kind's structure, `JSONPatch` applied), with its
//! messages and Statuses.
//!
//! The `cel` crate cannot construct messages (`Object{...}`, `JSONPatch{...}`): before compiling, such a
//! construction is rewritten into a map literal with its field names quoted and its type name under the key
//! [`TYPE_KEY`], which is checked (type names must follow the field path, as kube-apiserver checks them) and
//! removed from the result.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use kube_cel::cel::Value as Cel;
use kube_cel::cel::extractors::This;
use kube_cel::cel::{Context, ExecutionError};
use serde_json::Value;

use super::Attributes;
use super::cel::{Activation, CelAuthorizer, Expr, from_cel};
use super::matching;
pub use super::validating::pair;
use super::validating::{Binding, ParamSource, PolicyBase, params_of, text};
use crate::apply::ObjectType;
use crate::status::{Status, StatusCause};

/// The key a rewritten `Object{...}` or `JSONPatch{...}` carries its type name under.
pub const TYPE_KEY: &str = "!type";

/// Rewrites `Object{a: x}`, `Object.spec.b{c: y}` and `JSONPatch{op: "add", ...}` into map literals:
/// `{"a": x, "!type": "Object"}`. Strings are left alone; other map literals too.
pub fn rewrite_constructors(src: &str) -> String {
    #[derive(PartialEq)]
    enum Open {
        Struct(String, bool),
        Other,
    }
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len() + 16);
    let mut stack: Vec<Open> = Vec::new();
    let mut expect_field = false;
    let mut last_sig: Option<char> = None;
    let mut i = 0;
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        // String literals, with r/b prefixes and triple quotes.
        let mut j = i;
        let mut raw = false;
        while j < chars.len() && j < i + 2 && matches!(chars[j], 'r' | 'R' | 'b' | 'B') {
            raw |= matches!(chars[j], 'r' | 'R');
            j += 1;
        }
        let prefix_ok = j == i || (i == 0 || !ident_char(chars[i - 1]));
        if prefix_ok && j < chars.len() && (chars[j] == '"' || chars[j] == '\'') {
            let q = chars[j];
            let triple = j + 2 < chars.len() && chars[j + 1] == q && chars[j + 2] == q;
            let mut k = if triple { j + 3 } else { j + 1 };
            loop {
                if k >= chars.len() {
                    break;
                }
                if !raw && chars[k] == '\\' {
                    k += 2;
                    continue;
                }
                if triple {
                    if k + 2 < chars.len() && chars[k] == q && chars[k + 1] == q && chars[k + 2] == q {
                        k += 3;
                        break;
                    }
                } else if chars[k] == q {
                    k += 1;
                    break;
                }
                k += 1;
            }
            let k = k.min(chars.len());
            out.extend(&chars[i..k]);
            last_sig = Some(q);
            expect_field = false;
            i = k;
            continue;
        }
        if ident_start(c) && (i == 0 || !ident_char(chars[i - 1])) {
            let mut k = i;
            while k < chars.len() && ident_char(chars[k]) {
                k += 1;
            }
            let word: String = chars[i..k].iter().collect();
            // A field name of a construction: quoted.
            if expect_field {
                let after = skip_ws(k);
                if after < chars.len() && chars[after] == ':' {
                    out.push('"');
                    out.push_str(&word);
                    out.push('"');
                    if let Some(Open::Struct(_, fields)) = stack.last_mut() {
                        *fields = true;
                    }
                    expect_field = false;
                    last_sig = Some('"');
                    i = k;
                    continue;
                }
            }
            expect_field = false;
            // A type name: `Object(.ident)*` or `JSONPatch`, followed by `{`, not a member of something else.
            if (word == "Object" || word == "JSONPatch") && last_sig != Some('.') {
                let mut name = word.clone();
                let mut e = k;
                loop {
                    let d = skip_ws(e);
                    if word == "Object" && d < chars.len() && chars[d] == '.' {
                        let s = skip_ws(d + 1);
                        if s < chars.len() && ident_start(chars[s]) {
                            let mut t = s;
                            while t < chars.len() && ident_char(chars[t]) {
                                t += 1;
                            }
                            name.push('.');
                            name.extend(&chars[s..t]);
                            e = t;
                            continue;
                        }
                    }
                    break;
                }
                let brace = skip_ws(e);
                if brace < chars.len() && chars[brace] == '{' {
                    out.push('{');
                    stack.push(Open::Struct(name, false));
                    expect_field = true;
                    last_sig = Some('{');
                    i = brace + 1;
                    continue;
                }
            }
            out.push_str(&word);
            last_sig = chars[k - 1].into();
            i = k;
            continue;
        }
        match c {
            '{' | '(' | '[' => {
                stack.push(Open::Other);
                expect_field = false;
            }
            ',' => expect_field = matches!(stack.last(), Some(Open::Struct(..))),
            '}' => {
                if let Some(Open::Struct(name, fields)) = stack.pop() {
                    let trailing_comma = out.trim_end().ends_with(',');
                    if fields && !trailing_comma {
                        out.push_str(", ");
                    }
                    out.push_str(&format!("\"{TYPE_KEY}\": \"{name}\""));
                }
                expect_field = false;
            }
            ')' | ']' => {
                stack.pop();
                expect_field = false;
            }
            c if c.is_whitespace() => {}
            _ => expect_field = false,
        }
        if !c.is_whitespace() {
            last_sig = Some(c);
        }
        out.push(c);
        i += 1;
    }
    out
}

/// `jsonpatch.escapeKey(k)`: `~` as `~0`, `/` as `~1`.
pub fn register_jsonpatch(ctx: &mut Context<'_>) {
    ctx.add_variable_from_value("jsonpatch", Cel::Map(kube_cel::cel::objects::Map { map: Arc::new(std::collections::HashMap::new()) }));
    ctx.add_function("escapeKey", |This(_this): This<Cel>, key: Arc<String>| -> Result<Cel, ExecutionError> {
        Ok(Cel::String(Arc::new(key.replace('~', "~0").replace('/', "~1"))))
    });
}

/// One mutation of a policy.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// patchType JSONPatch (else ApplyConfiguration).
    pub json_patch: bool,
    /// The expression.
    pub expr: Expr,
}

/// A compiled MutatingAdmissionPolicy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// What every policy has.
    pub base: PolicyBase,
    /// spec.mutations, in order.
    pub mutations: Vec<Mutation>,
    /// reinvocationPolicy IfNeeded.
    pub reinvoke_if_needed: bool,
}

impl AsRef<PolicyBase> for Policy {
    fn as_ref(&self) -> &PolicyBase {
        &self.base
    }
}

impl Policy {
    /// Compiles a MutatingAdmissionPolicy object.
    pub fn from_json(v: &Value) -> Self {
        let spec = v.get("spec").cloned().unwrap_or_default();
        let mutations = spec
            .get("mutations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| {
                let json_patch = m.get("patchType").and_then(Value::as_str) == Some("JSONPatch");
                let expr = if json_patch { text(m, "/jsonPatch/expression") } else { text(m, "/applyConfiguration/expression") };
                Mutation { json_patch, expr: Expr::compile_mutation(&expr) }
            })
            .collect();
        Self {
            base: PolicyBase::from_json(v, &spec),
            mutations,
            reinvoke_if_needed: spec.get("reinvocationPolicy").and_then(Value::as_str) == Some("IfNeeded"),
        }
    }
}

/// The bookkeeping of reinvocation the caller keeps across rounds.
pub trait Reinvoker {
    /// True when the hook `key` is called in this round.
    fn should_call(&self, key: &str) -> bool;
    /// Records that hook `key` ran and whether it changed the object.
    fn ran(&mut self, key: &str, if_needed: bool, changed: bool);
}

/// One mutation's outcome, for metrics (`apiserver_mutating_admission_policy_check_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Policy name.
    pub policy: String,
    /// Binding name.
    pub binding: String,
    /// `no_error`, `compile_error` or `invalid_error`.
    pub error_type: &'static str,
    /// Seconds spent.
    pub seconds: f64,
}

/// An error of one (policy, binding): its message, subject to failurePolicy.
struct PolicyError {
    policy: String,
    binding: String,
    fail_closed: bool,
    message: String,
}

/// Removes the type tags of a rewritten construction, checking that nested type names follow the field path
/// from `path` (the root's own name is not checked).
fn untag(v: &mut Value, path: &str, errs: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let own = match m.remove(TYPE_KEY) {
                Some(Value::String(name)) => {
                    if !path.is_empty() && name != path {
                        errs.push(format!("unexpected type name {name:?}, expected {path:?}, which matches field name path from root Object type"));
                    }
                    Some(name)
                }
                _ => None,
            };
            for (k, child) in m.iter_mut() {
                let child_path = match &own {
                    Some(name) => format!("{name}.{k}"),
                    None if path.is_empty() => String::new(),
                    None => path.to_string(),
                };
                untag(child, &child_path, errs);
            }
        }
        Value::Array(items) => {
            for item in items {
                untag(item, path, errs);
            }
        }
        _ => {}
    }
}

fn type_name(v: &Cel) -> &'static str {
    match v {
        Cel::Map(_) => "map",
        Cel::List(_) => "list",
        Cel::String(_) => "string",
        Cel::Int(_) => "int",
        Cel::UInt(_) => "uint",
        Cel::Float(_) => "double",
        Cel::Bool(_) => "bool",
        Cel::Null => "null_type",
        _ => "unknown",
    }
}

/// Evaluates one ApplyConfiguration mutation and merges its result into `object`.
fn apply_configuration(act: &Activation<'_>, expr: &Expr, object: &mut Value, ty: &ObjectType) -> Result<(), String> {
    let result =
        act.eval(expr).map_err(|e| if e.starts_with("compilation failed: ") { e } else { format!("expression '{}' resulted in error: {e}", expr.text) })?;
    let tagged = matches!(&result, Cel::Map(m) if m.map.iter().any(|(k, v)| matches!(k, kube_cel::cel::objects::Key::String(s) if s.as_str() == TYPE_KEY) && matches!(v, Cel::String(s) if s.as_str() == "Object")));
    if !tagged {
        return Err(format!("unsupported return type from ApplyConfiguration expression: {}", type_name(&result)));
    }
    let mut value = from_cel(&result).ok_or_else(|| format!("unsupported return type from ApplyConfiguration expression: {}", type_name(&result)))?;
    let mut errs = Vec::new();
    untag(&mut value, "Object", &mut errs);
    if !errs.is_empty() {
        return Err(format!("type mismatch: {}", errs.join("\n")));
    }
    *object = crate::apply::merge_apply_configuration(ty, object, &value).map_err(|e| format!("error applying patch: {e}"))?;
    Ok(())
}

/// Evaluates one JSONPatch mutation and applies it to `object`; a failing `test` leaves it as it is.
fn json_patch(act: &Activation<'_>, expr: &Expr, object: &mut Value) -> Result<(), String> {
    let result =
        act.eval(expr).map_err(|e| if e.starts_with("compilation failed: ") { e } else { format!("expression '{}' resulted in error: {e}", expr.text) })?;
    let Cel::List(items) = &result else { return Err("type mismatch: JSONPatchType.expression should evaluate to array".into()) };
    let mut ops = Vec::new();
    for item in items.iter() {
        let Some(Value::Object(mut m)) = from_cel(item) else {
            return Err(format!("type mismatch: JSONPatchType.expression should evaluate to array of JSONPatch, got element of {}", type_name(item)));
        };
        if m.remove(TYPE_KEY).and_then(|t| t.as_str().map(str::to_string)).as_deref() != Some("JSONPatch") {
            return Err(format!("type mismatch: JSONPatchType.expression should evaluate to array of JSONPatch, got element of {}", type_name(item)));
        }
        let mut op = serde_json::Map::new();
        for k in ["op", "path"] {
            op.insert(k.into(), m.get(k).cloned().unwrap_or_else(|| Value::String(String::new())));
        }
        if let Some(from) = m.get("from").filter(|f| f.as_str().is_some_and(|s| !s.is_empty())) {
            op.insert("from".into(), from.clone());
        }
        if let Some(mut value) = m.remove("value").filter(|v| !v.is_null()) {
            let mut errs = Vec::new();
            untag(&mut value, "", &mut errs);
            if !errs.is_empty() {
                return Err(format!("type mismatch: {}", errs.join("\n")));
            }
            op.insert("value".into(), value);
        }
        ops.push(Value::Object(op));
    }
    let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops)).map_err(|e| format!("JSON Patch: {e}"))?;
    match crate::json_patches::patched(object, &patch) {
        Ok(patched) => {
            *object = patched;
            Ok(())
        }
        Err(e) if matches!(e.kind, json_patch::PatchErrorKind::TestFailed) => Ok(()),
        Err(e) => Err(format!("JSON Patch: {e}")),
    }
}

/// The Status of the first error: 403, reason Invalid, its message alone, each error a cause.
fn denial(a: &Attributes<'_>, errors: &[PolicyError]) -> Status {
    let name = if !a.name.is_empty() {
        a.name.to_string()
    } else {
        let generate = a.object.and_then(|o| o.pointer("/metadata/generateName")).and_then(Value::as_str).unwrap_or_default();
        if generate.is_empty() { "Unknown".into() } else { generate.into() }
    };
    let messages: Vec<String> = errors
        .iter()
        .map(|e| {
            if e.binding.is_empty() {
                format!("policy {:?} denied request: {}", e.policy, e.message)
            } else {
                format!("policy '{}' with binding '{}' denied request: {}", e.policy, e.binding, e.message)
            }
        })
        .collect();
    let mut s = Status::forbidden(a.group, a.resource, &name, "admission request denied by policy");
    s.message = messages[0].clone();
    s.reason = "Invalid".into();
    if let Some(d) = s.details.as_mut() {
        d.causes = messages.iter().map(|m| StatusCause { message: m.clone(), ..Default::default() }).collect();
    }
    s
}

/// Runs every binding of every policy on a request, changing `object` in place. `a.object` is ignored: each
/// mutation sees `object` as the previous ones left it. `ty` is the kind's structure (for ApplyConfiguration).
/// Errors of policies with failurePolicy Fail refuse the request with the first one's Status (the object keeps the
/// changes made).
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    pairs: &[(Arc<Policy>, Vec<Arc<Binding>>)],
    a: &Attributes<'_>,
    object: &mut Option<Value>,
    ns: Option<&Value>,
    params: &dyn ParamSource,
    authz: Option<Arc<dyn CelAuthorizer>>,
    ty: &ObjectType,
    reinvocation: &mut dyn Reinvoker,
) -> Verdict {
    let ns_labels: Option<BTreeMap<String, String>> = ns.map(|n| matching::labels_of(Some(n)));
    let mut errors = Vec::new();
    let mut checks = Vec::new();
    for (policy, bindings) in pairs {
        let current = object.clone();
        let mut at = *a;
        at.object = current.as_ref();
        let policy_matches = matching::resources_match(Some(&policy.base.match_constraints), &at, ns_labels.as_ref(), false);
        match policy_matches {
            Ok(false) => continue,
            Err(e) => {
                errors.push(PolicyError {
                    policy: policy.base.name.clone(),
                    binding: String::new(),
                    fail_closed: policy.base.fail_closed,
                    message: format!("failed to configure policy: {e}"),
                });
                continue;
            }
            Ok(true) => {}
        }
        for binding in bindings {
            let err = |message: String| PolicyError {
                policy: policy.base.name.clone(),
                binding: binding.name.clone(),
                fail_closed: policy.base.fail_closed,
                message,
            };
            let current = object.clone();
            let mut at = *a;
            at.object = current.as_ref();
            match matching::resources_match(binding.match_resources.as_ref(), &at, ns_labels.as_ref(), true) {
                Ok(false) => continue,
                Err(e) => {
                    errors.push(err(format!("failed to configure binding: {e}")));
                    continue;
                }
                Ok(true) => {}
            }
            let list = match params_of(policy.base.param_kind.as_ref(), binding, &at, params) {
                Ok(list) => list,
                Err(f) => {
                    errors.push(err(f.message));
                    continue;
                }
            };
            for param in &list {
                let Some(working) = object.clone() else { continue };
                let key = format!(
                    "policy/{}/{}/{}/{}",
                    policy.base.name,
                    binding.name,
                    text(param.as_ref().unwrap_or(&Value::Null), "/metadata/namespace"),
                    text(param.as_ref().unwrap_or(&Value::Null), "/metadata/name")
                );
                let mut at = *a;
                at.object = Some(&working);
                let p = policy.base.param_kind.as_ref().map(|_| param.as_ref());
                let mut act = Activation::new(&at, p, ns, &policy.base.variables, authz.clone());
                match super::cel::match_conditions(&act, &policy.base.match_conditions) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        errors.push(err(e));
                        continue;
                    }
                }
                if !reinvocation.should_call(&key) {
                    continue;
                }
                let mut mutated = working.clone();
                for m in &policy.mutations {
                    let started = Instant::now();
                    act.set_object(Some(&mutated));
                    let outcome = if m.json_patch { json_patch(&act, &m.expr, &mut mutated) } else { apply_configuration(&act, &m.expr, &mut mutated, ty) };
                    let error_type = match &outcome {
                        Ok(()) => "no_error",
                        Err(e) if e.starts_with("compilation") => "compile_error",
                        Err(_) => "invalid_error",
                    };
                    checks.push(Check {
                        policy: policy.base.name.clone(),
                        binding: binding.name.clone(),
                        error_type,
                        seconds: started.elapsed().as_secs_f64(),
                    });
                    if let Err(e) = outcome {
                        errors.push(err(e));
                    }
                }
                let changed = mutated != working;
                *object = Some(mutated);
                reinvocation.ran(&key, policy.reinvoke_if_needed, changed);
            }
        }
    }
    let failing: Vec<PolicyError> = errors.into_iter().filter(|e| e.fail_closed).collect();
    if failing.is_empty() {
        return Verdict { checks, denial: None };
    }
    let mut at = *a;
    at.object = object.as_ref();
    Verdict { checks, denial: Some(Box::new(denial(&at, &failing))) }
}

/// What the mutating policies did to a request, besides changing the object.
#[derive(Debug)]
pub struct Verdict {
    /// One entry per mutation run.
    pub checks: Vec<Check>,
    /// The refusal (403), when an error of a policy with failurePolicy Fail happened.
    pub denial: Option<Box<Status>>,
}

impl Verdict {
    /// The refusal as an error.
    pub fn result(self) -> Result<Vec<Check>, Box<Status>> {
        match self.denial {
            Some(s) => Err(s),
            None => Ok(self.checks),
        }
    }
}

#[cfg(test)]
mod tests;
