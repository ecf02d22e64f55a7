use serde_json::{Value, json};

use super::*;

fn named(name: &str) -> Value {
    json!({"metadata": {"name": name}})
}

fn values(items: &[OptionItem]) -> Vec<&str> {
    items.iter().map(|i| i.value.as_str()).collect()
}

fn vm_disk_definition() -> Value {
    serde_json::to_value(crate::fixtures::application_definition("vm-disk")).unwrap()
}

fn release(name: &str, labels: Value, values: Value) -> Value {
    json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
           "metadata": {"name": name, "namespace": "tenant-x", "labels": labels}, "spec": {"values": values}})
}

fn vm_disk_labels(name: &str) -> Value {
    json!({"apps.cozystack.io/application.kind": "VMDisk", "apps.cozystack.io/application.group": "apps.cozystack.io",
           "apps.cozystack.io/application.name": name})
}

#[test]
fn providers_are_named_and_listed_in_name_order() {
    let names: Vec<&str> = Provider::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(
        names,
        ["appkind", "backup", "backupclass", "gpu", "image", "instanceprofile", "instancetype", "network", "plan", "storageclass", "storagepool", "vmdisk"]
    );
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for p in Provider::ALL {
        assert_eq!(Provider::from_name(p.name()), Some(p));
    }
    assert_eq!(Provider::from_name("vmimportsource"), None);
    assert_eq!(Provider::from_name("GPU"), None);
    let namespaced: Vec<&str> = Provider::ALL.iter().filter(|p| p.namespaced()).map(|p| p.name()).collect();
    assert_eq!(namespaced, ["backup", "network", "plan", "storagepool", "vmdisk"]);
}

#[test]
fn name_providers_sort_object_names() {
    for p in [Provider::Backup, Provider::BackupClass, Provider::InstanceProfile, Provider::InstanceType, Provider::Network, Provider::Plan] {
        let items = p.items(&[vec![named("s3-default"), named("minio"), named("b")]]);
        assert_eq!(values(&items), ["b", "minio", "s3-default"], "{p:?}");
        assert!(items.iter().all(|i| i.label.is_empty() && i.description.is_empty() && !i.default));
        assert!(p.items(&[vec![]]).is_empty());
        assert!(p.items(&[]).is_empty());
    }
}

#[test]
fn app_kinds_are_distinct_and_sorted() {
    let def = |name: &str, kind: Value| json!({"metadata": {"name": name}, "spec": {"application": {"kind": kind}}});
    let defs =
        vec![def("redis", json!("Redis")), def("postgres", json!("Postgres")), def("pg2", json!("Postgres")), def("broken", json!("")), json!({"spec": {}})];
    assert_eq!(values(&Provider::AppKind.items(&[defs])), ["Postgres", "Redis"]);
}

#[test]
fn storage_classes_mark_the_default() {
    let classes = vec![
        named("slow"),
        json!({"metadata": {"name": "fast", "annotations": {DEFAULT_STORAGE_CLASS_ANNOTATION: "true"}}}),
        json!({"metadata": {"name": "local", "annotations": {DEFAULT_STORAGE_CLASS_ANNOTATION: "false"}}}),
    ];
    let items = Provider::StorageClass.items(&[classes]);
    assert_eq!(
        items,
        [
            OptionItem { value: "fast".into(), label: "fast (default)".into(), default: true, ..Default::default() },
            OptionItem::value("local"),
            OptionItem::value("slow"),
        ]
    );
    assert_eq!(serde_json::to_value(&items[0]).unwrap(), json!({"value": "fast", "label": "fast (default)", "default": true}));
    assert_eq!(serde_json::to_value(&items[1]).unwrap(), json!({"value": "local"}));
}

#[test]
fn images_strip_the_prefix_and_skip_other_claims() {
    let pvcs = vec![named("vm-default-images-ubuntu"), named("vm-default-images-fedora"), named("some-other-pvc"), named("vm-default-images")];
    assert_eq!(values(&Provider::Image.items(&[pvcs])), ["fedora", "ubuntu"]);
}

#[test]
fn gpus_intersect_the_permitted_devices_with_node_allocatable() {
    let kubevirt = json!({"metadata": {"name": "kubevirt", "namespace": "cozy-kubevirt"}, "spec": {"configuration": {"permittedHostDevices": {
        "pciHostDevices": [{"resourceName": "nvidia.com/GP100", "pciVendorSelector": "10DE:1DB6"}, {"resourceName": "nvidia.com/A100"}, {"pciVendorSelector": "x"}],
        "mediatedDevices": [{"resourceName": "nvidia.com/GRID_T4-1Q"}, {"resourceName": "nvidia.com/GP100"}]}}}});
    let node = |name: &str, allocatable: Value| json!({"metadata": {"name": name}, "status": {"allocatable": allocatable}});
    let nodes = vec![
        node("node-b", json!({"nvidia.com/GP100": "2", "cpu": "8"})),
        node("node-a", json!({"nvidia.com/GP100": "1", "nvidia.com/GRID_T4-1Q": "0"})),
        node("node-c", json!({"nvidia.com/GP100": "not a number", "nvidia.com/GRID_T4-1Q": 4})),
        named("node-d"),
    ];
    let items = Provider::Gpu.items(&[vec![kubevirt.clone()], nodes]);
    let got: Vec<(&str, &str)> = items.iter().map(|i| (i.value.as_str(), i.description.as_str())).collect();
    assert_eq!(
        got,
        [("nvidia.com/A100", GPU_UNAVAILABLE), ("nvidia.com/GP100", "3 available on node-a, node-b"), ("nvidia.com/GRID_T4-1Q", "4 available on node-c"),]
    );
    assert!(items.iter().all(|i| i.label.is_empty() && !i.default));
    // Nothing permitted, or no KubeVirt: nothing offered, whatever the nodes have.
    assert!(Provider::Gpu.items(&[vec![], vec![node("n", json!({"nvidia.com/GP100": "1"}))]]).is_empty());
    assert!(Provider::Gpu.items(&[vec![json!({"spec": {}})], vec![]]).is_empty());
    // Permitted but no node: all unavailable.
    let none = Provider::Gpu.items(&[vec![kubevirt], vec![]]);
    assert_eq!(none.len(), 3);
    assert!(none.iter().all(|i| i.description == GPU_UNAVAILABLE));
}

