//! Tenants: namespace computation, name rules, the hierarchical quota gate and the admission rules that keep
//! tenants apart, each message checked.

use e2e::{APPS, ControlPlane, raw, req, unique};
use serde_json::{Value, json};

fn tenant(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// A tenant name of lowercase letters and digits, unique to this process.
fn tenant_name(prefix: &str) -> String {
    unique(prefix).replace('-', "")
}

async fn create(client: &kube::Client, ns: &str, body: Value) -> (u16, Value) {
    raw(client, req("POST", &format!("{APPS}/namespaces/{ns}/tenants"), Some(body))).await.unwrap()
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn nested_tenants_get_their_namespaces_and_the_quota_gate_holds() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let a = tenant_name("qa");
    let (code, body) = create(&admin, "tenant-root", tenant("tenant-root", &a, json!({"resourceQuotas": {"cpu": "10", "memory": "10Gi"}}))).await;
    assert_eq!(code, 201, "{body}");
    let a_ns = format!("tenant-{a}");
    assert_eq!(body["status"]["namespace"], a_ns.as_str());
    // The tenant chart would create the namespace; here the test does.
    cp.kubectl_ok(&["create", "namespace", &a_ns]).unwrap();

    let (code, b) = create(&admin, &a_ns, tenant(&a_ns, "b", json!({"resourceQuotas": {"cpu": "4"}}))).await;
    assert_eq!(code, 201, "{b}");
    assert_eq!(b["status"]["namespace"], format!("{a_ns}-b"));

    // A sibling asking for more than is left: 10 allowed, 4 allocated, 0 in use.
    let (code, body) = create(&admin, &a_ns, tenant(&a_ns, "c", json!({"resourceQuotas": {"cpu": "7"}}))).await;
    assert_eq!(code, 422, "{body}");
    let cause = &body["details"]["causes"][0];
    assert_eq!(cause["field"], "spec.resourceQuotas[cpu]");
    assert_eq!(cause["reason"], "FieldValueForbidden");
    assert!(message(&body).contains("requested 7 exceeds the parent tenant's remaining \"cpu\" quota of 6 (parent allows 10, 4 already allocated to sibling tenants, 0 currently in use by the parent pool); a child tenant may not be granted more quota than its parent has left"), "{body}");

    // Usage in the parent's pool counts too.
    cp.kubectl_ok(&["create", "quota", "pool", "-n", &a_ns, "--hard=limits.cpu=10"]).unwrap();
    cp.kubectl_ok(&[
        "patch",
        "resourcequota",
        "pool",
        "-n",
        &a_ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"hard":{"limits.cpu":"10"},"used":{"limits.cpu":"2"}}}"#,
    ])
    .unwrap();
    let (code, body) = create(&admin, &a_ns, tenant(&a_ns, "c", json!({"resourceQuotas": {"cpu": "5"}}))).await;
    assert_eq!(code, 422, "{body}");
    assert!(message(&body).contains("requested 5 exceeds the parent tenant's remaining \"cpu\" quota of 4 (parent allows 10, 4 already allocated to sibling tenants, 2 currently in use by the parent pool)"), "{body}");
    let (code, body) = create(&admin, &a_ns, tenant(&a_ns, "c", json!({"resourceQuotas": {"cpu": "4"}}))).await;
    assert_eq!(code, 201, "what is left can be granted: {body}");

    // Updating a child beyond what is left is refused the same way (the child itself is not its own sibling).
    let (_, mut current) = raw(&admin, req("GET", &format!("{APPS}/namespaces/{a_ns}/tenants/b"), None)).await.unwrap();
    current["spec"]["resourceQuotas"]["cpu"] = "5".into();
    let (code, body) = raw(&admin, req("PUT", &format!("{APPS}/namespaces/{a_ns}/tenants/b"), Some(current))).await.unwrap();
    assert_eq!(code, 422, "{body}");
    assert!(message(&body).contains("requested 5 exceeds the parent tenant's remaining \"cpu\" quota of 4"), "{body}");

    // A quota that is not a quantity.
    let (code, body) = create(&admin, &a_ns, tenant(&a_ns, "d", json!({"resourceQuotas": {"cpu": "lots"}}))).await;
    assert_eq!(code, 422, "{body}");
    assert!(body["details"]["causes"].as_array().unwrap().iter().any(|c| c["field"].as_str().unwrap().starts_with("spec.resourceQuotas")), "{body}");
}

