//! The five watches that feed the index (Namespaces, Roles, ClusterRoles, RoleBindings, ClusterRoleBindings),
//! each translating its objects into index entries and replaying a relist as one replacement.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use super::RbacIndex;
use super::rules::{self, Binding, BindingKey, RoleKey, TENANT_PREFIX, TenantNamespace};
use super::state::{Change, IndexState};

/// A watched kind: how its objects enter and leave the index.
trait Indexed: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static {
    /// What the index keeps of one object.
    type Entry: Send;
    /// For logs.
    const WHAT: &'static str;
    /// The entry of an object, or None when the index ignores it.
    fn entry(&self) -> Option<Self::Entry>;
    /// Adds or replaces an entry.
    fn upsert(entry: Self::Entry, s: &mut IndexState) -> Vec<Change>;
    /// Removes the object.
    fn remove(&self, s: &mut IndexState) -> Vec<Change>;
    /// Replaces every entry of the kind.
    fn replace(entries: Vec<Self::Entry>, s: &mut IndexState) -> Vec<Change>;
}

impl Indexed for Namespace {
    type Entry = TenantNamespace;
    const WHAT: &'static str = "Namespaces";
    fn entry(&self) -> Option<TenantNamespace> {
        TenantNamespace::from_namespace(self)
    }
    fn upsert(entry: TenantNamespace, s: &mut IndexState) -> Vec<Change> {
        s.upsert_namespace(entry)
    }
    fn remove(&self, s: &mut IndexState) -> Vec<Change> {
        match self.entry() {
            Some(last) => s.remove_namespace(&last.name.clone(), Some(last)),
            None => vec![],
        }
    }
    fn replace(entries: Vec<TenantNamespace>, s: &mut IndexState) -> Vec<Change> {
        s.replace_namespaces(entries)
    }
}

fn role_key(meta: &kube::api::ObjectMeta) -> Option<RoleKey> {
    let namespace = meta.namespace.clone().filter(|n| n.starts_with(TENANT_PREFIX))?;
    Some(RoleKey::Role { namespace, name: meta.name.clone()? })
}

impl Indexed for Role {
    type Entry = (RoleKey, bool);
    const WHAT: &'static str = "Roles";
    fn entry(&self) -> Option<(RoleKey, bool)> {
        Some((role_key(&self.metadata)?, rules::grants_visibility(self.rules.as_deref().unwrap_or_default())))
    }
    fn upsert((key, grants): (RoleKey, bool), s: &mut IndexState) -> Vec<Change> {
        s.upsert_role(key, grants)
    }
    fn remove(&self, s: &mut IndexState) -> Vec<Change> {
        role_key(&self.metadata).map(|k| s.remove_role(&k)).unwrap_or_default()
    }
    fn replace(entries: Vec<(RoleKey, bool)>, s: &mut IndexState) -> Vec<Change> {
        s.replace_roles(false, entries)
    }
}

impl Indexed for ClusterRole {
    type Entry = (RoleKey, bool);
    const WHAT: &'static str = "ClusterRoles";
    fn entry(&self) -> Option<(RoleKey, bool)> {
        Some((RoleKey::ClusterRole(self.metadata.name.clone()?), rules::grants_visibility(self.rules.as_deref().unwrap_or_default())))
    }
    fn upsert((key, grants): (RoleKey, bool), s: &mut IndexState) -> Vec<Change> {
        s.upsert_role(key, grants)
    }
    fn remove(&self, s: &mut IndexState) -> Vec<Change> {
        self.metadata.name.clone().map(|n| s.remove_role(&RoleKey::ClusterRole(n))).unwrap_or_default()
    }
    fn replace(entries: Vec<(RoleKey, bool)>, s: &mut IndexState) -> Vec<Change> {
        s.replace_roles(true, entries)
    }
}

