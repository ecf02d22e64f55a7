//! TenantSecret and TenantModule: core.cozystack.io resources over marked Secrets and HelmReleases, and the
//! limits on what a TenantSecret may become when this server writes it with its own identity.

use std::collections::BTreeSet;

use e2e::{CORE, ControlPlane, Watch, raw, req, set, table_req, unique};
use serde_json::{Value, json};

fn create_namespace(cp: &ControlPlane, name: &str) {
    cp.kubectl_ok(&["create", "namespace", name]).unwrap();
}

#[tokio::test]
async fn tenant_secrets_crud_over_marked_secrets_only() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = unique("tenant-tnsecret");
    create_namespace(cp, &ns);
    let path = format!("{CORE}/namespaces/{ns}/tenantsecrets");
    let secret = |name: &str| format!("/api/v1/namespaces/{ns}/secrets/{name}");
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);

    // Create with both data and stringData: the answer shows data only, merged, without the marker label.
    let body = json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantSecret",
                      "metadata": {"name": "creds", "labels": {"app": "db"}, "annotations": {"note": "x"}},
                      "data": {"user": b64("admin")}, "stringData": {"password": "hunter2"}});
    let (code, created) = raw(&admin, req("POST", &path, Some(body))).await.unwrap();
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["kind"], "TenantSecret");
    assert_eq!(created["data"], json!({"user": b64("admin"), "password": b64("hunter2")}));
    assert!(created.get("stringData").is_none(), "{created}");
    assert_eq!(created["metadata"]["labels"], json!({"app": "db"}));
    assert_eq!(created["metadata"]["annotations"], json!({"note": "x"}));
    assert_eq!(created["type"], "Opaque");
    let (_, backing) = raw(&admin, req("GET", &secret("creds"), None)).await.unwrap();
    assert_eq!(backing["metadata"]["labels"], json!({"app": "db", "internal.cozystack.io/tenantresource": "true"}));

    // A Secret without the marker is invisible: not listed, not found, not deletable.
    cp.kubectl_ok(&["create", "secret", "generic", "plain", "-n", &ns, "--from-literal=k=v"]).unwrap();
    let (code, list) = raw(&admin, req("GET", &path, None)).await.unwrap();
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], "TenantSecretList");
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["creds"]);
    for method in ["GET", "DELETE"] {
        let (code, body) = raw(&admin, req(method, &format!("{path}/plain"), None)).await.unwrap();
        assert_eq!(code, 404, "{method}: {body}");
        assert_eq!(body["message"], "tenantsecrets.core.cozystack.io \"plain\" not found");
    }
    // Nor writable: an update or patch finds nothing, and a create under its name conflicts.
    let over = json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantSecret", "metadata": {"name": "plain"}, "stringData": {"k": "mine"}});
    for (method, url, body) in [("PUT", format!("{path}/plain"), over.clone()), ("PATCH", format!("{path}/plain"), json!({"stringData": {"k": "mine"}}))] {
        let (code, answer) = raw(&admin, req(method, &url, Some(body))).await.unwrap();
        assert_eq!(code, 404, "{method}: {answer}");
    }
    let (code, answer) = raw(&admin, req("POST", &path, Some(over))).await.unwrap();
    assert_eq!((code, answer["reason"].as_str()), (409, Some("AlreadyExists")), "{answer}");
    let (code, plain) = raw(&admin, req("GET", &secret("plain"), None)).await.unwrap();
    assert_eq!(code, 200, "the Secret itself is untouched");
    assert_eq!(plain["data"], json!({"k": b64("v")}), "{plain}");
    assert!(plain["metadata"].get("labels").is_none(), "still unmarked: {plain}");

    // Update replaces the user's labels and annotations; the marker stays.
    let mut changed = created.clone();
    changed["metadata"]["labels"] = json!({"tier": "gold"});
    changed["metadata"].as_object_mut().unwrap().remove("annotations");
    let (code, updated) = raw(&admin, req("PUT", &format!("{path}/creds"), Some(changed))).await.unwrap();
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["metadata"]["labels"], json!({"tier": "gold"}));
    assert!(updated["metadata"].get("annotations").is_none(), "{updated}");
    let (_, backing) = raw(&admin, req("GET", &secret("creds"), None)).await.unwrap();
    assert_eq!(backing["metadata"]["labels"], json!({"tier": "gold", "internal.cozystack.io/tenantresource": "true"}));

    // A merge patch of stringData adds a key, as for a Secret.
    let (code, patched) = raw(&admin, req("PATCH", &format!("{path}/creds"), Some(json!({"stringData": {"host": "db.local"}})))).await.unwrap();
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["data"]["host"], b64("db.local"));
    assert_eq!(patched["data"]["user"], b64("admin"));

    // Undecodable data is refused before it reaches the backend.
    let bad = json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantSecret", "metadata": {"name": "bad"}, "data": {"k": "not base64!"}});
    let (code, body) = raw(&admin, req("POST", &path, Some(bad))).await.unwrap();
    assert_eq!(code, 400, "{body}");

    // Table: NAME, TYPE, AGE.
    let (code, table) = raw(&admin, table_req(&path)).await.unwrap();
    assert_eq!(code, 200, "{table}");
    let columns: Vec<&str> = table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["NAME", "TYPE", "AGE"]);
    assert_eq!(table["rows"][0]["cells"][0], "creds");
    assert_eq!(table["rows"][0]["cells"][1], "Opaque");

    // A watch shows marked Secrets only.
    let watch = Watch::open(&admin, &format!("{path}?watch=1")).await;
    watch.wait_for("the initial events", &set(&["creds"])).await;

    let (code, body) = raw(&admin, req("DELETE", &format!("{path}/creds"), None)).await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(raw(&admin, req("GET", &format!("{path}/creds"), None)).await.unwrap().0, 404);
    watch.wait_for("the deletion", &BTreeSet::new()).await;
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn tenant_modules_list_marked_helmreleases() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = unique("tenant-tnmodule");
    create_namespace(cp, &ns);
    let hr = |name: &str, labels: Value| {
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": name, "namespace": ns, "labels": labels},
               "spec": {"interval": "5m", "chart": {"spec": {"chart": name, "version": "2.1.0", "sourceRef": {"kind": "HelmRepository", "name": "cozystack-apps"}}}}})
    };
    let hrs = format!("/apis/helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases");
    let (code, body) =
        raw(&admin, req("POST", &hrs, Some(hr("etcd", json!({"internal.cozystack.io/tenantmodule": "true", "apps.cozystack.io/application.kind": "Etcd"})))))
            .await
            .unwrap();
    assert_eq!(code, 201, "{body}");
    let (code, body) = raw(&admin, req("POST", &hrs, Some(hr("postgres-db", json!({}))))).await.unwrap();
    assert_eq!(code, 201, "{body}");
    cp.kubectl_ok(&[
        "patch", "helmrelease", "etcd", "-n", &ns, "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"lastAttemptedRevision":"2.1.0+abc","conditions":[{"type":"Ready","status":"True","reason":"InstallSucceeded","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
    ])
    .unwrap();

    let path = format!("{CORE}/namespaces/{ns}/tenantmodules");
    let (code, list) = raw(&admin, req("GET", &path, None)).await.unwrap();
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], "TenantModuleList");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let m = &items[0];
    assert_eq!((m["kind"].as_str(), m["metadata"]["name"].as_str()), (Some("TenantModule"), Some("etcd")));
    assert_eq!(m["metadata"]["labels"], json!({"apps.cozystack.io/application.kind": "Etcd"}));
    assert_eq!(m["appVersion"], "2.1.0");
    assert_eq!(m["status"]["version"], "2.1.0+abc");
    assert_eq!(m["status"]["conditions"][0]["type"], "Ready");

    assert_eq!(raw(&admin, req("GET", &format!("{path}/etcd"), None)).await.unwrap().0, 200);
    let (code, body) = raw(&admin, req("GET", &format!("{path}/postgres-db"), None)).await.unwrap();
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["message"], "tenantmodules.core.cozystack.io \"postgres-db\" not found");

    let (code, table) = raw(&admin, table_req(&path)).await.unwrap();
    assert_eq!(code, 200, "{table}");
    let columns: Vec<&str> = table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["NAME", "READY", "AGE", "VERSION"]);
    let cells = &table["rows"][0]["cells"];
    assert_eq!((cells[0].as_str(), cells[1].as_str(), cells[3].as_str()), (Some("etcd"), Some("True"), Some("abc")));

    // Read-only: writes are not served.
    let body = json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantModule", "metadata": {"name": "x"}});
    let (code, body) = raw(&admin, req("POST", &path, Some(body))).await.unwrap();
    assert_eq!(code, 405, "{body}");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

