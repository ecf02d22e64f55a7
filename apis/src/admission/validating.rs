//! ValidatingAdmissionPolicies and their bindings: compiled from their JSON once, evaluated per request as
//! kube-apiserver's validating policy dispatcher does (matching, params, matchConditions, variables,
//! validations, messages, failurePolicy, validationActions), with its exact messages and Statuses.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube_cel::cel::Value as Cel;
use serde_json::Value;

use super::Attributes;
use super::cel::{Activation, CelAuthorizer, Expr};
use super::matching::{self, label_selector};
use crate::selector::LabelSelector;
use crate::status::{Status, StatusCause};

/// A messageExpression's result longer than this is not used.
const MAX_MESSAGE: usize = 5 * 1024;

/// `paramKind` of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParamKind {
    /// apiVersion (`group/version`, or `version` for the core group).
    pub api_version: String,
    /// Kind.
    pub kind: String,
}

impl ParamKind {
    /// `apiVersion, Kind=kind`, as kube-apiserver names it in messages.
    pub fn describe(&self) -> String {
        format!("{}, Kind={}", self.api_version, self.kind)
    }
}

/// One validation of a policy.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The expression.
    pub expr: Expr,
    /// `message`.
    pub message: String,
    /// `messageExpression`.
    pub message_expression: Option<Expr>,
    /// `reason` (Invalid when unset).
    pub reason: String,
}

/// What every admission policy has, validating or mutating.
#[derive(Debug, Clone)]
pub struct PolicyBase {
    /// metadata.name.
    pub name: String,
    /// failurePolicy Fail (the default) or Ignore.
    pub fail_closed: bool,
    /// spec.matchConstraints.
    pub match_constraints: Value,
    /// spec.matchConditions, by name.
    pub match_conditions: Vec<(String, Expr)>,
    /// spec.variables, in order.
    pub variables: Vec<(String, Expr)>,
    /// spec.paramKind.
    pub param_kind: Option<ParamKind>,
}

impl PolicyBase {
    /// Reads it from the policy object `v` and its `spec`.
    pub fn from_json(v: &Value, spec: &Value) -> Self {
        Self {
            name: text(v, "/metadata/name"),
            fail_closed: spec.get("failurePolicy").and_then(Value::as_str) != Some("Ignore"),
            match_constraints: spec.get("matchConstraints").cloned().unwrap_or_default(),
            match_conditions: named_exprs(spec.get("matchConditions"), "name", "expression"),
            variables: named_exprs(spec.get("variables"), "name", "expression"),
            param_kind: spec.get("paramKind").filter(|p| !p.is_null()).map(|p| ParamKind { api_version: text(p, "/apiVersion"), kind: text(p, "/kind") }),
        }
    }
}

/// A compiled ValidatingAdmissionPolicy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// What every policy has.
    pub base: PolicyBase,
    /// spec.validations.
    pub validations: Vec<Validation>,
    /// spec.auditAnnotations: key and valueExpression.
    pub audit_annotations: Vec<(String, Expr)>,
}

pub(crate) fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string()
}

pub(crate) fn named_exprs(v: Option<&Value>, name_key: &str, expr_key: &str) -> Vec<(String, Expr)> {
    v.and_then(Value::as_array).into_iter().flatten().map(|e| (text(e, &format!("/{name_key}")), Expr::compile(&text(e, &format!("/{expr_key}"))))).collect()
}

impl AsRef<PolicyBase> for Policy {
    fn as_ref(&self) -> &PolicyBase {
        &self.base
    }
}

impl Policy {
    /// Compiles a ValidatingAdmissionPolicy object.
    pub fn from_json(v: &Value) -> Self {
        let spec = v.get("spec").cloned().unwrap_or_default();
        let validations = spec
            .get("validations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| Validation {
                expr: Expr::compile(&text(e, "/expression")),
                message: text(e, "/message"),
                message_expression: e.get("messageExpression").and_then(Value::as_str).filter(|s| !s.is_empty()).map(Expr::compile),
                reason: e.get("reason").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or("Invalid").to_string(),
            })
            .collect();
        Self { base: PolicyBase::from_json(v, &spec), validations, audit_annotations: named_exprs(spec.get("auditAnnotations"), "key", "valueExpression") }
    }
}

