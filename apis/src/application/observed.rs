//! What an application's status shows from objects other than its HelmRelease: the `WorkloadsReady` condition,
//! from the WorkloadMonitors of its workloads, and a Tenant's `externalIPsCount`, from the LoadBalancer Services
//! of its namespace.
//!
//! The server keeps both on the HelmRelease, as annotations it alone writes ([`WORKLOADS_ANNOTATION`],
//! [`EXTERNAL_IPS_ANNOTATION`]): a monitor's change then changes the HelmRelease, so the application's watch
//! event, resourceVersion and every replica's answer follow from the one backing object, in order. Each
//! annotation records the resourceVersion of the observation it was computed from, so a replica whose view is
//! older never overwrites a newer one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::translate::{GROUP_LABEL, KIND_LABEL, NAME_LABEL};
use super::{CONDITION_WORKLOADS_READY, Condition, TENANT_KIND};
use crate::APPS_GROUP;

/// HelmRelease annotation holding the summary of the application's WorkloadMonitors.
pub const WORKLOADS_ANNOTATION: &str = "apps.cozystack.io/workloads";
/// HelmRelease annotation holding a Tenant's count of LoadBalancer Services with an external IP.
pub const EXTERNAL_IPS_ANNOTATION: &str = "apps.cozystack.io/external-ips";
/// Reason of a True or False WorkloadsReady.
pub const REASON_MONITOR_CHECK: &str = "WorkloadMonitorCheck";
/// Reason of an Unknown WorkloadsReady.
pub const REASON_PENDING: &str = "Pending";

/// What the WorkloadMonitors of one application say: how many there are, how many report not operational, how
/// many have not reported yet, and when the newest was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadsSummary {
    /// Monitors of the application.
    pub monitors: u32,
    /// Monitors with `status.operational: false`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_operational: u32,
    /// Monitors with no `status.operational` yet.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending: u32,
    /// The newest monitor's creationTimestamp (RFC 3339), when any has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An annotation's value: the observation and the resourceVersion it was made at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed<T> {
    /// What was observed.
    #[serde(flatten)]
    pub value: T,
    /// The resourceVersion of the watched objects it was computed from.
    pub observed: u64,
}

/// A Tenant's count of LoadBalancer Services with an external IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExternalIps {
    /// The count.
    pub count: u32,
}

/// The application a WorkloadMonitor belongs to: (its namespace, kind, name), from its ownership labels; None
/// for a monitor of no application.
pub fn monitor_owner(monitor: &Value) -> Option<(String, String, String)> {
    let labels = monitor.pointer("/metadata/labels")?;
    let get = |k: &str| labels.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    if get(GROUP_LABEL)? != APPS_GROUP {
        return None;
    }
    let namespace = monitor.pointer("/metadata/namespace").and_then(Value::as_str)?;
    Some((namespace.to_string(), get(KIND_LABEL)?.to_string(), get(NAME_LABEL)?.to_string()))
}

/// Where the workloads of a HelmRelease's application run, and which monitors are its: (namespace, kind, name).
/// A Tenant's workloads run in the namespace it owns; every other application's in its own. None for a
/// HelmRelease without the ownership labels.
pub fn release_workloads(hr: &Value) -> Option<(String, String, String)> {
    let labels = hr.pointer("/metadata/labels")?;
    let get = |k: &str| labels.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    if get(GROUP_LABEL)? != APPS_GROUP {
        return None;
    }
    let (kind, name) = (get(KIND_LABEL)?, get(NAME_LABEL)?);
    let namespace = hr.pointer("/metadata/namespace").and_then(Value::as_str)?;
    let workloads = if kind == TENANT_KIND { crate::tenant::tenant_namespace(namespace, name) } else { namespace.to_string() };
    Some((workloads, kind.to_string(), name.to_string()))
}

