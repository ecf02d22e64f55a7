//! MutatingAdmissionPolicies through our API: the same policies and bindings applied to our Postgres and to a CRD
//! with the same schema give the same objects (an ApplyConfiguration setting a label and a spec field, a
//! JSONPatch) and the same refusal for an expression that fails; a policy removed stops mutating within seconds,
//! without a restart.

use std::time::Duration;

use e2e::twins::{create_crds, fixture, spec_schema};
use e2e::{APPS, ControlPlane, namespace, raw, req, unique, wait_until};
use serde_json::{Value, json};

const MAPS: &str = "/apis/admissionregistration.k8s.io/v1/mutatingadmissionpolicies";
const MAPBS: &str = "/apis/admissionregistration.k8s.io/v1/mutatingadmissionpolicybindings";
/// Long enough for kube-apiserver's and our policy caches to see a change; they usually take well under a second.
const TAKES_EFFECT: Duration = Duration::from_secs(20);

/// The collection of Postgres in `ns` of `group` (ours, or the twin CRD's).
fn collection(group: &str, ns: &str) -> String {
    if group == "apps.cozystack.io" { format!("{APPS}/namespaces/{ns}/postgreses") } else { format!("/apis/{group}/v1alpha1/namespaces/{ns}/postgreses") }
}

/// A dry-run create of Postgres `name`: admission runs in full and nothing is written.
async fn try_create(admin: &kube::Client, group: &str, ns: &str, name: &str, spec: Value) -> (u16, Value) {
    let obj = json!({"apiVersion": format!("{group}/v1alpha1"), "kind": "Postgres", "metadata": {"name": name, "labels": {"app": "pg"}}, "spec": spec});
    raw(admin, req("POST", &format!("{}?dryRun=All", collection(group, ns)), Some(obj))).await.unwrap()
}

/// What must agree between the sides: the code, and the labels and spec of the object, or the Status' reason,
/// message and causes with the twin's group named as ours.
fn outcome(group: &str, (code, body): &(u16, Value)) -> Value {
    let ours = |s: &str| s.replace(group, "apps.cozystack.io");
    if body["kind"] == "Status" {
        return json!({"code": code, "reason": body["reason"], "message": ours(body["message"].as_str().unwrap_or_default()), "causes": ours(&body["details"]["causes"].to_string())});
    }
    json!({"code": code, "labels": body["metadata"]["labels"], "spec": body["spec"]})
}

async fn create_policy(admin: &kube::Client, name: &str, groups: &[String], label: &str, mutations: Value, match_conditions: Value) {
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy", "metadata": {"name": name},
        "spec": {
            "matchConstraints": {"resourceRules": [{"apiGroups": groups, "apiVersions": ["v1alpha1"], "operations": ["CREATE", "UPDATE"], "resources": ["postgreses"]}]},
            "matchConditions": match_conditions,
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "mutations": mutations,
        },
    });
    let (code, body) = raw(admin, req("POST", MAPS, Some(policy))).await.unwrap();
    assert_eq!(code, 201, "{body}");
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding", "metadata": {"name": name},
        "spec": {"policyName": name, "matchResources": {"namespaceSelector": {"matchLabels": {"admission-test": label}}}},
    });
    let (code, body) = raw(admin, req("POST", MAPBS, Some(binding))).await.unwrap();
    assert_eq!(code, 201, "{body}");
}

async fn delete_policy(admin: &kube::Client, name: &str) {
    raw(admin, req("DELETE", &format!("{MAPBS}/{name}"), None)).await.unwrap();
    raw(admin, req("DELETE", &format!("{MAPS}/{name}"), None)).await.unwrap();
}

