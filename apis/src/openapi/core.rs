//! Static schemas of the core.cozystack.io kinds, named as upstream's generated Go definitions
//! (`com.github.cozystack.cozystack.pkg.apis.core.v1alpha1.TenantSecret`, ...). A registry publishes one with
//! `fn schema(&self) -> Option<KindSchema> { Some(apis::openapi::core::tenant_secret()) }`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::kinds::{api_version_property, kind_property, metadata_property, reference};
use super::meta::meta_ref;
use super::{KindSchema, V3_REFS};

fn package() -> String {
    super::package(crate::CORE_GROUP, crate::VERSION)
}

fn schema(kind: &str, description: &str, extra: Value, more: Vec<(String, Value)>) -> KindSchema {
    let name = format!("{}.{kind}", package());
    let mut properties = json!({"apiVersion": api_version_property(), "kind": kind_property(), "metadata": metadata_property()});
    if let (Value::Object(p), Value::Object(e)) = (&mut properties, extra) {
        p.extend(e);
    }
    let object = json!({"description": description, "type": "object", "properties": properties});
    let mut definitions = BTreeMap::from([(name.clone(), object)]);
    definitions.extend(more);
    KindSchema { name, definitions }
}

/// TenantNamespace: a tenant namespace the caller may see (metadata only).
pub fn tenant_namespace() -> KindSchema {
    schema("TenantNamespace", "TenantNamespace is a tenant's namespace, as seen by a caller who may access it.", json!({}), vec![])
}

/// TenantModule: a module (HelmRelease) a tenant chart installs.
pub fn tenant_module() -> KindSchema {
    let status = format!("{}.TenantModuleStatus", package());
    let status_schema = json!({
        "description": "TenantModuleStatus is the observed state of a TenantModule.",
        "type": "object",
        "properties": {
            "version": {"description": "The chart version the release last attempted.", "type": "string"},
            "conditions": {"description": "Ready and Released, copied from the Helm release.", "type": "array", "items": meta_ref("Condition")},
        },
    });
    let extra = json!({
        "appVersion": {"description": "The chart version of the module's release.", "type": "string"},
        "status": reference(&status, "Status of the module, read from its Helm release."),
    });
    schema("TenantModule", "TenantModule is a module of a tenant, installed by the tenant's chart.", extra, vec![(status, status_schema)])
}

/// TenantSecret: a Secret of a tenant's applications.
pub fn tenant_secret() -> KindSchema {
    let extra = json!({
        "data": {
            "description": "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string.",
            "type": "object",
            "additionalProperties": {"type": "string", "format": "byte"},
        },
        "stringData": {
            "description": "stringData allows specifying non-binary secret data in string form. It is provided as a write-only input field for convenience. All keys and values are merged into the data field on write, overwriting any existing values.",
            "type": "object",
            "additionalProperties": {"type": "string"},
        },
        "type": {"description": "Used to facilitate programmatic handling of secret data.", "type": "string"},
    });
    schema("TenantSecret", "TenantSecret is a Secret that belongs to a tenant's applications.", extra, vec![])
}

/// Option: the choices of one dashboard dropdown, computed on read.
pub fn option() -> KindSchema {
    let spec = format!("{}.OptionSpec", package());
    let item = format!("{}.OptionItem", package());
    let spec_schema = json!({
        "description": "OptionSpec is what one source offers.",
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": format!("{V3_REFS}{item}")}},
        },
    });
    let item_schema = json!({
        "description": "OptionItem is one choice of a dropdown.",
        "type": "object",
        "required": ["value"],
        "properties": {
            "value": {"description": "The string the choice writes into the field.", "type": "string"},
            "label": {"description": "A title to show instead of the value.", "type": "string"},
            "description": {"description": "Helper text, such as how many devices are available or the size of a disk.", "type": "string"},
            "default": {"description": "True for the choice to preselect while the field is empty (the default StorageClass).", "type": "boolean"},
        },
    });
    let extra = json!({"spec": reference(&spec, "The items of the source.")});
    schema(
        "Option",
        "Option is the list of choices of one dashboard dropdown, named by its source (gpu, storageclass, ...) and computed from cluster state on every read.",
        extra,
        vec![(spec, spec_schema), (item, item_schema)],
    )
}
