//! Hostile and careless input answered as kube-apiserver answers it for a custom resource: metadata errors
//! about the user's own object and fields (never the HelmRelease behind it), bodies over the size limit, and
//! selectors kube-apiserver refuses. Each case is compared with a CRD served by kube-apiserver itself.

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::{APPS, ControlPlane, namespace, postgres, raw, req, unique, wait_until, with_type};
use serde_json::{Value, json};

const TWIN_GROUP: &str = "hardening.cozystack.io";

/// A namespaced CRD `widgets.hardening.cozystack.io` whose spec keeps anything: kube-apiserver's own answers
/// for the same requests.
async fn twin_crd(cp: &ControlPlane, admin: &kube::Client) -> String {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{TWIN_GROUP}")},
        "spec": {"group": TWIN_GROUP, "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
    });
    let (code, body) = raw(admin, req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", Some(crd))).await.unwrap();
    assert!(code == 201 || code == 409, "{body}");
    let _ = cp;
    let path = format!("/apis/{TWIN_GROUP}/v1alpha1");
    wait_until("the twin CRD to be served", Duration::from_secs(30), || async {
        raw(admin, req("GET", &format!("{path}/widgets"), None)).await.map(|(c, _)| c == 200).unwrap_or(false)
    })
    .await
    .unwrap();
    path
}

fn widget(ns: &str, name: &str) -> Value {
    json!({"apiVersion": format!("{TWIN_GROUP}/v1alpha1"), "kind": "Widget", "metadata": {"name": name, "namespace": ns}, "spec": {}})
}

/// The causes of a Status as (field, reason, message).
fn causes(status: &Value) -> BTreeSet<(String, String, String)> {
    let text = |c: &Value, k: &str| c[k].as_str().unwrap_or_default().to_string();
    status["details"]["causes"].as_array().into_iter().flatten().map(|c| (text(c, "field"), text(c, "reason"), text(c, "message"))).collect()
}

#[tokio::test]
async fn metadata_errors_name_the_users_object_and_field_as_for_a_crd() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let twin = twin_crd(cp, &admin).await;
    let ns = namespace(cp, "meta");
    let long_key = format!("example.com/{}", "k".repeat(64));
    let cases: [(&str, Value); 4] = [
        ("a label key whose name part is too long", json!({"labels": {&long_key: "v"}})),
        ("a label value with a space", json!({"labels": {"tier": "gold plated"}})),
        ("an annotation key with two slashes", json!({"annotations": {"a/b/c": "v"}})),
        ("annotations over 256 KiB", json!({"annotations": {"big": "x".repeat(300 * 1024)}})),
    ];
    for (what, meta) in cases {
        let name = unique("meta");
        let mut app = postgres(&ns, &name, json!({}));
        let mut crd = widget(&ns, &name);
        for obj in [&mut app, &mut crd] {
            obj["metadata"].as_object_mut().unwrap().extend(meta.as_object().unwrap().clone());
        }
        let (crd_code, crd_status) = raw(&admin, req("POST", &format!("{twin}/namespaces/{ns}/widgets"), Some(crd))).await.unwrap();
        let (code, status) = raw(&admin, req("POST", &format!("{APPS}/namespaces/{ns}/postgreses"), Some(app))).await.unwrap();
        assert_eq!((code, crd_code), (422, 422), "{what}: ours {status}, CRD {crd_status}");
        assert_eq!(status["reason"], "Invalid", "{what}");
        assert_eq!(causes(&status), causes(&crd_status), "{what}: the same causes as kube-apiserver's");
        let message = status["message"].as_str().unwrap();
        let crd_message = crd_status["message"].as_str().unwrap();
        assert_eq!(
            message.strip_prefix(&format!("Postgres.apps.cozystack.io \"{name}\" is invalid: ")),
            crd_message.strip_prefix(&format!("Widget.{TWIN_GROUP} \"{name}\" is invalid: ")),
            "{what}: the message names the app, as the CRD's names the widget"
        );
        assert!(!message.contains("HelmRelease") && !message.contains("apps.cozystack.io-"), "{what}: {message}");
        assert_eq!((status["details"]["kind"].as_str(), status["details"]["name"].as_str()), (Some("Postgres"), Some(name.as_str())), "{what}");
        let hr = raw(&admin, req("GET", &format!("/apis/helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases/postgres-{name}"), None)).await.unwrap();
        assert_eq!(hr.0, 404, "{what}: nothing is written");
    }
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_and_the_connection_keeps_working() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let direct = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await.unwrap();
    let ns = namespace(cp, "body");
    let path = format!("{APPS}/namespaces/{ns}/postgreses");
    let mut big = postgres(&ns, "big", json!({}));
    big["metadata"]["annotations"] = json!({"filler": "x".repeat(4 * 1024 * 1024)});
    let body = serde_json::to_vec(&big).unwrap();
    for (via, client) in [("the aggregator", &admin), ("our port", &direct)] {
        for round in 0..2 {
            let (code, status) = raw(client, with_type("POST", &path, "application/json", &body)).await.unwrap();
            assert_eq!(code, 413, "via {via}, round {round}: {status}");
            assert_eq!((status["kind"].as_str(), status["reason"].as_str()), (Some("Status"), Some("RequestEntityTooLarge")), "via {via}: {status}");
            let (code, list) = raw(client, req("GET", &path, None)).await.unwrap();
            assert_eq!(code, 200, "via {via}: the next request is answered: {list}");
        }
    }
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

