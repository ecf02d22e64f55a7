//! An in-memory backend for unit tests ([`FakeBackend`]), answering as kube-apiserver does for what the tests
//! exercise: resourceVersions that grow with every write, 404 NotFound, 409 AlreadyExists and Conflict (a stale
//! resourceVersion, a failed delete precondition), `dryRun=All` writing nothing, finalizers turning a delete into
//! a deletionTimestamp, label and name selectors on lists, and watches from a resourceVersion. Tests can make
//! the next call of a verb fail with any Status ([`FakeBackend::fail_next`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use apis::selector::{FieldSelector, LabelSelector};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::{Backend, BackendClient, BackendError, BackingResource, Query, RawEvent, RawEventStream};
use crate::registry::labels_of;
use crate::watch_cache::WatchCacheConfig;

/// Where an object is kept: (group/plural, namespace, name).
type Key = (String, String, String);

/// One change, as watches see it.
#[derive(Debug, Clone)]
struct Change {
    collection: String,
    rv: u64,
    event_type: &'static str,
    object: Value,
}

struct State {
    /// Live watches hear changes here; replaced to end them.
    changes: broadcast::Sender<Change>,
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: Vec<Change>,
    failures: Vec<(&'static str, BackendError)>,
    calls: Vec<(&'static str, String)>,
}

/// An in-memory kube-apiserver for the backing resources.
pub struct FakeBackend {
    state: Mutex<State>,
}

fn collection(r: &BackingResource) -> String {
    format!("{}/{}", r.group, r.plural)
}

fn qualified(r: &BackingResource) -> String {
    apis::status::qualified(r.plural, r.group)
}

/// A Status answer of the backend.
pub fn status_error(code: u16, reason: &str, message: &str) -> BackendError {
    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message});
    BackendError::Status(Box::new(serde_json::from_value(status).expect("a Status")))
}

/// A Status answer with details (causes), from its JSON.
pub fn status_from_json(status: Value) -> BackendError {
    BackendError::Status(Box::new(serde_json::from_value(status).expect("a Status")))
}

fn not_found(r: &BackingResource, name: &str) -> BackendError {
    status_error(404, "NotFound", &format!("{} \"{name}\" not found", qualified(r)))
}

fn conflict(r: &BackingResource, name: &str, detail: &str) -> BackendError {
    status_error(409, "Conflict", &format!("Operation cannot be fulfilled on {} \"{name}\": {detail}", qualified(r)))
}

const MODIFIED: &str = "the object has been modified; please apply your changes to the latest version and try again";

fn text<'v>(obj: &'v Value, pointer: &str) -> &'v str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 7386: objects merge key by key, null removes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

impl State {
    fn fail(&mut self, verb: &'static str, what: String) -> Result<(), BackendError> {
        self.calls.push((verb, what));
        match self.failures.iter().position(|(v, _)| *v == verb) {
            Some(i) => Err(self.failures.remove(i).1),
            None => Ok(()),
        }
    }

    fn record(&mut self, r: &BackingResource, event_type: &'static str, object: &Value) {
        let change = Change { collection: collection(r), rv: self.rv, event_type, object: object.clone() };
        self.history.push(change.clone());
        let _ = self.changes.send(change);
    }

    fn bump(&mut self, obj: &mut Value) {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = self.rv.to_string().into();
    }
}

fn key(r: &BackingResource, ns: &str, name: &str) -> Key {
    (collection(r), if r.namespaced { ns.to_string() } else { String::new() }, name.to_string())
}

fn dry_run(q: &Query) -> bool {
    q.get("dryRun") == Some("All")
}

/// What a list or watch selects.
#[derive(Clone)]
struct Selection {
    collection: String,
    namespace: String,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Selection {
    fn new(r: &BackingResource, ns: &str, q: &Query) -> Result<Self, BackendError> {
        let bad = |e: apis::selector::SelectorError| status_error(400, "BadRequest", &e.to_string());
        Ok(Self {
            collection: collection(r),
            namespace: ns.to_string(),
            labels: LabelSelector::parse(q.get("labelSelector").unwrap_or_default()).map_err(bad)?,
            fields: FieldSelector::parse(q.get("fieldSelector").unwrap_or_default()).map_err(bad)?,
        })
    }

