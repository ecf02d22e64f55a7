//! Keeps the observations applications show in their status current on their HelmReleases: the summary of
//! their WorkloadMonitors (WorkloadsReady) and, for Tenants, the count of LoadBalancer Services with an
//! external IP in their namespace (`apis::application::observed`).
//!
//! Monitors and Services are watched through watch caches of their own. Whenever one of them or the
//! HelmReleases change, every application's observations are recomputed and the annotations that differ are
//! patched, conditional on the HelmRelease's resourceVersion. The change of the HelmRelease is then what
//! clients see: a MODIFIED event of the application, with a resourceVersion later than every one before, the
//! same on every replica and after a restart.

use std::collections::HashMap;
use std::time::Duration;

use apis::application::TENANT_KIND;
use apis::application::observed::{self, ExternalIps, WorkloadsSummary};
use serde_json::{Map, Value, json};

use crate::backend::{Backend, BackingResource, HELM_RELEASES};
use crate::watch_cache::WatchCache;

/// cozystack.io WorkloadMonitors: one per workload of an application, with `status.operational`.
pub const WORKLOAD_MONITORS: BackingResource = BackingResource { group: "cozystack.io", version: "v1alpha1", plural: "workloadmonitors", namespaced: true };
/// Core Services.
pub const SERVICES: BackingResource = BackingResource { group: "", version: "v1", plural: "services", namespaced: true };

/// Changes that come together (a chart creating its monitors, a burst of writes) are handled in one pass.
const SETTLE: Duration = Duration::from_millis(200);
/// After a failed write, the pass runs again this much later even if nothing changes.
const RETRY: Duration = Duration::from_secs(5);

/// Runs until the process ends.
pub async fn run(backend: Backend) {
    let releases = backend.watch_cache(&HELM_RELEASES, &crate::resources::application::cache_selector());
    let monitors = backend.watch_cache(&WORKLOAD_MONITORS, &crate::resources::application::cache_selector());
    let services = backend.watch_cache(&SERVICES, "");
    let mut changes = [releases.subscribe(), monitors.subscribe(), services.subscribe()];
    releases.synced().await;
    loop {
        for c in &mut changes {
            c.borrow_and_update();
        }
        let failed = pass(&backend, &releases, &monitors, &services).await;
        let [r, m, s] = &mut changes;
        let retry = async { if failed { tokio::time::sleep(RETRY).await } else { std::future::pending().await } };
        tokio::select! {
            _ = r.changed() => {}
            _ = m.changed() => {}
            _ = s.changed() => {}
            _ = retry => {}
        }
        tokio::time::sleep(SETTLE).await;
    }
}

/// One pass over every application; true when a write failed for a reason a later pass may not see change.
async fn pass(backend: &Backend, releases: &WatchCache, monitors: &WatchCache, services: &WatchCache) -> bool {
    // A source that has not listed yet says nothing: its annotations are left as they are.
    let monitors = monitors.is_synced().then(|| monitors.objects());
    let services = services.is_synced().then(|| services.objects());
    let mut by_owner: HashMap<(String, String, String), Vec<Value>> = HashMap::new();
    for e in monitors.iter().flat_map(|(entries, _)| entries) {
        let monitor = e.object();
        if let Some(owner) = observed::monitor_owner(&monitor) {
            by_owner.entry(owner).or_default().push(monitor);
        }
    }
    let mut ips: HashMap<String, u32> = HashMap::new();
    for e in services.iter().flat_map(|(entries, _)| entries) {
        if observed::has_external_ip(&e.object()) {
            *ips.entry(e.namespace().to_string()).or_default() += 1;
        }
    }

    let mut failed = false;
    let (entries, _) = releases.objects();
    for e in entries {
        // Most releases have nothing to show and show nothing: skip them without reading them. (A release whose
        // encoding does not mention the annotations has neither.)
        let mentions = |key: &str| memchr::memmem::find(e.json(), key.as_bytes()).is_some();
        if by_owner.is_empty() && ips.is_empty() && !mentions(observed::WORKLOADS_ANNOTATION) && !mentions(observed::EXTERNAL_IPS_ANNOTATION) {
            continue;
        }
        let Some(hr) = release_metadata(e.json()) else { continue };
        let hr = &hr;
        if hr.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
            continue;
        }
        let Some(owner) = observed::release_workloads(hr) else { continue };
        let mut changes = Map::new();
        if let Some((_, rv)) = &monitors {
            let desired = by_owner.get(&owner).and_then(observed::summarize);
            let current = observed::read_annotation::<WorkloadsSummary>(hr, observed::WORKLOADS_ANNOTATION);
            if let Some(v) = observed::annotation_change(desired, current, *rv) {
                changes.insert(observed::WORKLOADS_ANNOTATION.into(), v);
            }
        }
        if let Some((_, rv)) = &services
            && owner.1 == TENANT_KIND
        {
            let desired = ips.get(owner.0.as_str()).map(|&count| ExternalIps { count });
            let current = observed::read_annotation::<ExternalIps>(hr, observed::EXTERNAL_IPS_ANNOTATION);
            if let Some(v) = observed::annotation_change(desired, current, *rv) {
                changes.insert(observed::EXTERNAL_IPS_ANNOTATION.into(), v);
            }
        }
        if changes.is_empty() {
            continue;
        }
        let (ns, name) = e.key();
        let patch = json!({"metadata": {"resourceVersion": e.rv.to_string(), "annotations": changes}});
        match backend.merge_patch(&HELM_RELEASES, &ns, &name, &patch).await {
            Ok(_) => tracing::debug!(namespace = %ns, name = %name, "application status observations updated"),
            // Changed or gone meanwhile: its event brings another pass.
            Err(err) if matches!(err.code(), Some(404 | 409)) => {}
            Err(err) => {
                tracing::warn!(namespace = %ns, name = %name, error = %err, "cannot record application status observations");
                failed = true;
            }
        }
    }
    failed
}

/// The metadata a pass reads of a HelmRelease (namespace, labels, annotations, deletionTimestamp), read from its
/// encoding without building the rest of the object.
fn release_metadata(json: &[u8]) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct Release {
        metadata: Metadata,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Metadata {
        #[serde(default)]
        namespace: Value,
        #[serde(default)]
        labels: Value,
        #[serde(default)]
        annotations: Value,
        #[serde(default)]
        deletion_timestamp: Value,
    }
    let Release { metadata: m } = serde_json::from_slice(json).ok()?;
    Some(json!({"metadata": {"namespace": m.namespace, "labels": m.labels, "annotations": m.annotations, "deletionTimestamp": m.deletion_timestamp}}))
}

#[cfg(test)]
#[path = "app_status_tests.rs"]
mod tests;
