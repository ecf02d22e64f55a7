//! Validating admission: the plugins that may refuse a write after the resource's own checks, before anything
//! reaches the backend. The chain is built by the HTTP side and travels with each request: the built-in tenant
//! rules first, then the cluster's ValidatingAdmissionPolicies ([`policies`]) and validating webhooks, the
//! order kube-apiserver runs them in for a custom resource.

pub mod mutating_policies;
pub mod policies;

use std::sync::{Arc, Mutex};

use apis::user::UserInfo;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::StorageError;
use crate::registry::ResourceInfo;

pub use apis::admission::Operation;

/// The warnings admission adds to a response, whether the request succeeds or not.
#[derive(Debug, Clone, Default)]
pub struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    /// Adds one.
    pub fn push(&self, warning: String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(warning);
    }

    /// Every warning so far.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Everything a plugin may look at.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionRequest<'a> {
    /// What is being done.
    pub operation: Operation,
    /// The resource.
    pub resource: &'a ResourceInfo,
    /// Who does it.
    pub user: &'a UserInfo,
    /// The namespace ("" for cluster-scoped resources).
    pub namespace: &'a str,
    /// The object's name.
    pub name: &'a str,
    /// The object as it would be written (None on delete).
    pub object: Option<&'a Value>,
    /// The object as it is (None on create).
    pub old_object: Option<&'a Value>,
    /// True for dry-run requests (plugins with side effects must skip them).
    pub dry_run: bool,
    /// The options of the request, as policies and webhooks see them (CreateOptions, UpdateOptions, DeleteOptions).
    pub options: Option<&'a Value>,
    /// Where warnings go.
    pub warnings: &'a Warnings,
    /// The structure of the kind's objects (for MutatingAdmissionPolicies' apply configurations); None when
    /// unknown, every node's shape then deduced from its value.
    pub object_type: Option<&'a apis::apply::ObjectType>,
}

impl<'a> AdmissionRequest<'a> {
    /// The request as policies and webhooks see it.
    pub fn attributes(&self) -> apis::admission::Attributes<'a> {
        let r = self.resource;
        apis::admission::Attributes {
            operation: self.operation,
            group: &r.group,
            version: &r.version,
            resource: &r.plural,
            subresource: "",
            kind: &r.kind,
            namespaced: r.namespaced,
            namespace: self.namespace,
            name: self.name,
            object: self.object,
            old_object: self.old_object,
            user: self.user,
            dry_run: self.dry_run,
            options: self.options,
        }
    }
}

/// An owned copy of a request, for evaluating policies off the runtime's threads (their authorizer may block).
pub(crate) struct OwnedRequest {
    operation: Operation,
    resource: ResourceInfo,
    user: UserInfo,
    namespace: String,
    name: String,
    object: Option<Value>,
    old_object: Option<Value>,
    dry_run: bool,
    options: Option<Value>,
    warnings: Warnings,
}

impl OwnedRequest {
    /// A copy of `request`; its object is left out unless `with_object` (a mutation passes the object apart).
    pub(crate) fn of(request: &AdmissionRequest<'_>, with_object: bool) -> Self {
        Self {
            operation: request.operation,
            resource: request.resource.clone(),
            user: request.user.clone(),
            namespace: request.namespace.to_string(),
            name: request.name.to_string(),
            object: request.object.filter(|_| with_object).cloned(),
            old_object: request.old_object.cloned(),
            dry_run: request.dry_run,
            options: request.options.cloned(),
            warnings: request.warnings.clone(),
        }
    }

    /// The request as policies see it.
    pub(crate) fn attributes(&self) -> apis::admission::Attributes<'_> {
        AdmissionRequest {
            operation: self.operation,
            resource: &self.resource,
            user: &self.user,
            namespace: &self.namespace,
            name: &self.name,
            object: self.object.as_ref(),
            old_object: self.old_object.as_ref(),
            dry_run: self.dry_run,
            options: self.options.as_ref(),
            warnings: &self.warnings,
            object_type: None,
        }
        .attributes()
    }
}

/// A validating admission plugin.
pub trait AdmissionPlugin: Send + Sync {
    /// Its name, used in messages and logs.
    fn name(&self) -> &'static str;

    /// Refuses the request with an error (403 or 422 Status naming the rule), or lets it pass.
    fn validate<'a>(&'a self, request: &'a AdmissionRequest<'a>) -> BoxFuture<'a, Result<(), StorageError>>;
}

/// What the mutating plugins of one request know of each other, for reinvocation: the hooks with
/// reinvocationPolicy IfNeeded that ran, and whether the object changed after one of them did.
#[derive(Debug, Default)]
pub struct Reinvocation {
    /// 1, or 2 when the chain runs again.
    pub round: u32,
    /// Keys of the IfNeeded hooks called so far.
    pub if_needed: std::collections::BTreeSet<String>,
    /// True when a hook changed the object after an IfNeeded hook (another one) had run.
    pub changed_after_if_needed: bool,
}

impl apis::admission::mutating::Reinvoker for Reinvocation {
    fn should_call(&self, key: &str) -> bool {
        Reinvocation::should_call(self, key)
    }

    fn ran(&mut self, key: &str, if_needed: bool, changed: bool) {
        Reinvocation::ran(self, key, if_needed, changed)
    }
}

impl Reinvocation {
    /// Records that hook `key` ran and whether it changed the object; false in round 2 for hooks not to
    /// re-call is the caller's to check with [`Reinvocation::should_call`].
    pub fn ran(&mut self, key: &str, if_needed: bool, changed: bool) {
        if changed && self.if_needed.iter().any(|k| k != key) {
            self.changed_after_if_needed = true;
        }
        if if_needed {
            self.if_needed.insert(key.to_string());
        }
    }

