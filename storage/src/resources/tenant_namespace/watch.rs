//! Watches of TenantNamespaces: one view per watch over the index's change stream, remembering what it sent
//! so that a grant becomes ADDED, a revocation DELETED, and a change of a visible namespace MODIFIED.
//!
//! Where a watch starts:
//! - `sendInitialEvents=true`: ADDED for every visible namespace, then a BOOKMARK annotated
//!   `k8s.io/initial-events-end: "true"`, then changes (after waiting briefly for `resourceVersion`, if given).
//! - no `resourceVersion` (or `0`) without `sendInitialEvents`: ADDED for every visible namespace, then
//!   changes; with `sendInitialEvents=false`: changes only.
//! - `resourceVersion=N`: changes after N. The index keeps recent changes, so the namespaces the caller gained,
//!   lost or saw change since N are sent first (ADDED, DELETED, MODIFIED); when the history no longer reaches
//!   N, or a cluster-wide grant of the caller changed since, the watch answers 410 Expired and the client
//!   lists again. An N the index has not reached yet (another server's) starts at the present.
//!
//! With `allowWatchBookmarks`, a BOOKMARK carrying the index's resourceVersion follows every burst of events
//! and comes every bookmark interval (`--watch-bookmark-interval`, as for the watch caches) while the index
//! moves, so a resumed watch rarely needs a relist.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use apis::selector::{FieldSelector, LabelSelector};
use apis::user::UserInfo;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::{RV_WAIT, selected, too_large, too_old};
use crate::StorageError;
use crate::rbac_index::RbacIndex;
use crate::rbac_index::rules::{KIND, Scope, Subject, TenantNamespace};
use crate::rbac_index::state::{Batch, Change, IndexState, NamespaceEvent};
use crate::registry::{EventStream, EventType, ListOptions, WatchEvent};

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Send the current state first; `end_bookmark` closes it with the initial-events-end bookmark.
    Initial { end_bookmark: bool },
    /// Changes from now on.
    Now,
    /// Changes after a resourceVersion.
    After(u64),
}

fn start_of(opts: &ListOptions, requested: Option<u64>) -> Start {
    match (opts.send_initial_events, requested) {
        (Some(true), _) => Start::Initial { end_bookmark: true },
        (Some(false), None) => Start::Now,
        (None, None) => Start::Initial { end_bookmark: false },
        (_, Some(rv)) => Start::After(rv),
    }
}

/// Starts a watch of the namespaces `user` may see; `requested` is the numeric resourceVersion asked for, and
/// an idle watch with bookmarks hears the index's resourceVersion every `bookmark_every` when it moved.
pub(super) async fn start(
    index: Arc<RbacIndex>,
    user: UserInfo,
    opts: &ListOptions,
    requested: Option<u64>,
    bookmark_every: Duration,
) -> Result<EventStream, StorageError> {
    let start = start_of(opts, requested);
    if let (Start::Initial { .. }, Some(rv)) = (start, requested)
        && !index.wait_for_rv(rv, RV_WAIT).await
    {
        return Err(too_large(rv, index.latest_rv()));
    }
    if let Start::After(rv) = start {
        // Give the index a moment to catch up with a client that is ahead of it.
        index.wait_for_rv(rv, RV_WAIT).await;
    }
    let mut view = View::new(index.clone(), user, opts);
    let rx = {
        let state = index.read();
        let rx = index.subscribe(&state);
        view.begin(&state, start)?;
        rx
    };
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + bookmark_every, bookmark_every);
    let stream = futures::stream::unfold((view, rx, tick), |(mut view, mut rx, mut tick)| async move {
        loop {
            if let Some(event) = view.queue.pop_front() {
                return Some((event, (view, rx, tick)));
            }
            tokio::select! {
                batch = rx.recv() => match batch {
                    Ok(batch) => view.on_batch(&batch),
                    Err(broadcast::error::RecvError::Lagged(_)) => view.resync(),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = tick.tick() => view.on_tick(),
            }
        }
    });
    Ok(stream.boxed())
}

/// What one watch has told its client, and what it still has to.
struct View {
    index: Arc<RbacIndex>,
    user: UserInfo,
    groups: HashSet<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    bookmarks: bool,
    /// The namespaces the client holds, as last sent.
    sent: HashMap<String, Arc<TenantNamespace>>,
    last_bookmark: u64,
    queue: VecDeque<WatchEvent>,
}