#[test]
fn device_counts_round_up_as_quantities_do() {
    assert_eq!(device_count(&json!("2")), Some(2));
    assert_eq!(device_count(&json!("1k")), Some(1000));
    assert_eq!(device_count(&json!("500m")), Some(1));
    assert_eq!(device_count(&json!(3)), Some(3));
    assert_eq!(device_count(&json!("x")), None);
    assert_eq!(device_count(&json!(null)), None);
}

#[test]
fn storage_pools_walk_pools_and_zones() {
    let releases = vec![
        release("seaweedfs", json!({}), json!({"volume": {"pools": {"ssd": {}, "default": {}}, "zones": {"zoneA": {"pools": {"archive": {}}}, "zoneB": {}}}})),
        release("other", json!({}), json!({"volume": {"zones": {"z": {"pools": {"ssd": {}, "cold": {}}}}}})),
        release("no-volume", json!({}), json!({"size": "1Gi"})),
        release("odd", json!({}), json!({"volume": {"pools": ["not", "a", "map"], "zones": "nope"}})),
        json!({"metadata": {"name": "no-values"}, "spec": {}}),
    ];
    assert_eq!(values(&Provider::StoragePool.items(&[releases])), ["archive", "cold", "default", "ssd"]);
    assert!(Provider::StoragePool.items(&[vec![]]).is_empty());
}

#[test]
fn vm_disks_come_from_vmdisk_releases_with_their_size() {
    let defs = vec![vm_disk_definition()];
    let releases = vec![
        release("vm-disk-data", vm_disk_labels("data"), json!({"storage": "10Gi", "storageClass": "replicated"})),
        release("vm-disk-blank", vm_disk_labels("blank"), json!({})),
        release("vm-disk-numeric", vm_disk_labels("numeric"), json!({"storage": 1073741824_u64})),
        // Other kinds, and releases without the ownership labels, are not disks.
        release(
            "postgres-db",
            json!({"apps.cozystack.io/application.kind": "Postgres", "apps.cozystack.io/application.group": "apps.cozystack.io"}),
            json!({"storage": "1Gi"}),
        ),
        release("vm-disk-unlabelled", json!({}), json!({"storage": "1Gi"})),
    ];
    let items = Provider::VmDisk.items(&[defs, releases.clone()]);
    assert_eq!(
        items,
        [
            OptionItem::value("blank"),
            OptionItem { value: "data".into(), label: "data (10Gi)".into(), ..Default::default() },
            OptionItem { value: "numeric".into(), label: "numeric (1073741824)".into(), ..Default::default() },
        ]
    );
    // Without the definition serving vmdisks there are no disks to offer.
    assert!(Provider::VmDisk.items(&[vec![], releases]).is_empty());
}

#[test]
fn option_objects_have_upstreams_shape() {
    let items = [OptionItem { value: "fast".into(), label: "fast (default)".into(), default: true, ..Default::default() }, OptionItem::value("slow")];
    let option = option_object(Provider::StorageClass, "tenant-x", &items);
    assert_eq!(
        option,
        json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "Option",
               "metadata": {"name": "storageclass", "namespace": "tenant-x", "resourceVersion": "0"},
               "spec": {"items": [{"value": "fast", "label": "fast (default)", "default": true}, {"value": "slow"}]}})
    );
    assert_eq!(item_count(&option), 2);
    let empty = option_object(Provider::Gpu, "", &[]);
    assert_eq!(empty, json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "Option", "metadata": {"name": "gpu", "resourceVersion": "0"}, "spec": {}}));
    assert_eq!(item_count(&empty), 0);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn name_items_are_sorted_and_keep_every_name(names in proptest::collection::vec("[a-z0-9-]{1,12}", 0..20)) {
            let objects: Vec<Value> = names.iter().map(|n| named(n)).collect();
            let items = Provider::Plan.items(&[objects]);
            let got = values(&items);
            let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
            want.sort();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn storage_pools_are_distinct_and_sorted(pools in proptest::collection::btree_set("[a-z]{1,8}", 0..10), zones in proptest::collection::btree_set("[a-z]{1,8}", 0..10)) {
            let pool_map = |names: &std::collections::BTreeSet<String>| Value::Object(names.iter().map(|n| (n.clone(), json!({}))).collect());
            let hr = release("s", json!({}), json!({"volume": {"pools": pool_map(&pools), "zones": {"a": {"pools": pool_map(&zones)}}}}));
            let items = Provider::StoragePool.items(&[vec![hr]]);
            let want: Vec<String> = pools.union(&zones).cloned().collect();
            prop_assert_eq!(items.into_iter().map(|i| i.value).collect::<Vec<_>>(), want);
        }
    }
}