/// The summary of an application's monitors; None when it has none (then it shows no WorkloadsReady).
pub fn summarize<'a>(monitors: impl IntoIterator<Item = &'a Value>) -> Option<WorkloadsSummary> {
    let mut s = WorkloadsSummary::default();
    for m in monitors {
        s.monitors += 1;
        match m.pointer("/status/operational") {
            Some(Value::Bool(false)) => s.not_operational += 1,
            Some(Value::Bool(true)) => {}
            _ => s.pending += 1,
        }
        if let Some(created) = m.pointer("/metadata/creationTimestamp").and_then(Value::as_str).and_then(parse_time)
            && s.newest.as_deref().and_then(parse_time).is_none_or(|n| created > n)
        {
            s.newest = Some(format_time(created));
        }
    }
    (s.monitors > 0).then_some(s)
}

/// True for a LoadBalancer Service with at least one ingress IP: one that holds an external IP.
pub fn has_external_ip(service: &Value) -> bool {
    service.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer")
        && service
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .is_some_and(|ingress| ingress.iter().any(|i| i.get("ip").and_then(Value::as_str).is_some_and(|ip| !ip.is_empty())))
}

/// The observation a HelmRelease carries under `key`; None when absent or unreadable.
pub fn read_annotation<T: for<'de> Deserialize<'de>>(hr: &Value, key: &str) -> Option<Observed<T>> {
    let raw = hr.pointer("/metadata/annotations")?.get(key)?.as_str()?;
    serde_json::from_str(raw).ok()
}

/// The annotation value of an observation.
pub fn write_annotation<T: Serialize>(value: T, observed: u64) -> String {
    serde_json::to_string(&Observed { value, observed }).unwrap_or_default()
}

/// The new value of an annotation holding `current`, given what is `desired` as observed at resourceVersion
/// `observed`: None to leave it as it is (it says the same, or it was computed from a newer observation than
/// this one, by another replica), `null` to remove it (nothing to show), or the new string.
pub fn annotation_change<T: PartialEq + Serialize>(desired: Option<T>, current: Option<Observed<T>>, observed: u64) -> Option<Value> {
    if let Some(c) = &current
        && (Some(&c.value) == desired.as_ref() || c.observed > observed)
    {
        return None;
    }
    match desired {
        Some(value) => Some(Value::String(write_annotation(value, observed))),
        None => current.map(|_| Value::Null),
    }
}

/// The WorkloadsReady condition of a summary, for a HelmRelease: False when any monitor is not operational,
/// else Unknown when any has not reported, else True. Its lastTransitionTime is the latest of the HelmRelease's
/// creation, its conditions' transitions and the newest monitor's creation.
pub fn workloads_condition(summary: &WorkloadsSummary, hr: &Value) -> Condition {
    let (status, reason, message) = if summary.not_operational > 0 {
        ("False", REASON_MONITOR_CHECK, "One or more workloads are not operational")
    } else if summary.pending > 0 {
        ("Unknown", REASON_PENDING, "One or more workloads have not been reconciled yet")
    } else {
        ("True", REASON_MONITOR_CHECK, "All workloads are operational")
    };
    let times = std::iter::once(hr.pointer("/metadata/creationTimestamp"))
        .chain(hr.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().map(|c| c.get("lastTransitionTime")))
        .filter_map(|t| t.and_then(Value::as_str).and_then(parse_time))
        .chain(summary.newest.as_deref().and_then(parse_time));
    // A zero time everywhere (never in practice: the HelmRelease has a creationTimestamp) means now.
    let latest = times.max().unwrap_or_else(|| jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or_else(|_| jiff::Timestamp::now()));
    Condition {
        type_: CONDITION_WORKLOADS_READY.into(),
        status: status.into(),
        observed_generation: None,
        last_transition_time: Some(Time(latest)),
        reason: reason.into(),
        message: message.into(),
    }
}

fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

fn format_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
#[path = "observed_tests.rs"]
mod tests;
