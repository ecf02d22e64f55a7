use std::sync::Arc;
use std::time::Duration;

use apis::selector::{FieldSelector, LabelSelector};
use futures::StreamExt;
use serde_json::{Value, json};

use super::*;
use crate::backend::testing::{FakeBackend, status_error};
use crate::backend::{BackingResource, HELM_RELEASES};
use crate::tests::ctx;

const NS: &str = "tenant-x";

const fn resource(group: &'static str, version: &'static str, plural: &'static str, namespaced: bool) -> BackingResource {
    BackingResource { group, version, plural, namespaced }
}

const DEFINITIONS: BackingResource = resource("cozystack.io", "v1alpha1", "applicationdefinitions", false);
const BACKUPS: BackingResource = resource("backups.cozystack.io", "v1alpha1", "backups", true);
const BACKUP_CLASSES: BackingResource = resource("backups.cozystack.io", "v1alpha1", "backupclasses", false);
const PLANS: BackingResource = resource("backups.cozystack.io", "v1alpha1", "plans", true);
const KUBEVIRTS: BackingResource = resource("kubevirt.io", "v1", "kubevirts", true);
const NODES: BackingResource = resource("", "v1", "nodes", false);
const PVCS: BackingResource = resource("", "v1", "persistentvolumeclaims", true);
const PREFERENCES: BackingResource = resource("instancetype.kubevirt.io", "v1beta1", "virtualmachineclusterpreferences", false);
const INSTANCETYPES: BackingResource = resource("instancetype.kubevirt.io", "v1beta1", "virtualmachineclusterinstancetypes", false);
const NADS: BackingResource = resource("k8s.cni.cncf.io", "v1", "network-attachment-definitions", true);
const STORAGE_CLASSES: BackingResource = resource("storage.k8s.io", "v1", "storageclasses", false);

fn obj(ns: &str, name: &str) -> Value {
    if ns.is_empty() { json!({"metadata": {"name": name}}) } else { json!({"metadata": {"name": name, "namespace": ns}}) }
}

