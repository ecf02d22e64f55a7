//! Isolation: tenant A's admin cannot reach anything in tenant B's namespaces through any verb or selector
//! trick. Users are authenticated by client certificates and authorized by real RBAC.

use std::time::Duration;

use e2e::{APPS, CORE, ControlPlane, raw, req, unique, wait_until};
use serde_json::{Value, json};

fn postgres(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": name, "namespace": ns, "labels": {"owner": "b"}}, "spec": {}})
}

/// What is attempted, the request, and the answers that count as refused.
type Escape<'a> = (&'a str, http::Request<Vec<u8>>, &'a [u16]);

#[tokio::test]
async fn tenant_a_admin_cannot_reach_tenant_b() {
    let cp = ControlPlane::shared();
    let (a, b) = (unique("tenant-isoa"), unique("tenant-isob"));
    let group = format!("{a}-admin");
    for ns in [&a, &b] {
        cp.kubectl_ok(&["create", "namespace", ns]).unwrap();
    }
    // As the tenant chart does: the tenant's admin group gets write access to applications in its namespace.
    let role = unique("iso-tenant-admin");
    cp.kubectl_ok(&[
        "create",
        "clusterrole",
        &role,
        "--verb=*",
        "--resource=*.apps.cozystack.io,tenantsecrets.core.cozystack.io,tenantmodules.core.cozystack.io",
    ])
    .unwrap();
    cp.kubectl_ok(&["create", "rolebinding", "admin", "-n", &a, &format!("--clusterrole={role}"), &format!("--group={group}")]).unwrap();
    let admin = cp.admin().await.unwrap();
    let (code, body) = raw(&admin, req("POST", &format!("{APPS}/namespaces/{b}/postgreses"), Some(postgres(&b, "secretdb")))).await.unwrap();
    assert_eq!(code, 201, "{body}");

    let alice = cp.user(&unique("alice"), &[&group]).await.unwrap();
    // Wait until RBAC lets alice work in her own namespace, so every refusal below is a real one.
    wait_until("alice's binding to take effect", Duration::from_secs(20), || async {
        raw(&alice, req("GET", &format!("{APPS}/namespaces/{a}/postgreses"), None)).await.map(|(c, _)| c == 200).unwrap_or(false)
    })
    .await
    .unwrap();
    let mut mine = postgres(&a, "mine");
    mine["metadata"]["labels"] = json!({"owner": "a"});
    let (code, body) = raw(&alice, req("POST", &format!("{APPS}/namespaces/{a}/postgreses"), Some(mine))).await.unwrap();
    assert_eq!(code, 201, "alice works in her own namespace: {body}");

    let pb = format!("{APPS}/namespaces/{b}/postgreses");
    let pa = format!("{APPS}/namespaces/{a}/postgreses");
    let escapes: Vec<Escape> = vec![
        ("get B's object", req("GET", &format!("{pb}/secretdb"), None), &[403]),
        ("list B", req("GET", &pb, None), &[403]),
        ("watch B", req("GET", &format!("{pb}?watch=1&timeoutSeconds=1"), None), &[403]),
        ("watch B's object by name", req("GET", &format!("{pb}/secretdb?watch=1&timeoutSeconds=1"), None), &[403]),
        ("create in B", req("POST", &pb, Some(postgres(&b, "intruder"))), &[403]),
        ("replace B's object", req("PUT", &format!("{pb}/secretdb"), Some(postgres(&b, "secretdb"))), &[403]),
        ("patch B's object", req("PATCH", &format!("{pb}/secretdb"), Some(json!({"spec": {"replicas": 9}}))), &[403]),
        ("delete B's object", req("DELETE", &format!("{pb}/secretdb"), None), &[403]),
        ("deletecollection in B", req("DELETE", &pb, None), &[403]),
        ("list across all namespaces", req("GET", &format!("{APPS}/postgreses"), None), &[403]),
        ("watch across all namespaces", req("GET", &format!("{APPS}/postgreses?watch=1&timeoutSeconds=1"), None), &[403]),
        (
            "cross-namespace field selector on a cluster-wide list",
            req("GET", &format!("{APPS}/postgreses?fieldSelector=metadata.namespace%3D{a}"), None),
            &[403],
        ),
        ("create in A with B's namespace in the body", req("POST", &pa, Some(postgres(&b, "sneaky"))), &[400]),
        ("B's object by name from A", req("GET", &format!("{pa}/secretdb"), None), &[404]),
        ("tenant secrets of B", req("GET", &format!("{CORE}/namespaces/{b}/tenantsecrets"), None), &[403]),
        ("tenant modules of B", req("GET", &format!("{CORE}/namespaces/{b}/tenantmodules"), None), &[403]),
        ("B's HelmRelease directly", req("GET", &format!("/apis/helm.toolkit.fluxcd.io/v2/namespaces/{b}/helmreleases/postgres-secretdb"), None), &[403]),
    ];
    for (what, request, allowed) in escapes {
        let (code, body) = raw(&alice, request).await.unwrap();
        assert!(allowed.contains(&code), "{what}: got {code}: {body}");
        assert_eq!(body["kind"], "Status", "{what}: {body}");
    }
    // Selector tricks inside A's own namespace never surface B's objects.
    for query in
        [format!("fieldSelector=metadata.namespace%3D{b}"), "labelSelector=owner%3Db".to_string(), "fieldSelector=metadata.name%3Dsecretdb".to_string()]
    {
        let (code, body) = raw(&alice, req("GET", &format!("{pa}?{query}"), None)).await.unwrap();
        assert_eq!(code, 200, "{query}: {body}");
        assert_eq!(body["items"], json!([]), "{query} leaked: {body}");
    }
    // B's object is untouched.
    let (_, obj) = raw(&admin, req("GET", &format!("{pb}/secretdb"), None)).await.unwrap();
    assert_eq!(obj["metadata"]["name"], "secretdb");
    assert_ne!(obj["spec"]["replicas"], 9);
    for ns in [&a, &b] {
        cp.kubectl_ok(&["delete", "namespace", ns, "--wait=false"]).unwrap();
    }
    cp.kubectl_ok(&["delete", "clusterrole", &role]).unwrap();
}
