//! The in-memory authorization index behind TenantNamespace: who may see which tenant namespace, kept current
//! by watches on Namespaces, RoleBindings, ClusterRoleBindings, Roles and ClusterRoles (as OpenShift's project
//! cache does), so that listing a caller's namespaces costs the size of the answer, never a
//! SubjectAccessReview per namespace or per group.
//!
//! # Who sees a tenant namespace
//!
//! A caller sees the namespace `tenant-x` when it exists and
//! - a RoleBinding in `tenant-x` names the caller (its user name, one of its groups, or its ServiceAccount,
//!   which is the user `system:serviceaccount:<ns>:<name>`) and the bound Role or ClusterRole allows `get`
//!   (or `*`) on some resource of `apps.cozystack.io` (or of `*`), i.e. the caller may read applications of
//!   that tenant, or
//! - a ClusterRoleBinding with such a ClusterRole names the caller (then every tenant namespace), or
//! - the caller is in `system:masters` or `cozystack-cluster-admin` (every tenant namespace).
//!
//! Upstream counts any RoleBinding in the namespace that names the caller, whatever its role, and ignores
//! ClusterRoleBindings; a binding of an unrelated role (say, to read ConfigMaps) then reveals a tenant. Here
//! the role must grant what the tenant's own `view` role grants, and roles are tracked: a role that loses or
//! gains the rule hides or reveals every namespace its bindings cover. Aggregated ClusterRoles count with the
//! rules the aggregation controller wrote into them.
//!
//! # Consistency
//!
//! The index is a cache. Its resourceVersion ([`RbacIndex::latest_rv`]) is the highest one seen on any watched
//! object, so it moves whenever access may have changed; every change is kept in a bounded history so that a
//! watch can resume from a list's resourceVersion ([`state::IndexState::replay_since`]). Requests wait for the
//! first full sync of all five watches.
//!
//! - [`rules`]: which roles grant visibility, binding subjects, the served TenantNamespace object.
//! - [`state`]: the index itself, pure and synchronous.
//! - [`watch`]: the watches that feed it.

pub mod rules;
pub mod state;
pub mod watch;

#[cfg(test)]
mod tests;

use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use tokio::sync::broadcast;

use self::state::{Batch, Change, IndexState};

/// Batches a live watch may fall behind by before it must resynchronise.
const LIVE_BUFFER: usize = 1024;

/// The shared index: its state behind a lock, and the stream of changes for live watches.
pub struct RbacIndex {
    state: RwLock<IndexState>,
    batches: broadcast::Sender<Arc<Batch>>,
    synced: tokio::sync::watch::Sender<bool>,
    latest: tokio::sync::watch::Sender<u64>,
}

impl RbacIndex {
    /// An empty, unsynced index.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: RwLock::new(IndexState::default()),
            batches: broadcast::channel(LIVE_BUFFER).0,
            synced: tokio::sync::watch::channel(false).0,
            latest: tokio::sync::watch::channel(0).0,
        })
    }

    /// Reads the state. Never hold the guard across an await.
    pub fn read(&self) -> RwLockReadGuard<'_, IndexState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one event whose object had `source_rv` and publishes the changes it caused.
    pub fn apply(&self, source_rv: u64, f: impl FnOnce(&mut IndexState) -> Vec<Change>) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let changes = f(&mut state);
        // Published under the write lock, so a watch that subscribes under the read lock misses nothing.
        if let Some(batch) = state.record(source_rv, changes) {
            let _ = self.batches.send(batch);
        }
        let latest = state.latest_rv();
        self.latest.send_if_modified(|rv| std::mem::replace(rv, latest) != latest);
    }

    /// Marks the first full sync of every watch.
    pub fn mark_synced(&self) {
        self.state.write().unwrap_or_else(|e| e.into_inner()).mark_synced();
        self.synced.send_replace(true);
    }

    /// Live batches from now on; pass the read guard the caller's snapshot came from, so that the two agree.
    pub fn subscribe(&self, _snapshot: &IndexState) -> broadcast::Receiver<Arc<Batch>> {
        self.batches.subscribe()
    }

    /// The index's resourceVersion.
    pub fn latest_rv(&self) -> u64 {
        *self.latest.borrow()
    }

    /// True once every watch listed its resources.
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits for the first full sync.
    pub async fn synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Waits up to `timeout` for the first full sync; false when it did not happen.
    pub async fn wait_synced(&self, timeout: Duration) -> bool {
        self.is_synced() || tokio::time::timeout(timeout, self.synced()).await.is_ok()
    }

    /// Waits up to `timeout` for the index to reach resourceVersion `rv`; false when it did not.
    pub async fn wait_for_rv(&self, rv: u64, timeout: Duration) -> bool {
        let mut rx = self.latest.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|l| *l >= rv)).await.is_ok_and(|r| r.is_ok())
    }
}
