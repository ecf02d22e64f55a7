//! The cluster's ValidatingAdmissionPolicies and bindings, watched live, run on every write of a served
//! resource. Policies, bindings, namespaces (for namespaceSelector and namespaceObject) and each paramKind
//! are watch caches; a policy is compiled once per resourceVersion.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apis::admission::cel::CelAuthorizer;
use apis::admission::validating::{self, Binding, Check, ParamKind, ParamSource, Policy};
use apis::selector::LabelSelector;
use apis::status::Status;
use apis::user::UserInfo;
use futures::future::BoxFuture;
use serde_json::Value;

use super::{AdmissionPlugin, AdmissionRequest};
use crate::StorageError;
use crate::backend::{Backend, BackingResource};
use crate::watch_cache::WatchCache;

/// admissionregistration.k8s.io/v1 ValidatingAdmissionPolicies.
pub const POLICIES: BackingResource =
    BackingResource { group: "admissionregistration.k8s.io", version: "v1", plural: "validatingadmissionpolicies", namespaced: false };
/// admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBindings.
pub const BINDINGS: BackingResource =
    BackingResource { group: "admissionregistration.k8s.io", version: "v1", plural: "validatingadmissionpolicybindings", namespaced: false };
/// Namespaces.
pub const NAMESPACES: BackingResource = BackingResource { group: "", version: "v1", plural: "namespaces", namespaced: false };

/// How long a request waits for the first list of the configuration before it is refused.
pub(crate) const SYNC_WAIT: Duration = Duration::from_secs(5);
/// How long a request waits for the first list of a paramKind's objects.
const PARAM_WAIT: Duration = Duration::from_secs(1);

/// Finds the resource of a kind (`apiVersion`, `kind`), as discovery tells it.
pub trait KindResolver: Send + Sync {
    /// The resource serving `kind`; an error when none does.
    fn resolve<'a>(&'a self, api_version: &'a str, kind: &'a str) -> BoxFuture<'a, Result<BackingResource, String>>;
}

/// Makes the `authorizer` of a request's expressions: checks on behalf of `user`.
pub trait AuthorizerFactory: Send + Sync {
    /// The authorizer of `user`.
    fn for_user(&self, user: &UserInfo) -> Arc<dyn CelAuthorizer>;
}

/// Receives the outcome of every (policy, binding) evaluated, for metrics.
pub type CheckObserver = Arc<dyn Fn(&[Check]) + Send + Sync>;

/// Compiled objects of one watch cache, each kept while its resourceVersion stays.
pub(crate) struct Compiled<T> {
    by_name: Mutex<HashMap<String, (u64, Arc<T>)>>,
}