    /// True when hook `key` is called in this round: always in the first, only IfNeeded hooks that ran in the
    /// second.
    pub fn should_call(&self, key: &str) -> bool {
        self.round <= 1 || self.if_needed.contains(key)
    }
}

/// A mutating admission plugin: may change the object (None on delete) or refuse the request.
pub trait MutatingPlugin: Send + Sync {
    /// Its name.
    fn name(&self) -> &'static str;

    /// Admits the request, changing `object` in place.
    fn admit<'a>(
        &'a self,
        request: &'a AdmissionRequest<'a>,
        object: &'a mut Option<Value>,
        reinvocation: &'a mut Reinvocation,
    ) -> BoxFuture<'a, Result<(), StorageError>>;
}

/// The plugins, run in order; the first refusal wins.
#[derive(Clone, Default)]
pub struct AdmissionChain {
    mutating: Vec<Arc<dyn MutatingPlugin>>,
    plugins: Vec<Arc<dyn AdmissionPlugin>>,
}

impl AdmissionChain {
    /// A chain of validating `plugins`.
    pub fn new(plugins: Vec<Arc<dyn AdmissionPlugin>>) -> Self {
        Self { mutating: Vec::new(), plugins }
    }

    /// A chain with mutating plugins, run before the kind's own defaulting and validation.
    pub fn with_mutating(mut self, mutating: Vec<Arc<dyn MutatingPlugin>>) -> Self {
        self.mutating = mutating;
        self
    }

    /// Runs the mutating plugins on `object`; once more (re-calling only IfNeeded hooks) when the object changed
    /// after such a hook ran, never a third time. `request.object` is ignored: `object` is the one admitted.
    pub async fn mutate(&self, request: &AdmissionRequest<'_>, object: &mut Option<Value>) -> Result<(), StorageError> {
        if self.mutating.is_empty() {
            return Ok(());
        }
        let mut reinvocation = Reinvocation { round: 1, ..Default::default() };
        for p in &self.mutating {
            p.admit(request, object, &mut reinvocation).await?;
        }
        if reinvocation.changed_after_if_needed {
            reinvocation.round = 2;
            reinvocation.changed_after_if_needed = false;
            for p in &self.mutating {
                p.admit(request, object, &mut reinvocation).await?;
            }
        }
        Ok(())
    }

    /// Names of the plugins in order, mutating ones first.
    pub fn names(&self) -> Vec<&'static str> {
        self.mutating.iter().map(|p| p.name()).chain(self.plugins.iter().map(|p| p.name())).collect()
    }

    /// Runs every plugin.
    pub async fn validate(&self, request: &AdmissionRequest<'_>) -> Result<(), StorageError> {
        for p in &self.plugins {
            p.validate(request).await?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for AdmissionChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AdmissionChain").field(&self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Sets `label` to the number of calls when `if_needed`; always records its calls.
    struct Hook {
        key: &'static str,
        if_needed: bool,
        label: &'static str,
        calls: std::sync::atomic::AtomicU32,
    }

    impl MutatingPlugin for Hook {
        fn name(&self) -> &'static str {
            self.key
        }

        fn admit<'a>(&'a self, _: &'a AdmissionRequest<'a>, object: &'a mut Option<Value>, r: &'a mut Reinvocation) -> BoxFuture<'a, Result<(), StorageError>> {
            Box::pin(async move {
                if !r.should_call(self.key) {
                    return Ok(());
                }
                self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let obj = object.as_mut().unwrap();
                let before = obj.clone();
                obj["metadata"]["labels"][self.label] = json!("set");
                r.ran(self.key, self.if_needed, *obj != before);
                Ok(())
            })
        }
    }

    fn hook(key: &'static str, if_needed: bool, label: &'static str) -> Arc<Hook> {
        Arc::new(Hook { key, if_needed, label, calls: Default::default() })
    }

    #[tokio::test]
    async fn if_needed_hooks_run_again_once_when_a_later_hook_changed_the_object() {
        let (first, second) = (hook("first", true, "a"), hook("second", false, "b"));
        let chain = AdmissionChain::new(vec![]).with_mutating(vec![first.clone(), second.clone()]);
        let info = ResourceInfo::tenant_namespace();
        let (user, warnings) = (UserInfo::default(), Warnings::default());
        let req = AdmissionRequest {
            operation: Operation::Create,
            resource: &info,
            user: &user,
            namespace: "ns",
            name: "x",
            object: None,
            old_object: None,
            dry_run: false,
            options: None,
            warnings: &warnings,
            object_type: None,
        };
        let mut obj = Some(json!({"metadata": {}}));
        chain.mutate(&req, &mut obj).await.unwrap();
        // `second` changed the object after the IfNeeded `first` ran: `first` alone runs again, once.
        assert_eq!(first.calls.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert_eq!(second.calls.load(std::sync::atomic::Ordering::Relaxed), 1);
        // Nothing changes after an IfNeeded hook: no second round.
        let (first, second) = (hook("first", true, "a"), hook("second", false, "b"));
        let chain = AdmissionChain::new(vec![]).with_mutating(vec![second.clone(), first.clone()]);
        let mut obj = Some(json!({"metadata": {}}));
        chain.mutate(&req, &mut obj).await.unwrap();
        assert_eq!(first.calls.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(obj.unwrap()["metadata"]["labels"], json!({"a": "set", "b": "set"}));
    }
}
