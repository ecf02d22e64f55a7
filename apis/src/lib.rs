//! Pure data and pure functions of cozystack-api: no I/O, no async runtime.
//!
//! - [`status`]: Kubernetes `Status` objects and field errors, the only error shape clients see.
//! - [`definition`]: ApplicationDefinition, the catalogue entry behind every served application kind.
//! - [`names`]: validation of object names, label keys and values.
//! - [`meta`]: validation of an object's labels and annotations, as for every Kubernetes object.
//! - [`selector`]: label and field selectors: parsing, matching, rewriting.
//! - [`admission`]: admission as kube-apiserver runs it: policy and webhook matching, CEL, verdicts, reviews.
//! - [`application`]: the dynamic Application object and its translation to and from a HelmRelease.
//! - [`tenant`]: tenant naming and the hierarchical quota arithmetic.
//! - [`table`]: meta.k8s.io Table and PartialObjectMetadata shapes.
//! - [`user`]: the caller's identity.
//! - [`schema`]: structural schemas: defaulting, pruning, validation and CEL rules.
//! - [`resource`]: the description of a served resource, and those of the core.cozystack.io resources.
//! - [`option`]: the Option resource's providers, pure functions from backend lists to dropdown items.
//! - [`security_group`]: SecurityGroup (sdn.cozystack.io) and its projection onto a CiliumNetworkPolicy.
//! - [`openapi`]: the OpenAPI v2 and v3 documents of the served resources.
//! - [`yaml`]: YAML request bodies decoded with a bound on their nesting.
//! - [`apply`]: server-side apply and managedFields, as kube-apiserver computes them for CRDs.
//! - [`fixtures`]: where the repository's test fixtures are, for the tests and tools of every crate.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod admission;
pub mod application;
pub mod apply;
pub mod definition;
pub mod fixtures;
pub mod json_patches;
pub mod meta;
pub mod names;
pub mod openapi;
pub mod option;
pub mod resource;
pub mod schema;
pub mod security_group;
pub mod selector;
pub mod status;
pub mod table;
pub mod tenant;
pub mod user;
pub mod yaml;

#[cfg(test)]
mod fuzz_tests;

/// The API group of application kinds.
pub const APPS_GROUP: &str = "apps.cozystack.io";
/// The API group of the tenant resources (TenantNamespace, TenantModule, TenantSecret).
pub const CORE_GROUP: &str = "core.cozystack.io";
/// The API group of SecurityGroups.
pub const SDN_GROUP: &str = "sdn.cozystack.io";
/// The only version served in every group.
pub const VERSION: &str = "v1alpha1";
