//! Option (`options.core.cozystack.io`): named lists of choices for the dashboard's dropdowns, computed on read
//! from cluster state the caller may not read itself (Nodes, the KubeVirt CR, cluster instancetypes, ...).
//!
//! Each [`Provider`] names the backend lists it needs ([`Provider::reads`]) and turns them into items
//! ([`Provider::items`]); the registry in `storage` does the reading. Items are always sorted by value.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};

use crate::application::AppKind;
use crate::application::translate::{from_helm_release, is_owned_by};
use crate::definition::ApplicationDefinition;
use crate::tenant::Quantity;

/// Kind of the served object.
pub const KIND: &str = "Option";
/// Resource plural.
pub const PLURAL: &str = "options";
/// Where the singleton KubeVirt CR lives.
pub const KUBEVIRT_NAMESPACE: &str = "cozy-kubevirt";
/// Where the default VM image PVCs live.
pub const PUBLIC_IMAGES_NAMESPACE: &str = "cozy-public";
/// Name prefix of a default VM image PVC; the rest is the image's catalog name.
pub const IMAGE_PVC_PREFIX: &str = "vm-default-images-";
/// The annotation that makes a StorageClass the cluster default.
pub const DEFAULT_STORAGE_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
/// The application resource whose objects the `vmdisk` provider offers.
pub const VM_DISK_PLURAL: &str = "vmdisks";
/// The description of a permitted GPU no node advertises.
pub const GPU_UNAVAILABLE: &str = "not currently available on any node";

/// One selectable choice.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct OptionItem {
    /// What is written into the target field.
    pub value: String,
    /// A human title; the dashboard shows the value without one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// Helper text (availability, size).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The choice the dashboard preselects.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

impl OptionItem {
    /// An item with only a value.
    pub fn value(value: impl Into<String>) -> Self {
        Self { value: value.into(), ..Default::default() }
    }
}

/// Where a backend list is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadScope {
    /// A cluster-scoped resource.
    Cluster,
    /// A namespaced resource, in the request's namespace.
    RequestNamespace,
    /// A namespaced resource, in this namespace whatever the request's.
    Namespace(&'static str),
}

/// One backend list a provider needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Read {
    /// API group ("" for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Resource plural.
    pub plural: &'static str,
    /// Where to list.
    pub scope: ReadScope,
}

const fn read(group: &'static str, version: &'static str, plural: &'static str, scope: ReadScope) -> Read {
    Read { group, version, plural, scope }
}

/// ApplicationDefinitions (the application kinds).
pub const APPLICATION_DEFINITIONS: Read = read("cozystack.io", "v1alpha1", "applicationdefinitions", ReadScope::Cluster);
/// Backups in the request's namespace.
pub const BACKUPS: Read = read("backups.cozystack.io", "v1alpha1", "backups", ReadScope::RequestNamespace);
/// BackupClasses.
pub const BACKUP_CLASSES: Read = read("backups.cozystack.io", "v1alpha1", "backupclasses", ReadScope::Cluster);
/// Backup plans in the request's namespace.
pub const PLANS: Read = read("backups.cozystack.io", "v1alpha1", "plans", ReadScope::RequestNamespace);
/// The KubeVirt CR.
pub const KUBEVIRTS: Read = read("kubevirt.io", "v1", "kubevirts", ReadScope::Namespace(KUBEVIRT_NAMESPACE));
/// Nodes.
pub const NODES: Read = read("", "v1", "nodes", ReadScope::Cluster);
/// The PVCs of the default VM images.
pub const IMAGE_PVCS: Read = read("", "v1", "persistentvolumeclaims", ReadScope::Namespace(PUBLIC_IMAGES_NAMESPACE));
/// Cluster instance preferences (instance profiles).
pub const CLUSTER_PREFERENCES: Read = read("instancetype.kubevirt.io", "v1beta1", "virtualmachineclusterpreferences", ReadScope::Cluster);
/// Cluster instance types.
pub const CLUSTER_INSTANCETYPES: Read = read("instancetype.kubevirt.io", "v1beta1", "virtualmachineclusterinstancetypes", ReadScope::Cluster);
/// NetworkAttachmentDefinitions in the request's namespace.
pub const NETWORK_ATTACHMENT_DEFINITIONS: Read = read("k8s.cni.cncf.io", "v1", "network-attachment-definitions", ReadScope::RequestNamespace);
/// StorageClasses.
pub const STORAGE_CLASSES: Read = read("storage.k8s.io", "v1", "storageclasses", ReadScope::Cluster);
/// HelmReleases in the request's namespace.
pub const HELM_RELEASES: Read = read("helm.toolkit.fluxcd.io", "v2", "helmreleases", ReadScope::RequestNamespace);

