//! State of cozystack-api: the backend client, watch caches and one registry per served resource.
//!
//! - [`registry`]: the verbs a served resource offers, the options they take and the events they stream.
//! - [`catalog`]: which resources are served right now, swapped atomically when definitions change.
//! - [`error`]: the crate's error type.
//! - [`admission`]: validating admission plugins that run on every write.
//! - [`app_status`]: keeps what applications show of their monitors and Services on their HelmReleases.
//! - [`backend`]: raw JSON access to the backing kube-apiserver, behind the [`backend::BackendClient`] trait
//!   (with an in-memory implementation for tests under the `testing` feature).
//! - [`projection`], [`store`]: the hooks a resource writes, and the verbs written once over them.
//! - [`resources`]: one registry per served resource.
//! - [`definitions`]: the ApplicationDefinition watcher that keeps the catalog current.
//! - [`rbac_index`]: who may see which tenant namespace, kept current by RBAC watches.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod admission;
pub mod app_status;
pub mod backend;
pub mod batch;
pub mod catalog;
pub mod definitions;
pub mod error;
pub mod projection;
pub mod rbac_index;
pub mod registry;
pub mod resources;
pub mod store;
pub mod watch_cache;

#[cfg(test)]
mod tests;

pub use error::StorageError;
