//! The CEL environment of admission expressions: `object`, `oldObject`, `request`, `params`,
//! `namespaceObject`, `variables` and `authorizer`, with the Kubernetes CEL libraries of kube-cel.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use kube_cel::KubeCelExt;
use kube_cel::cel::objects::{Key, Map};
use kube_cel::cel::{Context, Program, Value as Cel};
use serde_json::{Value, json};

use super::Attributes;

/// A CEL value.
pub use kube_cel::cel::Value as CelValue;

/// Answers the `authorizer` library's checks: `(group, resource, subresource, namespace, name, verb)` or, for
/// `path()`, `(path, verb)`, to whether the request's user may do it.
pub trait CelAuthorizer: Send + Sync {
    /// A resource check.
    fn check(&self, check: &AuthzCheck) -> AuthzDecision;
}

/// One authorizer check of an expression.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AuthzCheck {
    /// A non-resource path, when the check is about one.
    pub path: Option<String>,
    /// API group.
    pub group: String,
    /// Resource plural.
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// Namespace.
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// Verb.
    pub verb: String,
    /// A service account to check instead of the request's user: (namespace, name).
    pub service_account: Option<(String, String)>,
}

/// The answer of an authorizer check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzDecision {
    /// Allowed.
    pub allowed: bool,
    /// The authorizer's reason.
    pub reason: String,
    /// An error, when the check could not be made.
    pub error: String,
}

/// An expression, compiled once.
#[derive(Debug, Clone)]
pub struct Expr {
    /// Its text.
    pub text: String,
    program: Result<Arc<Program>, String>,
    variables: Vec<String>,
    mutation: bool,
}

impl Expr {
    /// Compiles `text`; a compile error is kept and reported when the expression is evaluated.
    pub fn compile(text: &str) -> Self {
        let program = Program::compile(text).map(Arc::new).map_err(|e| e.to_string());
        Self { text: text.to_string(), program, variables: referenced_variables(text), mutation: false }
    }

    /// Compiles a mutation's expression: `Object{...}`, `Object.<path>{...}` and `JSONPatch{...}` are
    /// rewritten into tagged maps first (the `cel` crate cannot construct messages), and `jsonpatch.escapeKey`
    /// is offered. `text` stays the original, for messages.
    pub fn compile_mutation(text: &str) -> Self {
        let rewritten = super::mutating::rewrite_constructors(text);
        let program = Program::compile(&rewritten).map(Arc::new).map_err(|e| e.to_string());
        Self { text: text.to_string(), program, variables: referenced_variables(text), mutation: true }
    }

    /// The compile error, if any.
    pub fn error(&self) -> Option<&str> {
        self.program.as_ref().err().map(String::as_str)
    }
}

/// The names `variables.<name>` refers to, in order of appearance.
fn referenced_variables(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("variables.") {
        let before_ok = i == 0 || !rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        let after = &rest[i + "variables.".len()..];
        let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        if before_ok && end > 0 && !out.iter().any(|n| n == &after[..end]) {
            out.push(after[..end].to_string());
        }
        rest = &after[end..];
    }
    out
}

/// JSON as CEL: integers are int (int64), as for custom resources.
pub fn to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cel::Int(i),
            None => Cel::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => Cel::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(m) => {
            let map: HashMap<Key, Cel> = m.iter().map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v))).collect();
            Cel::Map(Map { map: Arc::new(map) })
        }
    }
}

/// A CEL result as JSON (for messages and annotations); None for values JSON cannot hold.
pub fn from_cel(v: &Cel) -> Option<Value> {
    Some(match v {
        Cel::Null => Value::Null,
        Cel::Bool(b) => json!(b),
        Cel::Int(i) => json!(i),
        Cel::UInt(u) => json!(u),
        Cel::Float(f) => json!(f),
        Cel::String(s) => json!(s.as_str()),
        Cel::List(l) => Value::Array(l.iter().map(from_cel).collect::<Option<_>>()?),
        Cel::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m.map.iter() {
                let Key::String(k) = k else { return None };
                out.insert(k.to_string(), from_cel(v)?);
            }
            Value::Object(out)
        }
        _ => return None,
    })
}

