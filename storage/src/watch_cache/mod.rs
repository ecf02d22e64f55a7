//! Watch caches: one per backing resource, fed by one backend watch, holding the current objects and a window of
//! event history. Every served kind over that resource is a label-filtered [`View`] of it; lists and watches of
//! all clients are served from it with kube-apiserver's resourceVersion semantics.
//!
//! - [`config`]: sizes and timings.
//! - [`state`]: objects, history and positions (pure, under the cache's lock).
//! - [`entry`]: one cached object version, with its translations per view.
//! - [`view`]: a kind over the cache; selectors; how a change becomes a client's event.
//! - [`plan`]: what a list or watch asks for, from its options; the Status objects answered.
//! - [`shared`]: events whose objects, and their JSON, are shared by all watchers.
//! - [`cache`]: the cache, its reads and the registry of caches.
//! - [`watcher`]: one client's watch, a cursor into the history.
//! - [`reflector`]: the feeder: list, watch, resume, relist.
//! - [`source`]: where the objects come from.
//! - [`progress`]: the marker object that shows an idle cache is current.
//!
//! Design notes (history window, consistency, fan-out, slow watchers) are in docs/architecture.md.

pub mod cache;
pub mod config;
pub mod entry;
pub mod plan;
pub mod progress;
pub mod reflector;
pub mod shared;
pub mod source;
pub mod state;
pub mod view;
pub mod watcher;

#[cfg(test)]
mod tests;

pub use cache::{CacheStats, WatchCache, WatchCaches};
pub use config::WatchCacheConfig;
pub use shared::{SharedEvent, SharedEventStream, SharedObject};
pub use source::{BackendSource, Source};
pub use view::{Filter, ProjectionView, View};
