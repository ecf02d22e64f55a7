//! The cluster's MutatingAdmissionPolicies and bindings, watched live, run on every create and update of a
//! served resource in the mutating stage, before the mutating webhooks, as kube-apiserver runs them for a custom
//! resource. Namespaces and paramKinds come from the same kind of watch caches as for the validating policies.

use std::sync::Arc;

use apis::admission::mutating::{self, Check, Policy};
use apis::admission::validating::Binding;
use apis::apply::ObjectType;
use apis::status::Status;
use futures::future::BoxFuture;
use serde_json::Value;

use super::policies::{AuthorizerFactory, Compiled, KindResolver, NAMESPACES, ParamCaches, SYNC_WAIT, namespace_object};
use super::{AdmissionRequest, MutatingPlugin, Reinvocation};
use crate::StorageError;
use crate::backend::{Backend, BackingResource};
use crate::watch_cache::WatchCache;

/// admissionregistration.k8s.io/v1 MutatingAdmissionPolicies.
pub const POLICIES: BackingResource =
    BackingResource { group: "admissionregistration.k8s.io", version: "v1", plural: "mutatingadmissionpolicies", namespaced: false };
/// admissionregistration.k8s.io/v1 MutatingAdmissionPolicyBindings.
pub const BINDINGS: BackingResource =
    BackingResource { group: "admissionregistration.k8s.io", version: "v1", plural: "mutatingadmissionpolicybindings", namespaced: false };

/// Receives the outcome of every mutation run, for metrics.
pub type MutationObserver = Arc<dyn Fn(&[Check]) + Send + Sync>;

/// The MutatingAdmissionPolicy plugin.
pub struct MutatingPolicies {
    policies: Arc<WatchCache>,
    bindings: Arc<WatchCache>,
    namespaces: Arc<WatchCache>,
    compiled_policies: Compiled<Policy>,
    compiled_bindings: Compiled<Binding>,
    params: ParamCaches,
    authorizer: Option<Arc<dyn AuthorizerFactory>>,
    observer: Option<MutationObserver>,
}

impl MutatingPolicies {
    /// Watches the mutating policies of the cluster behind `backend`.
    pub fn new(backend: Backend, resolver: Arc<dyn KindResolver>, authorizer: Option<Arc<dyn AuthorizerFactory>>, observer: Option<MutationObserver>) -> Self {
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
}

impl MutatingPlugin for MutatingPolicies {
    fn name(&self) -> &'static str {
        "MutatingAdmissionPolicy"
    }

    fn admit<'a>(
        &'a self,
        request: &'a AdmissionRequest<'a>,
        object: &'a mut Option<Value>,
        reinvocation: &'a mut Reinvocation,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            if !(self.policies.is_synced() && self.bindings.is_synced()) && tokio::time::timeout(SYNC_WAIT, self.synced()).await.is_err() {
                let r = request.resource;
                return Err(Status::forbidden(&r.group, &r.plural, request.name, "not yet ready to handle request").into());
            }
            // Nothing to mutate on a delete.
            if object.is_none() {
                return Ok(());
            }
            let policies = self.compiled_policies.current(&self.policies, Policy::from_json);
            let bindings = self.compiled_bindings.current(&self.bindings, Binding::from_json);
            let pairs = mutating::pair(&policies, &bindings);
            if pairs.is_empty() {
                return Ok(());
            }
            let wanted =
                pairs.iter().filter(|(_, bindings)| bindings.iter().any(|b| b.param_ref.is_some())).filter_map(|(p, _)| p.param_kind.clone()).collect();
            let params = self.params.params(wanted).await;
            let namespace = if request.resource.namespaced {
                if !self.namespaces.is_synced() {
                    let _ = tokio::time::timeout(SYNC_WAIT, self.namespaces.synced()).await;
                }
                namespace_object(&self.namespaces, request.namespace).await
            } else {
                None
            };
            let authorizer = self.authorizer.as_ref().map(|f| f.for_user(request.user));
            let object_type = request.object_type.cloned().unwrap_or_else(ObjectType::deduced);
            // Evaluation may block on the authorizer's reviews: it runs off the runtime's threads.
            let (resource, user) = (request.resource.clone(), request.user.clone());
            let (old_object, options) = (request.old_object.cloned(), request.options.cloned());
            let (operation, ns, name, dry_run) = (request.operation, request.namespace.to_string(), request.name.to_string(), request.dry_run);
            let mut working = object.take();
            let mut rounds = std::mem::take(reinvocation);
            let (working, rounds, outcome) = tokio::task::spawn_blocking(move || {
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
                    object: None,
                    old_object: old_object.as_ref(),
                    user: &user,
                    dry_run,
                    options: options.as_ref(),
                };
                let outcome = mutating::evaluate(&pairs, &a, &mut working, namespace.as_ref(), &params, authorizer, &object_type, &mut rounds);
                (working, rounds, outcome)
            })
            .await
            .map_err(|e| StorageError::Internal(format!("policy evaluation failed: {e}")))?;
            *object = working;
            *reinvocation = rounds;
            if let Some(observe) = &self.observer {
                observe(&outcome.checks);
            }
            match outcome.denial {
                None => Ok(()),
                Some(status) => Err((*status).into()),
            }
        })
    }
}