/// What a binding does with a failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Refuse the request.
    Deny,
    /// Answer a warning.
    Warn,
    /// Record an audit annotation.
    Audit,
}

impl Action {
    /// The name kube-apiserver gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "Deny",
            Self::Warn => "Warn",
            Self::Audit => "Audit",
        }
    }
}

/// `paramRef` of a binding.
#[derive(Debug, Clone)]
pub struct ParamRef {
    /// name.
    pub name: String,
    /// namespace.
    pub namespace: String,
    /// selector (None when `name` is given).
    pub selector: Option<Value>,
    /// parameterNotFoundAction is Deny.
    pub deny_when_missing: bool,
}

/// A ValidatingAdmissionPolicyBinding.
#[derive(Debug, Clone)]
pub struct Binding {
    /// metadata.name.
    pub name: String,
    /// spec.policyName.
    pub policy_name: String,
    /// spec.paramRef.
    pub param_ref: Option<ParamRef>,
    /// spec.matchResources.
    pub match_resources: Option<Value>,
    /// spec.validationActions.
    pub actions: Vec<Action>,
}

impl Binding {
    /// Reads a ValidatingAdmissionPolicyBinding object.
    pub fn from_json(v: &Value) -> Self {
        let spec = v.get("spec").cloned().unwrap_or_default();
        let param_ref = spec.get("paramRef").filter(|p| !p.is_null()).map(|p| ParamRef {
            name: text(p, "/name"),
            namespace: text(p, "/namespace"),
            selector: p.get("selector").filter(|s| !s.is_null()).cloned(),
            deny_when_missing: p.get("parameterNotFoundAction").and_then(Value::as_str) == Some("Deny"),
        });
        let actions = spec
            .get("validationActions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| match a.as_str() {
                Some("Deny") => Some(Action::Deny),
                Some("Warn") => Some(Action::Warn),
                Some("Audit") => Some(Action::Audit),
                _ => None,
            })
            .collect();
        Self {
            name: text(v, "/metadata/name"),
            policy_name: text(&spec, "/policyName"),
            param_ref,
            match_resources: spec.get("matchResources").filter(|m| !m.is_null()).cloned(),
            actions,
        }
    }
}

/// Where params come from.
pub trait ParamSource {
    /// True when `kind` is namespaced; an error when kube-apiserver serves no such kind.
    fn namespaced(&self, kind: &ParamKind) -> Result<bool, String>;
    /// The objects of `kind` in `namespace` ("" for cluster-scoped kinds) named `name`, or else matching
    /// `selector`.
    fn find(&self, kind: &ParamKind, namespace: &str, name: Option<&str>, selector: &LabelSelector) -> Result<Vec<Value>, String>;
}

/// One failed validation or evaluation error of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The message.
    pub message: String,
    /// The reason (Invalid, Forbidden ...).
    pub reason: String,
    /// True for an evaluation or configuration error (subject to failurePolicy), false for a false validation.
    pub error: bool,
}

/// The outcome of one (policy, binding) pair, for metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Policy name.
    pub policy: String,
    /// Binding name.
    pub binding: String,
    /// `no_error`, `invalid_error` (a validation failed) or `evaluation_error`.
    pub error_type: &'static str,
    /// `allow`, or the actions taken: `deny`, `warn`, `audit`.
    pub enforcement_action: String,
    /// Seconds spent.
    pub seconds: f64,
}

/// What the policies decided about a request.
#[derive(Debug, Default)]
pub struct Verdict {
    /// The first denial, as the Status answered.
    pub denial: Option<Status>,
    /// Warnings for the response.
    pub warnings: Vec<String>,
    /// Audit annotations: key, value.
    pub audit_annotations: Vec<(String, String)>,
    /// One entry per evaluated (policy, binding).
    pub checks: Vec<Check>,
}

/// The name a denial names: the request's, else the object's generateName, else `Unknown`.
fn subject_name(a: &Attributes<'_>) -> String {
    if !a.name.is_empty() {
        return a.name.to_string();
    }
    let generate = a.object.and_then(|o| o.pointer("/metadata/generateName")).and_then(Value::as_str).unwrap_or_default();
    if generate.is_empty() { "Unknown".into() } else { generate.into() }
}

