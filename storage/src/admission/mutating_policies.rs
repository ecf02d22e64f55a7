//! The cluster's MutatingAdmissionPolicies and bindings, watched live, run on every create and update of a
//! served resource in the mutating stage, before the mutating webhooks, as kube-apiserver runs them for a custom
//! resource. Namespaces and paramKinds come from the same kind of watch caches as for the validating policies.

use std::sync::Arc;

use apis::admission::mutating::{self, Check, Policy};
use apis::apply::ObjectType;
use futures::future::BoxFuture;
use serde_json::Value;

use super::policies::{AuthorizerFactory, KindResolver, PolicySources};
use super::{AdmissionRequest, MutatingPlugin, OwnedRequest, Reinvocation};
use crate::StorageError;
use crate::backend::{Backend, BackingResource};

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
    sources: PolicySources<Policy>,
    observer: Option<MutationObserver>,
}

impl MutatingPolicies {
    /// Watches the mutating policies of the cluster behind `backend`.
    pub fn new(backend: Backend, resolver: Arc<dyn KindResolver>, authorizer: Option<Arc<dyn AuthorizerFactory>>, observer: Option<MutationObserver>) -> Self {
        Self { sources: PolicySources::new(backend, &POLICIES, &BINDINGS, resolver, authorizer), observer }
    }

    /// Returns once policies and bindings are listed.
    pub async fn synced(&self) {
        self.sources.synced().await
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
            self.sources.ready(request).await?;
            // Nothing to mutate on a delete.
            if object.is_none() {
                return Ok(());
            }
            let (policies, bindings) = self.sources.current(Policy::from_json);
            let pairs = mutating::pair(&policies, &bindings);
            if pairs.is_empty() {
                return Ok(());
            }
            let params = self.sources.params(&pairs).await;
            let namespace = self.sources.namespace(request).await;
            let authorizer = self.sources.authorizer(request);
            let object_type = request.object_type.cloned().unwrap_or_else(ObjectType::deduced);
            // Evaluation may block on the authorizer's reviews: it runs off the runtime's threads.
            let owned = OwnedRequest::of(request, false);
            let mut working = object.take();
            let mut rounds = std::mem::take(reinvocation);
            let (working, rounds, outcome) = tokio::task::spawn_blocking(move || {
                let a = owned.attributes();
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
