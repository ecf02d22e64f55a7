//! The tenant resources of core.cozystack.io through the aggregator: TenantNamespaces filtered by RBAC (lists,
//! open watches, 404 for what a caller may not see), TenantSecrets over marked Secrets, TenantModules over
//! marked HelmReleases. Every test owns its namespaces, users and roles, named after the test.

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::{CORE, ControlPlane, Watch, raw, req, set, table_req, unique, wait_until};
use futures::StreamExt;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};

const SOON: Duration = Duration::from_secs(20);

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
        watch.events().iter().any(|(t, o)| t == "MODIFIED" && o["metadata"]["name"] == y.as_str() && o["metadata"]["deletionTimestamp"].is_string())
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
    let events = watch.events();
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
