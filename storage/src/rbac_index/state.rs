//! The authorization index itself, without I/O or locks: tenant namespaces, roles and bindings in, per-subject
//! namespace sets out, and every change of who sees what as a list of [`Change`]s kept in a bounded history.
//!
//! Layout: `users` and `groups` map a subject to the namespaces it sees, each with the number of effective
//! bindings behind it (a namespace is seen while the count is above zero), plus a count of effective
//! cluster-wide bindings. A binding is effective while its role grants visibility; `by_role` finds the bindings
//! of a role when the role changes. A caller's answer is the union of the sets of its user name and groups, so
//! its cost follows the caller's grants, never the number of namespaces or bindings in the cluster.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use apis::user::UserInfo;

use super::rules::{ALL_ACCESS_GROUPS, Binding, BindingKey, RoleKey, Scope, Subject, TenantNamespace};

/// What happened to a tenant namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceEvent {
    /// It appeared.
    Added,
    /// It changed.
    Modified,
    /// It is gone.
    Deleted,
}

/// One change of what somebody may see.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A tenant namespace was added, modified or deleted; carries its new (or, when deleted, last) state.
    Namespace(NamespaceEvent, Arc<TenantNamespace>),
    /// `subject` gained (`granted`) or lost visibility of `scope`: its first effective binding appeared or
    /// its last one went away.
    Access {
        /// Who.
        subject: Subject,
        /// One namespace, or all of them.
        scope: Scope,
        /// Gained (true) or lost (false).
        granted: bool,
    },
}

/// The changes one backend event caused, stamped for replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The index's resourceVersion once the batch applied; never decreases from batch to batch.
    pub tag: u64,
    /// resourceVersion of the object whose event caused the batch (0 for a relist).
    pub source_rv: u64,
    /// The changes.
    pub changes: Vec<Change>,
}

/// Changes kept for watches that resume from a resourceVersion; older batches are dropped beyond this.
pub const HISTORY_MAX_CHANGES: usize = 65_536;

#[derive(Debug, Default)]
struct Grants {
    namespaces: HashMap<String, u32>,
    cluster: u32,
}

#[derive(Debug, Default)]
struct History {
    batches: VecDeque<Arc<Batch>>,
    changes: usize,
    /// Highest tag among dropped batches.
    dropped_through: Option<u64>,
    /// The resourceVersion at the first full sync; nothing before it is recorded.
    floor: Option<u64>,
}

/// The index's content. Mutations return the changes they caused; [`IndexState::record`] stamps them.
#[derive(Debug, Default)]
pub struct IndexState {
    namespaces: BTreeMap<String, Arc<TenantNamespace>>,
    roles: HashMap<RoleKey, bool>,
    bindings: HashMap<BindingKey, (Binding, bool)>,
    by_role: HashMap<RoleKey, HashSet<BindingKey>>,
    users: HashMap<String, Grants>,
    groups: HashMap<String, Grants>,
    latest_rv: u64,
    history: History,
}

impl IndexState {
    /// The highest resourceVersion seen on any watched object: the resourceVersion of lists and bookmarks.
    pub fn latest_rv(&self) -> u64 {
        self.latest_rv
    }

    /// Notes a resourceVersion seen on a watched object.
    pub fn observe_rv(&mut self, rv: u64) {
        self.latest_rv = self.latest_rv.max(rv);
    }

    // ---- namespaces ----

    /// Adds or replaces a tenant namespace.
    pub fn upsert_namespace(&mut self, ns: TenantNamespace) -> Vec<Change> {
        self.observe_rv(ns.rv);
        let ns = Arc::new(ns);
        let event = match self.namespaces.insert(ns.name.clone(), ns.clone()) {
            None => NamespaceEvent::Added,
            Some(old) if *old == *ns => return vec![],
            Some(_) => NamespaceEvent::Modified,
        };
        vec![Change::Namespace(event, ns)]
    }

    /// Removes a tenant namespace; `last` is its final state as the delete event carries it.
    pub fn remove_namespace(&mut self, name: &str, last: Option<TenantNamespace>) -> Vec<Change> {
        if let Some(l) = &last {
            self.observe_rv(l.rv);
        }
        match self.namespaces.remove(name) {
            None => vec![],
            Some(old) => vec![Change::Namespace(NamespaceEvent::Deleted, last.map(Arc::new).unwrap_or(old))],
        }
    }

    /// Replaces every tenant namespace (after a relist).
    pub fn replace_namespaces(&mut self, items: Vec<TenantNamespace>) -> Vec<Change> {
        let keep: HashSet<&str> = items.iter().map(|n| n.name.as_str()).collect();
        let gone: Vec<String> = self.namespaces.keys().filter(|n| !keep.contains(n.as_str())).cloned().collect();
        let mut changes = Vec::new();
        for name in gone {
            changes.extend(self.remove_namespace(&name, None));
        }
        for ns in items {
            changes.extend(self.upsert_namespace(ns));
        }
        changes
    }