/// A user bound only in `ns`, with every verb on TenantSecrets there and nothing on core Secrets.
fn tenant_secret_writer(cp: &ControlPlane, ns: &str, user: &str) {
    let role = format!("{user}-tenantsecrets");
    cp.kubectl_ok(&["create", "role", &role, "-n", ns, "--verb=*", "--resource=tenantsecrets.core.cozystack.io"]).unwrap();
    cp.kubectl_ok(&["create", "rolebinding", &role, "-n", ns, &format!("--role={role}"), &format!("--user={user}")]).unwrap();
}

fn tenant_secret(name: &str, kind: &str, annotations: Value, data: Value) -> Value {
    json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantSecret",
           "metadata": {"name": name, "annotations": annotations}, "type": kind, "data": data})
}

#[tokio::test]
async fn a_tenant_cannot_mint_a_service_account_token_through_tenant_secrets() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = unique("tenant-deputy");
    create_namespace(cp, &ns);
    cp.kubectl_ok(&["create", "serviceaccount", "robot", "-n", &ns]).unwrap();
    let user = unique("mallory");
    tenant_secret_writer(cp, &ns, &user);
    let mallory = cp.user(&user, &[]).await.unwrap();
    let path = format!("{CORE}/namespaces/{ns}/tenantsecrets");
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    let (code, _) = raw(&mallory, req("GET", &format!("/api/v1/namespaces/{ns}/secrets"), None)).await.unwrap();
    assert_eq!(code, 403, "the user has no access to core Secrets");

    let bound = json!({"kubernetes.io/service-account.name": "robot"});
    let attempts = [
        ("a service-account token", tenant_secret("token", "kubernetes.io/service-account-token", bound.clone(), json!({})), "type"),
        ("a token without the annotation", tenant_secret("token2", "kubernetes.io/service-account-token", json!({}), json!({})), "type"),
        ("a bootstrap token", tenant_secret("bootstrap-token-abcdef", "bootstrap.kubernetes.io/token", json!({}), json!({})), "type"),
        (
            "an Opaque Secret bound to a ServiceAccount",
            tenant_secret("bound", "Opaque", bound.clone(), json!({})),
            "metadata.annotations[kubernetes.io/service-account.name]",
        ),
    ];
    for (what, body, field) in attempts {
        let name = body["metadata"]["name"].as_str().unwrap().to_string();
        let (code, status) = raw(&mallory, req("POST", &path, Some(body))).await.unwrap();
        assert_eq!(code, 422, "{what}: {status}");
        assert_eq!(status["reason"], "Invalid", "{what}");
        assert!(status["message"].as_str().unwrap().starts_with(&format!("TenantSecret.core.cozystack.io \"{name}\" is invalid: ")), "{what}: {status}");
        let fields: Vec<&str> = status["details"]["causes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&field), "{what}: {status}");
        let (code, _) = raw(&admin, req("GET", &format!("/api/v1/namespaces/{ns}/secrets/{name}"), None)).await.unwrap();
        assert_eq!(code, 404, "{what}: no Secret is written");
    }

    // An allowed Secret cannot gain the binding later either.
    let (code, created) = raw(&mallory, req("POST", &path, Some(tenant_secret("plain", "Opaque", json!({}), json!({"k": b64("v")}))))).await.unwrap();
    assert_eq!(code, 201, "{created}");
    let mut bound_later = created.clone();
    bound_later["metadata"]["annotations"] = bound.clone();
    let (code, status) = raw(&mallory, req("PUT", &format!("{path}/plain"), Some(bound_later))).await.unwrap();
    assert_eq!(code, 422, "{status}");
    let (code, status) = raw(&mallory, req("PATCH", &format!("{path}/plain"), Some(json!({"metadata": {"annotations": bound}})))).await.unwrap();
    assert_eq!(code, 422, "{status}");
    let backing = cp.kubectl_ok(&["get", "secret", "plain", "-n", &ns, "-o", "jsonpath={.metadata.annotations}"]).unwrap();
    assert!(!backing.contains("service-account"), "the Secret stays unbound: {backing}");

    // The types tenants use round-trip, each with the keys kube-apiserver requires of it.
    let docker = b64(r#"{"auths":{"registry.local":{"auth":"dTpw"}}}"#);
    let allowed = [
        ("opaque", "Opaque", json!({"k": b64("v")})),
        ("basic", "kubernetes.io/basic-auth", json!({"username": b64("u"), "password": b64("p")})),
        ("ssh", "kubernetes.io/ssh-auth", json!({"ssh-privatekey": b64("key")})),
        ("tls", "kubernetes.io/tls", json!({"tls.crt": b64("crt"), "tls.key": b64("key")})),
        ("dockerjson", "kubernetes.io/dockerconfigjson", json!({".dockerconfigjson": docker})),
        ("dockercfg", "kubernetes.io/dockercfg", json!({".dockercfg": b64(r#"{"registry.local":{"auth":"dTpw"}}"#)})),
    ];
    for (name, kind, data) in allowed {
        let (code, created) = raw(&mallory, req("POST", &path, Some(tenant_secret(name, kind, json!({"note": "x"}), data.clone())))).await.unwrap();
        assert_eq!(code, 201, "{kind}: {created}");
        let (code, got) = raw(&mallory, req("GET", &format!("{path}/{name}"), None)).await.unwrap();
        assert_eq!(code, 200, "{kind}: {got}");
        assert_eq!((got["type"].as_str(), &got["data"], &got["metadata"]["annotations"]), (Some(kind), &data, &json!({"note": "x"})), "{kind}");
    }
    let (code, list) = raw(&mallory, req("GET", &path, None)).await.unwrap();
    assert_eq!(code, 200, "{list}");
    let names: BTreeSet<&str> = list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["basic", "dockercfg", "dockerjson", "opaque", "plain", "ssh", "tls"].into_iter().collect());
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}
