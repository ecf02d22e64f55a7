//! Serving core: discovery through the aggregator, delegated authentication and authorization, forged identity
//! headers, and front-proxy CA rotation without a restart.

use std::time::Duration;

use e2e::{ControlPlane, raw, run_ok, unique, wait_until};
use k8s_openapi::api::core::v1::ConfigMap;

fn get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path).body(Vec::new()).unwrap()
}

#[test]
fn api_resources_lists_our_kinds_and_aggregated_discovery_has_our_groups() {
    let cp = ControlPlane::shared();
    let out = cp.kubectl_ok(&["api-resources", "--api-group=apps.cozystack.io", "-o", "name"]).unwrap();
    assert!(out.lines().any(|l| l == "postgreses.apps.cozystack.io"), "{out}");
    assert!(out.lines().any(|l| l == "tenants.apps.cozystack.io"), "{out}");
}

#[tokio::test]
async fn kube_apiserver_aggregated_discovery_includes_our_resources() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let req = http::Request::get("/apis").header("Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList").body(Vec::new()).unwrap();
    let (code, body) = raw(&admin, req).await.unwrap();
    assert_eq!(code, 200);
    let group = body["items"].as_array().unwrap().iter().find(|g| g["metadata"]["name"] == "apps.cozystack.io").expect("our group is aggregated");
    let resources = group["versions"][0]["resources"].as_array().unwrap();
    let pg = resources.iter().find(|r| r["resource"] == "postgreses").expect("postgreses discovered");
    assert_eq!(pg["responseKind"]["kind"], "Postgres");
    assert_eq!(pg["scope"], "Namespaced");
}

#[tokio::test]
async fn rbac_scoped_reader_reads_in_its_namespace_only_and_can_i_agrees() {
    let cp = ControlPlane::shared();
    let ns = &unique("serving-rbac");
    let user = &unique("reader");
    cp.kubectl_ok(&["create", "namespace", ns]).unwrap();
    cp.kubectl_ok(&["create", "role", "app-reader", "-n", ns, "--verb=get,list", "--resource=postgreses.apps.cozystack.io"]).unwrap();
    cp.kubectl_ok(&["create", "rolebinding", "app-reader", "-n", ns, "--role=app-reader", &format!("--user={user}")]).unwrap();
    let kc = cp.user_kubeconfig(user, &[]).unwrap();
    // RBAC is cached by kube-apiserver's authorizer for a moment; wait until the binding is visible.
    wait_until("the binding to take effect", Duration::from_secs(20), || async {
        cp.kubectl_as(&kc).args(["get", "postgreses", "-n", ns]).output().unwrap().status.success()
    })
    .await
    .unwrap();
    let other = cp.kubectl_as(&kc).args(["get", "postgreses", "-n", "tenant-root"]).output().unwrap();
    assert!(!other.status.success());
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(stderr.contains("forbidden"), "{stderr}");
    assert!(
        stderr.contains(&format!("User \"{user}\" cannot list resource \"postgreses\" in API group \"apps.cozystack.io\" in the namespace \"tenant-root\"")),
        "{stderr}"
    );

    let client = cp.user(user, &[]).await.unwrap();
    let (code, body) = raw(&client, get("/apis/apps.cozystack.io/v1alpha1/namespaces/tenant-root/postgreses")).await.unwrap();
    assert_eq!(code, 403);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "Forbidden");

    let can = |ns: &str| cp.kubectl_as(&kc).args(["auth", "can-i", "list", "postgreses.apps.cozystack.io", "-n", ns]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&can(ns).stdout).trim(), "yes");
    assert_eq!(String::from_utf8_lossy(&can("tenant-root").stdout).trim(), "no");
    cp.kubectl_ok(&["delete", "namespace", ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn bad_credentials_get_401() {
    let cp = ControlPlane::shared();
    // A bearer token nobody issued: through the aggregator (kube-apiserver answers) and directly (we answer).
    let direct = cp.direct(None).await.unwrap();
    let req = http::Request::get("/apis/apps.cozystack.io/v1alpha1/postgreses").header("Authorization", "Bearer not-a-token").body(Vec::new()).unwrap();
    let (code, body) = raw(&direct, req).await.unwrap();
    assert_eq!(code, 401, "{body}");
    assert_eq!(body["reason"], "Unauthorized");
    // A client certificate from a CA nobody trusts.
    let dir = cp.state.join("rogue");
    std::fs::create_dir_all(&dir).unwrap();
    let (crt, key) = rogue_cert(&dir, "rogue-ca", "front-proxy-client");
    let rogue = cp.direct(Some((&crt, &key))).await.unwrap();
    let (code, _) = raw(&rogue, get("/apis/apps.cozystack.io/v1alpha1/postgreses")).await.unwrap();
    assert_eq!(code, 401);
}

/// A self-made CA and a client certificate with `cn` signed by it.
fn rogue_cert(dir: &std::path::Path, ca: &str, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let p = |n: &str| dir.join(n);
    let (ca_crt, ca_key, crt, key, csr) =
        (p(&format!("{ca}.crt")), p(&format!("{ca}.key")), p(&format!("{ca}-{cn}.crt")), p(&format!("{ca}-{cn}.key")), p("req.csr"));
    run_ok(
        std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={ca}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,digitalSignature",
                "-keyout",
            ])
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca_crt),
    )
    .unwrap();
    run_ok(
        std::process::Command::new("openssl")
            .args(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", &format!("/CN={cn}"), "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&csr),
    )
    .unwrap();
    let ext = p("client.ext");
    std::fs::write(&ext, "extendedKeyUsage=clientAuth\n").unwrap();
    run_ok(
        std::process::Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(&ca_crt)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-CAcreateserial")
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&crt),
    )
    .unwrap();
    (crt, key)
}