/// A named source of options; the object name of its Option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    /// The application kinds of the ApplicationDefinitions.
    AppKind,
    /// Backups in the namespace.
    Backup,
    /// BackupClasses.
    BackupClass,
    /// GPUs KubeVirt permits, with what the nodes offer.
    Gpu,
    /// The default VM images.
    Image,
    /// Cluster instance preferences.
    InstanceProfile,
    /// Cluster instance types.
    InstanceType,
    /// NetworkAttachmentDefinitions in the namespace.
    Network,
    /// Backup plans in the namespace.
    Plan,
    /// StorageClasses, the default one marked.
    StorageClass,
    /// Storage pools declared by the namespace's HelmReleases.
    StoragePool,
    /// VMDisk applications in the namespace, with their size.
    VmDisk,
}

impl Provider {
    /// Every provider, in name order (the order of a list).
    pub const ALL: [Provider; 12] = [
        Self::AppKind,
        Self::Backup,
        Self::BackupClass,
        Self::Gpu,
        Self::Image,
        Self::InstanceProfile,
        Self::InstanceType,
        Self::Network,
        Self::Plan,
        Self::StorageClass,
        Self::StoragePool,
        Self::VmDisk,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::AppKind => "appkind",
            Self::Backup => "backup",
            Self::BackupClass => "backupclass",
            Self::Gpu => "gpu",
            Self::Image => "image",
            Self::InstanceProfile => "instanceprofile",
            Self::InstanceType => "instancetype",
            Self::Network => "network",
            Self::Plan => "plan",
            Self::StorageClass => "storageclass",
            Self::StoragePool => "storagepool",
            Self::VmDisk => "vmdisk",
        }
    }

    /// The provider named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The lists it needs, in the order [`Provider::items`] takes them. Those of the request's namespace are
    /// made only when the request has one: without, the provider offers nothing.
    pub fn reads(self) -> &'static [Read] {
        match self {
            Self::AppKind => &[APPLICATION_DEFINITIONS],
            Self::Backup => &[BACKUPS],
            Self::BackupClass => &[BACKUP_CLASSES],
            Self::Gpu => &[KUBEVIRTS, NODES],
            Self::Image => &[IMAGE_PVCS],
            Self::InstanceProfile => &[CLUSTER_PREFERENCES],
            Self::InstanceType => &[CLUSTER_INSTANCETYPES],
            Self::Network => &[NETWORK_ATTACHMENT_DEFINITIONS],
            Self::Plan => &[PLANS],
            Self::StorageClass => &[STORAGE_CLASSES],
            Self::StoragePool => &[HELM_RELEASES],
            Self::VmDisk => &[APPLICATION_DEFINITIONS, HELM_RELEASES],
        }
    }

    /// True when it reads the request's namespace (and so offers nothing without one).
    pub fn namespaced(self) -> bool {
        self.reads().iter().any(|r| r.scope == ReadScope::RequestNamespace)
    }

    /// The items, from the objects of each of [`Provider::reads`] in that order (a missing list counts as
    /// empty), sorted by value.
    pub fn items(self, lists: &[Vec<Value>]) -> Vec<OptionItem> {
        let list = |i: usize| lists.get(i).map(Vec::as_slice).unwrap_or_default();
        let mut items = match self {
            Self::AppKind => app_kinds(list(0)),
            Self::Backup | Self::BackupClass | Self::InstanceProfile | Self::InstanceType | Self::Network | Self::Plan => names(list(0)),
            Self::Gpu => gpus(list(0), list(1)),
            Self::Image => images(list(0)),
            Self::StorageClass => storage_classes(list(0)),
            Self::StoragePool => storage_pools(list(0)),
            Self::VmDisk => vm_disks(list(0), list(1)),
        };
        items.sort_by(|a, b| a.value.cmp(&b.value));
        items
    }
}

fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
}

/// One item per object, its name as the value.
pub fn names(objects: &[Value]) -> Vec<OptionItem> {
    objects.iter().map(name_of).filter(|n| !n.is_empty()).map(OptionItem::value).collect()
}

/// The distinct `spec.application.kind` of ApplicationDefinitions.
pub fn app_kinds(definitions: &[Value]) -> Vec<OptionItem> {
    let kinds: BTreeSet<&str> =
        definitions.iter().filter_map(|d| d.pointer("/spec/application/kind").and_then(Value::as_str)).filter(|k| !k.is_empty()).collect();
    kinds.into_iter().map(OptionItem::value).collect()
}

/// StorageClasses; the one annotated as the cluster default is marked and labelled `<name> (default)`.
pub fn storage_classes(classes: &[Value]) -> Vec<OptionItem> {
    classes
        .iter()
        .map(|sc| {
            let name = name_of(sc);
            let default = sc.pointer("/metadata/annotations").and_then(|a| a.get(DEFAULT_STORAGE_CLASS_ANNOTATION)).and_then(Value::as_str) == Some("true");
            let label = if default { format!("{name} (default)") } else { String::new() };
            OptionItem { value: name.into(), label, default, ..Default::default() }
        })
        .collect()
}

