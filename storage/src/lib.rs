//! State of cozystack-api: the backend client, watch caches and one registry per served resource.
//!
//! - [`registry`]: the verbs a served resource offers, the options they take and the events they stream.
//! - [`catalog`]: which resources are served right now, swapped atomically when definitions change.
//! - [`error`]: the crate's error type.
//! - [`backend`]: raw JSON access to the backing kube-apiserver.
//! - [`projection`], [`store`]: the hooks a resource writes, and the verbs written once over them.
//! - [`resources`]: one registry per served resource.
//! - [`definitions`]: the ApplicationDefinition watcher that keeps the catalog current.
#![deny(missing_docs)]

pub mod backend;
pub mod catalog;
pub mod definitions;
pub mod error;
pub mod projection;
pub mod registry;
pub mod resources;
pub mod store;

pub use error::StorageError;
