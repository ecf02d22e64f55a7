//! The tenant resources of core.cozystack.io through the aggregator: TenantNamespaces filtered by RBAC (lists,
//! open watches, 404 for what a caller may not see), TenantSecrets over marked Secrets, TenantModules over
//! marked HelmReleases. Every test owns its namespaces, users and roles, named after the test.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{ControlPlane, raw, unique, wait_until};
use futures::StreamExt;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};

const CORE: &str = "/apis/core.cozystack.io/v1alpha1";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";
const SOON: Duration = Duration::from_secs(20);

fn req(method: &str, path: &str, body: Option<Value>) -> http::Request<Vec<u8>> {
    let ct = if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", ct)
        .body(body.map(|v| serde_json::to_vec(&v).unwrap()).unwrap_or_default())
        .unwrap()
}

fn table_req(path: &str) -> http::Request<Vec<u8>> {
    http::Request::builder().uri(path).header("Accept", TABLE).body(Vec::new()).unwrap()
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    PolicyRule { api_groups: Some(v(groups)), resources: Some(v(resources)), verbs: v(verbs), ..Default::default() }
}

fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
    let api_group = (kind != "ServiceAccount").then(|| "rbac.authorization.k8s.io".to_string());
    Subject { kind: kind.into(), name: name.into(), namespace: namespace.map(str::to_string), api_group }
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: namespace.map(str::to_string), ..Default::default() }
}

/// Creates `obj`, accepting that it already exists (shared objects, reruns).
async fn create<K>(api: &Api<K>, obj: &K)
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("creating {obj:?}: {e}"),
    }
}

/// Lets every authenticated user list and watch TenantNamespaces, as upstream's `tenantnamespaces-read` does; the
/// rule is on core.cozystack.io, so it reveals no namespace by itself.
async fn allow_reading_tenant_namespaces(admin: &kube::Client) {
    let name = "e2e-tenantnamespaces-read";
    let role = ClusterRole {
        metadata: meta(name, None),
        rules: Some(vec![rule(&["core.cozystack.io"], &["tenantnamespaces"], &["get", "list", "watch"])]),
        ..Default::default()
    };
    create(&Api::all(admin.clone()), &role).await;
    let binding = ClusterRoleBinding {
        metadata: meta(name, None),
        role_ref: RoleRef { api_group: Some("rbac.authorization.k8s.io".into()), kind: "ClusterRole".into(), name: name.into() },
        subjects: Some(vec![subject("Group", "system:authenticated", None)]),
    };
    create(&Api::all(admin.clone()), &binding).await;
}

/// A ClusterRole that reveals tenant namespaces (reads applications), named after the test.
async fn view_role(admin: &kube::Client, name: &str) {
    let role =
        ClusterRole { metadata: meta(name, None), rules: Some(vec![rule(&["apps.cozystack.io"], &["*"], &["get", "list", "watch"])]), ..Default::default() };
    create(&Api::all(admin.clone()), &role).await;
}

async fn bind(admin: &kube::Client, ns: &str, name: &str, kind: &str, role: &str, subjects: Vec<Subject>) {
    let rb = RoleBinding {
        metadata: meta(name, Some(ns)),
        role_ref: RoleRef { api_group: Some("rbac.authorization.k8s.io".into()), kind: kind.into(), name: role.into() },
        subjects: Some(subjects),
    };
    create(&Api::namespaced(admin.clone(), ns), &rb).await;
}

fn create_namespace(cp: &ControlPlane, name: &str) {
    cp.kubectl_ok(&["create", "namespace", name]).unwrap();
}