#[tokio::test]
async fn forged_identity_headers_are_not_trusted() {
    let cp = ControlPlane::shared();
    let forged = |req: http::request::Builder| req.header("X-Remote-User", "system:admin").header("X-Remote-Group", "system:masters").body(Vec::new()).unwrap();
    // No client certificate at all: anonymous, and anonymous may not list.
    let direct = cp.direct(None).await.unwrap();
    let (code, body) = raw(&direct, forged(http::Request::get("/apis/apps.cozystack.io/v1alpha1/namespaces/tenant-root/postgreses"))).await.unwrap();
    assert_eq!(code, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("system:anonymous"), "{body}");
    // A real user's certificate (cluster CA, not the front-proxy CA): that user, not the forged one.
    let (crt, key) = cp.user_cert("mallory", &[]).unwrap();
    let mallory = cp.direct(Some((&crt, &key))).await.unwrap();
    let (code, body) = raw(&mallory, forged(http::Request::get("/apis/apps.cozystack.io/v1alpha1/namespaces/tenant-root/postgreses"))).await.unwrap();
    assert_eq!(code, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("User \"mallory\""), "{body}");
    // The real front-proxy certificate with the same headers is trusted: proof the check is the certificate.
    let proxy = cp.direct(Some((&cp.cert("front-proxy-client.crt"), &cp.cert("front-proxy-client.key")))).await.unwrap();
    let (code, body) = raw(&proxy, forged(http::Request::get("/apis/apps.cozystack.io/v1alpha1/namespaces/tenant-root/postgreses"))).await.unwrap();
    assert_eq!(code, 200, "{body}");
}

#[tokio::test]
async fn front_proxy_ca_rotation_takes_effect_without_restart() {
    let cp = ControlPlane::shared();
    let dir = cp.state.join("rotation");
    std::fs::create_dir_all(&dir).unwrap();
    let (crt, key) = rogue_cert(&dir, "new-front-proxy-ca", "front-proxy-client");
    let new_ca = std::fs::read_to_string(dir.join("new-front-proxy-ca.crt")).unwrap();
    let client = cp.direct(Some((&crt, &key))).await.unwrap();
    let request = || {
        http::Request::get("/apis/apps.cozystack.io/v1alpha1/namespaces/tenant-root/postgreses")
            .header("X-Remote-User", "admin")
            .header("X-Remote-Group", "system:masters")
            .body(Vec::new())
            .unwrap()
    };
    let (code, _) = raw(&client, request()).await.unwrap();
    assert_eq!(code, 401, "a certificate of an unknown CA is refused before the rotation");

    let admin = cp.admin().await.unwrap();
    let cms: kube::Api<ConfigMap> = kube::Api::namespaced(admin, "kube-system");
    let mut cm = cms.get("extension-apiserver-authentication").await.unwrap();
    let data = cm.data.get_or_insert_with(Default::default);
    let bundle = data.get("requestheader-client-ca-file").cloned().unwrap_or_default();
    data.insert("requestheader-client-ca-file".into(), format!("{bundle}{new_ca}"));
    cm.metadata.managed_fields = None;
    cms.replace("extension-apiserver-authentication", &Default::default(), &cm).await.unwrap();
    let accepted = wait_until("the new front-proxy CA to be trusted", Duration::from_secs(20), || async {
        raw(&client, request()).await.map(|(c, _)| c == 200).unwrap_or(false)
    })
    .await;
    // kube-apiserver rewrites the ConfigMap from its own flags; put the original bundle back regardless.
    let mut cm = cms.get("extension-apiserver-authentication").await.unwrap();
    cm.data.get_or_insert_with(Default::default).insert("requestheader-client-ca-file".into(), bundle);
    cm.metadata.managed_fields = None;
    let _ = cms.replace("extension-apiserver-authentication", &Default::default(), &cm).await;
    accepted.unwrap();
}

#[tokio::test]
async fn health_version_and_metrics() {
    let cp = ControlPlane::shared();
    let direct = cp.direct(None).await.unwrap();
    for path in ["/healthz", "/livez", "/readyz"] {
        let (code, body) = raw(&direct, get(path)).await.unwrap();
        assert_eq!((code, body.as_str()), (200, Some("ok")), "{path}");
    }
    let (code, body) = raw(&direct, get("/readyz?verbose")).await.unwrap();
    assert_eq!(code, 200);
    assert!(body.as_str().unwrap().contains("[+]informer-sync ok"));
    // /metrics needs authorization: anonymous is refused, the admin (system:masters) reads it.
    let (code, _) = raw(&direct, get("/metrics")).await.unwrap();
    assert_eq!(code, 403);
    let admin_cert = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await.unwrap();
    let (code, body) = raw(&admin_cert, get("/readyz/ping")).await.unwrap();
    assert_eq!((code, body.as_str()), (200, Some("ok")));
    let (code, body) = raw(&admin_cert, get("/metrics")).await.unwrap();
    assert_eq!(code, 200);
    let text = body.as_str().unwrap();
    assert!(text.contains("apiserver_request_total{"), "{text}");
    assert!(text.contains("apiserver_request_duration_seconds_bucket{"));
    assert!(text.contains("apiserver_current_inflight_requests"));
    let (code, body) = raw(&admin_cert, get("/version")).await.unwrap();
    assert_eq!(code, 200);
    assert!(body["gitVersion"].as_str().is_some());
}
