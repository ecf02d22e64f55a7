use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::admission::Operation;
use crate::admission::validating::ParamKind;
use crate::selector::LabelSelector;
use crate::user::UserInfo;

struct NoParams;
impl ParamSource for NoParams {
    fn namespaced(&self, _: &ParamKind) -> Result<bool, String> {
        Ok(true)
    }
    fn find(&self, _: &ParamKind, _: &str, _: Option<&str>, _: &LabelSelector) -> Result<Vec<Value>, String> {
        Ok(vec![json!({"metadata": {"name": "p"}, "data": {"size": "7"}})])
    }
}

/// Records calls as the storage side does.
#[derive(Default)]
struct Rounds {
    round: u32,
    if_needed: Vec<String>,
    changed_after: bool,
}
impl Reinvoker for Rounds {
    fn should_call(&self, key: &str) -> bool {
        self.round <= 1 || self.if_needed.iter().any(|k| k == key)
    }
    fn ran(&mut self, key: &str, if_needed: bool, changed: bool) {
        if changed && self.if_needed.iter().any(|k| k != key) {
            self.changed_after = true;
        }
        if if_needed {
            self.if_needed.push(key.into());
        }
    }
}

fn schema() -> ObjectType {
    ObjectType::from_openapi(&json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "size": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "users": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}, "role": {"type": "string"}}}},
                "resources": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {"cpu": {"type": "string"}}},
            }},
        },
    }))
}

fn policy(mutations: Value, extra: Value) -> Arc<Policy> {
    let mut spec = json!({
        "matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["*"]}]},
        "mutations": mutations,
        "reinvocationPolicy": "Never",
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    Arc::new(Policy::from_json(&json!({"metadata": {"name": "p1"}, "spec": spec})))
}

fn apply(expr: &str) -> Value {
    json!({"patchType": "ApplyConfiguration", "applyConfiguration": {"expression": expr}})
}

fn patch(expr: &str) -> Value {
    json!({"patchType": "JSONPatch", "jsonPatch": {"expression": expr}})
}

fn run(p: Arc<Policy>, object: Value) -> Result<Value, Box<Status>> {
    let user = UserInfo { name: "alice".into(), ..Default::default() };
    let binding = Arc::new(Binding::from_json(&json!({"metadata": {"name": "b1"}, "spec": {"policyName": "p1"}})));
    let a = Attributes {
        operation: Operation::Create,
        group: "apps.cozystack.io",
        version: "v1alpha1",
        resource: "postgreses",
        subresource: "",
        kind: "Postgres",
        namespaced: true,
        namespace: "tenant-root",
        name: "db",
        object: None,
        old_object: None,
        user: &user,
        dry_run: false,
        options: None,
    };
    let mut obj = Some(object);
    evaluate(&pair(&[p], &[binding]), &a, &mut obj, None, &NoParams, None, &schema(), &mut Rounds { round: 1, ..Default::default() }).result()?;
    Ok(obj.unwrap())
}

fn object() -> Value {
    json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": "db", "labels": {"a": "1"}},
        "spec": {"replicas": 1, "tags": ["x"], "users": [{"name": "u1", "role": "r"}], "resources": {"cpu": "1"}}})
}