/// The TenantNamespace names `client` lists.
async fn listed(client: &kube::Client) -> BTreeSet<String> {
    let (code, body) = raw(client, req("GET", &format!("{CORE}/tenantnamespaces"), None)).await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["kind"], "TenantNamespaceList");
    assert!(body["metadata"]["resourceVersion"].as_str().is_some_and(|rv| !rv.is_empty()), "{body}");
    body["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_string()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// An open watch whose events a background task collects.
struct Watch {
    events: Arc<Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    async fn open(client: &kube::Client, path: &str) -> Watch {
        let resp = client.send(req("GET", path, None).map(kube::client::Body::from)).await.unwrap();
        assert_eq!(resp.status(), 200, "watch {path}");
        let events: Arc<Mutex<Vec<(String, Value)>>> = Default::default();
        let sink = events.clone();
        let task = tokio::spawn(async move {
            let mut body = resp.into_body();
            let mut buf = Vec::new();
            while let Some(Ok(frame)) = http_body_util::BodyExt::frame(&mut body).await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let e: Value = serde_json::from_slice(&line).unwrap();
                    sink.lock().unwrap().push((e["type"].as_str().unwrap().to_string(), e["object"].clone()));
                }
            }
        });
        Watch { events, task }
    }

    /// The names the client holds after the events so far.
    fn held(&self) -> BTreeSet<String> {
        let mut held = BTreeSet::new();
        for (t, o) in self.events.lock().unwrap().iter() {
            let name = o["metadata"]["name"].as_str().unwrap_or_default().to_string();
            match t.as_str() {
                "ADDED" | "MODIFIED" => {
                    held.insert(name);
                }
                "DELETED" => {
                    held.remove(&name);
                }
                _ => {}
            }
        }
        held
    }

    fn types(&self) -> Vec<String> {
        self.events.lock().unwrap().iter().map(|(t, _)| t.clone()).collect()
    }

    async fn wait_for(&self, what: &str, want: &BTreeSet<String>) {
        self.wait_longer_for(what, want, SOON).await
    }

    async fn wait_longer_for(&self, what: &str, want: &BTreeSet<String>, deadline: Duration) {
        let ok = wait_until(what, deadline, || async { self.held() == *want }).await;
        assert!(ok.is_ok(), "{what}: the watch holds {:?}, events {:?}", self.held(), self.events.lock().unwrap());
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_tenant_admin_sees_only_its_namespaces() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    allow_reading_tenant_namespaces(&admin).await;
    let p = unique("tnsee");
    let (a, b, c, other) = (format!("tenant-{p}-a"), format!("tenant-{p}-b"), format!("tenant-{p}-c"), format!("{p}-other"));
    for ns in [&a, &b, &c, &other] {
        create_namespace(cp, ns);
    }
    let view = format!("{p}-view");
    view_role(&admin, &view).await;
    let configmaps = format!("{p}-configmaps");
    create(
        &Api::all(admin.clone()),
        &ClusterRole { metadata: meta(&configmaps, None), rules: Some(vec![rule(&[""], &["configmaps"], &["get"])]), ..Default::default() },
    )
    .await;
    let (user, group) = (format!("{p}-admin"), format!("{p}-admins"));
    bind(&admin, &a, "by-user", "ClusterRole", &view, vec![subject("User", &user, None)]).await;
    bind(&admin, &b, "by-group", "ClusterRole", &view, vec![subject("Group", &group, None)]).await;
    // Bindings that reveal nothing: an unrelated role, and a namespace that is not a tenant's.
    bind(&admin, &c, "configmaps", "ClusterRole", &configmaps, vec![subject("User", &user, None)]).await;
    bind(&admin, &other, "by-user", "ClusterRole", &view, vec![subject("User", &user, None)]).await;
    // A ServiceAccount subject, matched by the user name its tokens (or here, a certificate) carry.
    bind(&admin, &a, "bot", "ClusterRole", &view, vec![subject("ServiceAccount", "bot", Some(&a))]).await;

    let client = cp.user(&user, &[&group]).await.unwrap();
    let mine = set(&[&a, &b]);
    wait_until("the index to see the bindings", SOON, || async { listed(&client).await == mine }).await.unwrap();
    let bot = cp.user(&format!("system:serviceaccount:{a}:bot"), &["system:serviceaccounts"]).await.unwrap();
    assert_eq!(listed(&bot).await, set(&[&a]));

    // An open watch starts with the same namespaces, and only those.
    let watch = Watch::open(&client, &format!("{CORE}/tenantnamespaces?watch=1")).await;
    watch.wait_for("the initial events", &mine).await;
    assert!(watch.types().iter().all(|t| t == "ADDED"), "{:?}", watch.types());

    // Get: the object for a visible namespace; 404 for one that is hidden, missing or not a tenant's.
    let (code, body) = raw(&client, req("GET", &format!("{CORE}/tenantnamespaces/{a}"), None)).await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (body["apiVersion"].as_str(), body["kind"].as_str(), body["metadata"]["name"].as_str()),
        (Some("core.cozystack.io/v1alpha1"), Some("TenantNamespace"), Some(a.as_str()))
    );
    for field in ["uid", "resourceVersion", "creationTimestamp"] {
        assert!(body["metadata"][field].is_string(), "{field} in {body}");
    }
    for hidden in [c.clone(), format!("tenant-{p}-missing"), other.clone()] {
        let (code, body) = raw(&client, req("GET", &format!("{CORE}/tenantnamespaces/{hidden}"), None)).await.unwrap();
        assert_eq!(code, 404, "{hidden}: {body}");
        assert_eq!(body["message"], format!("tenantnamespaces.core.cozystack.io \"{hidden}\" not found"));
    }
    let (code, _) = raw(&admin, req("GET", &format!("{CORE}/tenantnamespaces/{c}"), None)).await.unwrap();
    assert_eq!(code, 200, "system:masters sees every tenant namespace");

    // kubectl's table: NAME and AGE.
    let (code, table) = raw(&client, table_req(&format!("{CORE}/tenantnamespaces"))).await.unwrap();
    assert_eq!(code, 200, "{table}");
    let columns: Vec<&str> = table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["NAME", "AGE"]);
    let rows: Vec<&str> = table["rows"].as_array().unwrap().iter().map(|r| r["cells"][0].as_str().unwrap()).collect();
    assert_eq!(rows, [a.as_str(), b.as_str()]);
    let kubeconfig = cp.user_kubeconfig(&user, &[&group]).unwrap();
    let out = e2e::run_ok(cp.kubectl_as(&kubeconfig).args(["get", "tenantnamespaces", "-o", "name"])).unwrap();
    assert_eq!(out.lines().collect::<Vec<_>>(), [format!("tenantnamespace.core.cozystack.io/{a}"), format!("tenantnamespace.core.cozystack.io/{b}")]);
    // Label selectors apply to the namespace's labels.
    cp.kubectl_ok(&["label", "namespace", &b, "tier=gold"]).unwrap();
    wait_until("the label to reach the index", SOON, || async {
        let (_, body) = raw(&client, req("GET", &format!("{CORE}/tenantnamespaces?labelSelector=tier%3Dgold"), None)).await.unwrap();
        body["items"].as_array().is_some_and(|i| i.len() == 1 && i[0]["metadata"]["name"] == b.as_str())
    })
    .await
    .unwrap();
    assert_eq!(watch.held(), mine, "a change of a visible namespace is a MODIFIED, nothing else");
}

