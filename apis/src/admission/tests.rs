use std::sync::Arc;

use serde_json::{Value, json};

use super::validating::{Binding, ParamKind, ParamSource, Policy, evaluate, pair};
use super::webhook::{self, webhooks_of};
use super::{Attributes, Operation};
use crate::selector::LabelSelector;
use crate::user::UserInfo;

fn fixture_policies(file: &str) -> (Vec<Arc<Policy>>, Vec<Arc<Binding>>) {
    let text = std::fs::read_to_string(crate::fixtures::dir().join("admission").join(file)).unwrap();
    let mut policies = Vec::new();
    let mut bindings = Vec::new();
    for doc in text.split("\n---").filter(|d| d.contains("kind:")) {
        let v: Value = crate::yaml::from_slice(doc.as_bytes()).unwrap();
        match v["kind"].as_str() {
            Some("ValidatingAdmissionPolicy") => policies.push(Arc::new(Policy::from_json(&v))),
            Some("ValidatingAdmissionPolicyBinding") => bindings.push(Arc::new(Binding::from_json(&v))),
            _ => {}
        }
    }
    (policies, bindings)
}

struct NoParams;
impl ParamSource for NoParams {
    fn namespaced(&self, _: &ParamKind) -> Result<bool, String> {
        Ok(true)
    }
    fn find(&self, _: &ParamKind, _: &str, name: Option<&str>, selector: &LabelSelector) -> Result<Vec<Value>, String> {
        let all = vec![
            json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"max": "3"}}),
            json!({"metadata": {"name": "b", "labels": {"x": "1"}}, "data": {"max": "5"}}),
        ];
        Ok(all.into_iter().filter(|p| name.is_none_or(|n| p["metadata"]["name"] == n) && selector.matches(&super::matching::labels_of(Some(p)))).collect())
    }
}

fn attrs<'a>(op: Operation, user: &'a UserInfo, object: Option<&'a Value>, old: Option<&'a Value>) -> Attributes<'a> {
    Attributes {
        operation: op,
        group: "apps.cozystack.io",
        version: "v1alpha1",
        resource: "tenants",
        subresource: "",
        kind: "Tenant",
        namespaced: true,
        namespace: "tenant-root",
        name: "t1",
        object,
        old_object: old,
        user,
        dry_run: false,
        options: None,
    }
}

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo { name: name.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..Default::default() }
}

#[test]
fn tenant_host_policy_denies_tenant_admins_with_its_message_expression() {
    let (p, b) = fixture_policies("cozystack-tenant-host-policy.yaml");
    let pairs = pair(&p, &b);
    let obj = json!({"metadata": {"name": "t1"}, "spec": {"host": "evil.example.org"}});
    let alice = user("alice", &["system:authenticated"]);
    let v = evaluate(&pairs, &attrs(Operation::Create, &alice, Some(&obj), None), None, &NoParams, None);
    let s = v.denial.expect("denied");
    assert_eq!(s.code, 403);
    assert_eq!(s.reason, "Forbidden");
    assert_eq!(
        s.message,
        "tenants.apps.cozystack.io \"t1\" is forbidden: ValidatingAdmissionPolicy 'cozystack-tenant-host-policy' with binding 'cozystack-tenant-host-policy' denied request: tenant.spec.host can only be set or changed by cluster-admins (system:masters) or by cozystack/Flux service accounts; request user is alice. A tenant with empty spec.host inherits the apex from its parent tenant."
    );
    let admin = user("admin", &["system:masters"]);
    assert!(evaluate(&pairs, &attrs(Operation::Create, &admin, Some(&obj), None), None, &NoParams, None).denial.is_none());
    // No host anywhere: the matchCondition leaves the request alone.
    let plain = json!({"metadata": {"name": "t1"}, "spec": {}});
    assert!(evaluate(&pairs, &attrs(Operation::Create, &alice, Some(&plain), None), None, &NoParams, None).denial.is_none());
    // An unchanged host passes on update.
    assert!(evaluate(&pairs, &attrs(Operation::Update, &alice, Some(&obj), Some(&obj)), None, &NoParams, None).denial.is_none());
}

#[test]
fn no_delete_guardrail_denies_deletes_of_labelled_objects_only() {
    let (p, b) = fixture_policies("cozystack-no-delete-guardrail.yaml");
    let pairs = pair(&p, &b);
    let admin = user("admin", &["system:masters"]);
    let labelled = json!({"metadata": {"name": "t1", "labels": {"platform.cozystack.io/no-delete": "true"}}});
    let v = evaluate(&pairs, &attrs(Operation::Delete, &admin, None, Some(&labelled)), None, &NoParams, None);
    let s = v.denial.expect("denied");
    assert_eq!(s.code, 422);
    assert!(s.message.contains("denied request: Deletion blocked: object carries platform.cozystack.io/no-delete=true."), "{}", s.message);
    let plain = json!({"metadata": {"name": "t1"}});
    assert!(evaluate(&pairs, &attrs(Operation::Delete, &admin, None, Some(&plain)), None, &NoParams, None).denial.is_none());
    assert!(evaluate(&pairs, &attrs(Operation::Update, &admin, Some(&labelled), Some(&labelled)), None, &NoParams, None).denial.is_none());
}