/// A cluster with something for every provider in NS, and decoys in another namespace.
fn populated() -> Arc<FakeBackend> {
    let fake = FakeBackend::new();
    for file in ["vm-disk", "postgres"] {
        fake.put(&DEFINITIONS, serde_json::to_value(apis::fixtures::application_definition(file)).unwrap());
    }
    for (r, ns, name) in [
        (&BACKUPS, NS, "backup-2"),
        (&BACKUPS, NS, "backup-1"),
        (&BACKUPS, "tenant-other", "theirs"),
        (&BACKUP_CLASSES, "", "s3"),
        (&BACKUP_CLASSES, "", "minio"),
        (&PLANS, NS, "weekly"),
        (&PLANS, NS, "daily"),
        (&PLANS, "tenant-other", "theirs"),
        (&PVCS, "cozy-public", "vm-default-images-ubuntu"),
        (&PVCS, "cozy-public", "vm-default-images-alpine"),
        (&PVCS, "cozy-public", "scratch"),
        (&PVCS, NS, "vm-default-images-not-public"),
        (&PREFERENCES, "", "ubuntu"),
        (&INSTANCETYPES, "", "u1.medium"),
        (&INSTANCETYPES, "", "cx1.large"),
        (&NADS, NS, "vlan-10"),
        (&NADS, "tenant-other", "vlan-20"),
        (&STORAGE_CLASSES, "", "local"),
    ] {
        fake.put(r, obj(ns, name));
    }
    fake.put(&STORAGE_CLASSES, json!({"metadata": {"name": "replicated", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}));
    fake.put(
        &KUBEVIRTS,
        json!({"metadata": {"name": "kubevirt", "namespace": "cozy-kubevirt"},
               "spec": {"configuration": {"permittedHostDevices": {"pciHostDevices": [{"resourceName": "nvidia.com/A10"}], "mediatedDevices": [{"resourceName": "nvidia.com/T4"}]}}}}),
    );
    fake.put(&NODES, json!({"metadata": {"name": "worker-2"}, "status": {"allocatable": {"nvidia.com/A10": "1", "cpu": "8"}}}));
    fake.put(&NODES, json!({"metadata": {"name": "worker-1"}, "status": {"allocatable": {"nvidia.com/A10": "2"}}}));
    let labels = |kind: &str, name: &str| json!({"apps.cozystack.io/application.kind": kind, "apps.cozystack.io/application.group": "apps.cozystack.io", "apps.cozystack.io/application.name": name});
    let hr =
        |ns: &str, name: &str, labels: Value, values: Value| json!({"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": {"values": values}});
    fake.put(&HELM_RELEASES, hr(NS, "vm-disk-root", labels("VMDisk", "root"), json!({"storage": "20Gi"})));
    fake.put(&HELM_RELEASES, hr(NS, "seaweedfs", json!({}), json!({"volume": {"pools": {"ssd": {}}, "zones": {"a": {"pools": {"hdd": {}}}}}})));
    fake.put(&HELM_RELEASES, hr("tenant-other", "vm-disk-theirs", labels("VMDisk", "theirs"), json!({"storage": "1Gi", "volume": {"pools": {"theirs": {}}}})));
    fake
}

fn registry(fake: &Arc<FakeBackend>) -> OptionRegistry {
    OptionRegistry::new(fake.backend())
}

fn items(option: &Value) -> Value {
    option["spec"].get("items").cloned().unwrap_or_else(|| json!([]))
}

fn list_opts(labels: &str, fields: &str) -> ListOptions {
    ListOptions { label_selector: LabelSelector::parse(labels).unwrap(), field_selector: FieldSelector::parse(fields).unwrap(), ..Default::default() }
}

#[tokio::test]
async fn every_provider_answers_its_items() {
    let fake = populated();
    let reg = registry(&fake);
    let want = [
        ("appkind", json!([{"value": "Postgres"}, {"value": "VMDisk"}])),
        ("backup", json!([{"value": "backup-1"}, {"value": "backup-2"}])),
        ("backupclass", json!([{"value": "minio"}, {"value": "s3"}])),
        (
            "gpu",
            json!([{"value": "nvidia.com/A10", "description": "3 available on worker-1, worker-2"}, {"value": "nvidia.com/T4", "description": "not currently available on any node"}]),
        ),
        ("image", json!([{"value": "alpine"}, {"value": "ubuntu"}])),
        ("instanceprofile", json!([{"value": "ubuntu"}])),
        ("instancetype", json!([{"value": "cx1.large"}, {"value": "u1.medium"}])),
        ("network", json!([{"value": "vlan-10"}])),
        ("plan", json!([{"value": "daily"}, {"value": "weekly"}])),
        ("storageclass", json!([{"value": "local"}, {"value": "replicated", "label": "replicated (default)", "default": true}])),
        ("storagepool", json!([{"value": "hdd"}, {"value": "ssd"}])),
        ("vmdisk", json!([{"value": "root", "label": "root (20Gi)"}])),
    ];
    for (name, items_want) in &want {
        let option = reg.get(&ctx(NS), name).await.unwrap();
        assert_eq!(option["apiVersion"], "core.cozystack.io/v1alpha1");
        assert_eq!(option["kind"], "Option");
        assert_eq!(option["metadata"], json!({"name": name, "namespace": NS, "resourceVersion": "0"}));
        assert_eq!(&items(&option), items_want, "{name}");
    }
    let list = reg.list(&ctx(NS), &ListOptions::default()).await.unwrap();
    assert_eq!(list.resource_version, "0");
    let got: Vec<(Value, Value)> = list.items.iter().map(|o| (o.value()["metadata"]["name"].clone(), items(&o.value()))).collect();
    let want: Vec<(Value, Value)> = want.iter().map(|(n, i)| (json!(n), i.clone())).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_list_reads_each_backend_list_once() {
    let fake = populated();
    let reg = registry(&fake);
    let before = fake.calls().len();
    reg.list(&ctx(NS), &ListOptions::default()).await.unwrap();
    let lists = fake.calls().len() - before;
    // 12 lists for 12 providers: gpu reads two, and appkind and vmdisk share the definitions, storagepool and vmdisk
    // the HelmReleases.
    assert_eq!(lists, 12, "{:?}", &fake.calls()[before..]);
}

#[tokio::test]
async fn without_a_namespace_namespaced_providers_offer_nothing_and_read_nothing() {
    let fake = populated();
    let reg = registry(&fake);
    let before = fake.calls().len();
    let list = reg.list(&ctx(""), &ListOptions::default()).await.unwrap();
    // definitions, backupclasses, kubevirts, nodes, PVCs, preferences, instancetypes, storageclasses.
    assert_eq!(fake.calls().len() - before, 8, "{:?}", &fake.calls()[before..]);
    assert_eq!(list.items.len(), 12);
    for option in &list.items {
        let name = option.name().unwrap();
        assert!(option.namespace().is_none(), "{option}");
        let namespaced = ["backup", "network", "plan", "storagepool", "vmdisk"].contains(&name);
        assert_eq!(items(&option.value()).as_array().unwrap().is_empty(), namespaced, "{option}");
    }
    let before = fake.calls().len();
    let empty = reg.get(&ctx(""), "plan").await.unwrap();
    assert_eq!(empty["spec"], json!({}));
    assert_eq!(fake.calls().len(), before);
}

#[tokio::test]
async fn an_unknown_name_is_not_found() {
    let fake = populated();
    let reg = registry(&fake);
    let before = fake.calls().len();
    let status = reg.get(&ctx(NS), "vmimportsource").await.unwrap_err().to_status();
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "options.core.cozystack.io \"vmimportsource\" not found");
    assert_eq!(fake.calls().len(), before, "nothing is read for an unknown name");
}

#[tokio::test]
async fn an_absent_resource_type_is_empty() {
    let fake = FakeBackend::new();
    let reg = registry(&fake);
    fake.fail_next("list", status_error(404, "NotFound", "the server could not find the requested resource"));
    let option = reg.get(&ctx(NS), "instancetype").await.unwrap();
    assert_eq!(option["spec"], json!({}));
    // gpu: the KubeVirt CRD absent, nodes listed as usual.
    fake.fail_next("list", status_error(404, "NotFound", "the server could not find the requested resource"));
    fake.put(&NODES, json!({"metadata": {"name": "n"}, "status": {"allocatable": {"nvidia.com/A10": "1"}}}));
    assert_eq!(reg.get(&ctx(NS), "gpu").await.unwrap()["spec"], json!({}));
}

#[tokio::test]
async fn a_failing_provider_fails_its_get_and_is_left_out_of_lists() {
    let fake = populated();
    let reg = registry(&fake);
    fake.fail_next("list", status_error(403, "Forbidden", "applicationdefinitions.cozystack.io is forbidden"));
    let status = reg.get(&ctx(NS), "appkind").await.unwrap_err().to_status();
    assert_eq!((status.code, status.reason.as_str()), (500, "InternalError"));
    assert!(
        status.message.starts_with("Internal error occurred: compute options for \"appkind\": list applicationdefinitions.cozystack.io:"),
        "{}",
        status.message
    );

    // The first read of a list is appkind's (definitions): appkind and vmdisk, which shares it, drop out.
    fake.fail_next("list", status_error(500, "InternalError", "etcd is down"));
    let list = reg.list(&ctx(NS), &ListOptions::default()).await.unwrap();
    let names: Vec<&str> = list.items.iter().map(|o| o.name().unwrap()).collect();
    assert_eq!(names, ["backup", "backupclass", "gpu", "image", "instanceprofile", "instancetype", "network", "plan", "storageclass", "storagepool"]);
}

#[tokio::test]
async fn selectors_pick_options() {
    let fake = populated();
    let reg = registry(&fake);
    let names = |list: &ObjectList| list.items.iter().map(|o| o.value()["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let before = fake.calls().len();
    let gpu = reg.list(&ctx(NS), &list_opts("", "metadata.name=gpu")).await.unwrap();
    assert_eq!(names(&gpu), ["gpu"]);
    assert_eq!(fake.calls().len() - before, 2, "only gpu's lists are read");
    assert_eq!(reg.list(&ctx(NS), &list_opts("", "metadata.name!=gpu")).await.unwrap().items.len(), 11);
    assert_eq!(reg.list(&ctx(NS), &list_opts("", &format!("metadata.namespace={NS}"))).await.unwrap().items.len(), 12);
    assert!(reg.list(&ctx(NS), &list_opts("", "metadata.namespace=elsewhere")).await.unwrap().items.is_empty());
    assert!(reg.list(&ctx(NS), &list_opts("tier=gold", "")).await.unwrap().items.is_empty());
    assert_eq!(reg.list(&ctx(NS), &list_opts("!tier", "")).await.unwrap().items.len(), 12);
    let status = reg.list(&ctx(NS), &list_opts("", "spec.items=x")).await.unwrap_err().to_status();
    assert_eq!(status.code, 400, "{}", status.message);
}

async fn next_within(stream: &mut EventStream, wait: Duration) -> Option<WatchEvent> {
    tokio::time::timeout(wait, stream.next()).await.ok().flatten()
}

#[tokio::test]
async fn a_watch_sends_the_current_options_then_stays_open() {
    let fake = populated();
    let reg = registry(&fake);
    let mut stream = reg.watch(&ctx(NS), &ListOptions::default()).await.unwrap();
    let mut names = Vec::new();
    for _ in 0..12 {
        let event = next_within(&mut stream, Duration::from_secs(1)).await.expect("an initial event");
        assert_eq!(event.event_type, EventType::Added);
        names.push(event.object["metadata"]["name"].as_str().unwrap().to_string());
    }
    assert_eq!(names, Provider::ALL.map(|p| p.name()));
    assert!(next_within(&mut stream, Duration::from_millis(200)).await.is_none(), "nothing more, and the stream does not end");

    // WatchList: the initial events end with the marked bookmark.
    let opts =
        ListOptions { send_initial_events: Some(true), field_selector: FieldSelector::parse("metadata.name=storageclass").unwrap(), ..Default::default() };
    let mut stream = reg.watch(&ctx(NS), &opts).await.unwrap();
    let added = next_within(&mut stream, Duration::from_secs(1)).await.unwrap();
    assert_eq!((added.event_type, added.object["metadata"]["name"].as_str()), (EventType::Added, Some("storageclass")));
    let bookmark = next_within(&mut stream, Duration::from_secs(1)).await.unwrap();
    assert_eq!(bookmark.event_type, EventType::Bookmark);
    assert_eq!(
        bookmark.object,
        json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "Option", "metadata": {"resourceVersion": "0", "annotations": {"k8s.io/initial-events-end": "true"}}})
    );
    assert!(next_within(&mut stream, Duration::from_millis(100)).await.is_none());

    // sendInitialEvents=false: no initial state, and nothing ever changes.
    let opts = ListOptions { send_initial_events: Some(false), ..Default::default() };
    let mut stream = reg.watch(&ctx(NS), &opts).await.unwrap();
    assert!(next_within(&mut stream, Duration::from_millis(100)).await.is_none());
}

#[tokio::test]
async fn the_table_counts_items() {
    let fake = populated();
    let reg = registry(&fake);
    let columns: Vec<(String, String)> = reg.columns().into_iter().map(|c| (c.name, c.type_)).collect();
    assert_eq!(columns, [("NAME".to_string(), "string".to_string()), ("ITEMS".to_string(), "integer".to_string())]);
    let option = reg.get(&ctx(NS), "backupclass").await.unwrap();
    assert_eq!(reg.cells(&option), [json!("backupclass"), json!(2)]);
    assert_eq!(reg.cells(&reg.get(&ctx(NS), "vmdisk").await.unwrap()), [json!("vmdisk"), json!(1)]);
    assert_eq!(reg.cells(&reg.get(&ctx(""), "vmdisk").await.unwrap()), [json!("vmdisk"), json!(0)]);
}