#[tokio::test]
async fn granting_and_revoking_access_moves_namespaces_in_an_open_watch() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    allow_reading_tenant_namespaces(&admin).await;
    let p = unique("tngrant");
    let (x, y) = (format!("tenant-{p}-x"), format!("tenant-{p}-y"));
    create_namespace(cp, &x);
    create_namespace(cp, &y);
    let view = format!("{p}-view");
    view_role(&admin, &view).await;
    let user = format!("{p}-user");
    let client = cp.user(&user, &[]).await.unwrap();
    bind(&admin, &y, "view", "ClusterRole", &view, vec![subject("User", &user, None)]).await;
    wait_until("the first grant", SOON, || async { listed(&client).await == set(&[&y]) }).await.unwrap();

    let watch = Watch::open(&client, &format!("{CORE}/tenantnamespaces?watch=1&allowWatchBookmarks=true")).await;
    watch.wait_for("the initial state", &set(&[&y])).await;

    bind(&admin, &x, "view", "ClusterRole", &view, vec![subject("User", &user, None)]).await;
    watch.wait_for("a RoleBinding to reveal its namespace", &set(&[&x, &y])).await;

    let rbs: Api<RoleBinding> = Api::namespaced(admin.clone(), &x);
    rbs.delete("view", &Default::default()).await.unwrap();
    watch.wait_for("deleting the RoleBinding to hide the namespace", &set(&[&y])).await;
    let (code, _) = raw(&client, req("GET", &format!("{CORE}/tenantnamespaces/{x}"), None)).await.unwrap();
    assert_eq!(code, 404, "a revoked namespace is not found");

    // A role that stops granting reads of applications hides every namespace bound to it; restoring it reveals them.
    let roles: Api<ClusterRole> = Api::all(admin.clone());
    let patch = |rules: Value| kube::api::Patch::Merge(json!({"rules": rules}));
    roles.patch(&view, &Default::default(), &patch(json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]))).await.unwrap();
    watch.wait_for("the role change to hide", &BTreeSet::new()).await;
    roles.patch(&view, &Default::default(), &patch(json!([{"apiGroups": ["apps.cozystack.io"], "resources": ["*"], "verbs": ["get"]}]))).await.unwrap();
    watch.wait_for("the role change to reveal", &set(&[&y])).await;

    // Deleting a namespace shows at once as a MODIFIED with its deletionTimestamp, and ends with a DELETED when
    // the namespace controller removed its RoleBindings (how soon depends on that controller's backlog).
    cp.kubectl_ok(&["delete", "namespace", &y, "--wait=false"]).unwrap();
    wait_until("the deletionTimestamp", SOON, || async {
        watch
            .events
            .lock()
            .unwrap()
            .iter()
            .any(|(t, o)| t == "MODIFIED" && o["metadata"]["name"] == y.as_str() && o["metadata"]["deletionTimestamp"].is_string())
    })
    .await
    .unwrap();
    watch.wait_longer_for("the namespace deletion", &BTreeSet::new(), Duration::from_secs(180)).await;
    let types = watch.types();
    assert!(types.iter().any(|t| t == "BOOKMARK"), "bookmarks follow bursts of events: {types:?}");
    cp.kubectl_ok(&["delete", "namespace", &x, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn a_watch_resumes_from_a_list_and_sends_initial_events_on_request() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    allow_reading_tenant_namespaces(&admin).await;
    let p = unique("tnresume");
    let (x, y) = (format!("tenant-{p}-x"), format!("tenant-{p}-y"));
    create_namespace(cp, &x);
    create_namespace(cp, &y);
    let view = format!("{p}-view");
    view_role(&admin, &view).await;
    let user = format!("{p}-user");
    let client = cp.user(&user, &[]).await.unwrap();
    bind(&admin, &x, "view", "ClusterRole", &view, vec![subject("User", &user, None)]).await;
    wait_until("the grant", SOON, || async { listed(&client).await == set(&[&x]) }).await.unwrap();

    // WatchList: the initial state, then the bookmark that ends it.
    let watch =
        Watch::open(&client, &format!("{CORE}/tenantnamespaces?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan"))
            .await;
    wait_until("the initial-events-end bookmark", SOON, || async { watch.types().iter().any(|t| t == "BOOKMARK") }).await.unwrap();
    let events = watch.events.lock().unwrap().clone();
    assert_eq!(events[0].0, "ADDED");
    assert_eq!(events[0].1["metadata"]["name"], x.as_str());
    assert_eq!(events[1].0, "BOOKMARK");
    assert_eq!(events[1].1["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");

    // A grant between a list and the watch that resumes from it is not lost.
    let (_, list) = raw(&client, req("GET", &format!("{CORE}/tenantnamespaces"), None)).await.unwrap();
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    bind(&admin, &y, "view", "ClusterRole", &view, vec![subject("User", &user, None)]).await;
    wait_until("the second grant", SOON, || async { listed(&client).await.len() == 2 }).await.unwrap();
    let resumed = Watch::open(&client, &format!("{CORE}/tenantnamespaces?watch=1&resourceVersion={rv}")).await;
    resumed.wait_for("the missed grant", &set(&[&y])).await;
    // A resourceVersion far older than the server's history answers 410, and clients list again.
    let (code, body) = raw(&client, req("GET", &format!("{CORE}/tenantnamespaces?watch=1&resourceVersion=1"), None)).await.unwrap();
    assert_eq!(code, 410, "{body}");
}

#[tokio::test]
async fn a_user_in_300_groups_sees_exactly_its_20_of_200_namespaces() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    allow_reading_tenant_namespaces(&admin).await;
    let p = unique("tnmany");
    let view = format!("{p}-view");
    view_role(&admin, &view).await;
    let user = format!("{p}-user");
    let groups: Vec<String> = (0..300).map(|i| format!("{p}-g{i}")).collect();
    let namespaces: Vec<String> = (0..200).map(|i| format!("tenant-{p}-{i:03}")).collect();
    let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    futures::stream::iter(namespaces.iter())
        .for_each_concurrent(16, |ns| {
            let api = ns_api.clone();
            async move { create(&api, &k8s_openapi::api::core::v1::Namespace { metadata: meta(ns, None), ..Default::default() }).await }
        })
        .await;
    // Every namespace gets a binding; every tenth one names one of the user's groups (or, once, the user).
    let mut want = BTreeSet::new();
    let bindings: Vec<(String, Subject)> = namespaces
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let s = match i {
                0 => subject("User", &user, None),
                i if i % 10 == 0 => subject("Group", &groups[(i * 29) % 300], None),
                i => subject("Group", &format!("{p}-outsiders-{i}"), None),
            };
            if i % 10 == 0 {
                want.insert(ns.clone());
            }
            (ns.clone(), s)
        })
        .collect();
    futures::stream::iter(bindings)
        .for_each_concurrent(16, |(ns, s)| {
            let (admin, view) = (admin.clone(), view.clone());
            async move { bind(&admin, &ns, "view", "ClusterRole", &view, vec![s]).await }
        })
        .await;
    assert_eq!(want.len(), 20);
    // 300 groups do not fit a certificate's file name in the harness, so the admin impersonates the user:
    // kube-apiserver authorizes and forwards the impersonated identity exactly as for a certificate.
    let kc = kube::config::Kubeconfig::read_from(cp.kubeconfig()).unwrap();
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
    cfg.auth_info.impersonate = Some(user.clone());
    cfg.auth_info.impersonate_groups = Some(groups.clone());
    // A refusal should fail the test at once, not after the client's retries of 503s.
    cfg.default_retry = false;
    let member = kube::Client::try_from(cfg).unwrap();
    wait_until("all bindings to reach the index", SOON, || async { listed(&member).await == want }).await.unwrap();
    let watch = Watch::open(&member, &format!("{CORE}/tenantnamespaces?watch=1")).await;
    watch.wait_for("the initial events", &want).await;
    // A control plane of this test binary goes away with it; only a reused one is cleaned, since deleting 200
    // namespaces keeps the namespace controller busy for a while.
    if std::env::var_os("COZY_E2E_STATE_DIR").is_some() {
        futures::stream::iter(namespaces.iter())
            .for_each_concurrent(16, |ns| {
                let api = ns_api.clone();
                async move {
                    api.delete(ns, &Default::default()).await.ok();
                }
            })
            .await;
    }
}