/// A NUL byte in a label selector is refused wherever it is. kube-apiserver refuses it only inside a value
/// (its lexer reads NUL as the end of input): before a key or after a value it silently drops the rest of the
/// selector and answers more than was asked for, so there we are deliberately stricter (docs/compatibility.md).
#[tokio::test]
async fn a_nul_byte_in_a_label_selector_is_refused_and_field_selectors_answer_as_for_a_crd() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let twin = twin_crd(cp, &admin).await;
    let ns = namespace(cp, "selector");
    let (code, body) = raw(&admin, req("POST", &format!("{APPS}/namespaces/{ns}/postgreses"), Some(postgres(&ns, "db", json!({}))))).await.unwrap();
    assert_eq!(code, 201, "{body}");
    // (query, kube-apiserver's code for the twin CRD)
    let queries = [
        ("labelSelector=a%3Db%00", 200),
        ("labelSelector=%00a%3Db", 200),
        ("labelSelector=a%00%3Db", 200),
        ("labelSelector=a%3Db%00c", 400),
        ("labelSelector=a%3Db,%00c", 200),
    ];
    for (q, crd_expected) in queries {
        let (crd_code, crd_body) = raw(&admin, req("GET", &format!("{twin}/namespaces/{ns}/widgets?{q}"), None)).await.unwrap();
        assert_eq!(crd_code, crd_expected, "{q}: kube-apiserver's answer changed: {crd_body}");
        let (code, body) = raw(&admin, req("GET", &format!("{APPS}/namespaces/{ns}/postgreses?{q}"), None)).await.unwrap();
        assert_eq!(code, 400, "{q}: {body}");
        assert_eq!((body["kind"].as_str(), body["reason"].as_str()), (Some("Status"), Some("BadRequest")), "{q}: {body}");
        assert!(body["message"].as_str().unwrap().contains("NUL byte"), "{q}: the message names the problem: {body}");
    }
    // A field selector's value is not a label value: NUL there matches nothing, for a CRD and for us.
    let q = "fieldSelector=metadata.name%3Ddb%00";
    let (crd_code, crd_body) = raw(&admin, req("GET", &format!("{twin}/namespaces/{ns}/widgets?{q}"), None)).await.unwrap();
    let (code, body) = raw(&admin, req("GET", &format!("{APPS}/namespaces/{ns}/postgreses?{q}"), None)).await.unwrap();
    assert_eq!(code, crd_code, "{q}: ours {body}, CRD {crd_body}");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn deeply_nested_bodies_are_refused_with_a_status_and_the_server_keeps_serving() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let path = format!("{APPS}/namespaces/tenant-root/postgreses?dryRun=All");
    let depth = 100_000;
    let json_body = format!(
        r#"{{"apiVersion":"apps.cozystack.io/v1alpha1","kind":"Postgres","metadata":{{"name":"deep"}},"spec":{{"x":{}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let yaml_body =
        format!("apiVersion: apps.cozystack.io/v1alpha1\nkind: Postgres\nmetadata: {{name: deep}}\nspec: {{x: {}{}}}\n", "[".repeat(depth), "]".repeat(depth));
    for (what, content_type, body) in [("JSON", "application/json", json_body), ("YAML", "application/yaml", yaml_body)] {
        let (code, status) = raw(&admin, with_type("POST", &path, content_type, body.as_bytes())).await.unwrap();
        assert_eq!(code, 400, "{what}: {status}");
        assert_eq!((status["kind"].as_str(), status["reason"].as_str()), (Some("Status"), Some("BadRequest")), "{what}");
        assert!(status["message"].as_str().unwrap().contains("recursion limit exceeded"), "{what}: the message names the problem: {status}");
    }
    let (code, _) = raw(&admin, req("GET", &format!("{APPS}/namespaces/tenant-root/postgreses"), None)).await.unwrap();
    assert_eq!(code, 200, "the server still answers");
}