fn policy(spec: Value) -> Arc<Policy> {
    Arc::new(Policy::from_json(&json!({"metadata": {"name": "p"}, "spec": spec})))
}

fn binding(spec: Value) -> Arc<Binding> {
    let mut spec = spec;
    spec["policyName"] = "p".into();
    Arc::new(Binding::from_json(&json!({"metadata": {"name": "b"}, "spec": spec})))
}

fn all_tenants() -> Value {
    json!({"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["tenants"]}]})
}

#[test]
fn failure_policy_actions_variables_and_messages() {
    let u = user("u", &[]);
    let obj = json!({"metadata": {"name": "t1"}, "spec": {}});
    let a = attrs(Operation::Create, &u, Some(&obj), None);
    // An error under Fail denies with 422; under Ignore it admits.
    let p = policy(json!({"matchConstraints": all_tenants(), "validations": [{"expression": "object.spec.missing == 1"}]}));
    let v = evaluate(&[(p, vec![binding(json!({"validationActions": ["Deny"]}))])], &a, None, &NoParams, None);
    let s = v.denial.unwrap();
    assert_eq!(s.code, 422);
    assert!(s.message.ends_with("denied request: expression 'object.spec.missing == 1' resulted in error: no such key: missing"), "{}", s.message);
    let p = policy(json!({"failurePolicy": "Ignore", "matchConstraints": all_tenants(), "validations": [{"expression": "object.spec.missing == 1"}]}));
    assert!(evaluate(&[(p, vec![binding(json!({"validationActions": ["Deny"]}))])], &a, None, &NoParams, None).denial.is_none());
    // Warn answers a warning and admits; an unused failing variable costs nothing.
    let p = policy(json!({
        "matchConstraints": all_tenants(),
        "variables": [{"name": "bad", "expression": "object.nope"}, {"name": "n", "expression": "object.metadata.name"}],
        "validations": [{"expression": "variables.n == 'x'", "messageExpression": "'name is ' + variables.n"}],
    }));
    let v = evaluate(&[(p, vec![binding(json!({"validationActions": ["Warn"]}))])], &a, None, &NoParams, None);
    assert!(v.denial.is_none());
    assert_eq!(v.warnings, ["Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': name is t1"]);
    // A failing variable in use names itself.
    let p = policy(json!({
        "matchConstraints": all_tenants(),
        "variables": [{"name": "bad", "expression": "object.nope"}],
        "validations": [{"expression": "variables.bad == 1"}],
    }));
    let s = evaluate(&[(p, vec![binding(json!({"validationActions": ["Deny"]}))])], &a, None, &NoParams, None).denial.unwrap();
    assert!(s.message.ends_with("resulted in error: composited variable \"bad\" fails to evaluate: no such key: nope"), "{}", s.message);
    // A multi-line messageExpression falls back to the message, an absent message to the expression.
    let p = policy(
        json!({"matchConstraints": all_tenants(), "validations": [{"expression": "false", "messageExpression": "'a\\nb'", "message": "static"}, {"expression": " 1 == 2 "}]}),
    );
    let v = evaluate(&[(p, vec![binding(json!({"validationActions": ["Warn"]}))])], &a, None, &NoParams, None);
    assert_eq!(v.warnings.len(), 2);
    assert!(v.warnings[0].ends_with(": static"));
    assert!(v.warnings[1].ends_with(": failed expression: 1 == 2"));
}

#[test]
fn params_by_name_and_selector() {
    let u = user("u", &[]);
    let obj = json!({"metadata": {"name": "t1"}, "spec": {"replicas": 4}});
    let a = attrs(Operation::Create, &u, Some(&obj), None);
    let p = policy(json!({
        "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        "matchConstraints": all_tenants(),
        "validations": [{"expression": "object.spec.replicas <= int(params.data.max)", "messageExpression": "'at most ' + params.data.max"}],
    }));
    let by_name = binding(json!({"validationActions": ["Deny"], "paramRef": {"name": "b", "parameterNotFoundAction": "Deny"}}));
    assert!(evaluate(&[(p.clone(), vec![by_name])], &a, None, &NoParams, None).denial.is_none());
    let both = binding(json!({"validationActions": ["Deny"], "paramRef": {"selector": {"matchLabels": {"x": "1"}}, "parameterNotFoundAction": "Deny"}}));
    let s = evaluate(&[(p.clone(), vec![both])], &a, None, &NoParams, None).denial.unwrap();
    assert!(s.message.ends_with("denied request: at most 3"), "{}", s.message);
    let none_allow = binding(json!({"validationActions": ["Deny"], "paramRef": {"selector": {"matchLabels": {"x": "2"}}, "parameterNotFoundAction": "Allow"}}));
    assert!(evaluate(&[(p.clone(), vec![none_allow])], &a, None, &NoParams, None).denial.is_none());
    let none_deny = binding(json!({"validationActions": ["Deny"], "paramRef": {"name": "zzz", "parameterNotFoundAction": "Deny"}}));
    let s = evaluate(&[(p, vec![none_deny])], &a, None, &NoParams, None).denial.unwrap();
    assert!(s.message.ends_with("no params found for policy binding with `Deny` parameterNotFoundAction"), "{}", s.message);
}

#[test]
fn matching_rules_subresources_and_selectors() {
    use super::matching::{resource_listed, resources_match};
    assert!(resource_listed(["*"], "tenants", ""));
    assert!(!resource_listed(["*"], "tenants", "status"));
    assert!(resource_listed(["*/*"], "tenants", "status"));
    assert!(resource_listed(["tenants/*"], "tenants", "status"));
    assert!(resource_listed(["*/status"], "tenants", "status"));
    assert!(!resource_listed(["tenants"], "tenants", "status"));
    let u = user("u", &[]);
    let obj = json!({"metadata": {"name": "t1", "labels": {"a": "b"}}});
    let a = attrs(Operation::Create, &u, Some(&obj), None);
    let ns = [("env".to_string(), "prod".to_string())].into_iter().collect();
    let m = json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}, "resourceRules": [{"apiGroups": ["apps.cozystack.io"], "apiVersions": ["v1alpha1"], "operations": ["CREATE"], "resources": ["tenants"], "scope": "Namespaced"}]});
    assert!(resources_match(Some(&m), &a, Some(&ns), false).unwrap());
    let mut cluster = m.clone();
    cluster["resourceRules"][0]["scope"] = "Cluster".into();
    assert!(!resources_match(Some(&cluster), &a, Some(&ns), false).unwrap());
    let mut excluded = m.clone();
    excluded["excludeResourceRules"] = json!([{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"], "resourceNames": ["t1"]}]);
    assert!(!resources_match(Some(&excluded), &a, Some(&ns), false).unwrap());
    let mut other_ns = m.clone();
    other_ns["namespaceSelector"] = json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]});
    assert!(!resources_match(Some(&other_ns), &a, Some(&ns), false).unwrap());
    assert!(resources_match(None, &a, None, true).unwrap());
}

