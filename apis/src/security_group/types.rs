//! The spec of a SecurityGroup, as upstream's Go types decode and encode it: unknown fields ignored, `null`
//! read as empty, empty fields omitted on output (except an application reference's `kind` and `name`).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `null` reads as the empty value, as Go's decoder leaves a field untouched.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// What a SecurityGroup attaches to and the traffic it allows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupSpec {
    /// The applications whose pods join the group.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<ApplicationReference>,
    /// Allowed inbound traffic; none denies all.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressRule>,
    /// Allowed outbound traffic; none denies all.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressRule>,
}

/// A managed application, by group, kind and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationReference {
    /// Its API group; empty means apps.cozystack.io.
    #[serde(rename = "apiGroup", default, deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// Its kind.
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    /// Its name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// One set of allowed sources and ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressRule {
    /// Source applications.
    #[serde(rename = "fromApp", default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub from_app: Vec<ApplicationReference>,
    /// Source SecurityGroups of the same namespace.
    #[serde(rename = "fromSG", default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub from_sg: Vec<String>,
    /// Source CIDRs.
    #[serde(rename = "fromCIDR", default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub from_cidr: Vec<String>,
    /// Destination ports; none means all.
    #[serde(rename = "toPorts", default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub to_ports: Vec<PortRule>,
}

/// One set of allowed destinations and ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressRule {
    /// Destination applications.
    #[serde(rename = "toApp", default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub to_app: Vec<ApplicationReference>,
    /// Destination SecurityGroups of the same namespace.
    #[serde(rename = "toSG", default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub to_sg: Vec<String>,
    /// Destination CIDRs.
    #[serde(rename = "toCIDR", default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub to_cidr: Vec<String>,
    /// Destination domain names.
    #[serde(rename = "toFQDNs", default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub to_fqdns: Vec<FqdnSelector>,
    /// Destination ports; none means all.
    #[serde(rename = "toPorts", default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub to_ports: Vec<PortRule>,
}

/// A set of ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRule {
    /// The port and protocol pairs.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortProtocol>,
}

/// One port and protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortProtocol {
    /// A port number (as a string) or a named port; empty means all.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub port: String,
    /// TCP, UDP, SCTP or ANY, in any case; empty means ANY.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub protocol: String,
}

/// A destination domain name: exact, or a pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FqdnSelector {
    /// An exact name.
    #[serde(rename = "matchName", default, deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub match_name: String,
    /// A pattern where `*` matches one label.
    #[serde(rename = "matchPattern", default, deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub match_pattern: String,
}

impl SecurityGroupSpec {
    /// The spec of a SecurityGroup object (absent or `null` is empty); the error is the decoder's, for a 400.
    pub fn of(object: &Value) -> Result<Self, serde_json::Error> {
        match object.get("spec") {
            None | Some(Value::Null) => Ok(Self::default()),
            Some(spec) => serde_json::from_value(spec.clone()),
        }
    }

    /// The spec as JSON, empty fields omitted.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Default::default()))
    }
}
