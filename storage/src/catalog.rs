//! The set of served resources. Readers take a snapshot; writers (the definition watcher) swap in a new one,
//! so discovery, OpenAPI and routing always see one consistent set without locks.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::registry::Registry;

/// Registries by (group, resource plural).
pub type Resources = BTreeMap<(String, String), Arc<dyn Registry>>;

/// One consistent set of served resources.
#[derive(Default)]
pub struct Snapshot {
    /// Registries by (group, resource plural).
    pub resources: Resources,
    /// Grows by one on every change, so that derived documents know when to rebuild.
    pub generation: u64,
}

impl Snapshot {
    /// The registry serving `group`/`resource`.
    pub fn get(&self, group: &str, resource: &str) -> Option<&Arc<dyn Registry>> {
        self.resources.get(&(group.to_string(), resource.to_string()))
    }

    /// The registries of one group, in resource order.
    pub fn group(&self, group: &str) -> impl Iterator<Item = &Arc<dyn Registry>> {
        self.resources.iter().filter(move |((g, _), _)| g == group).map(|(_, r)| r)
    }
}

/// The served resources, swappable at run time.
#[derive(Default)]
pub struct Catalog {
    current: ArcSwap<Snapshot>,
    /// Groups always announced, even when they serve nothing yet.
    pub groups: Vec<String>,
}

impl Catalog {
    /// A catalog announcing `groups`.
    pub fn new(groups: Vec<String>) -> Self {
        Self { current: ArcSwap::from_pointee(Snapshot::default()), groups }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Serves `resources` from now on, replacing the whole set.
    pub fn replace(&self, resources: Resources) {
        let generation = self.current.load().generation + 1;
        self.current.store(Arc::new(Snapshot { resources, generation }));
    }
}
