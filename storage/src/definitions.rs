//! Watches ApplicationDefinitions and rebuilds the served set whenever one is added, changed or deleted.
//! A broken definition (bad names, bad annotations, a clashing plural or kind) is reported and skipped; it
//! never affects the other kinds.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use apis::application::{AppKind, ReleaseSettings};
use apis::definition::ApplicationDefinition;
use apis::schema::StructuralSchema;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::backend::{Backend, BackingResource, Query};
use crate::catalog::{Catalog, Resources};
use crate::resources::application::ApplicationRegistry;
use crate::store::Store;

/// ApplicationDefinitions (cluster-scoped custom resources).
pub const DEFINITIONS: BackingResource = BackingResource { group: "cozystack.io", version: "v1alpha1", plural: "applicationdefinitions", namespaced: false };
/// The APIServices that register this server with the aggregator.
const API_SERVICES: BackingResource = BackingResource { group: "apiregistration.k8s.io", version: "v1", plural: "apiservices", namespaced: false };

/// Hears about every rebuild of the served set, with the definitions that are not served as written.
pub type OnChange = Arc<dyn Fn(&[Broken]) + Send + Sync>;

/// A definition that cannot be served, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// Definition name.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// Builds the application registries of a set of definitions. Definitions are taken in name order, so the
/// first of two clashing definitions keeps its kind and the later one is reported.
pub fn build_registries(defs: &BTreeMap<String, ApplicationDefinition>, settings: &ReleaseSettings, backend: &Backend) -> (Resources, Vec<Broken>) {
    let mut out: Resources = BTreeMap::new();
    let mut kinds: HashMap<String, String> = HashMap::new();
    let mut broken = Vec::new();
    for (name, def) in defs {
        let kind = match AppKind::from_definition(def) {
            Ok(k) => k,
            Err(e) => {
                broken.push(Broken { name: name.clone(), reason: e.to_string() });
                continue;
            }
        };
        let key = (apis::APPS_GROUP.to_string(), kind.plural.clone());
        if let Some(owner) = out.get(&key).map(|r| r.info().kind.clone()) {
            broken.push(Broken { name: name.clone(), reason: format!("plural {:?} is already served for kind {owner}", kind.plural) });
            continue;
        }
        if let Some(owner) = kinds.get(&kind.kind) {
            broken.push(Broken { name: name.clone(), reason: format!("kind {:?} is already served by definition {owner:?}", kind.kind) });
            continue;
        }
        kinds.insert(kind.kind.clone(), name.clone());
        let schema = match def.spec_schema().map_err(|e| e.to_string()).and_then(|s| {
            StructuralSchema::new(&s.unwrap_or_else(|| serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})))
                .map_err(|e| e.to_string())
        }) {
            Ok(s) => s,
            Err(e) => {
                // Still served, with a spec that accepts anything: one bad schema must not take a kind away.
                broken.push(Broken { name: name.clone(), reason: format!("served without validation: {e}") });
                StructuralSchema::preserve_unknown()
            }
        };
        let registry = ApplicationRegistry::new(kind, settings.clone(), Arc::new(schema), backend.clone());
        out.insert(key, Arc::new(Store::new(Arc::new(registry), backend.clone())));
    }
    (out, broken)
}

