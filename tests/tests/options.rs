//! Option (`options.core.cozystack.io`): the dashboard's dropdown choices, computed by the server from what a
//! tenant may not read itself, checked provider by provider through the aggregator as a tenant user whose only
//! right is to read Options in its namespace.

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::{APPS, CORE, ControlPlane, HRS, Watch, namespace, raw, req, run_ok, table_req, unique, wait_until};
use serde_json::{Value, json};

const PROVIDERS: [&str; 12] =
    ["appkind", "backup", "backupclass", "gpu", "image", "instanceprofile", "instancetype", "network", "plan", "storageclass", "storagepool", "vmdisk"];

/// A user bound to a Role that reads Options in `ns`, and nothing else.
async fn option_reader(cp: &ControlPlane, ns: &str) -> (String, kube::Client) {
    let user = unique("option-reader");
    cp.kubectl_ok(&["create", "role", "option-reader", "-n", ns, "--verb=get,list,watch", "--resource=options.core.cozystack.io"]).unwrap();
    cp.kubectl_ok(&["create", "rolebinding", "option-reader", "-n", ns, "--role=option-reader", &format!("--user={user}")]).unwrap();
    let client = cp.user(&user, &[]).await.unwrap();
    (user, client)
}

async fn get_option(client: &kube::Client, ns: &str, name: &str) -> Value {
    let (code, option) = raw(client, req("GET", &format!("{CORE}/namespaces/{ns}/options/{name}"), None)).await.unwrap();
    assert_eq!(code, 200, "{name}: {option}");
    assert_eq!(option["kind"], "Option");
    assert_eq!(option["metadata"]["name"], name);
    assert_eq!(option["metadata"]["namespace"], ns);
    assert_eq!(option["metadata"]["resourceVersion"], "0");
    option
}

/// The items of Option `name` in `ns`.
async fn items(client: &kube::Client, ns: &str, name: &str) -> Value {
    get_option(client, ns, name).await["spec"].get("items").cloned().unwrap_or_else(|| json!([]))
}

fn values(items: &Value) -> Vec<String> {
    items.as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap().to_string()).collect()
}

fn assert_sorted(items: &Value, what: &str) {
    let v = values(items);
    let mut sorted = v.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(v, sorted, "{what}: sorted by value, each once");
}

fn apply(cp: &ControlPlane, object: &Value) {
    let file = std::env::temp_dir().join(format!("{}.json", unique("option-object")));
    std::fs::write(&file, serde_json::to_vec(object).unwrap()).unwrap();
    cp.kubectl_ok(&["apply", "-f", file.to_str().unwrap()]).unwrap();
    let _ = std::fs::remove_file(file);
}

async fn create(admin: &kube::Client, path: &str, body: Value) {
    let (code, answer) = raw(admin, req("POST", path, Some(body))).await.unwrap();
    assert_eq!(code, 201, "POST {path}: {answer}");
}