    // ---- roles ----

    /// Adds or replaces a role: whether it grants visibility.
    pub fn upsert_role(&mut self, key: RoleKey, grants: bool) -> Vec<Change> {
        self.set_role(key, Some(grants))
    }

    /// Removes a role; its bindings grant nothing until it comes back.
    pub fn remove_role(&mut self, key: &RoleKey) -> Vec<Change> {
        self.set_role(key.clone(), None)
    }

    /// Replaces every ClusterRole (`cluster`) or every Role (after a relist).
    pub fn replace_roles(&mut self, cluster: bool, items: Vec<(RoleKey, bool)>) -> Vec<Change> {
        let keep: HashSet<&RoleKey> = items.iter().map(|(k, _)| k).collect();
        let gone: Vec<RoleKey> = self.roles.keys().filter(|k| matches!(k, RoleKey::ClusterRole(_)) == cluster && !keep.contains(k)).cloned().collect();
        let mut changes = Vec::new();
        for key in gone {
            changes.extend(self.remove_role(&key));
        }
        for (key, grants) in items {
            changes.extend(self.upsert_role(key, grants));
        }
        changes
    }

    fn set_role(&mut self, key: RoleKey, grants: Option<bool>) -> Vec<Change> {
        let before = self.role_grants(&key);
        match grants {
            Some(g) => self.roles.insert(key.clone(), g),
            None => self.roles.remove(&key),
        };
        let mut changes = Vec::new();
        if before != grants.unwrap_or(false) {
            let mut affected: Vec<BindingKey> = self.by_role.get(&key).map(|s| s.iter().cloned().collect()).unwrap_or_default();
            affected.sort();
            for b in affected {
                self.refresh_binding(&b, &mut changes);
            }
        }
        changes
    }

    fn role_grants(&self, role: &RoleKey) -> bool {
        self.roles.get(role).copied().unwrap_or(false)
    }

    // ---- bindings ----

    /// Adds or replaces a binding.
    pub fn upsert_binding(&mut self, key: BindingKey, binding: Binding) -> Vec<Change> {
        let mut changes = Vec::new();
        let old = match self.bindings.get(&key) {
            Some((b, _)) if *b == binding => return changes,
            Some((b, effective)) => Some((b.clone(), *effective)),
            None => None,
        };
        // Grant the new subjects before revoking the old ones, so a subject both name keeps its access without
        // a revoke and grant in between.
        let effective = self.role_grants(&binding.role);
        if effective {
            self.contribute(&binding, true, &mut changes);
        }
        if let Some((old, old_effective)) = old {
            if old_effective {
                self.contribute(&old, false, &mut changes);
            }
            if old.role != binding.role {
                self.unlink(&old.role, &key);
            }
        }
        self.by_role.entry(binding.role.clone()).or_default().insert(key.clone());
        self.bindings.insert(key, (binding, effective));
        changes
    }

