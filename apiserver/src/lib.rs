//! The HTTP side of cozystack-api: TLS, filters, authentication, authorization, routing and encoders.
//!
//! - [`run`]: wires everything together from the flags.
//! - [`server`]: shared state and the TLS accept loop.
//! - [`filters`]: the request pipeline, one list in request order.
//! - [`request_info`]: the typed parse of every request path.
//! - [`authn`], [`authz`]: delegated authentication and authorization.
//! - [`admission`]: the built-in admission plugins that keep tenants apart.
//! - [`handlers`]: discovery, health, metrics and the resource verbs.
//! - [`negotiate`], [`body`]: content negotiation and response building.
//! - [`tls`], [`metrics`], [`flags`].
#![deny(missing_docs)]
#![forbid(unsafe_code)]
// A Kubernetes Status is the error of every request step; boxing it would only add allocations on error paths.
#![allow(clippy::result_large_err)]

pub mod admission;
pub mod authn;
pub mod authz;
pub mod body;
pub mod connection;
pub mod filters;
pub mod flags;
pub mod handlers;
pub mod metrics;
pub mod negotiate;
pub mod request_info;
pub mod run;
pub mod server;
pub mod tls;
