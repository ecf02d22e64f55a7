//! Watches ApplicationDefinitions and rebuilds the served set whenever one is added, changed or deleted.
//! A broken definition (bad names, bad annotations, a clashing plural or kind) is reported and skipped; it
//! never affects the other kinds.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use apis::application::{AppKind, ReleaseSettings};
use apis::definition::ApplicationDefinition;
use apis::schema::StructuralSchema;
use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher;

use crate::backend::Backend;
use crate::catalog::{Catalog, Resources};
use crate::resources::application::ApplicationRegistry;
use crate::store::Store;

/// The ApplicationDefinition CRD.
pub fn definition_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("cozystack.io", "v1alpha1", "ApplicationDefinition"), "applicationdefinitions")
}

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

/// Keeps the catalog's application kinds equal to the cluster's definitions. `fixed` holds the resources
/// served regardless of definitions (the core group). `on_change` hears about every rebuild with the broken
/// definitions; `synced` is notified after the first full list.
pub async fn watch_definitions(
    backend: Backend,
    settings: ReleaseSettings,
    catalog: Arc<Catalog>,
    fixed: Resources,
    on_change: OnChange,
    synced: Arc<tokio::sync::Notify>,
) {
    let api: kube::Api<DynamicObject> = kube::Api::all_with(backend.client().clone(), &definition_resource());
    let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()));
    let mut defs: BTreeMap<String, ApplicationDefinition> = BTreeMap::new();
    let mut initial: Option<BTreeMap<String, ApplicationDefinition>> = None;
    let mut reported: Vec<Broken> = Vec::new();
    while let Some(event) = stream.next().await {
        let changed = match event {
            Ok(watcher::Event::Init) => {
                initial = Some(BTreeMap::new());
                false
            }
            Ok(watcher::Event::InitApply(obj)) => {
                if let (Some(init), Some(def)) = (initial.as_mut(), parse(obj)) {
                    init.insert(def.name().to_string(), def);
                }
                false
            }
            Ok(watcher::Event::InitDone) => {
                defs = initial.take().unwrap_or_default();
                true
            }
            Ok(watcher::Event::Apply(obj)) => parse(obj).map(|d| defs.insert(d.name().to_string(), d)).is_some(),
            Ok(watcher::Event::Delete(obj)) => obj.metadata.name.as_ref().map(|n| defs.remove(n)).is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "watching ApplicationDefinitions failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                false
            }
        };
        if !changed {
            continue;
        }
        let (mut resources, broken) = build_registries(&defs, &settings, &backend);
        for b in &broken {
            if !reported.contains(b) {
                tracing::error!(definition = %b.name, reason = %b.reason, "ApplicationDefinition cannot be served");
            }
        }
        on_change(&broken);
        reported = broken;
        resources.extend(fixed.clone());
        tracing::info!(kinds = resources.len(), "served resources updated");
        let served: Vec<String> = resources.keys().map(|(g, r)| format!("{r}.{g}")).collect();
        catalog.replace(resources);
        synced.notify_one();
        announce(&backend, &served).await;
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
    let api: kube::Api<k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService> = kube::Api::all(backend.client().clone());
    let patch = serde_json::json!({"metadata": {"annotations": {SERVED_HASH_ANNOTATION: hash}}});
    for group in [apis::APPS_GROUP, apis::CORE_GROUP] {
        let name = format!("{}.{group}", apis::VERSION);
        match api.patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await {
            Ok(_) => {}
            // Not registered yet (first start): the aggregator reads discovery when it is.
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => tracing::warn!(apiservice = %name, error = %e, "could not announce the new served set"),
        }
    }
}

fn parse(obj: DynamicObject) -> Option<ApplicationDefinition> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let value = serde_json::to_value(&obj).ok()?;
    match serde_json::from_value::<ApplicationDefinition>(value) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::error!(definition = %name, error = %e, "ApplicationDefinition does not decode");
            None
        }
    }
}