/// The images of the `vm-default-images-<image>` PVCs.
pub fn images(pvcs: &[Value]) -> Vec<OptionItem> {
    pvcs.iter().filter_map(|p| name_of(p).strip_prefix(IMAGE_PVC_PREFIX)).map(OptionItem::value).collect()
}

/// The resource names KubeVirt permits as host devices (PCI and mediated), each with how many the nodes offer
/// and where, from the first KubeVirt CR.
pub fn gpus(kubevirts: &[Value], nodes: &[Value]) -> Vec<OptionItem> {
    let Some(kubevirt) = kubevirts.first() else {
        return Vec::new();
    };
    let permitted: BTreeSet<&str> = ["pciHostDevices", "mediatedDevices"]
        .iter()
        .filter_map(|group| kubevirt.pointer(&format!("/spec/configuration/permittedHostDevices/{group}")).and_then(Value::as_array))
        .flatten()
        .filter_map(|d| d.get("resourceName").and_then(Value::as_str))
        .filter(|n| !n.is_empty())
        .collect();
    let mut offered: BTreeMap<&str, (i128, BTreeSet<&str>)> = BTreeMap::new();
    for node in nodes {
        let Some(allocatable) = node.pointer("/status/allocatable").and_then(Value::as_object) else {
            continue;
        };
        for resource in &permitted {
            let count = allocatable.get(*resource).and_then(device_count).unwrap_or(0);
            if count > 0 {
                let entry = offered.entry(resource).or_default();
                entry.0 += count;
                entry.1.insert(name_of(node));
            }
        }
    }
    permitted
        .into_iter()
        .map(|resource| {
            let description = match offered.get(resource) {
                Some((count, nodes)) => format!("{count} available on {}", nodes.iter().copied().collect::<Vec<_>>().join(", ")),
                None => GPU_UNAVAILABLE.to_string(),
            };
            OptionItem { value: resource.into(), description, ..Default::default() }
        })
        .collect()
}

/// A quantity of devices as a whole number, rounded up as resource.Quantity's Value does; None when it does not
/// parse.
fn device_count(quantity: &Value) -> Option<i128> {
    let text = match quantity {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let nanos = text.parse::<Quantity>().ok()?.nanos();
    Some(nanos.div_euclid(1_000_000_000) + i128::from(nanos.rem_euclid(1_000_000_000) != 0))
}

/// The pool names (keys of `volume.pools` and of every `volume.zones.<zone>.pools`) of HelmReleases' values.
pub fn storage_pools(releases: &[Value]) -> Vec<OptionItem> {
    let mut pools = BTreeSet::new();
    for volume in releases.iter().filter_map(|hr| hr.pointer("/spec/values/volume")) {
        let zones = volume.get("zones").and_then(Value::as_object).into_iter().flat_map(|z| z.values());
        for pool_map in std::iter::once(volume).chain(zones).filter_map(|v| v.get("pools").and_then(Value::as_object)) {
            pools.extend(pool_map.keys().cloned());
        }
    }
    pools.into_iter().map(OptionItem::value).collect()
}

/// The VMDisk applications among HelmReleases (by the ownership labels and name prefix of the definition
/// serving `vmdisks`), labelled `<name> (<spec.storage>)` when they state a size.
pub fn vm_disks(definitions: &[Value], releases: &[Value]) -> Vec<OptionItem> {
    let Some(kind) = definitions
        .iter()
        .filter_map(|d| serde_json::from_value::<ApplicationDefinition>(d.clone()).ok())
        .find(|d| d.spec.application.plural == VM_DISK_PLURAL)
        .and_then(|d| AppKind::from_definition(&d).ok())
    else {
        return Vec::new();
    };
    releases
        .iter()
        .filter(|hr| is_owned_by(hr, &kind))
        .filter_map(|hr| from_helm_release(hr, &kind).ok())
        .map(|disk| {
            let name = disk.name().to_string();
            let size = match disk.spec.get("storage") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            let label = if size.is_empty() { String::new() } else { format!("{name} ({size})") };
            OptionItem { value: name, label, ..Default::default() }
        })
        .collect()
}

/// The Option object of `provider` in `namespace` (none when empty): resourceVersion `0`, as nothing backs it.
pub fn option_object(provider: Provider, namespace: &str, items: &[OptionItem]) -> Value {
    let mut metadata = json!({"name": provider.name(), "resourceVersion": "0"});
    if !namespace.is_empty() {
        metadata["namespace"] = namespace.into();
    }
    let mut spec = json!({});
    if !items.is_empty() {
        spec["items"] = serde_json::to_value(items).unwrap_or_default();
    }
    json!({"apiVersion": format!("{}/{}", crate::CORE_GROUP, crate::VERSION), "kind": KIND, "metadata": metadata, "spec": spec})
}

/// The number of items of an Option object.
pub fn item_count(option: &Value) -> usize {
    option.pointer("/spec/items").and_then(Value::as_array).map_or(0, Vec::len)
}

#[cfg(test)]
#[path = "option_tests.rs"]
mod tests;