    fn matches(&self, collection: &str, obj: &Value) -> bool {
        let ns = text(obj, "/metadata/namespace");
        collection == self.collection
            && (self.namespace.is_empty() || ns == self.namespace)
            && self.labels.matches(&labels_of(obj))
            && self.fields.matches(|f| match f {
                "metadata.name" => Some(text(obj, "/metadata/name")),
                "metadata.namespace" => Some(ns),
                _ => None,
            })
    }
}

impl FakeBackend {
    /// An empty backend.
    pub fn new() -> Arc<Self> {
        let state =
            State { changes: broadcast::channel(1024).0, rv: 0, objects: BTreeMap::new(), history: Vec::new(), failures: Vec::new(), calls: Vec::new() };
        Arc::new(Self { state: Mutex::new(state) })
    }

    /// A [`Backend`] over this fake, with default watch caches.
    pub fn backend(self: &Arc<Self>) -> Backend {
        self.backend_with(WatchCacheConfig::default())
    }

    /// A [`Backend`] over this fake, with watch caches configured by `config`.
    pub fn backend_with(self: &Arc<Self>, config: WatchCacheConfig) -> Backend {
        Backend::over(self.clone(), config)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next call of `verb` ("get", "list", "create", "replace", "merge_patch", "delete", "watch") fails with
    /// `error` instead of being answered.
    pub fn fail_next(&self, verb: &'static str, error: BackendError) {
        self.lock().failures.push((verb, error));
    }

    /// Stores `obj` as if created by someone else (no checks), and answers it as stored.
    pub fn put(&self, r: &BackingResource, mut obj: Value) -> Value {
        let mut s = self.lock();
        let k = key(r, text(&obj, "/metadata/namespace"), text(&obj, "/metadata/name"));
        let event = if s.objects.contains_key(&k) { "MODIFIED" } else { "ADDED" };
        if obj.pointer("/metadata/uid").is_none() {
            obj["metadata"]["uid"] = format!("uid-{}", k.2).into();
        }
        s.bump(&mut obj);
        s.objects.insert(k, obj.clone());
        s.record(r, event, &obj);
        obj
    }

    /// Removes an object as if deleted by someone else.
    pub fn remove(&self, r: &BackingResource, ns: &str, name: &str) -> Option<Value> {
        let mut s = self.lock();
        let mut obj = s.objects.remove(&key(r, ns, name))?;
        s.bump(&mut obj);
        s.record(r, "DELETED", &obj);
        Some(obj)
    }

    /// Ends every open watch, as kube-apiserver does when a watch times out.
    pub fn end_watches(&self) {
        self.lock().changes = broadcast::channel(1024).0;
    }

    /// The stored object, if any.
    pub fn object(&self, r: &BackingResource, ns: &str, name: &str) -> Option<Value> {
        self.lock().objects.get(&key(r, ns, name)).cloned()
    }

    /// Every stored object of `r`.
    pub fn objects(&self, r: &BackingResource) -> Vec<Value> {
        let c = collection(r);
        self.lock().objects.iter().filter(|((col, _, _), _)| *col == c).map(|(_, v)| v.clone()).collect()
    }

    /// The calls made so far: verb and the object's name (or the query, for lists and watches).
    pub fn calls(&self) -> Vec<(&'static str, String)> {
        self.lock().calls.clone()
    }

    /// The current resourceVersion.
    pub fn rv(&self) -> u64 {
        self.lock().rv
    }

    fn do_create(&self, r: &BackingResource, ns: &str, obj: &Value, q: &Query) -> Result<Value, BackendError> {
        let mut s = self.lock();
        let name = text(obj, "/metadata/name").to_string();
        s.fail("create", name.clone())?;
        if name.is_empty() {
            return Err(status_error(422, "Invalid", &format!("{} \"\" is invalid: metadata.name: Required value: name is required", qualified(r))));
        }
        let k = key(r, ns, &name);
        if s.objects.contains_key(&k) {
            return Err(status_error(409, "AlreadyExists", &format!("{} \"{name}\" already exists", qualified(r))));
        }
        let mut obj = obj.clone();
        if r.namespaced {
            obj["metadata"]["namespace"] = ns.into();
        }
        obj["metadata"]["uid"] = format!("uid-{ns}-{name}-{}", s.rv + 1).into();
        obj["metadata"]["creationTimestamp"] = now().into();
        obj["metadata"]["generation"] = 1.into();
        if dry_run(q) {
            obj["metadata"]["resourceVersion"] = "".into();
            return Ok(obj);
        }
        s.bump(&mut obj);
        s.objects.insert(k, obj.clone());
        s.record(r, "ADDED", &obj);
        Ok(obj)
    }

    fn do_replace(&self, r: &BackingResource, ns: &str, name: &str, obj: &Value, q: &Query) -> Result<Value, BackendError> {
        let mut s = self.lock();
        s.fail("replace", name.to_string())?;
        let k = key(r, ns, name);
        let live = s.objects.get(&k).cloned().ok_or_else(|| not_found(r, name))?;
        let rv = text(obj, "/metadata/resourceVersion");
        // No resourceVersion: unconditional, as kube-apiserver allows for custom resources and Secrets.
        if !rv.is_empty() && rv != text(&live, "/metadata/resourceVersion") {
            return Err(conflict(r, name, MODIFIED));
        }
        let mut obj = obj.clone();
        for field in ["uid", "creationTimestamp", "deletionTimestamp", "namespace"] {
            match live["metadata"].get(field) {
                Some(v) => obj["metadata"][field] = v.clone(),
                None => {
                    if let Some(m) = obj["metadata"].as_object_mut() {
                        m.remove(field);
                    }
                }
            }
        }
        let generation = live.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        obj["metadata"]["generation"] = (if obj.get("spec") != live.get("spec") { generation + 1 } else { generation }).into();
        if dry_run(q) {
            obj["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
            return Ok(obj);
        }
        // Nothing changes: kube-apiserver writes nothing and the resourceVersion stays.
        obj["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
        if obj == live {
            return Ok(live);
        }
        s.bump(&mut obj);
        let finalized = obj.pointer("/metadata/deletionTimestamp").is_some() && !has_finalizers(&obj);
        if finalized {
            s.objects.remove(&k);
            s.record(r, "DELETED", &obj);
        } else {
            s.objects.insert(k, obj.clone());
            s.record(r, "MODIFIED", &obj);
        }
        Ok(obj)
    }

    fn do_merge_patch(&self, r: &BackingResource, ns: &str, name: &str, patch: &Value) -> Result<Value, BackendError> {
        let mut s = self.lock();
        s.fail("merge_patch", name.to_string())?;
        let k = key(r, ns, name);
        let mut obj = s.objects.get(&k).cloned().ok_or_else(|| not_found(r, name))?;
        // A resourceVersion in the patch is a precondition, as kube-apiserver makes it.
        if patch.pointer("/metadata/resourceVersion").and_then(Value::as_str).is_some_and(|want| want != text(&obj, "/metadata/resourceVersion")) {
            return Err(conflict(r, name, MODIFIED));
        }
        merge(&mut obj, patch);
        s.bump(&mut obj);
        s.objects.insert(k, obj.clone());
        s.record(r, "MODIFIED", &obj);
        Ok(obj)
    }

    fn do_delete(&self, r: &BackingResource, ns: &str, name: &str, options: &Value) -> Result<Value, BackendError> {
        let mut s = self.lock();
        s.fail("delete", name.to_string())?;
        let k = key(r, ns, name);
        let mut obj = s.objects.get(&k).cloned().ok_or_else(|| not_found(r, name))?;
        for (field, pointer, what) in [("uid", "/metadata/uid", "UID"), ("resourceVersion", "/metadata/resourceVersion", "ResourceVersion")] {
            let want = options.pointer(&format!("/preconditions/{field}")).and_then(Value::as_str);
            if let Some(want) = want.filter(|w| *w != text(&obj, pointer)) {
                let meta = if what == "UID" { "object meta" } else { "meta" };
                return Err(conflict(r, name, &format!("Precondition failed: {what} in precondition: {want}, {what} in {meta}: {}", text(&obj, pointer))));
            }
        }
        let dry = options.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|v| v == "All"));
        if has_finalizers(&obj) {
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                obj["metadata"]["deletionTimestamp"] = now().into();
            }
            if !dry {
                s.bump(&mut obj);
                s.objects.insert(k, obj.clone());
                s.record(r, "MODIFIED", &obj);
            }
            return Ok(obj);
        }
        if !dry {
            s.objects.remove(&k);
            s.bump(&mut obj);
            s.record(r, "DELETED", &obj);
        }
        // Core resources answer a Status, custom resources the deleted object.
        if r.group.is_empty() {
            return Ok(json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name, "kind": r.plural}}));
        }
        Ok(obj)
    }

    fn do_list(&self, r: &BackingResource, ns: &str, q: &Query) -> Result<Value, BackendError> {
        let mut s = self.lock();
        s.fail("list", q.encode())?;
        let sel = Selection::new(r, ns, q)?;
        let items: Vec<Value> = s.objects.iter().filter(|((c, _, _), o)| sel.matches(c, o)).map(|(_, o)| o.clone()).collect();
        Ok(json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": s.rv.to_string()}, "items": items}))
    }

    fn do_watch(&self, r: &BackingResource, ns: &str, q: &Query) -> Result<RawEventStream, BackendError> {
        let mut s = self.lock();
        s.fail("watch", q.encode())?;
        let sel = Selection::new(r, ns, q)?;
        let first: Vec<RawEvent> = match q.get("resourceVersion").unwrap_or_default() {
            "" | "0" => s.objects.iter().filter(|((c, _, _), o)| sel.matches(c, o)).map(|(_, o)| ("ADDED".to_string(), o.clone())).collect(),
            rv => {
                let rv: u64 = rv.parse().map_err(|_| status_error(400, "BadRequest", "invalid resourceVersion"))?;
                s.history.iter().filter(|c| c.rv > rv && sel.matches(&c.collection, &c.object)).map(|c| (c.event_type.to_string(), c.object.clone())).collect()
            }
        };
        // Subscribed under the lock, so no change falls between the first events and the live ones.
        let rx = s.changes.subscribe();
        let live = futures::stream::unfold((rx, sel), |(mut rx, sel)| async move {
            loop {
                match rx.recv().await {
                    Ok(c) if sel.matches(&c.collection, &c.object) => return Some((Ok((c.event_type.to_string(), c.object)), (rx, sel))),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Ok(futures::stream::iter(first.into_iter().map(Ok)).chain(live).boxed())
    }
}

fn has_finalizers(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty())
}

impl BackendClient for FakeBackend {
    fn get<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(async move {
            let mut s = self.lock();
            s.fail("get", name.to_string())?;
            s.objects.get(&key(r, ns, name)).cloned().ok_or_else(|| not_found(r, name))
        })
    }

    fn list<'a>(&'a self, r: &'a BackingResource, ns: &'a str, q: &'a Query) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(async move { self.do_list(r, ns, q) })
    }

    fn create<'a>(&'a self, r: &'a BackingResource, ns: &'a str, obj: &'a Value, q: &'a Query) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(async move { self.do_create(r, ns, obj, q) })
    }

    fn replace<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str, obj: &'a Value, q: &'a Query) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(async move { self.do_replace(r, ns, name, obj, q) })
    }

    fn merge_patch<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str, patch: &'a Value) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(async move { self.do_merge_patch(r, ns, name, patch) })
    }

    fn delete<'a>(&'a self, r: &'a BackingResource, ns: &'a str, name: &'a str, options: &'a Value) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(async move { self.do_delete(r, ns, name, options) })
    }

    fn watch<'a>(&'a self, r: &'a BackingResource, ns: &'a str, q: &'a Query) -> BoxFuture<'a, Result<RawEventStream, BackendError>> {
        Box::pin(async move { self.do_watch(r, ns, q) })
    }
}

#[cfg(test)]
#[path = "testing_tests.rs"]
mod tests;