/// The Status of a denial: `<resource>.<group> "<name>" is forbidden: <reason text>`, its code by reason.
pub fn denial_status(a: &Attributes<'_>, detail: &str, reason: &str) -> Status {
    let (code, reason) = match reason {
        "Forbidden" => (403, "Forbidden"),
        "Unauthorized" => (401, "Unauthorized"),
        "RequestEntityTooLarge" => (413, "RequestEntityTooLarge"),
        _ => (422, "Invalid"),
    };
    let name = subject_name(a);
    let mut s = Status::forbidden(a.group, a.resource, &name, detail);
    s.code = code;
    s.reason = reason.into();
    if let Some(d) = s.details.as_mut() {
        d.causes = vec![StatusCause { message: detail.into(), ..Default::default() }];
    }
    s
}

/// The message of a false validation: its messageExpression's, else its message, else the expression.
fn failure_message(v: &Validation, act: &Activation<'_>) -> String {
    if let Some(me) = &v.message_expression
        && let Ok(Cel::String(s)) = act.eval_message(me)
    {
        let s = s.trim();
        if !s.is_empty() && s.len() <= MAX_MESSAGE && !s.contains('\n') {
            return s.to_string();
        }
    }
    if !v.message.trim().is_empty() {
        return v.message.trim().to_string();
    }
    format!("failed expression: {}", v.expr.text.trim())
}

/// The params a binding evaluates with: `vec![None]` without paramKind or paramRef.
pub(crate) fn params_of(
    param_kind: Option<&ParamKind>,
    binding: &Binding,
    a: &Attributes<'_>,
    source: &dyn ParamSource,
) -> Result<Vec<Option<Value>>, Failure> {
    let config = |m: String| Failure { message: m, reason: "Invalid".into(), error: true };
    let (Some(kind), Some(pr)) = (param_kind, &binding.param_ref) else { return Ok(vec![None]) };
    let namespaced = source
        .namespaced(kind)
        .map_err(|_| config(format!("failed to configure policy: failed to find resource referenced by paramKind: '{}'", kind.describe())))?;
    let namespace = if namespaced {
        if !pr.namespace.is_empty() {
            pr.namespace.clone()
        } else if a.namespace.is_empty() {
            return Err(config("failed to configure binding: cannot use namespaced paramRef in policy binding that matches cluster-scoped resources".into()));
        } else {
            a.namespace.to_string()
        }
    } else if !pr.namespace.is_empty() {
        return Err(config("failed to configure binding: paramRef.namespace must not be provided for a cluster-scoped `paramKind`".into()));
    } else {
        String::new()
    };
    let selector = label_selector(pr.selector.as_ref()).map_err(|e| config(format!("failed to configure binding: {e}")))?;
    let name = (!pr.name.is_empty()).then_some(pr.name.as_str());
    let found = source.find(kind, &namespace, name, &selector).map_err(config)?;
    if found.is_empty() {
        if pr.deny_when_missing {
            return Err(config("failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction".into()));
        }
        return Ok(Vec::new());
    }
    Ok(found.into_iter().map(Some).collect())
}

/// The failures of one binding with one param; empty when it passes or does not apply.
fn evaluate_with(
    policy: &Policy,
    a: &Attributes<'_>,
    param: Option<Option<&Value>>,
    ns: Option<&Value>,
    authz: Option<Arc<dyn CelAuthorizer>>,
) -> Vec<Failure> {
    let act = Activation::new(a, param, ns, &policy.base.variables, authz);
    match super::cel::match_conditions(&act, &policy.base.match_conditions) {
        Ok(true) => {}
        Ok(false) => return Vec::new(),
        Err(message) => return vec![Failure { message, reason: "Invalid".into(), error: true }],
    }
    let mut out = Vec::new();
    for v in &policy.validations {
        if let Some(e) = v.expr.error() {
            out.push(Failure { message: format!("compilation failed: {e}"), reason: "Invalid".into(), error: true });
            continue;
        }
        match act.eval(&v.expr) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => out.push(Failure { message: failure_message(v, &act), reason: v.reason.clone(), error: false }),
            Ok(other) => out.push(Failure {
                message: format!("expression '{}' resulted in error: expected a boolean, got {other:?}", v.expr.text),
                reason: "Invalid".into(),
                error: true,
            }),
            Err(e) => out.push(Failure { message: format!("expression '{}' resulted in error: {e}", v.expr.text), reason: "Invalid".into(), error: true }),
        }
    }
    out
}

