//! SecurityGroups (sdn.cozystack.io) through the aggregator: CiliumNetworkPolicies carrying the securitygroup
//! marker, written and read in the projected shape, by a tenant user bound by RBAC in one namespace and by the
//! admin; policies without the marker are never seen or touched.

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::{ControlPlane, SDN, Watch, raw, req, set, table_req, unique, wait_until};
use serde_json::{Value, json};

const CNP: &str = "/apis/cilium.io/v2";
const MARKER: &str = "sdn.cozystack.io/securitygroup";
const ATTACHMENTS: &str = "sdn.cozystack.io/attachments";
const MEMBERSHIP: &str = "sdn.cozystack.io/securitygroup-membership";

/// A policy's annotations without the one keeping the group's managedFields (docs/server-side-apply.md).
fn users_annotations(policy: &Value) -> Value {
    let mut a = policy["metadata"]["annotations"].clone();
    if let Some(m) = a.as_object_mut() {
        assert!(m.remove("cozystack.io/managed-fields").is_some(), "the policy keeps the group's managedFields: {policy}");
    }
    a
}
fn namespace(cp: &ControlPlane, prefix: &str) -> String {
    let ns = unique(prefix);
    cp.kubectl_ok(&["create", "namespace", &ns]).unwrap();
    ns
}

/// A user bound only in `ns`, with every verb on SecurityGroups there and nothing on cilium.io.
fn security_group_user(cp: &ControlPlane, ns: &str, user: &str) {
    let role = format!("{user}-securitygroups");
    cp.kubectl_ok(&["create", "role", &role, "-n", ns, "--verb=*", "--resource=securitygroups.sdn.cozystack.io"]).unwrap();
    cp.kubectl_ok(&["create", "rolebinding", &role, "-n", ns, &format!("--role={role}"), &format!("--user={user}")]).unwrap();
}

fn group(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "sdn.cozystack.io/v1alpha1", "kind": "SecurityGroup", "metadata": {"name": name}, "spec": spec})
}

fn every_rule_kind() -> Value {
    json!({
        "attachments": [{"kind": "Postgres", "name": "db"}],
        "ingress": [{"fromApp": [{"kind": "Nginx", "name": "edge"}], "fromSG": ["admins"], "fromCIDR": ["10.0.0.0/8"],
                     "toPorts": [{"ports": [{"port": "5432", "protocol": "tcp"}]}]}],
        "egress": [{"toApp": [{"apiGroup": "apps.cozystack.io", "kind": "Kafka", "name": "bus"}], "toSG": ["backends"], "toCIDR": ["192.168.1.1"],
                    "toFQDNs": [{"matchName": "api.example.com"}, {"matchPattern": "*.example.org"}], "toPorts": [{"ports": [{"port": "https", "protocol": "UDP"}]}]}]
    })
}

fn lineage(kind: &str, name: &str) -> Value {
    json!({"matchLabels": {"apps.cozystack.io/application.group": "apps.cozystack.io", "apps.cozystack.io/application.kind": kind, "apps.cozystack.io/application.name": name}})
}