#[tokio::test]
async fn tenant_name_rules_have_the_reference_messages() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let (code, body) = create(&admin, "tenant-root", tenant("tenant-root", "with-dash", json!({}))).await;
    assert_eq!(code, 422);
    assert!(
        message(&body).contains("tenant names must start with a lowercase letter and contain only lowercase letters and digits; dashes are not allowed"),
        "{body}"
    );
    let long = "a".repeat(47);
    let (code, body) = create(&admin, "tenant-root", tenant("tenant-root", &long, json!({}))).await;
    assert_eq!(code, 422);
    assert!(message(&body).contains("must be no more than 46 characters (release prefix \"tenant-\")"), "{body}");
    // Deep nesting: the computed namespace would pass 63 characters.
    let deep = format!("tenant-{}", "x".repeat(40));
    cp.kubectl_ok(&["create", "namespace", &deep]).unwrap();
    let name = "y".repeat(20);
    let (code, body) = create(&admin, &deep, tenant(&deep, &name, json!({}))).await;
    assert_eq!(code, 422, "{body}");
    assert!(
        message(&body).contains(&format!(
            "computed tenant namespace \"{deep}-{name}\" would be 68 characters, which exceeds the 63-character Kubernetes namespace limit"
        )),
        "{body}"
    );
    cp.kubectl_ok(&["delete", "namespace", &deep, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn admission_rules_name_the_rule_and_the_reason() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    // Tenants only inside tenant namespaces, apps likewise.
    let (code, body) = create(&admin, "default", tenant("default", &tenant_name("p"), json!({}))).await;
    assert_eq!(code, 403, "{body}");
    assert!(message(&body).contains("TenantPlacement: tenants may only be created in tenant namespaces"), "{body}");
    let pg = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": "db"}, "spec": {}});
    let (code, body) = raw(&admin, req("POST", &format!("{APPS}/namespaces/default/postgreses"), Some(pg))).await.unwrap();
    assert_eq!(code, 403, "{body}");
    assert!(message(&body).contains("TenantPlacement: applications may only be created in tenant namespaces"), "{body}");

    // A tenant admin (not a cluster admin) may not set spec.host, nor reserved labels.
    let ns = unique("tenant-adm");
    let user = unique("tenant-admin");
    cp.kubectl_ok(&["create", "namespace", &ns]).unwrap();
    cp.kubectl_ok(&["create", "rolebinding", "admin", "-n", &ns, "--clusterrole=cluster-admin", &format!("--user={user}")]).unwrap();
    let client = cp.user(&user, &[]).await.unwrap();
    let name = tenant_name("h");
    let mut body_host = tenant(&ns, &name, json!({"host": "evil.example.org"}));
    let (code, body) = e2e_retry(&client, &ns, &body_host).await;
    // Cozystack's cozystack-tenant-host-policy, which hack/up.sh applies as a Cozystack cluster has it.
    assert_eq!(code, 403, "{body}");
    assert!(message(&body).contains("ValidatingAdmissionPolicy 'cozystack-tenant-host-policy' with binding 'cozystack-tenant-host-policy' denied request: tenant.spec.host can only be set or changed by cluster-admins"), "{body}");
    body_host["spec"] = json!({});
    body_host["metadata"]["labels"] = json!({"platform.cozystack.io/no-delete": "true"});
    let (code, body) = create(&client, &ns, body_host.clone()).await;
    assert_eq!(code, 403, "{body}");
    assert!(message(&body).contains("ReservedMetadata: label \"platform.cozystack.io/no-delete\" is reserved"), "{body}");

    // A cluster admin may; and then nobody may delete it until the label goes.
    let (code, body) = create(&admin, &ns, body_host).await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = raw(&admin, req("DELETE", &format!("{APPS}/namespaces/{ns}/tenants/{name}"), None)).await.unwrap();
    // Cozystack's cozystack-no-delete-guardrail policy.
    assert_eq!(code, 422, "{body}");
    assert!(message(&body).contains("denied request: Deletion blocked: object carries platform.cozystack.io/no-delete=true."), "{body}");
    let patch = http::Request::patch(format!("{APPS}/namespaces/{ns}/tenants/{name}"))
        .header("Content-Type", "application/merge-patch+json")
        .body(br#"{"metadata":{"labels":null}}"#.to_vec())
        .unwrap();
    let (code, body) = raw(&admin, patch).await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(raw(&admin, req("DELETE", &format!("{APPS}/namespaces/{ns}/tenants/{name}"), None)).await.unwrap().0, 200);
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

/// Creates as a freshly bound user, waiting for the RoleBinding to reach the authorizer's cache.
async fn e2e_retry(client: &kube::Client, ns: &str, body: &Value) -> (u16, Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (code, answer) = create(client, ns, body.clone()).await;
        let rbac_pending = code == 403 && message(&answer).contains("cannot create resource");
        if !rbac_pending || std::time::Instant::now() > deadline {
            return (code, answer);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
