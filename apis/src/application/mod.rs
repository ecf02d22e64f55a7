//! The dynamic Application object (one served kind per ApplicationDefinition) and its HelmRelease mapping.
//!
//! - [`kind`]: what translation needs from one definition ([`AppKind`]) and the server flags
//!   ([`ReleaseSettings`]), with Go duration parsing and formatting.
//! - [`translate`]: Application ⇄ HelmRelease ([`to_helm_release`], [`from_helm_release`]) and ownership.
//! - [`validate`]: create-time name rules and the reserved `_` values keys.
//! - [`observed`]: WorkloadsReady and a Tenant's external IP count, from what the server observes of other
//!   objects and records on the HelmRelease.
//!
//! This file holds the served object itself and the readiness helpers the table columns use.

pub mod kind;
pub mod observed;
pub mod translate;
pub mod validate;

pub use kind::{AppKind, ReleaseSettings, format_go_duration, parse_go_duration};
pub use translate::{
    GROUP_LABEL, HELM_RELEASE_API_VERSION, HELM_RELEASE_KIND, KIND_LABEL, NAME_LABEL, SHARD_LABEL, TranslateError, USER_PREFIX, VALUES_SECRET,
    app_name_from_release, from_helm_release, is_owned_by, is_owned_by_name, kind_label_encoded, release_name, to_helm_release,
};
pub use validate::{reserved_keys, validate_name};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `apiVersion` of every Application kind.
pub const API_VERSION: &str = "apps.cozystack.io/v1alpha1";
/// The kind whose objects own a tenant namespace.
pub const TENANT_KIND: &str = "Tenant";
/// Condition type copied from the HelmRelease that the READY column shows.
pub const CONDITION_READY: &str = "Ready";
/// Condition type copied from the HelmRelease alongside Ready.
pub const CONDITION_RELEASED: &str = "Released";
/// Condition type the storage layer adds from WorkloadMonitors.
pub const CONDITION_WORKLOADS_READY: &str = "WorkloadsReady";

/// An Application as served: `apps.cozystack.io/v1alpha1`, kind from its definition, spec = Helm values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Always [`API_VERSION`] on the way out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The definition's kind, e.g. `Postgres`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Object metadata. Every field is kept when decoding a request; translation decides what reaches the
    /// HelmRelease and what is shown back.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Present in the upstream type but never filled for Applications.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_version: String,
    /// The Helm values; `null` when absent.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub spec: Value,
    /// Derived from the HelmRelease; ignored on writes. Always written, as the Go struct is.
    #[serde(default)]
    pub status: ApplicationStatus,
}

/// `status` of an Application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// The HelmRelease's `status.lastAttemptedRevision`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Ready and Released copied from the HelmRelease, then WorkloadsReady when monitors exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Tenant only: the namespace the tenant owns.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Tenant only: LoadBalancer Services with an external IP in that namespace.
    #[serde(default, rename = "externalIPsCount", skip_serializing_if = "is_zero")]
    pub external_ips_count: i32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// A metav1.Condition. Own type rather than k8s-openapi's, which refuses a condition without a
/// lastTransitionTime; Go writes a zero time as `null`, and so does this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type (`Ready`, `Released`, `WorkloadsReady`).
    #[serde(default, rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
    /// Generation the condition was computed for; dropped when copying from a HelmRelease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the status last changed.
    #[serde(default)]
    pub last_transition_time: Option<Time>,
    /// Machine-readable reason; always written, as metav1.Condition does.
    #[serde(default)]
    pub reason: String,
    /// Human-readable message; always written.
    #[serde(default)]
    pub message: String,
}

impl Application {
    /// Name from metadata, or "".
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    /// Namespace from metadata, or "".
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("")
    }

    /// The condition of the given type, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// The READY column: the Ready condition's status as `True`, `False` or `Unknown` (missing or anything
/// else is `Unknown`).
pub fn ready_status(conditions: &[Condition]) -> &'static str {
    match conditions.iter().find(|c| c.type_ == CONDITION_READY).map(|c| c.status.as_str()) {
        Some("True") => "True",
        Some("False") => "False",
        _ => "Unknown",
    }
}

/// The VERSION column: the part after the last `+` of `status.version` (when `+` is not the last
/// character), the version itself otherwise, or `<unknown>` when empty.
pub fn version_column(version: &str) -> String {
    if version.is_empty() {
        return "<unknown>".to_string();
    }
    match version.rfind('+') {
        Some(i) if i + 1 < version.len() => version[i + 1..].to_string(),
        _ => version.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(type_: &str, status: &str) -> Condition {
        Condition { type_: type_.into(), status: status.into(), ..Default::default() }
    }

    #[test]
    fn ready_status_reads_the_ready_condition() {
        let cases: &[(&str, &[Condition], &str)] = &[
            ("no conditions", &[], "Unknown"),
            ("ready true", &[cond("Released", "False"), cond("Ready", "True")], "True"),
            ("ready false", &[cond("Ready", "False")], "False"),
            ("ready unknown", &[cond("Ready", "Unknown")], "Unknown"),
            ("odd status", &[cond("Ready", "maybe")], "Unknown"),
            ("only released", &[cond("Released", "True")], "Unknown"),
        ];
        for (what, conds, want) in cases {
            assert_eq!(ready_status(conds), *want, "{what}");
        }
    }

    #[test]
    fn version_column_keeps_what_follows_the_last_plus() {
        let cases = [
            ("empty", "", "<unknown>"),
            ("plain", "0.1.4", "0.1.4"),
            ("build metadata", "0.1.4+abcdef", "abcdef"),
            ("two pluses", "1+2+3", "3"),
            ("trailing plus", "0.1.4+", "0.1.4+"),
            ("only plus", "+", "+"),
        ];
        for (what, input, want) in cases {
            assert_eq!(version_column(input), want, "{what}");
        }
    }

    #[test]
    fn serialises_like_the_go_type() {
        let app = Application {
            api_version: API_VERSION.into(),
            kind: "Postgres".into(),
            metadata: ObjectMeta { name: Some("db".into()), ..Default::default() },
            spec: json!({"replicas": 3}),
            status: ApplicationStatus { conditions: vec![cond("Ready", "True")], ..Default::default() },
            ..Default::default()
        };
        let v = serde_json::to_value(&app).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "apps.cozystack.io/v1alpha1",
                "kind": "Postgres",
                "metadata": {"name": "db"},
                "spec": {"replicas": 3},
                "status": {"conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": null, "reason": "", "message": ""}
                ]}
            })
        );
        let empty = serde_json::to_value(Application::default()).unwrap();
        assert_eq!(empty, json!({"metadata": {}, "status": {}}));
        let back: Application = serde_json::from_value(v).unwrap();
        assert_eq!(back, app);
    }
}