#[test]
fn webhook_replies_and_messages() {
    let cfg = json!({"metadata": {"name": "cfg"}, "webhooks": [{"name": "w.example.com", "clientConfig": {"url": "https://127.0.0.1:9443/validate"}, "rules": [], "sideEffects": "None", "admissionReviewVersions": ["v1"]}]});
    let w = &webhooks_of(&cfg, false)[0];
    assert_eq!(w.url(), "https://127.0.0.1:9443/validate?timeout=10s");
    assert_eq!(w.server_name(), "127.0.0.1");
    let ok = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": "u1", "allowed": true, "warnings": ["careful"]}});
    let r = webhook::read_reply(w, "u1", &ok).unwrap();
    assert!(r.denial.is_none());
    assert_eq!(r.warnings, ["careful"]);
    let no = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": "u1", "allowed": false, "status": {"code": 200}}});
    let s = webhook::read_reply(w, "u1", &no).unwrap().denial.unwrap();
    assert_eq!((s.code, s.message.as_str()), (400, "admission webhook \"w.example.com\" denied the request without explanation"));
    assert!(webhook::read_reply(w, "u2", &ok).unwrap_err().starts_with("received invalid webhook response: "));
}

#[test]
fn match_conditions_skip_on_any_false_even_beside_errors_and_aggregate_errors_otherwise() {
    use super::cel::{Activation, Expr, match_conditions};
    let alice = user("alice", &["system:authenticated"]);
    let obj = json!({"metadata": {"name": "t1"}, "spec": {"host": "a.example.org"}});
    let a = attrs(Operation::Create, &alice, Some(&obj), None);
    let act = Activation::new(&a, None, None, &[], None);
    let conds = |exprs: &[&str]| exprs.iter().map(|e| ("c".to_string(), Expr::compile(e))).collect::<Vec<_>>();
    let erring = "object.spec.missing == 'x'";
    assert_eq!(match_conditions(&act, &[]), Ok(true), "no conditions: the request matches");
    assert_eq!(match_conditions(&act, &conds(&["true", "object.spec.host == 'a.example.org'"])), Ok(true));
    assert_eq!(match_conditions(&act, &conds(&[erring, "false"])), Ok(false), "a false condition skips even after an error");
    let one = match_conditions(&act, &conds(&[erring, "true"])).unwrap_err();
    assert!(!one.starts_with('[') && one.contains(erring), "one error alone: {one}");
    let two = match_conditions(&act, &conds(&[erring, "true", erring])).unwrap_err();
    assert!(two.starts_with('[') && two.matches(erring).count() == 2, "errors aggregated: {two}");
}