impl View {
    fn new(index: Arc<RbacIndex>, user: UserInfo, opts: &ListOptions) -> Self {
        Self {
            index,
            groups: user.groups.iter().cloned().collect(),
            user,
            labels: opts.label_selector.clone(),
            fields: opts.field_selector.clone(),
            bookmarks: opts.allow_watch_bookmarks,
            sent: HashMap::new(),
            last_bookmark: 0,
            queue: VecDeque::new(),
        }
    }

    fn names(&self, subject: &Subject) -> bool {
        match subject {
            Subject::User(u) => *u == self.user.name,
            Subject::Group(g) => self.groups.contains(g),
        }
    }

    fn name_selected(&self, name: &str) -> bool {
        self.fields.matches(|f| (f == "metadata.name").then_some(name))
    }

    /// The namespace as this watch should show it now, or None when it should not.
    fn wanted(&self, state: &IndexState, name: &str) -> Option<Arc<TenantNamespace>> {
        state.visible_namespace(&self.user, name).filter(|ns| selected(&self.labels, &self.fields, ns)).cloned()
    }

    fn push(&mut self, event_type: EventType, ns: &TenantNamespace) {
        self.queue.push_back(WatchEvent { event_type, object: ns.object.clone() });
    }

    fn bookmark(&mut self, rv: u64, initial_end: bool) {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"apiVersion": format!("{}/{}", apis::CORE_GROUP, apis::VERSION), "kind": KIND, "metadata": meta});
        self.queue.push_back(WatchEvent { event_type: EventType::Bookmark, object });
        self.last_bookmark = rv;
    }

    /// Sets up the state the client starts from, queueing what it must hear first.
    fn begin(&mut self, state: &IndexState, start: Start) -> Result<(), StorageError> {
        let latest = state.latest_rv();
        self.last_bookmark = latest;
        let current: Vec<Arc<TenantNamespace>> = match self.fields.exact_value("metadata.name") {
            Some(name) => self.wanted(state, name).into_iter().collect(),
            None => state.visible(&self.user).into_iter().filter(|ns| selected(&self.labels, &self.fields, ns)).collect(),
        };
        match start {
            Start::Initial { end_bookmark } => {
                for ns in &current {
                    self.push(EventType::Added, ns);
                }
                if end_bookmark {
                    self.bookmark(latest, true);
                }
            }
            Start::Now => {}
            Start::After(rv) if rv > latest => {}
            Start::After(rv) => {
                let batches = state.replay_since(rv).ok_or_else(|| too_old(rv, latest))?;
                self.catch_up(state, rv, &batches)?;
            }
        }
        self.sent = current.into_iter().map(|ns| (ns.name.clone(), ns)).collect();
        Ok(())
    }

    /// Queues what a client holding the state at `rv` missed, from the batches since.
    fn catch_up(&mut self, state: &IndexState, rv: u64, batches: &[Arc<Batch>]) -> Result<(), StorageError> {
        #[derive(Default)]
        struct Touch {
            appeared: bool,
            revoked: bool,
            deleted: Option<Arc<TenantNamespace>>,
        }
        let mut touched: BTreeMap<String, Touch> = BTreeMap::new();
        for change in batches.iter().flat_map(|b| &b.changes) {
            match change {
                Change::Namespace(event, ns) if self.name_selected(&ns.name) => {
                    let t = touched.entry(ns.name.clone()).or_default();
                    match event {
                        NamespaceEvent::Added => t.appeared = true,
                        NamespaceEvent::Deleted => t.deleted = Some(ns.clone()),
                        NamespaceEvent::Modified => {}
                    }
                }
                Change::Access { subject, scope, granted } if self.names(subject) => match scope {
                    Scope::Cluster => {
                        // Only a full list shows what a cluster-wide grant or revocation changed.
                        return Err(too_old(rv, state.latest_rv()));
                    }
                    Scope::Namespace(ns) if self.name_selected(ns) => {
                        let t = touched.entry(ns.clone()).or_default();
                        if *granted {
                            t.appeared = true;
                        } else {
                            t.revoked = true;
                        }
                    }
                    Scope::Namespace(_) => {}
                },
                _ => {}
            }
        }
        let all = state.all_access(&self.user);
        for (name, t) in touched {
            match self.wanted(state, &name) {
                Some(ns) if t.appeared => self.push(EventType::Added, &ns),
                Some(ns) if ns.rv > rv => self.push(EventType::Modified, &ns),
                Some(_) => {}
                None => {
                    // Only for namespaces the caller could see during the gap, so nothing else leaks.
                    let existing = state.namespace(&name).cloned();
                    let saw = t.revoked || (existing.is_some() && state.has_access(&self.user, &name)) || (all && t.deleted.is_some());
                    if saw {
                        let last = t.deleted.or(existing).map(|ns| ns.object.clone()).unwrap_or_else(|| self.stub(&name, state.latest_rv()));
                        self.queue.push_back(WatchEvent { event_type: EventType::Deleted, object: last });
                    }
                }
            }
        }
        if self.bookmarks && !self.queue.is_empty() {
            self.bookmark(state.latest_rv(), false);
        }
        Ok(())
    }

    fn stub(&self, name: &str, rv: u64) -> Value {
        json!({"apiVersion": format!("{}/{}", apis::CORE_GROUP, apis::VERSION), "kind": KIND, "metadata": {"name": name, "resourceVersion": rv.to_string()}})
    }

    /// Brings the client's copy of `name` up to date.
    fn reconcile(&mut self, state: &IndexState, name: &str, deleted: Option<&Arc<TenantNamespace>>) {
        let now = self.wanted(state, name);
        match (self.sent.get(name).cloned(), now) {
            (None, Some(ns)) => {
                self.push(EventType::Added, &ns);
                self.sent.insert(name.to_string(), ns);
            }
            (Some(old), None) => {
                let last = deleted.cloned().or_else(|| state.namespace(name).cloned()).unwrap_or(old);
                self.push(EventType::Deleted, &last);
                self.sent.remove(name);
            }
            (Some(old), Some(ns)) if old.object != ns.object => {
                self.push(EventType::Modified, &ns);
                self.sent.insert(name.to_string(), ns);
            }
            _ => {}
        }
    }

    /// Applies one batch of changes.
    fn on_batch(&mut self, batch: &Batch) {
        let mut dirty: BTreeMap<&str, Option<&Arc<TenantNamespace>>> = BTreeMap::new();
        for change in &batch.changes {
            match change {
                Change::Namespace(event, ns) => {
                    let slot = dirty.entry(ns.name.as_str()).or_default();
                    if *event == NamespaceEvent::Deleted {
                        *slot = Some(ns);
                    }
                }
                Change::Access { subject, scope, .. } if self.names(subject) => match scope {
                    Scope::Namespace(ns) => {
                        dirty.entry(ns.as_str()).or_default();
                    }
                    Scope::Cluster => return self.resync(),
                },
                _ => {}
            }
        }
        if dirty.is_empty() {
            return;
        }
        let before = self.queue.len();
        let index = self.index.clone();
        let state = index.read();
        for (name, deleted) in dirty {
            if self.name_selected(name) {
                self.reconcile(&state, name, deleted);
            }
        }
        if self.bookmarks && self.queue.len() > before {
            self.bookmark(state.latest_rv(), false);
        }
    }

    /// Compares everything the client holds with everything it should (after a cluster-wide change, or
    /// after falling behind the change stream).
    fn resync(&mut self) {
        let before = self.queue.len();
        let index = self.index.clone();
        let state = index.read();
        let mut names: BTreeSet<String> = self.sent.keys().cloned().collect();
        match self.fields.exact_value("metadata.name") {
            Some(name) => {
                names.insert(name.to_string());
            }
            None => names.extend(state.visible(&self.user).iter().map(|ns| ns.name.clone())),
        }
        for name in names {
            self.reconcile(&state, &name, None);
        }
        if self.bookmarks && self.queue.len() > before {
            self.bookmark(state.latest_rv(), false);
        }
    }

    fn on_tick(&mut self) {
        let latest = self.index.latest_rv();
        if self.bookmarks && latest != self.last_bookmark {
            self.bookmark(latest, false);
        }
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