/// Options read from core resources, backups and applications: storageclass, image, backup, backupclass,
/// plan, vmdisk, storagepool, appkind; and the resource's list, Table, watch and errors.
#[tokio::test]
async fn options_from_core_resources_backups_and_applications() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "opt");
    let other = namespace(cp, "opt-other");
    let (user, client) = option_reader(cp, &ns).await;
    let tag = unique("opt");

    // Before anything exists in the namespace: namespaced providers offer nothing.
    for name in ["backup", "plan", "vmdisk", "storagepool", "network"] {
        assert_eq!(items(&client, &ns, name).await, json!([]), "{name}");
    }

    // storageclass: every class, the default one marked.
    let (default_sc, plain_sc) = (format!("{tag}-fast"), format!("{tag}-slow"));
    for (name, default) in [(&default_sc, "true"), (&plain_sc, "false")] {
        apply(
            cp,
            &json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "example.com/none",
                    "metadata": {"name": name, "annotations": {"storageclass.kubernetes.io/is-default-class": default}}}),
        );
    }
    // image: the vm-default-images-* PVCs of cozy-public, prefix stripped.
    let _ = cp.kubectl_ok(&["create", "namespace", "cozy-public"]);
    let image = format!("{tag}-ubuntu");
    for name in [format!("vm-default-images-{image}"), format!("{tag}-scratch")] {
        apply(
            cp,
            &json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "cozy-public"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        );
    }
    // backup, plan in the namespace (and another's, which must not show); backupclass cluster-wide.
    let backups = "/apis/backups.cozystack.io/v1alpha1";
    for (where_, names) in [(&ns, ["weekly", "daily"]), (&other, ["theirs", "alien"])] {
        for name in names {
            create(
                &admin,
                &format!("{backups}/namespaces/{where_}/plans"),
                json!({"apiVersion": "backups.cozystack.io/v1alpha1", "kind": "Plan", "metadata": {"name": name}}),
            )
            .await;
            create(
                &admin,
                &format!("{backups}/namespaces/{where_}/backups"),
                json!({"apiVersion": "backups.cozystack.io/v1alpha1", "kind": "Backup", "metadata": {"name": format!("{name}-1")}}),
            )
            .await;
        }
    }
    let backup_class = format!("{tag}-s3");
    create(
        &admin,
        &format!("{backups}/backupclasses"),
        json!({"apiVersion": "backups.cozystack.io/v1alpha1", "kind": "BackupClass", "metadata": {"name": backup_class}}),
    )
    .await;
    // vmdisk: VMDisk applications, created through this server; storagepool: pools in any release's values.
    for (name, spec) in [("data", json!({"storage": "7Gi"})), ("boot", json!({}))] {
        create(
            &admin,
            &format!("{APPS}/namespaces/{ns}/vmdisks"),
            json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "VMDisk", "metadata": {"name": name}, "spec": spec}),
        )
        .await;
    }
    create(
        &admin,
        &format!("{APPS}/namespaces/{other}/vmdisks"),
        json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "VMDisk", "metadata": {"name": "theirs"}, "spec": {}}),
    )
    .await;
    let seaweedfs = |values: Value| {
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "seaweedfs"},
               "spec": {"interval": "5m", "chart": {"spec": {"chart": "seaweedfs", "sourceRef": {"kind": "HelmRepository", "name": "cozystack-apps"}}}, "values": values}})
    };
    create(
        &admin,
        &format!("{HRS}/namespaces/{ns}/helmreleases"),
        seaweedfs(json!({"volume": {"pools": {"ssd": {}, "hdd": {}}, "zones": {"dc1": {"pools": {"archive": {}}}}}})),
    )
    .await;
    create(&admin, &format!("{HRS}/namespaces/{other}/helmreleases"), seaweedfs(json!({"volume": {"pools": {"theirs": {}}}}))).await;

    // Each provider's items, as the tenant user sees them.
    let classes = items(&client, &ns, "storageclass").await;
    assert_sorted(&classes, "storageclass");
    let mine: Vec<&Value> = classes.as_array().unwrap().iter().filter(|i| i["value"].as_str().unwrap().starts_with(&tag)).collect();
    assert_eq!(mine, [&json!({"value": default_sc, "label": format!("{default_sc} (default)"), "default": true}), &json!({"value": plain_sc})]);

    let images = items(&client, &ns, "image").await;
    assert_sorted(&images, "image");
    assert!(values(&images).contains(&image), "{images}");
    assert!(!values(&images).iter().any(|v| v.contains("scratch")), "{images}");
    assert_eq!(images.as_array().unwrap().iter().find(|i| i["value"] == image.as_str()).unwrap(), &json!({"value": image}));

    assert_eq!(items(&client, &ns, "backup").await, json!([{"value": "daily-1"}, {"value": "weekly-1"}]));
    assert_eq!(items(&client, &ns, "plan").await, json!([{"value": "daily"}, {"value": "weekly"}]));
    let classes = items(&client, &ns, "backupclass").await;
    assert_sorted(&classes, "backupclass");
    assert!(classes.as_array().unwrap().contains(&json!({"value": backup_class})), "{classes}");
    // The definition defaults storage to 5Gi, so both disks state a size.
    assert_eq!(items(&client, &ns, "vmdisk").await, json!([{"value": "boot", "label": "boot (5Gi)"}, {"value": "data", "label": "data (7Gi)"}]));
    assert_eq!(items(&client, &ns, "storagepool").await, json!([{"value": "archive"}, {"value": "hdd"}, {"value": "ssd"}]));
    let kinds = items(&client, &ns, "appkind").await;
    assert_sorted(&kinds, "appkind");
    let fixture_kinds: BTreeSet<String> = apis::fixtures::application_definitions().into_iter().map(|(_, d)| d.spec.application.kind).collect();
    assert!(fixture_kinds.iter().all(|k| values(&kinds).contains(k)), "{kinds}");
    assert!(kinds.as_array().unwrap().iter().all(|i| i.as_object().unwrap().len() == 1), "values only: {kinds}");

    // The list: every provider, in name order, resourceVersion 0.
    let (code, list) = raw(&client, req("GET", &format!("{CORE}/namespaces/{ns}/options"), None)).await.unwrap();
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], "OptionList");
    assert_eq!(list["metadata"]["resourceVersion"], "0");
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, PROVIDERS);
    let plan = list["items"].as_array().unwrap().iter().find(|o| o["metadata"]["name"] == "plan").unwrap();
    assert_eq!(plan["spec"]["items"], json!([{"value": "daily"}, {"value": "weekly"}]));
    let (code, one) = raw(&client, req("GET", &format!("{CORE}/namespaces/{ns}/options?fieldSelector=metadata.name%3Dvmdisk"), None)).await.unwrap();
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["items"].as_array().unwrap().len(), 1, "{one}");

    // An unknown source is 404; other namespaces and other users are refused by RBAC.
    let (code, status) = raw(&client, req("GET", &format!("{CORE}/namespaces/{ns}/options/vmimportsource"), None)).await.unwrap();
    assert_eq!(code, 404, "{status}");
    assert_eq!(status["message"], "options.core.cozystack.io \"vmimportsource\" not found");
    let (code, _) = raw(&client, req("GET", &format!("{CORE}/namespaces/{other}/options/plan"), None)).await.unwrap();
    assert_eq!(code, 403);
    let stranger = cp.user(&unique("stranger"), &[]).await.unwrap();
    let (code, _) = raw(&stranger, req("GET", &format!("{CORE}/namespaces/{ns}/options/plan"), None)).await.unwrap();
    assert_eq!(code, 403);
    // Read-only.
    let (code, _) = raw(&admin, req("POST", &format!("{CORE}/namespaces/{ns}/options"), Some(json!({"metadata": {"name": "gpu"}})))).await.unwrap();
    assert_eq!(code, 405);

    // Table: NAME (string), ITEMS (integer).
    let (code, table) = raw(&client, table_req(&format!("{CORE}/namespaces/{ns}/options"))).await.unwrap();
    assert_eq!(code, 200, "{table}");
    let columns: Vec<(&str, &str)> =
        table["columnDefinitions"].as_array().unwrap().iter().map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap())).collect();
    assert_eq!(columns, [("NAME", "string"), ("ITEMS", "integer")]);
    let rows: Vec<(&str, i64)> = table["rows"].as_array().unwrap().iter().map(|r| (r["cells"][0].as_str().unwrap(), r["cells"][1].as_i64().unwrap())).collect();
    assert_eq!(rows.iter().find(|r| r.0 == "plan"), Some(&("plan", 2)));
    assert_eq!(rows.iter().find(|r| r.0 == "storagepool"), Some(&("storagepool", 3)));
    let kubeconfig = cp.user_kubeconfig(&user, &[]).unwrap();
    let out = run_ok(cp.kubectl_as(&kubeconfig).args(["get", "options", "-n", &ns])).unwrap();
    let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "ITEMS"], "{out}");
    assert!(lines.contains(&vec!["vmdisk", "2"]), "{out}");
    assert_eq!(lines.len(), 13, "{out}");

    // Watch: ADDED for every option, then open and quiet until the client goes.
    let watch = Watch::open(&client, &format!("{CORE}/namespaces/{ns}/options?watch=1")).await;
    watch.wait_for("the initial options", &PROVIDERS.iter().map(|p| p.to_string()).collect()).await;
    assert!(watch.types().iter().all(|t| t == "ADDED"), "{:?}", watch.types());
    let vmdisk = watch.events().into_iter().find(|(_, o)| o["metadata"]["name"] == "vmdisk").unwrap().1;
    assert_eq!(vmdisk["spec"]["items"], json!([{"value": "boot", "label": "boot (5Gi)"}, {"value": "data", "label": "data (7Gi)"}]));
    drop(watch);
    // timeoutSeconds ends it; WatchList's initial events end with the marked bookmark.
    let path = format!(
        "{CORE}/namespaces/{ns}/options?watch=1&timeoutSeconds=2&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dplan"
    );
    let started = std::time::Instant::now();
    let (code, body) =
        tokio::time::timeout(Duration::from_secs(20), raw(&client, req("GET", &path, None))).await.expect("the watch ends at its timeout").unwrap();
    assert_eq!(code, 200);
    assert!(started.elapsed() >= Duration::from_millis(1900), "the watch stays open until its timeout: {:?}", started.elapsed());
    let events: Vec<Value> = body.as_str().unwrap_or_else(|| panic!("two events: {body}")).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!((events[0]["type"].as_str(), events[0]["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("plan")));
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");

    for name in [&default_sc, &plain_sc] {
        cp.kubectl_ok(&["delete", "storageclass", name]).unwrap();
    }
    for pvc in [format!("vm-default-images-{image}"), format!("{tag}-scratch")] {
        cp.kubectl_ok(&["delete", "pvc", "-n", "cozy-public", &pvc, "--wait=false"]).unwrap();
        // No controller here removes the PVC protection finalizer.
        cp.kubectl_ok(&["patch", "pvc", "-n", "cozy-public", &pvc, "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]).unwrap();
    }
    cp.kubectl_ok(&["delete", "backupclass.backups.cozystack.io", &backup_class]).unwrap();
    cp.kubectl_ok(&["delete", "namespace", &ns, &other, "--wait=false"]).unwrap();
}

/// The CRDs the KubeVirt and CNI providers read, which the test control plane lacks: minimal ones, preserving
/// every field.
fn crds() -> Vec<(&'static str, Value)> {
    let crd = |group: &str, version: &str, plural: &str, singular: &str, kind: &str, scope: &str| {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": format!("{plural}.{group}")},
               "spec": {"group": group, "scope": scope, "names": {"plural": plural, "singular": singular, "kind": kind, "listKind": format!("{kind}List")},
                        "versions": [{"name": version, "served": true, "storage": true,
                                      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
    };
    vec![
        ("/apis/kubevirt.io/v1/kubevirts", crd("kubevirt.io", "v1", "kubevirts", "kubevirt", "KubeVirt", "Namespaced")),
        (
            "/apis/instancetype.kubevirt.io/v1beta1/virtualmachineclusterinstancetypes",
            crd(
                "instancetype.kubevirt.io",
                "v1beta1",
                "virtualmachineclusterinstancetypes",
                "virtualmachineclusterinstancetype",
                "VirtualMachineClusterInstancetype",
                "Cluster",
            ),
        ),
        (
            "/apis/instancetype.kubevirt.io/v1beta1/virtualmachineclusterpreferences",
            crd(
                "instancetype.kubevirt.io",
                "v1beta1",
                "virtualmachineclusterpreferences",
                "virtualmachineclusterpreference",
                "VirtualMachineClusterPreference",
                "Cluster",
            ),
        ),
        (
            "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions",
            crd("k8s.cni.cncf.io", "v1", "network-attachment-definitions", "network-attachment-definition", "NetworkAttachmentDefinition", "Namespaced"),
        ),
    ]
}

const CRD_NAMES: [&str; 4] = [
    "kubevirts.kubevirt.io",
    "virtualmachineclusterinstancetypes.instancetype.kubevirt.io",
    "virtualmachineclusterpreferences.instancetype.kubevirt.io",
    "network-attachment-definitions.k8s.cni.cncf.io",
];

async fn served(admin: &kube::Client, path: &str) -> bool {
    raw(admin, req("GET", path, None)).await.map(|(c, _)| c == 200).unwrap_or(false)
}

/// gpu, instancetype, instanceprofile and network: empty while their CRDs are absent, then what the KubeVirt CR,
/// the Nodes, the cluster instance types and preferences and the namespace's NetworkAttachmentDefinitions say.
/// Every step that creates or removes these cluster-wide CRDs is here, so no other test sees them change.
#[tokio::test]
async fn options_from_kubevirt_and_network_crds() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "optvirt");
    let other = namespace(cp, "optvirt-other");
    let (_, client) = option_reader(cp, &ns).await;
    let tag = unique("gpu");

    // A plane reused from an earlier run may still have them.
    let mut delete = vec!["delete", "crd", "--ignore-not-found", "--wait=true"];
    delete.extend(CRD_NAMES);
    cp.kubectl_ok(&delete).unwrap();
    for (path, _) in crds() {
        wait_until(&format!("{path} to be gone"), Duration::from_secs(30), || async { !served(&admin, path).await }).await.unwrap();
    }

    // Absent CRDs: empty, not an error, for GET and LIST alike.
    for name in ["gpu", "instancetype", "instanceprofile", "network"] {
        let option = get_option(&client, &ns, name).await;
        assert_eq!(option["spec"], json!({}), "{name}: {option}");
    }
    let (code, list) = raw(&client, req("GET", &format!("{CORE}/namespaces/{ns}/options"), None)).await.unwrap();
    assert_eq!(code, 200, "{list}");
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, PROVIDERS);

    for (path, crd) in crds() {
        create(&admin, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).await;
        wait_until(&format!("{path} to be served"), Duration::from_secs(30), || async { served(&admin, path).await }).await.unwrap();
    }

    // gpu: the KubeVirt CR permits two devices; two nodes offer one of them.
    let _ = cp.kubectl_ok(&["create", "namespace", "cozy-kubevirt"]);
    let (offered, missing) = (format!("example.com/{tag}-a100"), format!("example.com/{tag}-t4"));
    create(
        &admin,
        "/apis/kubevirt.io/v1/namespaces/cozy-kubevirt/kubevirts",
        json!({"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt", "metadata": {"name": "kubevirt"},
               "spec": {"configuration": {"permittedHostDevices": {"pciHostDevices": [{"pciVendorSelector": "10DE:20B5", "resourceName": offered}],
                                                                   "mediatedDevices": [{"mdevNameSelector": "GRID T4-1Q", "resourceName": missing}]}}}}),
    )
    .await;
    let nodes = [format!("{tag}-node-b"), format!("{tag}-node-a")];
    for (node, count) in nodes.iter().zip(["2", "1"]) {
        create(&admin, "/api/v1/nodes", json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})).await;
        let patch = json!({"status": {"capacity": {offered.as_str(): count}, "allocatable": {offered.as_str(): count}}});
        let (code, body) = raw(&admin, req("PATCH", &format!("/api/v1/nodes/{node}/status"), Some(patch))).await.unwrap();
        assert_eq!(code, 200, "{body}");
    }
    assert_eq!(
        items(&client, &ns, "gpu").await,
        json!([{"value": offered, "description": format!("3 available on {tag}-node-a, {tag}-node-b")},
               {"value": missing, "description": "not currently available on any node"}])
    );

    // instancetype, instanceprofile: cluster-wide names.
    for (path, kind, name) in [
        ("virtualmachineclusterinstancetypes", "VirtualMachineClusterInstancetype", "u1.medium"),
        ("virtualmachineclusterinstancetypes", "VirtualMachineClusterInstancetype", "cx1.large"),
        ("virtualmachineclusterpreferences", "VirtualMachineClusterPreference", "ubuntu"),
    ] {
        let body = json!({"apiVersion": "instancetype.kubevirt.io/v1beta1", "kind": kind, "metadata": {"name": name}, "spec": {"cpu": {"guest": 1}}});
        create(&admin, &format!("/apis/instancetype.kubevirt.io/v1beta1/{path}"), body).await;
    }
    assert_eq!(items(&client, &ns, "instancetype").await, json!([{"value": "cx1.large"}, {"value": "u1.medium"}]));
    assert_eq!(items(&client, &ns, "instanceprofile").await, json!([{"value": "ubuntu"}]));

    // network: the namespace's NetworkAttachmentDefinitions only.
    for (where_, name) in [(&ns, "vlan-20"), (&ns, "vlan-10"), (&other, "vlan-30")] {
        let body = json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": {"name": name}, "spec": {"config": "{}"}});
        create(&admin, &format!("/apis/k8s.cni.cncf.io/v1/namespaces/{where_}/network-attachment-definitions"), body).await;
    }
    assert_eq!(items(&client, &ns, "network").await, json!([{"value": "vlan-10"}, {"value": "vlan-20"}]));

    // The list shows the same.
    let (_, list) = raw(&client, req("GET", &format!("{CORE}/namespaces/{ns}/options"), None)).await.unwrap();
    let network = list["items"].as_array().unwrap().iter().find(|o| o["metadata"]["name"] == "network").unwrap();
    assert_eq!(network["spec"]["items"], json!([{"value": "vlan-10"}, {"value": "vlan-20"}]));

    cp.kubectl_ok(&delete).unwrap();
    for node in &nodes {
        cp.kubectl_ok(&["delete", "node", node]).unwrap();
    }
    cp.kubectl_ok(&["delete", "namespace", &ns, &other, "--wait=false"]).unwrap();
}