#[tokio::test]
async fn mutating_policies_mutate_alike_for_postgres_and_its_crd_twin_until_removed() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "map");
    let label = unique("map");
    cp.kubectl_ok(&["label", "namespace", &ns, &format!("admission-test={label}")]).unwrap();
    let twin = format!("twin-map-{}.cozystack.io", std::process::id());
    let kinds = vec![("Postgres".to_string(), "postgreses".to_string(), spec_schema(&fixture("postgres.yaml")))];
    assert!(create_crds(&admin, &twin, &kinds).await.contains("Postgres"));
    let groups = vec!["apps.cozystack.io".to_string(), twin.clone()];

    let apply = unique("map-apply");
    let patch = unique("map-patch");
    let failing = unique("map-fail");
    create_policy(
        &admin,
        &apply,
        &groups,
        &label,
        json!([{"patchType": "ApplyConfiguration", "applyConfiguration": {"expression":
            r#"Object{metadata: Object.metadata{labels: {"mutated-by": "map"}}, spec: Object.spec{replicas: object.spec.replicas * 2, external: true}}"#}}]),
        json!([]),
    )
    .await;
    create_policy(
        &admin,
        &patch,
        &groups,
        &label,
        json!([
            {"patchType": "JSONPatch", "jsonPatch": {"expression":
                r#"[JSONPatch{op: "add", path: "/spec/version", value: "v17"}, JSONPatch{op: "add", path: "/metadata/labels/" + jsonpatch.escapeKey("example.org/tier"), value: "db"}]"#}},
            {"patchType": "JSONPatch", "jsonPatch": {"expression":
                r#"[JSONPatch{op: "add", path: "/spec/storageClass", value: "never"}, JSONPatch{op: "test", path: "/spec/replicas", value: 999}]"#}},
        ]),
        json!([]),
    )
    .await;
    create_policy(
        &admin,
        &failing,
        &groups,
        &label,
        json!([{"patchType": "JSONPatch", "jsonPatch": {"expression": "[JSONPatch{op: 'add', path: '/spec/version', value: object.spec.nope}]"}}]),
        json!([{"name": "only-fails", "expression": "object.metadata.name == 'fails'"}]),
    )
    .await;

    for group in &groups {
        wait_until(&format!("the policies to take effect on {group}"), TAKES_EFFECT, || async {
            let (code, body) = try_create(&admin, group, &ns, "probe", json!({"replicas": 1})).await;
            code == 201 && body["metadata"]["labels"]["mutated-by"] == "map" && body["metadata"]["labels"]["example.org/tier"] == "db"
        })
        .await
        .unwrap();
        wait_until(&format!("the failing policy to take effect on {group}"), TAKES_EFFECT, || async {
            try_create(&admin, group, &ns, "fails", json!({})).await.0 != 201
        })
        .await
        .unwrap();
    }

    // The same objects: the label and the doubled replicas of the apply configuration, the JSONPatch's label
    // and version, nothing of a JSONPatch whose `test` fails, the rest defaulted alike.
    let spec = json!({"replicas": 3, "resourcesPreset": "small"});
    let ours = try_create(&admin, "apps.cozystack.io", &ns, "db", spec.clone()).await;
    let theirs = try_create(&admin, &twin, &ns, "db", spec).await;
    assert_eq!(outcome("apps.cozystack.io", &ours), outcome(&twin, &theirs), "ours (left) and the CRD's (right) differ");
    assert_eq!(ours.0, 201, "{}", ours.1);
    assert_eq!(ours.1["metadata"]["labels"], json!({"app": "pg", "mutated-by": "map", "example.org/tier": "db"}));
    assert_eq!(ours.1["spec"]["replicas"], 6);
    assert_eq!(ours.1["spec"]["external"], true);
    assert_eq!(ours.1["spec"]["version"], "v17");
    assert_eq!(ours.1["spec"]["resourcesPreset"], "small");
    assert_ne!(ours.1["spec"]["storageClass"], "never");

    // A failing expression: the same refusal, 403 with reason Invalid and the policy's message alone.
    let ours = try_create(&admin, "apps.cozystack.io", &ns, "fails", json!({})).await;
    let theirs = try_create(&admin, &twin, &ns, "fails", json!({})).await;
    assert_eq!(outcome("apps.cozystack.io", &ours), outcome(&twin, &theirs), "ours (left) and the CRD's (right) differ");
    assert_eq!(ours.0, 403, "{}", ours.1);
    assert_eq!(ours.1["reason"], "Invalid");
    assert!(ours.1["message"].as_str().unwrap().starts_with(&format!("policy '{failing}' with binding '{failing}' denied request: ")), "{}", ours.1);

    // An update is mutated too.
    let (code, body) = raw(&admin, req("POST", &collection("apps.cozystack.io", &ns), Some(json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": "kept", "labels": {"app": "pg"}}, "spec": {"replicas": 1}})))).await.unwrap();
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["spec"]["replicas"], 2);
    let mut updated = body.clone();
    updated["spec"]["replicas"] = json!(4);
    let (code, body) = raw(&admin, req("PUT", &format!("{}/kept", collection("apps.cozystack.io", &ns)), Some(updated))).await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["spec"]["replicas"], 8);

    // Removed, the apply configuration stops mutating on both sides.
    delete_policy(&admin, &apply).await;
    for group in &groups {
        wait_until(&format!("the removed policy to stop mutating on {group}"), TAKES_EFFECT, || async {
            let (code, body) = try_create(&admin, group, &ns, "probe", json!({"replicas": 1})).await;
            code == 201 && body["metadata"]["labels"].get("mutated-by").is_none() && body["spec"]["replicas"] == 1
        })
        .await
        .unwrap();
    }
    let ours = try_create(&admin, "apps.cozystack.io", &ns, "db", json!({"replicas": 3})).await;
    let theirs = try_create(&admin, &twin, &ns, "db", json!({"replicas": 3})).await;
    assert_eq!(outcome("apps.cozystack.io", &ours), outcome(&twin, &theirs), "ours (left) and the CRD's (right) differ");
    assert_eq!(ours.1["metadata"]["labels"], json!({"app": "pg", "example.org/tier": "db"}));

    delete_policy(&admin, &patch).await;
    delete_policy(&admin, &failing).await;
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
    cp.kubectl_ok(&["delete", "crd", &format!("postgreses.{twin}"), "--wait=false"]).unwrap();
}