/// The `request` variable: an admission.k8s.io AdmissionRequest. Empty lists and maps are left out, so that
/// `has()` answers as it does on the typed object.
pub fn request_json(a: &Attributes<'_>) -> Value {
    let mut user = json!({"username": a.user.name});
    if !a.user.uid.is_empty() {
        user["uid"] = a.user.uid.clone().into();
    }
    if !a.user.groups.is_empty() {
        user["groups"] = json!(a.user.groups);
    }
    if !a.user.extra.is_empty() {
        user["extra"] = json!(a.user.extra);
    }
    let kind = json!({"group": a.group, "version": a.version, "kind": a.kind});
    let resource = json!({"group": a.group, "version": a.version, "resource": a.resource});
    let mut r = json!({
        "uid": "",
        "kind": kind,
        "resource": resource,
        "subResource": a.subresource,
        "requestKind": kind,
        "requestResource": resource,
        "requestSubResource": a.subresource,
        "name": a.name,
        "namespace": a.namespace,
        "operation": a.operation.as_str(),
        "userInfo": user,
        "dryRun": a.dry_run,
    });
    if let Some(o) = a.options {
        r["options"] = o.clone();
    }
    r
}

/// The `namespaceObject` variable: the fields of a Namespace kube-apiserver exposes.
pub fn namespace_object(ns: &Value) -> Value {
    let mut meta = serde_json::Map::new();
    if let Some(m) = ns.get("metadata").and_then(Value::as_object) {
        for k in [
            "name",
            "generateName",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "labels",
            "annotations",
            "finalizers",
        ] {
            if let Some(v) = m.get(k) {
                meta.insert(k.into(), v.clone());
            }
        }
    }
    let mut out = json!({"metadata": meta});
    for k in ["spec", "status"] {
        if let Some(v) = ns.get(k) {
            out[k] = v.clone();
        }
    }
    out
}

/// The error text of an evaluation, worded as cel-go words the common ones.
fn eval_error(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    if let Some(key) = s.strip_prefix("No such key: ") {
        return format!("no such key: {key}");
    }
    if let Some(name) = s.strip_prefix("Undeclared reference to '").and_then(|r| r.strip_suffix('\'')) {
        return format!("undeclared reference to '{name}'");
    }
    s
}

/// The variables of one evaluation (one policy, binding and param): the bound values, the declared
/// `variables`, evaluated lazily and remembered, and the authorizer.
pub struct Activation<'v> {
    bindings: Vec<(&'static str, Cel)>,
    declared: &'v [(String, Expr)],
    computed: RefCell<HashMap<String, Result<Cel, String>>>,
    authorizer: Option<Arc<dyn CelAuthorizer>>,
    authorizer_var: Cel,
}

impl<'v> Activation<'v> {
    /// The activation of a request: `object`, `oldObject`, `request`, and `params` / `namespaceObject` when given
    /// (`params` is declared when `with_params`, null without a param).
    pub fn new(
        a: &Attributes<'_>,
        params: Option<Option<&Value>>,
        namespace: Option<&Value>,
        declared: &'v [(String, Expr)],
        authorizer: Option<Arc<dyn CelAuthorizer>>,
    ) -> Self {
        let mut bindings = vec![
            ("object", a.object.map(to_cel).unwrap_or(Cel::Null)),
            ("oldObject", a.old_object.map(to_cel).unwrap_or(Cel::Null)),
            ("request", to_cel(&request_json(a))),
            ("namespaceObject", namespace.filter(|_| a.namespaced).map(|n| to_cel(&namespace_object(n))).unwrap_or(Cel::Null)),
        ];
        if let Some(p) = params {
            bindings.push(("params", p.map(to_cel).unwrap_or(Cel::Null)));
        }
        Self { bindings, declared, computed: RefCell::new(HashMap::new()), authorizer, authorizer_var: super::authorizer::variable(a) }
    }

    /// Replaces `object` (a mutation sees the object as the previous mutations left it); the variables computed
    /// so far are kept, as kube-apiserver keeps them for one (policy, binding, param).
    pub fn set_object(&mut self, object: Option<&Value>) {
        if let Some(slot) = self.bindings.iter_mut().find(|(n, _)| *n == "object") {
            slot.1 = object.map(to_cel).unwrap_or(Cel::Null);
        }
    }

