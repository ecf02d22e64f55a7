//! SecurityGroup (`sdn.cozystack.io/v1alpha1`): a tenant's firewall object, served as a projection of one
//! `cilium.io/v2` CiliumNetworkPolicy of the same namespace and name that carries [`MARKER_LABEL`].
//!
//! - [`types`]: the spec's JSON shapes, decoded and encoded as upstream's Go types are (empty fields omitted).
//! - [`projection`]: SecurityGroup ⇄ CiliumNetworkPolicy ([`to_policy`], [`from_policy`]).
//! - [`validation`]: the semantic checks of a write, with upstream's messages and field paths.
//!
//! This file holds the names both directions share and the structural schema of `spec`, which prunes (and
//! reports, per `fieldValidation`) the fields the type does not have.

pub mod projection;
pub mod types;
pub mod validation;

#[cfg(test)]
mod tests;

use serde_json::{Value, json};

pub use projection::{from_policy, is_marked, to_policy};
pub use types::{ApplicationReference, EgressRule, FqdnSelector, IngressRule, PortProtocol, PortRule, SecurityGroupSpec};
pub use validation::validate;

/// Kind of the served object.
pub const KIND: &str = "SecurityGroup";
/// Kind of its list.
pub const LIST_KIND: &str = "SecurityGroupList";
/// Resource (plural) name.
pub const PLURAL: &str = "securitygroups";
/// Singular name.
pub const SINGULAR: &str = "securitygroup";
/// The label that makes a CiliumNetworkPolicy a SecurityGroup; always written, never shown.
pub const MARKER_LABEL: &str = "sdn.cozystack.io/securitygroup";
/// The annotation of the backing policy that holds `spec.attachments` (the policy's spec has no place for
/// them); always written from the spec, never shown.
pub const ATTACHMENTS_ANNOTATION: &str = "sdn.cozystack.io/attachments";
/// The prefix of a group's membership label key; the full key is the prefix and the group's name.
pub const MEMBERSHIP_PREFIX: &str = "securitygroup.sdn.cozystack.io/";
/// The finalizer the securitygroup-controller puts on a backing policy; a write that omits it keeps it.
pub const MEMBERSHIP_FINALIZER: &str = "sdn.cozystack.io/securitygroup-membership";
/// Lineage label of an application's pods: its API group.
pub const APP_GROUP_LABEL: &str = "apps.cozystack.io/application.group";
/// Lineage label of an application's pods: its kind.
pub const APP_KIND_LABEL: &str = "apps.cozystack.io/application.kind";
/// Lineage label of an application's pods: its name.
pub const APP_NAME_LABEL: &str = "apps.cozystack.io/application.name";
/// The group an application reference without `apiGroup` means.
pub const DEFAULT_APP_GROUP: &str = crate::APPS_GROUP;
/// `apiVersion` of the backing policies.
pub const POLICY_API_VERSION: &str = "cilium.io/v2";
/// Kind of the backing policies.
pub const POLICY_KIND: &str = "CiliumNetworkPolicy";

/// `apiVersion` of a SecurityGroup.
pub fn api_version() -> String {
    format!("{}/{}", crate::SDN_GROUP, crate::VERSION)
}

/// The membership label key of the group `name`: what its policy's endpointSelector matches, and what a
/// fromSG/toSG peer naming it selects.
pub fn membership_key(name: &str) -> String {
    format!("{MEMBERSHIP_PREFIX}{name}")
}

/// The top-level fields of a SecurityGroup; any other is unknown.
pub const OBJECT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];

/// The structural schema (apiextensions v1 JSONSchemaProps) of `spec`: what pruning keeps. The published
/// OpenAPI definitions ([`crate::openapi::sdn`]) describe the same shape with named types.
pub fn spec_schema() -> Value {
    let string = json!({"type": "string"});
    let strings = json!({"type": "array", "items": string});
    let app_ref = json!({"type": "object", "properties": {"apiGroup": string, "kind": string, "name": string}});
    let app_refs = json!({"type": "array", "items": app_ref});
    let port = json!({"type": "object", "properties": {"port": string, "protocol": string}});
    let port_rules = json!({"type": "array", "items": {"type": "object", "properties": {"ports": {"type": "array", "items": port}}}});
    let fqdn = json!({"type": "object", "properties": {"matchName": string, "matchPattern": string}});
    let ingress = json!({"type": "object", "properties": {"fromApp": app_refs, "fromSG": strings, "fromCIDR": strings, "toPorts": port_rules}});
    let egress = json!({"type": "object", "properties": {
        "toApp": app_refs, "toSG": strings, "toCIDR": strings, "toFQDNs": {"type": "array", "items": fqdn}, "toPorts": port_rules,
    }});
    json!({"type": "object", "properties": {
        "attachments": app_refs,
        "ingress": {"type": "array", "items": ingress},
        "egress": {"type": "array", "items": egress},
    }})
}