/// Evaluates every binding of every policy on a request. `ns` is the request's Namespace object, when it has
/// one (cluster-scoped requests have none).
pub fn evaluate(
    policies: &[(Arc<Policy>, Vec<Arc<Binding>>)],
    a: &Attributes<'_>,
    ns: Option<&Value>,
    params: &dyn ParamSource,
    authz: Option<Arc<dyn CelAuthorizer>>,
) -> Verdict {
    let mut verdict = Verdict::default();
    let ns_labels: Option<BTreeMap<String, String>> = ns.map(|n| matching::labels_of(Some(n)));
    for (policy, bindings) in policies {
        let policy_matches = matching::resources_match(Some(&policy.base.match_constraints), a, ns_labels.as_ref(), false);
        if matches!(policy_matches, Ok(false)) {
            continue;
        }
        for binding in bindings {
            let started = std::time::Instant::now();
            let failures = match &policy_matches {
                Err(e) => vec![Failure { message: e.clone(), reason: "Invalid".into(), error: true }],
                Ok(_) => match matching::resources_match(binding.match_resources.as_ref(), a, ns_labels.as_ref(), true) {
                    Ok(false) => continue,
                    Err(e) => vec![Failure { message: e, reason: "Invalid".into(), error: true }],
                    Ok(true) => match params_of(policy.base.param_kind.as_ref(), binding, a, params) {
                        Err(f) => vec![f],
                        Ok(list) => list
                            .iter()
                            .flat_map(|p| {
                                let param = policy.base.param_kind.as_ref().map(|_| p.as_ref());
                                evaluate_with(policy, a, param, ns, authz.clone())
                            })
                            .collect(),
                    },
                },
            };
            let mut check = Check {
                policy: policy.base.name.clone(),
                binding: binding.name.clone(),
                error_type: "no_error",
                enforcement_action: "allow".into(),
                seconds: started.elapsed().as_secs_f64(),
            };
            for f in failures.iter().filter(|f| !f.error || policy.base.fail_closed) {
                check.error_type = if f.error { "evaluation_error" } else { "invalid_error" };
                check.enforcement_action = binding.actions.iter().map(|x| x.as_str().to_lowercase()).collect::<Vec<_>>().join(",");
                for action in &binding.actions {
                    match action {
                        Action::Deny => {
                            if verdict.denial.is_none() {
                                let detail =
                                    format!("ValidatingAdmissionPolicy '{}' with binding '{}' denied request: {}", policy.base.name, binding.name, f.message);
                                verdict.denial = Some(denial_status(a, &detail, &f.reason));
                            }
                        }
                        Action::Warn => verdict.warnings.push(format!(
                            "Validation failed for ValidatingAdmissionPolicy '{}' with binding '{}': {}",
                            policy.base.name, binding.name, f.message
                        )),
                        Action::Audit => {
                            let value = serde_json::json!([{
                                "message": f.message,
                                "policy": policy.base.name,
                                "binding": binding.name,
                                "expressionIndex": 0,
                                "validationActions": binding.actions.iter().map(|x| x.as_str()).collect::<Vec<_>>(),
                            }]);
                            verdict.audit_annotations.push(("validation.policy.admission.k8s.io/validation_failure".into(), value.to_string()));
                        }
                    }
                }
            }
            verdict.checks.push(check);
        }
    }
    verdict
}

/// Matches policies to their bindings: only policies with at least one binding are evaluated; bindings of
/// missing policies are ignored.
pub fn pair<P: AsRef<PolicyBase>>(policies: &[Arc<P>], bindings: &[Arc<Binding>]) -> Vec<(Arc<P>, Vec<Arc<Binding>>)> {
    policies
        .iter()
        .filter_map(|p| {
            let mine: Vec<_> = bindings.iter().filter(|b| b.policy_name == (**p).as_ref().name).cloned().collect();
            (!mine.is_empty()).then(|| (p.clone(), mine))
        })
        .collect()
}