/// A get with a resourceVersion may be answered from the watch cache: what it returns and refuses is what
/// kube-apiserver answers for a CRD (the object, 404 for a name it does not hold). A version that is not a
/// number gets kube-apiserver's 500 for a CRD and a 400 from us, as our lists answer it (docs/compatibility.md).
#[tokio::test]
async fn gets_with_a_resource_version_answer_as_for_a_crd() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let twin = twin_crd(cp, &admin).await;
    let ns = namespace(cp, "get-rv");
    let (code, created) = raw(&admin, req("POST", &format!("{APPS}/namespaces/{ns}/postgreses"), Some(postgres(&ns, "db", json!({}))))).await.unwrap();
    assert_eq!(code, 201, "{created}");
    let (code, widget_created) = raw(&admin, req("POST", &format!("{twin}/namespaces/{ns}/widgets"), Some(widget(&ns, "db")))).await.unwrap();
    assert_eq!(code, 201, "{widget_created}");
    let ours_at = created["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let crd_at = widget_created["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    // Each cache catches up with the write on its own: wait until a get at the written version answers.
    for (path, at) in [(format!("{APPS}/namespaces/{ns}/postgreses/db"), &ours_at), (format!("{twin}/namespaces/{ns}/widgets/db"), &crd_at)] {
        wait_until("a get at the written version", Duration::from_secs(30), || async {
            raw(&admin, req("GET", &format!("{path}?resourceVersion={at}"), None)).await.map(|(c, _)| c == 200).unwrap_or(false)
        })
        .await
        .unwrap();
    }
    let cases = [("db", "0".to_string(), "0".to_string()), ("db", ours_at.clone(), crd_at.clone()), ("other", "0".into(), "0".into())];
    for (name, ours_rv, crd_rv) in cases {
        let (crd_code, crd_body) = raw(&admin, req("GET", &format!("{twin}/namespaces/{ns}/widgets/{name}?resourceVersion={crd_rv}"), None)).await.unwrap();
        let (code, body) = raw(&admin, req("GET", &format!("{APPS}/namespaces/{ns}/postgreses/{name}?resourceVersion={ours_rv}"), None)).await.unwrap();
        assert_eq!(code, crd_code, "{name} at {ours_rv}: ours {body}, CRD {crd_body}");
        if code == 200 {
            assert_eq!((body["metadata"]["name"].as_str(), body["metadata"]["resourceVersion"].as_str()), (Some("db"), Some(ours_at.as_str())), "{body}");
        } else {
            assert_eq!((body["kind"].as_str(), body["reason"].as_str()), (Some("Status"), crd_body["reason"].as_str()), "{name} at {ours_rv}: {body}");
        }
    }
    let (crd_code, crd_body) = raw(&admin, req("GET", &format!("{twin}/namespaces/{ns}/widgets/db?resourceVersion=abc"), None)).await.unwrap();
    assert_eq!(crd_code, 500, "kube-apiserver's answer changed: {crd_body}");
    let (code, body) = raw(&admin, req("GET", &format!("{APPS}/namespaces/{ns}/postgreses/db?resourceVersion=abc"), None)).await.unwrap();
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("invalid resource version"), "the message names the problem: {body}");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}