#[test]
fn constructions_are_rewritten_into_tagged_maps_outside_strings() {
    assert_eq!(rewrite_constructors("Object{spec: Object.spec{replicas: 3}}"), r#"{"spec": {"replicas": 3, "!type": "Object.spec"}, "!type": "Object"}"#);
    assert_eq!(
        rewrite_constructors(r#"[JSONPatch{op: "add", path: "/x", value: f(a, b)}]"#),
        r#"[{"op": "add", "path": "/x", "value": f(a, b), "!type": "JSONPatch"}]"#
    );
    assert_eq!(rewrite_constructors(r#"'Object{a: 1}' + {"k": Object{}}.k"#), r#"'Object{a: 1}' + {"k": {"!type": "Object"}}.k"#);
    assert_eq!(rewrite_constructors("object.spec.x"), "object.spec.x");
}

#[test]
fn apply_configuration_merges_maps_and_list_maps() {
    let p = policy(
        json!([apply(
            r#"Object{metadata: Object.metadata{labels: {"team": "db"}}, spec: Object.spec{replicas: 3, users: [Object.spec.users{name: "u2", role: "w"}]}}"#
        )]),
        json!({}),
    );
    let out = run(p, object()).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"a": "1", "team": "db"}));
    assert_eq!(out["spec"]["replicas"], 3);
    assert_eq!(out["spec"]["users"], json!([{"name": "u1", "role": "r"}, {"name": "u2", "role": "w"}]));
    assert_eq!(out["spec"]["tags"], json!(["x"]));
}

#[test]
fn apply_configuration_refuses_atomic_lists_and_maps_as_kube_apiserver_words_it() {
    let p = policy(json!([apply(r#"Object{spec: Object.spec{tags: ["y"], resources: Object.spec.resources{cpu: "2"}}}"#)]), json!({}));
    let s = run(p, object()).unwrap_err();
    assert_eq!(s.code, 403);
    assert_eq!(s.reason, "Invalid");
    assert_eq!(
        s.message,
        "policy 'p1' with binding 'b1' denied request: error applying patch: invalid ApplyConfiguration: may not mutate atomic arrays, maps or structs: .spec.resources, .spec.tags"
    );
}

#[test]
fn apply_configuration_checks_type_names_and_return_type() {
    let p = policy(json!([apply(r#"Object{spec: Object.metadata{replicas: 2}}"#)]), json!({}));
    assert_eq!(
        run(p, object()).unwrap_err().message,
        r#"policy 'p1' with binding 'b1' denied request: type mismatch: unexpected type name "Object.metadata", expected "Object.spec", which matches field name path from root Object type"#
    );
    let p = policy(json!([apply(r#"{"spec": 1}"#)]), json!({}));
    assert_eq!(
        run(p, object()).unwrap_err().message,
        "policy 'p1' with binding 'b1' denied request: unsupported return type from ApplyConfiguration expression: map"
    );
}

#[test]
fn json_patch_ops_apply_in_order_and_a_failed_test_is_a_no_op() {
    let p = policy(
        json!([patch(
            r#"[JSONPatch{op: "add", path: "/metadata/labels/" + jsonpatch.escapeKey("x/y~z"), value: "v"}, JSONPatch{op: "replace", path: "/spec/replicas", value: object.spec.replicas + 1}, JSONPatch{op: "remove", path: "/spec/tags/0"}]"#
        )]),
        json!({}),
    );
    let out = run(p, object()).unwrap();
    assert_eq!(out["metadata"]["labels"]["x~1y~0z"], json!(null));
    assert_eq!(out["metadata"]["labels"]["x/y~z"], "v");
    assert_eq!(out["spec"]["replicas"], 2);
    assert_eq!(out["spec"]["tags"], json!([]));
    let p = policy(
        json!([patch(r#"[JSONPatch{op: "test", path: "/spec/replicas", value: 5}, JSONPatch{op: "replace", path: "/spec/replicas", value: 9}]"#)]),
        json!({}),
    );
    assert_eq!(run(p, object()).unwrap()["spec"]["replicas"], 1);
}

#[test]
fn errors_follow_failure_policy_and_are_worded_as_upstream() {
    let p = policy(json!([patch(r#"[JSONPatch{op: "replace", path: "/spec/missing/x", value: 1}]"#)]), json!({}));
    let s = run(p, object()).unwrap_err();
    assert!(s.message.starts_with("policy 'p1' with binding 'b1' denied request: JSON Patch: "), "{}", s.message);
    let p = policy(json!([patch("object.spec.nope")]), json!({}));
    assert_eq!(
        run(p, object()).unwrap_err().message,
        "policy 'p1' with binding 'b1' denied request: expression 'object.spec.nope' resulted in error: no such key: nope"
    );
    let p = policy(json!([patch("object.spec.nope")]), json!({"failurePolicy": "Ignore"}));
    assert_eq!(run(p, object()).unwrap(), object());
    let p = policy(json!([patch("1")]), json!({}));
    assert_eq!(
        run(p, object()).unwrap_err().message,
        "policy 'p1' with binding 'b1' denied request: type mismatch: JSONPatchType.expression should evaluate to array"
    );
}

#[test]
fn match_conditions_variables_and_params_are_seen() {
    let p = policy(
        json!([apply(r#"Object{spec: Object.spec{size: params.data.size + variables.suffix}}"#)]),
        json!({
            "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
            "variables": [{"name": "suffix", "expression": "'Gi'"}],
            "matchConditions": [{"name": "has-replicas", "expression": "has(object.spec.replicas)"}],
        }),
    );
    let user = UserInfo { name: "alice".into(), ..Default::default() };
    let binding = Arc::new(Binding::from_json(
        &json!({"metadata": {"name": "b1"}, "spec": {"policyName": "p1", "paramRef": {"name": "p", "parameterNotFoundAction": "Deny"}}}),
    ));
    let a = Attributes {
        operation: Operation::Create,
        group: "apps.cozystack.io",
        version: "v1alpha1",
        resource: "postgreses",
        subresource: "",
        kind: "Postgres",
        namespaced: true,
        namespace: "tenant-root",
        name: "db",
        object: None,
        old_object: None,
        user: &user,
        dry_run: false,
        options: None,
    };
    let pairs = pair(&[p], &[binding]);
    let mut obj = Some(object());
    evaluate(&pairs, &a, &mut obj, None, &NoParams, None, &schema(), &mut Rounds { round: 1, ..Default::default() }).result().unwrap();
    assert_eq!(obj.as_ref().unwrap()["spec"]["size"], "7Gi");
    // matchCondition false: nothing changes.
    let mut bare = object();
    bare["spec"].as_object_mut().unwrap().remove("replicas");
    let mut obj = Some(bare.clone());
    evaluate(&pairs, &a, &mut obj, None, &NoParams, None, &schema(), &mut Rounds { round: 1, ..Default::default() }).result().unwrap();
    assert_eq!(obj.unwrap(), bare);
}

#[test]
fn if_needed_policies_are_recorded_for_reinvocation() {
    let p = policy(json!([apply(r#"Object{spec: Object.spec{replicas: 4}}"#)]), json!({"reinvocationPolicy": "IfNeeded"}));
    let binding = Arc::new(Binding::from_json(&json!({"metadata": {"name": "b1"}, "spec": {"policyName": "p1"}})));
    let user = UserInfo::default();
    let a = Attributes {
        operation: Operation::Update,
        group: "g",
        version: "v",
        resource: "postgreses",
        subresource: "",
        kind: "Postgres",
        namespaced: false,
        namespace: "",
        name: "db",
        object: None,
        old_object: None,
        user: &user,
        dry_run: false,
        options: None,
    };
    let mut rounds = Rounds { round: 1, ..Default::default() };
    let mut obj = Some(object());
    evaluate(&pair(std::slice::from_ref(&p), std::slice::from_ref(&binding)), &a, &mut obj, None, &NoParams, None, &schema(), &mut rounds).result().unwrap();
    assert_eq!(rounds.if_needed, ["policy/p1/b1//"]);
    // Round 2 re-calls it; a policy that never ran in round 1 is skipped.
    rounds.round = 2;
    let other = Arc::new(Policy::from_json(
        &json!({"metadata": {"name": "p2"}, "spec": {"matchConstraints": p.base.match_constraints, "mutations": [apply(r#"Object{spec: Object.spec{size: "x"}}"#)]}}),
    ));
    let b2 = Arc::new(Binding::from_json(&json!({"metadata": {"name": "b2"}, "spec": {"policyName": "p2"}})));
    let mut obj = Some(object());
    evaluate(&pair(&[p, other], &[binding, b2]), &a, &mut obj, None, &NoParams, None, &schema(), &mut rounds).result().unwrap();
    assert_eq!(obj.as_ref().unwrap()["spec"]["replicas"], 4);
    assert!(obj.unwrap()["spec"].get("size").is_none());
}