    /// Removes a binding.
    pub fn remove_binding(&mut self, key: &BindingKey) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some((binding, effective)) = self.bindings.remove(key) {
            if effective {
                self.contribute(&binding, false, &mut changes);
            }
            self.unlink(&binding.role, key);
        }
        changes
    }

    /// Replaces every ClusterRoleBinding (`cluster`) or every RoleBinding (after a relist).
    pub fn replace_bindings(&mut self, cluster: bool, items: Vec<(BindingKey, Binding)>) -> Vec<Change> {
        let keep: HashSet<&BindingKey> = items.iter().map(|(k, _)| k).collect();
        let gone: Vec<BindingKey> =
            self.bindings.keys().filter(|k| matches!(k, BindingKey::ClusterRoleBinding(_)) == cluster && !keep.contains(k)).cloned().collect();
        let mut changes = Vec::new();
        for key in gone {
            changes.extend(self.remove_binding(&key));
        }
        for (key, binding) in items {
            changes.extend(self.upsert_binding(key, binding));
        }
        changes
    }

    fn unlink(&mut self, role: &RoleKey, key: &BindingKey) {
        if let Some(set) = self.by_role.get_mut(role) {
            set.remove(key);
            if set.is_empty() {
                self.by_role.remove(role);
            }
        }
    }

    fn refresh_binding(&mut self, key: &BindingKey, changes: &mut Vec<Change>) {
        let Some((binding, effective)) = self.bindings.get(key) else {
            return;
        };
        let now = self.role_grants(&binding.role);
        if now == *effective {
            return;
        }
        let binding = binding.clone();
        if let Some(entry) = self.bindings.get_mut(key) {
            entry.1 = now;
        }
        self.contribute(&binding, now, changes);
    }

    /// Adds (or removes) one binding's grants, noting each subject whose access starts (or ends).
    fn contribute(&mut self, binding: &Binding, add: bool, changes: &mut Vec<Change>) {
        for subject in &binding.subjects {
            let (map, name) = match subject {
                Subject::User(n) => (&mut self.users, n),
                Subject::Group(g) => (&mut self.groups, g),
            };
            let grants = map.entry(name.clone()).or_default();
            let count = match &binding.scope {
                Scope::Namespace(ns) => grants.namespaces.entry(ns.clone()).or_insert(0),
                Scope::Cluster => &mut grants.cluster,
            };
            let before = *count;
            *count = if add { before + 1 } else { before.saturating_sub(1) };
            let flipped = if add { before == 0 } else { before == 1 };
            if let Scope::Namespace(ns) = &binding.scope
                && grants.namespaces.get(ns) == Some(&0)
            {
                grants.namespaces.remove(ns);
            }
            if grants.namespaces.is_empty() && grants.cluster == 0 {
                map.remove(name);
            }
            if flipped {
                changes.push(Change::Access { subject: subject.clone(), scope: binding.scope.clone(), granted: add });
            }
        }
    }

    // ---- queries ----

    fn grants_of<'a>(&'a self, user: &'a UserInfo) -> impl Iterator<Item = &'a Grants> + 'a {
        self.users.get(&user.name).into_iter().chain(user.groups.iter().filter_map(|g| self.groups.get(g)))
    }

    /// True when `user` sees every tenant namespace: a member of an all-access group, or named by an effective
    /// ClusterRoleBinding.
    pub fn all_access(&self, user: &UserInfo) -> bool {
        user.groups.iter().any(|g| ALL_ACCESS_GROUPS.contains(&g.as_str())) || self.grants_of(user).any(|g| g.cluster > 0)
    }

    /// True when `user` may see the namespace `name`, whether or not it exists.
    pub fn has_access(&self, user: &UserInfo, name: &str) -> bool {
        self.all_access(user) || self.grants_of(user).any(|g| g.namespaces.contains_key(name))
    }

    /// The tenant namespace `name`.
    pub fn namespace(&self, name: &str) -> Option<&Arc<TenantNamespace>> {
        self.namespaces.get(name)
    }

    /// The tenant namespace `name` when it exists and `user` may see it.
    pub fn visible_namespace(&self, user: &UserInfo, name: &str) -> Option<&Arc<TenantNamespace>> {
        self.namespaces.get(name).filter(|_| self.has_access(user, name))
    }

    /// Every tenant namespace `user` may see, sorted by name. Costs the size of the caller's grant sets.
    pub fn visible(&self, user: &UserInfo) -> Vec<Arc<TenantNamespace>> {
        if self.all_access(user) {
            return self.namespaces.values().cloned().collect();
        }
        let mut names: Vec<&str> = self.grants_of(user).flat_map(|g| g.namespaces.keys().map(String::as_str)).collect();
        names.sort_unstable();
        names.dedup();
        names.into_iter().filter_map(|n| self.namespaces.get(n).cloned()).collect()
    }

    /// Number of tenant namespaces.
    pub fn namespace_count(&self) -> usize {
        self.namespaces.len()
    }

    // ---- history ----

    /// Marks the first full sync: from now on batches are kept for resuming watches.
    pub fn mark_synced(&mut self) {
        if self.history.floor.is_none() {
            self.history.floor = Some(self.latest_rv);
        }
    }

    /// Stamps the changes of one event whose object had `source_rv`, keeps them for replay once synced, and
    /// returns the batch for live watches (None when nothing changed).
    pub fn record(&mut self, source_rv: u64, changes: Vec<Change>) -> Option<Arc<Batch>> {
        self.observe_rv(source_rv);
        if changes.is_empty() {
            return None;
        }
        let batch = Arc::new(Batch { tag: self.latest_rv, source_rv, changes });
        if self.history.floor.is_some() {
            let h = &mut self.history;
            h.changes += batch.changes.len();
            h.batches.push_back(batch.clone());
            while h.changes > HISTORY_MAX_CHANGES {
                let Some(old) = h.batches.pop_front() else {
                    break;
                };
                h.changes -= old.changes.len();
                h.dropped_through = Some(h.dropped_through.unwrap_or(0).max(old.tag));
            }
        }
        Some(batch)
    }

    /// The batches a client whose state is at resourceVersion `rv` may have missed, or None when the history no
    /// longer reaches back that far. Batches tagged `rv` are included unless caused by the object at `rv`
    /// itself: they may have applied before or after the client's list, and replaying one twice is harmless.
    pub fn replay_since(&self, rv: u64) -> Option<Vec<Arc<Batch>>> {
        let h = &self.history;
        if rv < h.floor? || h.dropped_through.is_some_and(|d| d >= rv) {
            return None;
        }
        Some(h.batches.iter().filter(|b| b.tag >= rv && b.source_rv != rv).cloned().collect())
    }
}
