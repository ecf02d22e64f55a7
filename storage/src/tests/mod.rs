//! Unit tests of the registries and the generic store over the in-memory backend (`backend::testing`): the
//! verbs, their errors as clients read them, and what each registry writes to the backend.
//!
//! - `store`: get, list, watch, create, update, delete through the generic store.
//! - `errors`: backend Statuses rephrased about the served object.
//! - `application`: what the application registry checks and writes.
//! - `apply`: server-side apply and managedFields through the store.

mod application;
mod apply;
mod errors;
mod store;

use std::sync::Arc;
use std::time::Duration;

use apis::application::{AppKind, ReleaseSettings};
use apis::schema::StructuralSchema;
use serde_json::{Value, json};

use crate::backend::Backend;
use crate::backend::testing::FakeBackend;
use crate::registry::RequestContext;
use crate::resources::application::ApplicationRegistry;
use crate::store::Store;
use crate::watch_cache::WatchCacheConfig;

/// The `--helmrelease-*` defaults.
pub(crate) fn settings() -> ReleaseSettings {
    ReleaseSettings {
        interval: Duration::from_secs(300),
        retry_interval: Duration::from_secs(60),
        install_timeout: Duration::from_secs(600),
        upgrade_timeout: Duration::from_secs(600),
        max_history: 5,
    }
}

/// A backend over `fake` whose caches answer consistent reads from the backend at once when they lag.
pub(crate) fn backend(fake: &Arc<FakeBackend>) -> Backend {
    fake.backend_with(WatchCacheConfig { consistent_read_wait: Duration::from_millis(10), ..Default::default() })
}

/// The registry of the fixture definition `name` (postgres, tenant, ...).
pub(crate) fn application(name: &str, backend: &Backend) -> ApplicationRegistry {
    let def = apis::fixtures::application_definition(name);
    let kind = AppKind::from_definition(&def).expect("a valid fixture");
    let schema = StructuralSchema::new(&def.spec_schema().expect("JSON").expect("a schema")).expect("a structural schema");
    ApplicationRegistry::new(kind, settings(), Arc::new(schema), backend.clone())
}

/// The store of Postgres over `fake`.
pub(crate) fn postgres(fake: &Arc<FakeBackend>) -> Store<ApplicationRegistry> {
    let b = backend(fake);
    Store::new(Arc::new(application("postgres", &b)), b)
}

/// A request in `namespace`.
pub(crate) fn ctx(namespace: &str) -> RequestContext {
    RequestContext { namespace: namespace.into(), ..Default::default() }
}

/// A Postgres named `name` with `spec`.
pub(crate) fn pg(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": name}, "spec": spec})
}