/// Longest pause between attempts to list definitions again after a failure.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Keeps the catalog's application kinds equal to the cluster's definitions. `fixed` holds the resources
/// served regardless of definitions (the core group). `on_change` hears about every rebuild with the broken
/// definitions; `synced` is notified after the first full list. Lists, then watches from the list's
/// resourceVersion; a watch that ends is resumed from the last resourceVersion seen, one that expired (410)
/// or failed lists again.
pub async fn watch_definitions(
    backend: Backend,
    settings: ReleaseSettings,
    catalog: Arc<Catalog>,
    fixed: Resources,
    on_change: OnChange,
    synced: Arc<tokio::sync::Notify>,
) {
    let mut served = Served { backend: &backend, settings, catalog, fixed, on_change, synced, reported: Vec::new() };
    let mut delay = Duration::from_millis(250);
    loop {
        let list = match backend.list(&DEFINITIONS, "", &Query::default()).await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "listing ApplicationDefinitions failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
                continue;
            }
        };
        delay = Duration::from_millis(250);
        let mut rv = list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut defs: BTreeMap<String, ApplicationDefinition> =
            list.get("items").and_then(Value::as_array).into_iter().flatten().filter_map(parse).map(|d| (d.name().to_string(), d)).collect();
        served.rebuild(&defs).await;
        loop {
            let q = Query::default().set("resourceVersion", rv.clone()).set("allowWatchBookmarks", "true");
            let mut events = match backend.watch(&DEFINITIONS, "", &q).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, "watching ApplicationDefinitions failed; listing again");
                    break;
                }
            };
            let mut expired = false;
            while let Some(event) = events.next().await {
                let (event_type, obj) = match event {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::debug!(error = %e, "the ApplicationDefinition watch ended; resuming");
                        break;
                    }
                };
                if event_type == "ERROR" {
                    expired = true;
                    break;
                }
                if let Some(v) = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
                    rv = v.to_string();
                }
                let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
                let changed = match event_type.as_str() {
                    "ADDED" | "MODIFIED" => parse(&obj).map(|d| defs.insert(name, d)).is_some(),
                    "DELETED" => defs.remove(&name).is_some(),
                    _ => false,
                };
                if changed {
                    served.rebuild(&defs).await;
                }
            }
            if expired {
                break;
            }
        }
        tokio::time::sleep(delay).await;
    }
}

/// What the watcher keeps the served set with.
struct Served<'b> {
    backend: &'b Backend,
    settings: ReleaseSettings,
    catalog: Arc<Catalog>,
    fixed: Resources,
    on_change: OnChange,
    synced: Arc<tokio::sync::Notify>,
    reported: Vec<Broken>,
}

impl Served<'_> {
    /// Serves `defs` (and the fixed resources) from now on.
    async fn rebuild(&mut self, defs: &BTreeMap<String, ApplicationDefinition>) {
        let (mut resources, broken) = build_registries(defs, &self.settings, self.backend);
        for b in &broken {
            if !self.reported.contains(b) {
                tracing::error!(definition = %b.name, reason = %b.reason, "ApplicationDefinition cannot be served");
            }
        }
        (self.on_change)(&broken);
        self.reported = broken;
        resources.extend(self.fixed.clone());
        tracing::info!(kinds = resources.len(), "served resources updated");
        let served: Vec<String> = resources.keys().map(|(g, r)| format!("{r}.{g}")).collect();
        self.catalog.replace(resources);
        self.synced.notify_one();
        announce(self.backend, &served).await;
    }
}

/// Annotation on our APIServices that changes with the served set, and with every start of the server.
pub const SERVED_HASH_ANNOTATION: &str = "apps.cozystack.io/served-resources-hash";

/// Touches our APIServices when the served set changes: kube-apiserver's aggregator re-reads discovery and
/// OpenAPI of an APIService when the object changes, instead of at its next periodic refresh a minute later.
/// The value also differs per process: a restarted server (perhaps another version, with other OpenAPI
/// documents) must be re-read too, or clients follow document hashes it no longer serves for up to a minute.
async fn announce(backend: &Backend, served: &[String]) {
    use sha2::Digest;
    static STARTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let started = STARTED.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("{}-{}", std::process::id(), now.as_nanos())
    });
    let hash = hex::encode(&sha2::Sha256::digest(format!("{started}|{}", served.join(",")).as_bytes())[..8]);
    let patch = serde_json::json!({"metadata": {"annotations": {SERVED_HASH_ANNOTATION: hash}}});
    for group in [apis::APPS_GROUP, apis::CORE_GROUP, apis::SDN_GROUP] {
        let name = format!("{}.{group}", apis::VERSION);
        match backend.merge_patch(&API_SERVICES, "", &name, &patch).await {
            Ok(_) => {}
            // Not registered yet (first start): the aggregator reads discovery when it is.
            Err(e) if e.code() == Some(404) => {}
            Err(e) => tracing::warn!(apiservice = %name, error = %e, "could not announce the new served set"),
        }
    }
}

fn parse(obj: &Value) -> Option<ApplicationDefinition> {
    match serde_json::from_value::<ApplicationDefinition>(obj.clone()) {
        Ok(d) => Some(d),
        Err(e) => {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
            tracing::error!(definition = %name, error = %e, "ApplicationDefinition does not decode");
            None
        }
    }
}

#[cfg(test)]
#[path = "definitions_tests.rs"]
mod tests;