#[tokio::test]
async fn a_cluster_wide_binding_reveals_every_tenant_namespace() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    allow_reading_tenant_namespaces(&admin).await;
    let p = unique("tnwide");
    let ns = format!("tenant-{p}");
    create_namespace(cp, &ns);
    let view = format!("{p}-view");
    view_role(&admin, &view).await;
    let user = format!("{p}-ops");
    let client = cp.user(&user, &[]).await.unwrap();
    assert!(listed(&client).await.is_empty());
    let crbs: Api<ClusterRoleBinding> = Api::all(admin.clone());
    let crb = ClusterRoleBinding {
        metadata: meta(&p, None),
        role_ref: RoleRef { api_group: Some("rbac.authorization.k8s.io".into()), kind: "ClusterRole".into(), name: view.clone() },
        subjects: Some(vec![subject("User", &user, None)]),
    };
    create(&crbs, &crb).await;
    wait_until("the ClusterRoleBinding to reveal every tenant namespace", SOON, || async {
        let seen = listed(&client).await;
        seen.contains(&ns) && seen.contains("tenant-root")
    })
    .await
    .unwrap();
    let (code, _) = raw(&client, req("GET", &format!("{CORE}/tenantnamespaces/tenant-root"), None)).await.unwrap();
    assert_eq!(code, 200);
    crbs.delete(&p, &Default::default()).await.unwrap();
    wait_until("removing it to hide them again", SOON, || async { listed(&client).await.is_empty() }).await.unwrap();
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
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
    assert_eq!(raw(&admin, req("GET", &secret("plain"), None)).await.unwrap().0, 200, "the Secret itself is untouched");

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
