//! Validating admission: the plugins that may refuse a write after the resource's own checks, before anything
//! reaches the backend. The chain is built by the HTTP side and travels with each request: the built-in tenant
//! rules first, then the cluster's ValidatingAdmissionPolicies ([`policies`]) and validating webhooks, the
//! order kube-apiserver runs them in for a custom resource.

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

/// A validating admission plugin.
pub trait AdmissionPlugin: Send + Sync {
    /// Its name, used in messages and logs.
    fn name(&self) -> &'static str;

    /// Refuses the request with an error (403 or 422 Status naming the rule), or lets it pass.
    fn validate<'a>(&'a self, request: &'a AdmissionRequest<'a>) -> BoxFuture<'a, Result<(), StorageError>>;
}

/// The plugins, run in order; the first refusal wins.
#[derive(Clone, Default)]
pub struct AdmissionChain {
    plugins: Vec<Arc<dyn AdmissionPlugin>>,
}

impl AdmissionChain {
    /// A chain of `plugins`.
    pub fn new(plugins: Vec<Arc<dyn AdmissionPlugin>>) -> Self {
        Self { plugins }
    }

    /// Names of the plugins in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.plugins.iter().map(|p| p.name()).collect()
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
