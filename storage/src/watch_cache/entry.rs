//! One version of a backing object in a cache, with its served forms remembered per view, so that a change is
//! translated once per kind however many watchers see it. Both are kept JSON-encoded, not as parsed trees: an
//! encoding takes a sixth of a tree's memory, and parsing one object again costs microseconds.

use std::sync::RwLock;

use bytes::Bytes;
use serde_json::Value;

use super::shared::SharedObject;
use super::view::View;

/// How many views one entry remembers as not translating it; views gone since are forgotten first.
const REMEMBERED_VIEWS: usize = 64;

/// The namespace and name of a backing object: its place in the cache, in kube-apiserver's list order.
pub type Key = (String, String);

/// What views made of an entry. An object is one view's (one kind's) at most, so one served form is kept: the
/// latest view's. A view replaced by a new one (a changed definition) then leaves no stale copy behind.
#[derive(Debug, Default)]
struct Translations {
    served: Option<(u64, SharedObject)>,
    not_served_by: Vec<u64>,
}

/// One version of a backing object.
#[derive(Debug)]
pub struct Entry {
    /// The backing object as the backend sent it, JSON-encoded.
    json: Bytes,
    key: Key,
    /// Its resourceVersion.
    pub rv: u64,
    translations: RwLock<Translations>,
}

impl Entry {
    /// An entry for `object`, whose key (from its metadata) is `key`, at `rv`.
    pub fn new(object: Value, key: Key, rv: u64) -> Self {
        let json = Bytes::from(serde_json::to_vec(&object).unwrap_or_default());
        Self { json, key, rv, translations: RwLock::new(Translations::default()) }
    }

    /// An entry for a listed `object`, with its key and resourceVersion from its metadata; None without a
    /// resourceVersion. A relist keeps one page of parsed objects at a time and these encodings, not every
    /// object parsed at once (a parsed tree takes several times its encoding's memory).
    pub fn listed(object: Value) -> Option<Self> {
        let rv = rv_of(&object)?;
        let key = key_of(&object);
        Some(Self::new(object, key, rv))
    }

    /// The backing object, parsed afresh.
    pub fn object(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or_default()
    }

    /// The backing object's JSON encoding.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// Its key, from metadata.
    pub fn key(&self) -> Key {
        self.key.clone()
    }

    /// Its namespace ("" when cluster-scoped).
    pub fn namespace(&self) -> &str {
        &self.key.0
    }

    /// The object as `view` serves it (None when it is not one of the view's), translated on first use.
    pub fn served(&self, view: &dyn View) -> Option<SharedObject> {
        let id = view.id();
        let known = |t: &Translations| match &t.served {
            Some((v, object)) if *v == id => Some(Some(object.clone())),
            _ => t.not_served_by.contains(&id).then_some(None),
        };
        if let Some(hit) = known(&self.translations.read().unwrap_or_else(|e| e.into_inner())) {
            return hit;
        }
        if !view.may_translate(&self.json) {
            // Another kind's object: every change reaches the watchers of every kind over the cache.
            return None;
        }
        let out = view.translate(&self.object()).map(SharedObject::compact);
        let mut t = self.translations.write().unwrap_or_else(|e| e.into_inner());
        if let Some(first) = known(&t) {
            // Another watcher translated it meanwhile: share that one.
            return first;
        }
        match &out {
            Some(object) => t.served = Some((id, object.clone())),
            None => {
                if t.not_served_by.len() >= REMEMBERED_VIEWS {
                    t.not_served_by.remove(0);
                }
                t.not_served_by.push(id);
            }
        }
        out
    }
}

/// The key of a backing object.
pub fn key_of(object: &Value) -> Key {
    let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    (text("/metadata/namespace"), text("/metadata/name"))
}

/// The resourceVersion of an object as a number.
pub fn rv_of(object: &Value) -> Option<u64> {
    object.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|s| s.parse().ok())
}