impl<T> Compiled<T> {
    pub(crate) fn new() -> Self {
        Self { by_name: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn current(&self, cache: &WatchCache, make: impl Fn(&Value) -> T) -> Vec<Arc<T>> {
        let (entries, _) = cache.objects();
        let mut known = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(entries.len());
        let mut seen = HashMap::with_capacity(entries.len());
        for e in entries {
            let (_, name) = e.key();
            let item = match known.get(&name) {
                Some((rv, item)) if *rv == e.rv => item.clone(),
                _ => Arc::new(make(&e.object)),
            };
            seen.insert(name, (e.rv, item.clone()));
            out.push(item);
        }
        *known = seen;
        out
    }
}

/// The ValidatingAdmissionPolicy plugin.
pub struct ValidatingPolicies {
    policies: Arc<WatchCache>,
    bindings: Arc<WatchCache>,
    namespaces: Arc<WatchCache>,
    compiled_policies: Compiled<Policy>,
    compiled_bindings: Compiled<Binding>,
    params: ParamCaches,
    authorizer: Option<Arc<dyn AuthorizerFactory>>,
    observer: Option<CheckObserver>,
}

impl ValidatingPolicies {
    /// Watches the policies of the cluster behind `backend`.
    pub fn new(backend: Backend, resolver: Arc<dyn KindResolver>, authorizer: Option<Arc<dyn AuthorizerFactory>>, observer: Option<CheckObserver>) -> Self {
        Self {
            policies: backend.watch_cache(&POLICIES, ""),
            bindings: backend.watch_cache(&BINDINGS, ""),
            namespaces: backend.watch_cache_of_whole_objects(&NAMESPACES, ""),
            params: ParamCaches::new(backend, resolver),
            compiled_policies: Compiled::new(),
            compiled_bindings: Compiled::new(),
            authorizer,
            observer,
        }
    }

    /// Returns once policies and bindings are listed.
    pub async fn synced(&self) {
        tokio::join!(self.policies.synced(), self.bindings.synced());
    }

    /// The policies with their bindings, as they are now.
    fn pairs(&self) -> Vec<(Arc<Policy>, Vec<Arc<Binding>>)> {
        let policies = self.compiled_policies.current(&self.policies, Policy::from_json);
        let bindings = self.compiled_bindings.current(&self.bindings, Binding::from_json);
        validating::pair(&policies, &bindings)
    }

    /// The params of every kind the policies name, as they are now.
    async fn params(&self, pairs: &[(Arc<Policy>, Vec<Arc<Binding>>)]) -> Params {
        let wanted = pairs.iter().filter(|(_, bindings)| bindings.iter().any(|b| b.param_ref.is_some())).filter_map(|(p, _)| p.param_kind.clone()).collect();
        self.params.params(wanted).await
    }
}

/// The watch caches of the paramKinds policies name, started when a policy first needs one.
pub(crate) struct ParamCaches {
    backend: Backend,
    resolver: Arc<dyn KindResolver>,
    kinds: Mutex<HashMap<ParamKind, (BackingResource, Arc<WatchCache>)>>,
}

impl ParamCaches {
    pub(crate) fn new(backend: Backend, resolver: Arc<dyn KindResolver>) -> Self {
        Self { backend, resolver, kinds: Mutex::new(HashMap::new()) }
    }

    /// The objects of each kind of `wanted`, as they are now.
    pub(crate) async fn params(&self, wanted: Vec<ParamKind>) -> Params {
        let mut out = Params::default();
        for kind in wanted {
            if out.0.contains_key(&kind) {
                continue;
            }
            let known = self.kinds.lock().unwrap_or_else(|e| e.into_inner()).get(&kind).cloned();
            let found = match known {
                Some(k) => Ok(k),
                None => match self.resolver.resolve(&kind.api_version, &kind.kind).await {
                    Ok(r) => {
                        let cache = self.backend.watch_cache_of_whole_objects(&r, "");
                        self.kinds.lock().unwrap_or_else(|e| e.into_inner()).insert(kind.clone(), (r.clone(), cache.clone()));
                        Ok((r, cache))
                    }
                    Err(e) => Err(e),
                },
            };
            let entry = match found {
                Err(e) => Err(e),
                Ok((r, cache)) => {
                    let _ = tokio::time::timeout(PARAM_WAIT, cache.synced()).await;
                    if cache.is_synced() {
                        Ok((r.namespaced, cache.objects().0.iter().map(|e| e.object.clone()).collect()))
                    } else {
                        Err(format!("the objects of paramKind '{}' are not listed yet", kind.describe()))
                    }
                }
            };
            out.0.insert(kind, entry);
        }
        out
    }
}

/// How long a request waits for the Namespaces cache to see its namespace (one just created, say).
const NAMESPACE_WAIT: Duration = Duration::from_secs(1);

/// The Namespace `name` from the Namespaces watch cache, waiting briefly for it to appear: kube-apiserver reads a
/// namespace its informer has not seen yet with a live GET.
pub async fn namespace_object(namespaces: &WatchCache, name: &str) -> Option<Value> {
    let find = || namespaces.objects().0.iter().find(|e| e.key().1 == name).map(|e| e.object.clone());
    let mut changes = namespaces.subscribe();
    if let Some(ns) = find() {
        return Some(ns);
    }
    let deadline = tokio::time::Instant::now() + NAMESPACE_WAIT;
    while tokio::time::timeout_at(deadline, changes.changed()).await.is_ok_and(|r| r.is_ok()) {
        if let Some(ns) = find() {
            return Some(ns);
        }
    }
    find()
}

/// The params of one request, by kind: namespaced or not, and every object.
#[derive(Default)]
pub(crate) struct Params(HashMap<ParamKind, Result<(bool, Vec<Value>), String>>);

impl ParamSource for Params {
    fn namespaced(&self, kind: &ParamKind) -> Result<bool, String> {
        match self.0.get(kind) {
            Some(Ok((namespaced, _))) => Ok(*namespaced),
            Some(Err(e)) => Err(e.clone()),
            None => Err(format!("no such paramKind '{}'", kind.describe())),
        }
    }

    fn find(&self, kind: &ParamKind, namespace: &str, name: Option<&str>, selector: &LabelSelector) -> Result<Vec<Value>, String> {
        let Some(Ok((_, objects))) = self.0.get(kind) else { return Err(self.namespaced(kind).err().unwrap_or_default()) };
        let text = |o: &Value, p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        Ok(objects
            .iter()
            .filter(|o| text(o, "/metadata/namespace") == namespace)
            .filter(|o| match name {
                Some(n) => text(o, "/metadata/name") == n,
                None => selector.matches(&apis::admission::matching::labels_of(Some(o))),
            })
            .cloned()
            .collect())
    }
}

impl AdmissionPlugin for ValidatingPolicies {
    fn name(&self) -> &'static str {
        "ValidatingAdmissionPolicy"
    }

    fn validate<'a>(&'a self, request: &'a AdmissionRequest<'a>) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            if !(self.policies.is_synced() && self.bindings.is_synced()) && tokio::time::timeout(SYNC_WAIT, self.synced()).await.is_err() {
                let r = request.resource;
                return Err(Status::forbidden(&r.group, &r.plural, request.name, "not yet ready to handle request").into());
            }
            let pairs = self.pairs();
            if pairs.is_empty() {
                return Ok(());
            }
            let params = self.params(&pairs).await;
            let namespace = if request.resource.namespaced {
                if !self.namespaces.is_synced() {
                    let _ = tokio::time::timeout(SYNC_WAIT, self.namespaces.synced()).await;
                }
                namespace_object(&self.namespaces, request.namespace).await
            } else {
                None
            };
            let authorizer = self.authorizer.as_ref().map(|f| f.for_user(request.user));
            // Evaluation may block on the authorizer's reviews: it runs off the runtime's threads.
            let (resource, user) = (request.resource.clone(), request.user.clone());
            let (object, old_object, options) = (request.object.cloned(), request.old_object.cloned(), request.options.cloned());
            let (operation, ns, name, dry_run) = (request.operation, request.namespace.to_string(), request.name.to_string(), request.dry_run);
            let verdict = tokio::task::spawn_blocking(move || {
                let a = apis::admission::Attributes {
                    operation,
                    group: &resource.group,
                    version: &resource.version,
                    resource: &resource.plural,
                    subresource: "",
                    kind: &resource.kind,
                    namespaced: resource.namespaced,
                    namespace: &ns,
                    name: &name,
                    object: object.as_ref(),
                    old_object: old_object.as_ref(),
                    user: &user,
                    dry_run,
                    options: options.as_ref(),
                };
                validating::evaluate(&pairs, &a, namespace.as_ref(), &params, authorizer)
            })
            .await
            .map_err(|e| StorageError::Internal(format!("policy evaluation failed: {e}")))?;
            if let Some(observe) = &self.observer {
                observe(&verdict.checks);
            }
            for w in verdict.warnings {
                request.warnings.push(w);
            }
            match verdict.denial {
                Some(status) => Err(status.into()),
                None => Ok(()),
            }
        })
    }
}
