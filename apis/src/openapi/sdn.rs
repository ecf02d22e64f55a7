//! The schema of SecurityGroup (sdn.cozystack.io), named as upstream's generated Go definitions
//! (`com.github.cozystack.cozystack.pkg.apis.sdn.v1alpha1.SecurityGroup`, `...SecurityGroupSpec`,
//! `...ApplicationReference`, `...IngressRule`, `...EgressRule`, `...PortRule`, `...PortProtocol`,
//! `...FQDNSelector`), in kube-openapi's v3 spelling of Go types: references wrapped in `allOf`, struct items
//! and struct fields defaulting to `{}`, strings without `omitempty` to `""`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::KindSchema;
use super::V3_REFS;
use super::kinds::{api_version_property, kind_property, metadata_property};

fn package() -> String {
    super::package(crate::SDN_GROUP, crate::VERSION)
}

fn name(short: &str) -> String {
    format!("{}.{short}", package())
}

/// A property of struct type `short`: `{description, default: {}, allOf: [{$ref}]}`.
fn struct_field(short: &str, description: &str) -> Value {
    json!({"description": description, "default": {}, "allOf": [{"$ref": format!("{V3_REFS}{}", name(short))}]})
}

/// A list of structs of type `short`.
fn struct_list(short: &str, description: &str) -> Value {
    json!({"description": description, "type": "array", "items": {"default": {}, "allOf": [{"$ref": format!("{V3_REFS}{}", name(short))}]}})
}

fn string_list(description: &str) -> Value {
    json!({"description": description, "type": "array", "items": {"type": "string", "default": ""}})
}

fn string(description: &str) -> Value {
    json!({"description": description, "type": "string"})
}

fn object(description: &str, properties: Value) -> Value {
    json!({"description": description, "type": "object", "properties": properties})
}

/// SecurityGroup and the types it refers to.
pub fn security_group() -> KindSchema {
    let kind = name("SecurityGroup");
    let definitions = BTreeMap::from([
        (
            kind.clone(),
            object(
                "SecurityGroup is a tenant's firewall object, a projection of one CiliumNetworkPolicy of the same namespace and name: the applications it attaches to and the traffic their pods may receive and send.",
                json!({
                    "apiVersion": api_version_property(),
                    "kind": kind_property(),
                    "metadata": metadata_property(),
                    "spec": struct_field("SecurityGroupSpec", "Spec names the applications the group attaches to and the traffic it allows."),
                }),
            ),
        ),
        (
            name("SecurityGroupSpec"),
            object(
                "SecurityGroupSpec names the applications a SecurityGroup attaches to and the traffic it allows.",
                json!({
                    "attachments": struct_list("ApplicationReference", "The applications whose pods join the group; none selects no pods."),
                    "ingress": struct_list("IngressRule", "Allowed inbound traffic; no rules deny all inbound traffic to the members."),
                    "egress": struct_list("EgressRule", "Allowed outbound traffic; no rules deny all outbound traffic from the members."),
                }),
            ),
        ),
        (name("ApplicationReference"), {
            let mut o = object(
                "ApplicationReference names a managed application by group, kind and name; its pods carry them as lineage labels.",
                json!({
                    "apiGroup": string("The application's API group; empty means apps.cozystack.io."),
                    "kind": {"description": "The application's kind, e.g. Postgres.", "type": "string", "default": ""},
                    "name": {"description": "The application's name.", "type": "string", "default": ""},
                }),
            );
            o["required"] = json!(["kind", "name"]);
            o
        }),
        (
            name("IngressRule"),
            object(
                "IngressRule is one set of allowed sources and destination ports.",
                json!({
                    "fromApp": struct_list("ApplicationReference", "Source pods of these applications."),
                    "fromSG": string_list("Source pods that are members of these SecurityGroups of the same namespace."),
                    "fromCIDR": string_list("Source CIDRs or addresses."),
                    "toPorts": struct_list("PortRule", "Destination ports; none allows every port."),
                }),
            ),
        ),
        (
            name("EgressRule"),
            object(
                "EgressRule is one set of allowed destinations and ports.",
                json!({
                    "toApp": struct_list("ApplicationReference", "Destination pods of these applications."),
                    "toSG": string_list("Destination pods that are members of these SecurityGroups of the same namespace."),
                    "toCIDR": string_list("Destination CIDRs or addresses."),
                    "toFQDNs": struct_list("FQDNSelector", "Destination domain names."),
                    "toPorts": struct_list("PortRule", "Destination ports; none allows every port."),
                }),
            ),
        ),
        (name("PortRule"), object("PortRule is a set of ports.", json!({"ports": struct_list("PortProtocol", "The port and protocol pairs.")}))),
        (
            name("PortProtocol"),
            object(
                "PortProtocol is one port and protocol.",
                json!({
                    "port": string("A port number, as a string, or a named port; empty means every port."),
                    "protocol": string("TCP, UDP, SCTP or ANY (any case); empty means ANY."),
                }),
            ),
        ),
        (
            name("FQDNSelector"),
            object(
                "FQDNSelector matches destination domain names.",
                json!({
                    "matchName": string("An exact fully qualified domain name."),
                    "matchPattern": string("A pattern where \"*\" matches one domain label."),
                }),
            ),
        ),
    ]);
    KindSchema { name: kind, definitions }
}