fn names(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_tenant_manages_security_groups_stored_as_cilium_policies() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "tenant-sg");
    let user = unique("sg-owner");
    security_group_user(cp, &ns, &user);
    let tenant = cp.user(&user, &[]).await.unwrap();
    let path = format!("{SDN}/namespaces/{ns}/securitygroups");
    let cnp = |name: &str| format!("{CNP}/namespaces/{ns}/ciliumnetworkpolicies/{name}");
    assert_eq!(raw(&tenant, req("GET", &format!("{CNP}/namespaces/{ns}/ciliumnetworkpolicies"), None)).await.unwrap().0, 403, "no access to cilium.io");

    let watch = Watch::open(&tenant, &format!("{path}?watch=1")).await;

    // A dry run writes nothing.
    let (code, body) = raw(&tenant, req("POST", &format!("{path}?dryRun=All"), Some(group("web", every_rule_kind())))).await.unwrap();
    assert_eq!(code, 201, "{body}");
    assert_eq!(raw(&admin, req("GET", &cnp("web"), None)).await.unwrap().0, 404, "a dry run writes no policy");

    let mut with_meta = group("web", every_rule_kind());
    with_meta["metadata"]["labels"] = json!({"tier": "front"});
    with_meta["metadata"]["annotations"] = json!({"note": "x"});
    let (code, created) = raw(&tenant, req("POST", &path, Some(with_meta))).await.unwrap();
    assert_eq!(code, 201, "{created}");
    assert_eq!((created["apiVersion"].as_str(), created["kind"].as_str()), (Some("sdn.cozystack.io/v1alpha1"), Some("SecurityGroup")));
    assert_eq!(created["metadata"]["labels"], json!({"tier": "front"}), "the marker is not shown");
    assert_eq!(created["metadata"]["annotations"], json!({"note": "x"}), "the attachments annotation is not shown");
    let mut canonical = every_rule_kind();
    canonical["attachments"][0]["apiGroup"] = "apps.cozystack.io".into();
    canonical["ingress"][0]["fromApp"][0]["apiGroup"] = "apps.cozystack.io".into();
    canonical["ingress"][0]["toPorts"][0]["ports"][0]["protocol"] = "TCP".into();
    assert_eq!(created["spec"], canonical);

    // The policy has exactly the projected shape.
    let (code, policy) = raw(&admin, req("GET", &cnp("web"), None)).await.unwrap();
    assert_eq!(code, 200, "{policy}");
    assert_eq!(policy["metadata"]["labels"], json!({"tier": "front", MARKER: "true"}));
    assert_eq!(users_annotations(&policy), json!({"note": "x", ATTACHMENTS: r#"[{"apiGroup":"apps.cozystack.io","kind":"Postgres","name":"db"}]"#}));
    assert_eq!(policy["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(
        policy["spec"],
        json!({
            "endpointSelector": {"matchLabels": {"securitygroup.sdn.cozystack.io/web": ""}},
            "ingress": [{"fromEndpoints": [lineage("Nginx", "edge"), {"matchLabels": {"securitygroup.sdn.cozystack.io/admins": ""}}],
                         "fromCIDR": ["10.0.0.0/8"], "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}]}],
            "egress": [{"toEndpoints": [lineage("Kafka", "bus"), {"matchLabels": {"securitygroup.sdn.cozystack.io/backends": ""}}],
                        "toCIDR": ["192.168.1.1"], "toFQDNs": [{"matchName": "api.example.com"}, {"matchPattern": "*.example.org"}],
                        "toPorts": [{"ports": [{"port": "https", "protocol": "UDP"}]}]}]
        })
    );

    // Get and list read the policy back, at once.
    let (code, got) = raw(&tenant, req("GET", &format!("{path}/web"), None)).await.unwrap();
    assert_eq!((code, &got), (200, &created));
    let (code, empty) = raw(&tenant, req("POST", &path, Some(group("closed", json!({}))))).await.unwrap();
    assert_eq!(code, 201, "{empty}");
    assert_eq!(empty["spec"], json!({}));
    let (_, closed) = raw(&admin, req("GET", &cnp("closed"), None)).await.unwrap();
    assert_eq!(closed["spec"], json!({"endpointSelector": {"matchLabels": {"securitygroup.sdn.cozystack.io/closed": ""}}, "ingress": []}));
    let (code, list) = raw(&tenant, req("GET", &path, None)).await.unwrap();
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], "SecurityGroupList");
    assert_eq!(names(&list), ["closed", "web"]);
    let (_, selected) = raw(&tenant, req("GET", &format!("{path}?labelSelector=tier%3Dfront"), None)).await.unwrap();
    assert_eq!(names(&selected), ["web"]);
    let (_, page) = raw(&tenant, req("GET", &format!("{path}?limit=1"), None)).await.unwrap();
    assert_eq!(names(&page), ["closed"]);
    assert!(page["metadata"]["continue"].as_str().is_some_and(|c| !c.is_empty()), "pages carry a continue token: {page}");
    watch.wait_for("the watch sees both groups", &set(&["closed", "web"])).await;

    // Update replaces labels and spec; the marker stays.
    let mut changed = created.clone();
    changed["metadata"]["labels"] = json!({"tier": "back"});
    changed["spec"] = json!({"ingress": [{"fromCIDR": ["172.16.0.0/12"]}]});
    let (code, updated) = raw(&tenant, req("PUT", &format!("{path}/web"), Some(changed))).await.unwrap();
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["spec"], json!({"ingress": [{"fromCIDR": ["172.16.0.0/12"]}]}));
    // The spec changed: the generation moves, as a custom resource's does.
    assert_eq!((created["metadata"]["generation"].as_i64(), updated["metadata"]["generation"].as_i64()), (Some(1), Some(2)));
    let (_, policy) = raw(&admin, req("GET", &cnp("web"), None)).await.unwrap();
    assert_eq!(policy["metadata"]["labels"], json!({"tier": "back", MARKER: "true"}));
    assert_eq!(users_annotations(&policy), json!({"note": "x"}), "no attachments, no annotation");
    assert!(policy["spec"].get("egress").is_none(), "{policy}");

    // A stale resourceVersion is a conflict about the SecurityGroup.
    let (code, status) = raw(&tenant, req("PUT", &format!("{path}/web"), Some(created.clone()))).await.unwrap();
    assert_eq!(code, 409, "{status}");
    assert_eq!(
        status["message"],
        "Operation cannot be fulfilled on securitygroups.sdn.cozystack.io \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // A merge patch adds an egress rule; the marker cannot be patched away.
    let patch = json!({"metadata": {"labels": {MARKER: null}}, "spec": {"egress": [{"toFQDNs": [{"matchName": "example.com"}], "toPorts": [{"ports": [{"port": "53", "protocol": "udp"}]}]}]}});
    let (code, patched) = raw(&tenant, req("PATCH", &format!("{path}/web"), Some(patch))).await.unwrap();
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["spec"]["egress"], json!([{"toFQDNs": [{"matchName": "example.com"}], "toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}]}]}]));
    let (_, policy) = raw(&admin, req("GET", &cnp("web"), None)).await.unwrap();
    assert_eq!(policy["metadata"]["labels"][MARKER], "true");
    assert_eq!(policy["spec"]["egress"], json!([{"toFQDNs": [{"matchName": "example.com"}], "toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}]}]}]));

    // Table: NAME and AGE.
    let (code, table) = raw(&tenant, table_req(&path)).await.unwrap();
    assert_eq!(code, 200, "{table}");
    let columns: Vec<&str> = table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["NAME", "AGE"]);
    assert_eq!(table["rows"][0]["cells"][0], "closed");

    // Delete: the policy goes, and the watch sees it.
    let (code, body) = raw(&tenant, req("DELETE", &format!("{path}/web"), None)).await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["kind"], "SecurityGroup");
    let (code, gone) = raw(&tenant, req("GET", &format!("{path}/web"), None)).await.unwrap();
    assert_eq!((code, gone["message"].as_str()), (404, Some("securitygroups.sdn.cozystack.io \"web\" not found")));
    assert_eq!(raw(&admin, req("GET", &cnp("web"), None)).await.unwrap().0, 404);
    watch.wait_for("the watch sees the deletion", &set(&["closed"])).await;
    let types: BTreeSet<String> = watch.types().into_iter().collect();
    assert!(types.contains("MODIFIED") && types.contains("DELETED"), "{types:?}");

    // Another user, bound nowhere, is forbidden.
    let stranger = cp.user(&unique("sg-stranger"), &[]).await.unwrap();
    for (method, url, body) in [("GET", path.clone(), None), ("POST", path.clone(), Some(group("x", json!({})))), ("GET", format!("{path}/closed"), None)] {
        let (code, status) = raw(&stranger, req(method, &url, body)).await.unwrap();
        assert_eq!(code, 403, "{method} {url}: {status}");
    }
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn unmarked_policies_stay_invisible_and_policies_edited_directly_read_back() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "tenant-sgcnp");
    let path = format!("{SDN}/namespaces/{ns}/securitygroups");
    let cnps = format!("{CNP}/namespaces/{ns}/ciliumnetworkpolicies");

    let isolation = json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "isolation", "labels": {"team": "platform"}},
                           "spec": {"endpointSelector": {}, "ingress": [{"fromEntities": ["cluster"]}]}});
    let (code, before) = raw(&admin, req("POST", &cnps, Some(isolation))).await.unwrap();
    assert_eq!(code, 201, "{before}");
    let (code, list) = raw(&admin, req("GET", &path, None)).await.unwrap();
    assert_eq!((code, names(&list)), (200, Vec::<String>::new()), "{list}");
    let not_found = "securitygroups.sdn.cozystack.io \"isolation\" not found";
    let mut over = group("isolation", json!({}));
    over["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"].clone();
    for (method, body) in [("GET", None), ("PUT", Some(over)), ("PATCH", Some(json!({"spec": {}}))), ("DELETE", None)] {
        let (code, status) = raw(&admin, req(method, &format!("{path}/isolation"), body)).await.unwrap();
        assert_eq!((code, status["message"].as_str()), (404, Some(not_found)), "{method}: {status}");
    }
    let (code, status) = raw(&admin, req("POST", &path, Some(group("isolation", json!({}))))).await.unwrap();
    assert_eq!((code, status["reason"].as_str()), (409, Some("AlreadyExists")), "{status}");
    assert_eq!(status["message"], "securitygroups.sdn.cozystack.io \"isolation\" already exists");
    let (_, after) = raw(&admin, req("GET", &format!("{cnps}/isolation"), None)).await.unwrap();
    assert_eq!(after, before, "the unmarked policy is untouched");

    // Someone with access to cilium.io edits a group's policy: the group reads what the policy now says.
    let (code, created) = raw(&admin, req("POST", &path, Some(group("db", json!({"attachments": [{"kind": "Postgres", "name": "db"}]}))))).await.unwrap();
    assert_eq!(code, 201, "{created}");
    let edit = json!({"spec": {"ingress": [{"fromEndpoints": [{"matchLabels": {"securitygroup.sdn.cozystack.io/web": ""}}], "fromEntities": ["world"]}],
                               "egress": [{"toCIDR": ["10.1.0.0/16"]}]},
                      "metadata": {"finalizers": [MEMBERSHIP]}});
    let (code, edited) = raw(&admin, req("PATCH", &format!("{cnps}/db"), Some(edit))).await.unwrap();
    assert_eq!(code, 200, "{edited}");
    let (code, read) = raw(&admin, req("GET", &format!("{path}/db"), None)).await.unwrap();
    assert_eq!(code, 200, "{read}");
    assert_eq!(
        read["spec"],
        json!({"attachments": [{"apiGroup": "apps.cozystack.io", "kind": "Postgres", "name": "db"}], "ingress": [{"fromSG": ["web"]}], "egress": [{"toCIDR": ["10.1.0.0/16"]}]})
    );
    assert_eq!(read["metadata"]["finalizers"], json!([MEMBERSHIP]));
    assert_eq!(read["metadata"]["resourceVersion"], edited["metadata"]["resourceVersion"]);

    // A replace that leaves out the controller's finalizer keeps it.
    let mut replace = read.clone();
    replace["metadata"].as_object_mut().unwrap().remove("finalizers");
    let (code, updated) = raw(&admin, req("PUT", &format!("{path}/db"), Some(replace))).await.unwrap();
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["metadata"]["finalizers"], json!([MEMBERSHIP]));
    let (_, policy) = raw(&admin, req("GET", &format!("{cnps}/db"), None)).await.unwrap();
    assert_eq!(policy["metadata"]["finalizers"], json!([MEMBERSHIP]));
    assert_eq!(policy["spec"]["ingress"], json!([{"fromEndpoints": [{"matchLabels": {"securitygroup.sdn.cozystack.io/web": ""}}]}]), "written whole");

    // While the finalizer is pending, a delete leaves the group terminating; it goes when the finalizer does.
    let (code, terminating) = raw(&admin, req("DELETE", &format!("{path}/db"), None)).await.unwrap();
    assert_eq!(code, 202, "{terminating}");
    assert!(terminating["metadata"]["deletionTimestamp"].is_string(), "{terminating}");
    let (_, read) = raw(&admin, req("GET", &format!("{path}/db"), None)).await.unwrap();
    assert!(read["metadata"]["deletionTimestamp"].is_string(), "{read}");
    let (code, body) = raw(&admin, req("PATCH", &format!("{cnps}/db"), Some(json!({"metadata": {"finalizers": null}})))).await.unwrap();
    assert_eq!(code, 200, "{body}");
    wait_until("the group is gone", Duration::from_secs(20), || async { raw(&admin, req("GET", &format!("{path}/db"), None)).await.unwrap().0 == 404 })
        .await
        .unwrap();
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn bad_groups_are_refused_with_upstreams_messages_and_nothing_is_written() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "tenant-sgbad");
    let path = format!("{SDN}/namespaces/{ns}/securitygroups");

    let spec = json!({
        "attachments": [{"kind": "", "name": "World"}],
        "ingress": [{"fromSG": ["", "host"], "fromCIDR": ["10.0.0.0/33"], "toPorts": [{"ports": [{"port": "0", "protocol": "icmp"}]}]}],
        "egress": [{"toFQDNs": [{}], "toPorts": [{"ports": [{"port": "no--"}]}]}]
    });
    let (code, status) = raw(&admin, req("POST", &path, Some(group("bad", spec)))).await.unwrap();
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")), "{status}");
    assert_eq!(
        (status["details"]["group"].as_str(), status["details"]["kind"].as_str(), status["details"]["name"].as_str()),
        (Some("sdn.cozystack.io"), Some("SecurityGroup"), Some("bad"))
    );
    let causes: Vec<(String, String)> = status["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap().to_string(), c["message"].as_str().unwrap().to_string()))
        .collect();
    let want = [
        ("spec.attachments[0].kind", "Required value: must reference an application kind"),
        ("spec.attachments[0].name", "Invalid value: \"World\": must not name a reserved Cilium entity"),
        ("spec.ingress[0].fromSG[0]", "Required value: must name a SecurityGroup"),
        ("spec.ingress[0].fromSG[1]", "Invalid value: \"host\": must not name a reserved Cilium entity"),
        ("spec.ingress[0].fromCIDR[0]", "Invalid value: \"10.0.0.0/33\": must be a valid CIDR or IP address"),
        ("spec.ingress[0].toPorts[0].ports[0].port", "Invalid value: \"0\": port number must be between 1 and 65535"),
        ("spec.ingress[0].toPorts[0].ports[0].protocol", "Unsupported value: \"icmp\": supported values: \"TCP\", \"UDP\", \"SCTP\", \"ANY\""),
        ("spec.egress[0].toPorts[0].ports[0].port", "Invalid value: \"no--\": must not contain consecutive hyphens"),
        ("spec.egress[0].toPorts[0].ports[0].port", "Invalid value: \"no--\": must not begin or end with a hyphen"),
        ("spec.egress[0].toFQDNs[0]", "Required value: must set matchName or matchPattern"),
    ];
    let want: Vec<(String, String)> = want.iter().map(|(f, m)| (f.to_string(), m.to_string())).collect();
    assert_eq!(causes, want);
    assert!(
        status["message"].as_str().unwrap().starts_with("SecurityGroup.sdn.cozystack.io \"bad\" is invalid: [spec.attachments[0].kind: Required value"),
        "{status}"
    );

    // A name too long for a label key.
    let long = "a".repeat(64);
    let (code, status) = raw(&admin, req("POST", &path, Some(group(&long, json!({}))))).await.unwrap();
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");

    // A spec that does not decode, and unknown fields under fieldValidation=Strict, are 400.
    let (code, status) = raw(&admin, req("POST", &path, Some(group("typed", json!({"ingress": [{"toPorts": [{"ports": [{"port": 80}]}]}]}))))).await.unwrap();
    assert_eq!(code, 400, "{status}");
    assert!(status["message"].as_str().unwrap().starts_with("SecurityGroup in version \"v1alpha1\" cannot be handled as a SecurityGroup: "), "{status}");
    let (code, status) =
        raw(&admin, req("POST", &format!("{path}?fieldValidation=Strict"), Some(group("strict", json!({"ingress": [{"fromEntities": ["world"]}]})))))
            .await
            .unwrap();
    assert_eq!((code, status["message"].as_str()), (400, Some("strict decoding error: unknown field \"spec.ingress[0].fromEntities\"")), "{status}");

    // An update is checked the same way.
    let (code, created) = raw(&admin, req("POST", &path, Some(group("good", json!({}))))).await.unwrap();
    assert_eq!(code, 201, "{created}");
    let (code, status) = raw(&admin, req("PATCH", &format!("{path}/good"), Some(json!({"spec": {"egress": [{"toSG": ["all"]}]}})))).await.unwrap();
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "spec.egress[0].toSG[0]");

    let (_, policies) = raw(&admin, req("GET", &format!("{CNP}/namespaces/{ns}/ciliumnetworkpolicies"), None)).await.unwrap();
    assert_eq!(names(&policies), ["good"], "only the valid group was written");
    let (_, good) = raw(&admin, req("GET", &format!("{CNP}/namespaces/{ns}/ciliumnetworkpolicies/good"), None)).await.unwrap();
    assert_eq!(good["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"], "the refused patch wrote nothing");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn kubectl_gets_security_groups() {
    let cp = ControlPlane::shared();
    let ns = namespace(cp, "tenant-sgkubectl");
    let manifest = format!(
        "apiVersion: sdn.cozystack.io/v1alpha1\nkind: SecurityGroup\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  ingress:\n  - fromSG: [admins]\n"
    );
    let file = std::env::temp_dir().join(format!("{}.yaml", unique("sg")));
    std::fs::write(&file, manifest).unwrap();
    cp.kubectl_ok(&["create", "-f", file.to_str().unwrap()]).unwrap();
    std::fs::remove_file(&file).ok();
    let out = cp.kubectl_ok(&["get", "securitygroups", "-n", &ns]).unwrap();
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "AGE"], "{out}");
    assert!(lines.next().unwrap().starts_with("web "), "{out}");
    let spec = cp.kubectl_ok(&["get", "securitygroup", "web", "-n", &ns, "-o", "jsonpath={.spec.ingress[0].fromSG[0]}"]).unwrap();
    assert_eq!(spec, "admins");
    let all = cp.kubectl_ok(&["get", "securitygroups", "-A", "-o", "name"]).unwrap();
    assert!(all.lines().any(|l| l == "securitygroup.sdn.cozystack.io/web"), "{all}");
    cp.kubectl_ok(&["delete", "securitygroup", "web", "-n", &ns]).unwrap();
    assert!(cp.kubectl_ok(&["get", "securitygroups", "-n", &ns, "-o", "name"]).unwrap().trim().is_empty());
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}
