//! The cluster's ValidatingAdmissionPolicies and bindings, watched live, run on every write of a served
//! resource. Policies, bindings, namespaces (for namespaceSelector and namespaceObject) and each paramKind
//! are watch caches; a policy is compiled once per resourceVersion.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apis::admission::cel::CelAuthorizer;
use apis::admission::validating::{self, Binding, Check, ParamKind, ParamSource, Policy, PolicyBase};
use apis::selector::LabelSelector;
use apis::status::Status;
use apis::user::UserInfo;
use futures::future::BoxFuture;
use serde_json::Value;

use super::{AdmissionPlugin, AdmissionRequest, OwnedRequest};
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
const SYNC_WAIT: Duration = Duration::from_secs(5);
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
struct Compiled<T> {
    by_name: Mutex<HashMap<String, (u64, Arc<T>)>>,
}

impl<T> Compiled<T> {
    fn new() -> Self {
        Self { by_name: Mutex::new(HashMap::new()) }
    }

    fn current(&self, cache: &WatchCache, make: impl Fn(&Value) -> T) -> Vec<Arc<T>> {
        let (entries, _) = cache.objects();
        let mut known = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(entries.len());
        let mut seen = HashMap::with_capacity(entries.len());
        for e in entries {
            let (_, name) = e.key();
            let item = match known.get(&name) {
                Some((rv, item)) if *rv == e.rv => item.clone(),
                _ => Arc::new(make(&e.object())),
            };
            seen.insert(name, (e.rv, item.clone()));
            out.push(item);
        }
        *known = seen;
        out
    }
}

/// What both kinds of admission policy read, each from its own resources: the policies and their bindings
/// (compiled once per resourceVersion), the Namespaces, the params, and the authorizer of expressions.
pub(crate) struct PolicySources<P> {
    policies: Arc<WatchCache>,
    bindings: Arc<WatchCache>,
    namespaces: Arc<WatchCache>,
    compiled_policies: Compiled<P>,
    compiled_bindings: Compiled<Binding>,
    params: ParamCaches,
    authorizer: Option<Arc<dyn AuthorizerFactory>>,
}

impl<P> PolicySources<P> {
    /// Watches `policies` and `bindings` of the cluster behind `backend`.
    pub(crate) fn new(
        backend: Backend,
        policies: &BackingResource,
        bindings: &BackingResource,
        resolver: Arc<dyn KindResolver>,
        authorizer: Option<Arc<dyn AuthorizerFactory>>,
    ) -> Self {
        Self {
            policies: backend.watch_cache(policies, ""),
            bindings: backend.watch_cache(bindings, ""),
            namespaces: backend.watch_cache_of_whole_objects(&NAMESPACES, ""),
            params: ParamCaches::new(backend, resolver),
            compiled_policies: Compiled::new(),
            compiled_bindings: Compiled::new(),
            authorizer,
        }
    }

    /// Returns once policies and bindings are listed.
    pub(crate) async fn synced(&self) {
        tokio::join!(self.policies.synced(), self.bindings.synced());
    }

    /// Ok once policies and bindings are listed; a request that waited [`SYNC_WAIT`] for that is refused, as
    /// kube-apiserver refuses it.
    pub(crate) async fn ready(&self, request: &AdmissionRequest<'_>) -> Result<(), StorageError> {
        if !(self.policies.is_synced() && self.bindings.is_synced()) && tokio::time::timeout(SYNC_WAIT, self.synced()).await.is_err() {
            let r = request.resource;
            return Err(Status::forbidden(&r.group, &r.plural, request.name, "not yet ready to handle request").into());
        }
        Ok(())
    }

    /// The policies and bindings as they are now, compiled by `compile`.
    pub(crate) fn current(&self, compile: impl Fn(&Value) -> P) -> (Vec<Arc<P>>, Vec<Arc<Binding>>) {
        (self.compiled_policies.current(&self.policies, compile), self.compiled_bindings.current(&self.bindings, Binding::from_json))
    }

    /// The params of every paramKind of the policies in `pairs` that one of their bindings refers to, as they
    /// are now.
    pub(crate) async fn params(&self, pairs: &[(Arc<P>, Vec<Arc<Binding>>)]) -> Params
    where
        P: AsRef<PolicyBase>,
    {
        let wanted = pairs
            .iter()
            .filter(|(_, bindings)| bindings.iter().any(|b| b.param_ref.is_some()))
            .filter_map(|(p, _)| (**p).as_ref().param_kind.clone())
            .collect();
        self.params.params(wanted).await
    }

    /// The request's Namespace object, for namespaceObject (None for cluster-scoped resources).
    pub(crate) async fn namespace(&self, request: &AdmissionRequest<'_>) -> Option<Value> {
        if !request.resource.namespaced {
            return None;
        }
        if !self.namespaces.is_synced() {
            let _ = tokio::time::timeout(SYNC_WAIT, self.namespaces.synced()).await;
        }
        namespace_object(&self.namespaces, request.namespace).await
    }

    /// The authorizer of the request's expressions.
    pub(crate) fn authorizer(&self, request: &AdmissionRequest<'_>) -> Option<Arc<dyn CelAuthorizer>> {
        self.authorizer.as_ref().map(|f| f.for_user(request.user))
    }
}

/// The ValidatingAdmissionPolicy plugin.
pub struct ValidatingPolicies {
    sources: PolicySources<Policy>,
    observer: Option<CheckObserver>,
}

impl ValidatingPolicies {
    /// Watches the policies of the cluster behind `backend`.
    pub fn new(backend: Backend, resolver: Arc<dyn KindResolver>, authorizer: Option<Arc<dyn AuthorizerFactory>>, observer: Option<CheckObserver>) -> Self {
        Self { sources: PolicySources::new(backend, &POLICIES, &BINDINGS, resolver, authorizer), observer }
    }

    /// Returns once policies and bindings are listed.
    pub async fn synced(&self) {
        self.sources.synced().await
    }
}

/// The watch caches of the paramKinds policies name, started when a policy first needs one.
struct ParamCaches {
    backend: Backend,
    resolver: Arc<dyn KindResolver>,
    kinds: Mutex<HashMap<ParamKind, (BackingResource, Arc<WatchCache>)>>,
}

impl ParamCaches {
    fn new(backend: Backend, resolver: Arc<dyn KindResolver>) -> Self {
        Self { backend, resolver, kinds: Mutex::new(HashMap::new()) }
    }

    /// The objects of each kind of `wanted`, as they are now.
    async fn params(&self, wanted: Vec<ParamKind>) -> Params {
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
                        Ok((r.namespaced, cache.objects().0.iter().map(|e| e.object()).collect()))
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
    let find = || namespaces.objects().0.iter().find(|e| e.key().1 == name).map(|e| e.object());
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
            self.sources.ready(request).await?;
            let (policies, bindings) = self.sources.current(Policy::from_json);
            let pairs = validating::pair(&policies, &bindings);
            if pairs.is_empty() {
                return Ok(());
            }
            let params = self.sources.params(&pairs).await;
            let namespace = self.sources.namespace(request).await;
            let authorizer = self.sources.authorizer(request);
            // Evaluation may block on the authorizer's reviews: it runs off the runtime's threads.
            let owned = OwnedRequest::of(request, true);
            let verdict = tokio::task::spawn_blocking(move || {
                let a = owned.attributes();
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