    fn context(&self, visible: usize, wanted: &[String], with_authorizer: bool, mutation: bool) -> Result<Context<'static>, String> {
        let mut ctx = Context::default();
        ctx.register_all();
        if mutation {
            super::mutating::register_jsonpatch(&mut ctx);
        }
        for (name, v) in &self.bindings {
            ctx.add_variable_from_value(*name, v.clone());
        }
        let mut vars = HashMap::new();
        for name in wanted {
            let Some(index) = self.declared.iter().position(|(n, _)| n == name) else { continue };
            if index >= visible {
                continue;
            }
            let value = self.variable(index)?;
            vars.insert(Key::String(Arc::new(name.clone())), value);
        }
        ctx.add_variable_from_value("variables", Cel::Map(Map { map: Arc::new(vars) }));
        if with_authorizer && let Some(authz) = &self.authorizer {
            ctx.add_variable_from_value("authorizer", self.authorizer_var.clone());
            super::authorizer::register(&mut ctx, authz.clone());
        }
        Ok(ctx)
    }

    fn variable(&self, index: usize) -> Result<Cel, String> {
        let (name, expr) = &self.declared[index];
        if let Some(done) = self.computed.borrow().get(name) {
            return done.clone().map_err(|e| format!("composited variable \"{name}\" fails to evaluate: {e}"));
        }
        let result = self.run(expr, index, true);
        self.computed.borrow_mut().insert(name.clone(), result.clone());
        result.map_err(|e| format!("composited variable \"{name}\" fails to evaluate: {e}"))
    }

    fn run(&self, expr: &Expr, visible: usize, with_authorizer: bool) -> Result<Cel, String> {
        let program = expr.program.as_ref().map_err(|e| format!("compilation failed: {e}"))?;
        let ctx = self.context(visible, &expr.variables, with_authorizer, expr.mutation)?;
        program.execute(&ctx).map_err(eval_error)
    }

    /// Evaluates `expr` with every declared variable visible.
    pub fn eval(&self, expr: &Expr) -> Result<Cel, String> {
        self.run(expr, self.declared.len(), true)
    }

    /// Evaluates a messageExpression: no authorizer.
    pub fn eval_message(&self, expr: &Expr) -> Result<Cel, String> {
        self.run(expr, self.declared.len(), false)
    }

    /// Evaluates a matchCondition: no `variables`.
    pub fn eval_condition(&self, expr: &Expr) -> Result<Cel, String> {
        self.run(expr, 0, true)
    }

    /// Evaluates `expr`, which must give a bool.
    pub fn eval_bool(&self, expr: &Expr) -> Result<bool, String> {
        match self.eval(expr)? {
            Cel::Bool(b) => Ok(b),
            other => Err(format!("expected a boolean, got {other:?}")),
        }
    }
}

/// A matchCondition's value: a bool, or the error kube-apiserver reports for it.
pub fn condition(act: &Activation<'_>, expr: &Expr) -> Result<bool, String> {
    match act.eval_condition(expr) {
        Ok(Cel::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("expression '{}' resulted in error: expected a boolean, got {other:?}", expr.text)),
        Err(e) if e.starts_with("compilation failed: ") => Err(e),
        Err(e) => Err(format!("expression '{}' resulted in error: {e}", expr.text)),
    }
}

/// matchConditions, as kube-apiserver runs them: any false one skips the request (even when others erred);
/// otherwise the errors together are one error; true when all hold.
pub fn match_conditions(act: &Activation<'_>, conditions: &[(String, Expr)]) -> Result<bool, String> {
    let mut errors = Vec::new();
    for (_, expr) in conditions {
        match condition(act, expr) {
            Ok(false) => return Ok(false),
            Ok(true) => {}
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(true) } else { Err(aggregate(&errors)) }
}

/// Several errors as one, as apimachinery's aggregate prints them: the one alone, or `[a, b]`.
pub fn aggregate(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_variables_are_found_once_in_order() {
        assert_eq!(referenced_variables("variables.a && variables.b_2 || variables.a"), ["a", "b_2"]);
        assert!(referenced_variables("myvariables.a").is_empty());
    }
}
