//! Validating admission: the plugins that may refuse a write after the resource's own checks, before anything
//! reaches the backend. The chain is built by the HTTP side and travels with each request, so more plugins
//! (policies, webhooks) join it without touching the registries.

use std::sync::Arc;

use apis::user::UserInfo;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::StorageError;
use crate::registry::ResourceInfo;

/// The write being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new object.
    Create,
    /// A change to an existing object.
    Update,
    /// A deletion.
    Delete,
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