impl Indexed for RoleBinding {
    type Entry = (BindingKey, Binding);
    const WHAT: &'static str = "RoleBindings";
    fn entry(&self) -> Option<(BindingKey, Binding)> {
        rules::role_binding(self)
    }
    fn upsert((key, binding): (BindingKey, Binding), s: &mut IndexState) -> Vec<Change> {
        s.upsert_binding(key, binding)
    }
    fn remove(&self, s: &mut IndexState) -> Vec<Change> {
        let m = &self.metadata;
        match (m.namespace.clone(), m.name.clone()) {
            (Some(namespace), Some(name)) => s.remove_binding(&BindingKey::RoleBinding { namespace, name }),
            _ => vec![],
        }
    }
    fn replace(entries: Vec<(BindingKey, Binding)>, s: &mut IndexState) -> Vec<Change> {
        s.replace_bindings(false, entries)
    }
}

impl Indexed for ClusterRoleBinding {
    type Entry = (BindingKey, Binding);
    const WHAT: &'static str = "ClusterRoleBindings";
    fn entry(&self) -> Option<(BindingKey, Binding)> {
        rules::cluster_role_binding(self)
    }
    fn upsert((key, binding): (BindingKey, Binding), s: &mut IndexState) -> Vec<Change> {
        s.upsert_binding(key, binding)
    }
    fn remove(&self, s: &mut IndexState) -> Vec<Change> {
        self.metadata.name.clone().map(|n| s.remove_binding(&BindingKey::ClusterRoleBinding(n))).unwrap_or_default()
    }
    fn replace(entries: Vec<(BindingKey, Binding)>, s: &mut IndexState) -> Vec<Change> {
        s.replace_bindings(true, entries)
    }
}

/// Counts the watches that finished their first list; the last one marks the index synced.
struct SyncTracker {
    remaining: AtomicUsize,
}

impl SyncTracker {
    fn done(&self, index: &RbacIndex, what: &str) {
        tracing::debug!(kind = what, "authorization index: first list done");
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            index.mark_synced();
            tracing::info!(namespaces = index.read().namespace_count(), "authorization index synced");
        }
    }
}

fn rv_of<K: kube::Resource>(obj: &K) -> u64 {
    obj.meta().resource_version.as_deref().and_then(|rv| rv.parse().ok()).unwrap_or(0)
}

/// Keeps `index` current with the cluster through `client`; runs until the process ends, retrying failed
/// watches with backoff.
pub async fn run(index: Arc<RbacIndex>, client: kube::Client) {
    let tracker = Arc::new(SyncTracker { remaining: AtomicUsize::new(5) });
    tokio::join!(
        feed::<Namespace>(index.clone(), client.clone(), tracker.clone()),
        feed::<ClusterRole>(index.clone(), client.clone(), tracker.clone()),
        feed::<Role>(index.clone(), client.clone(), tracker.clone()),
        feed::<ClusterRoleBinding>(index.clone(), client.clone(), tracker.clone()),
        feed::<RoleBinding>(index.clone(), client.clone(), tracker.clone()),
    );
}

async fn feed<K: Indexed>(index: Arc<RbacIndex>, client: kube::Client, tracker: Arc<SyncTracker>) {
    let api: kube::Api<K> = kube::Api::all(client);
    let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
    let mut relist: Option<(Vec<K::Entry>, u64)> = None;
    let mut listed = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) => relist = Some((Vec::new(), 0)),
            Ok(watcher::Event::InitApply(obj)) => {
                if let Some((entries, rv)) = relist.as_mut() {
                    *rv = (*rv).max(rv_of(&obj));
                    entries.extend(obj.entry());
                }
            }
            Ok(watcher::Event::InitDone) => {
                let (entries, rv) = relist.take().unwrap_or_default();
                index.apply(0, |s| {
                    s.observe_rv(rv);
                    K::replace(entries, s)
                });
                if !listed {
                    listed = true;
                    tracker.done(&index, K::WHAT);
                }
            }
            Ok(watcher::Event::Apply(obj)) => index.apply(rv_of(&obj), |s| obj.entry().map(|e| K::upsert(e, s)).unwrap_or_default()),
            Ok(watcher::Event::Delete(obj)) => index.apply(rv_of(&obj), |s| obj.remove(s)),
            Err(e) => {
                tracing::warn!(kind = K::WHAT, error = %e, "authorization index: watch failed; retrying")
            }
        }
    }
}
