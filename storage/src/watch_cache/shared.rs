//! Served objects and watch events shared by every reader and watcher that receives them, each JSON-encoded once.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::stream::BoxStream;
use serde_json::Value;

use crate::registry::{EventType, WatchEvent, labels_of};

/// A served object shared by many readers and watchers.
///
/// It comes in two forms. A plain one keeps the object and makes its JSON encoding once, on first use. A compact
/// one (what the watch cache keeps for every object it serves) keeps only the encoding and the metadata that
/// selectors match, about a tenth of the parsed tree's memory; readers that need the tree get a fresh parse of
/// it, which is never kept.
#[derive(Debug, Clone)]
pub struct SharedObject(Arc<Encoded>);

#[derive(Debug)]
struct Encoded {
    json: OnceLock<Bytes>,
    form: Form,
}

#[derive(Debug)]
enum Form {
    /// The object itself.
    Plain(Value),
    /// Only what selectors read; the object is its encoding.
    Compact(SelectorMeta),
}

/// What label and field selectors read of a compact object.
#[derive(Debug)]
struct SelectorMeta {
    namespace: Option<Box<str>>,
    name: Option<Box<str>>,
    labels: BTreeMap<String, String>,
}

impl SharedObject {
    /// The compact form of `value`: its encoding and selector metadata, without the tree.
    pub fn compact(value: Value) -> Self {
        let text = |k: &str| value.pointer(k).and_then(Value::as_str).map(Box::from);
        let meta = SelectorMeta { namespace: text("/metadata/namespace"), name: text("/metadata/name"), labels: labels_of(&value) };
        let json = OnceLock::from(Bytes::from(serde_json::to_vec(&value).unwrap_or_default()));
        Self(Arc::new(Encoded { json, form: Form::Compact(meta) }))
    }

    /// The object: borrowed from a plain one, parsed afresh (and not kept) from a compact one.
    pub fn value(&self) -> Cow<'_, Value> {
        match &self.0.form {
            Form::Plain(value) => Cow::Borrowed(value),
            Form::Compact(_) => Cow::Owned(serde_json::from_slice(self.json()).unwrap_or_default()),
        }
    }

    /// The object, owned.
    pub fn into_value(self) -> Value {
        match Arc::try_unwrap(self.0) {
            Ok(Encoded { form: Form::Plain(value), .. }) => value,
            Ok(Encoded { json, .. }) => serde_json::from_slice(json.get().map(|b| &b[..]).unwrap_or_default()).unwrap_or_default(),
            Err(shared) => Self(shared).value().into_owned(),
        }
    }

    /// Its JSON encoding, made on first use.
    pub fn json(&self) -> &Bytes {
        // A compact object's encoding is set when it is made; only a plain one's is made here.
        self.0.json.get_or_init(|| match &self.0.form {
            Form::Plain(value) => Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
            Form::Compact(_) => Bytes::new(),
        })
    }

    /// True for the compact form.
    pub fn is_compact(&self) -> bool {
        matches!(self.0.form, Form::Compact(_))
    }

    /// `metadata.namespace`, if any.
    pub fn namespace(&self) -> Option<&str> {
        match &self.0.form {
            Form::Compact(m) => m.namespace.as_deref(),
            Form::Plain(v) => v.pointer("/metadata/namespace").and_then(Value::as_str),
        }
    }

    /// `metadata.name`, if any.
    pub fn name(&self) -> Option<&str> {
        match &self.0.form {
            Form::Compact(m) => m.name.as_deref(),
            Form::Plain(v) => v.pointer("/metadata/name").and_then(Value::as_str),
        }
    }

    /// `metadata.labels`.
    pub fn labels(&self) -> Cow<'_, BTreeMap<String, String>> {
        match &self.0.form {
            Form::Compact(m) => Cow::Borrowed(&m.labels),
            Form::Plain(v) => Cow::Owned(labels_of(v)),
        }
    }

    /// True when both handles share one object (not merely equal ones).
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl From<Value> for SharedObject {
    fn from(value: Value) -> Self {
        Self(Arc::new(Encoded { json: OnceLock::new(), form: Form::Plain(value) }))
    }
}

impl PartialEq for SharedObject {
    fn eq(&self, other: &Self) -> bool {
        // Encodings are canonical (object keys sorted), so equal encodings mean equal objects.
        self.ptr_eq(other) || self.json() == other.json()
    }
}

impl PartialEq<Value> for SharedObject {
    fn eq(&self, other: &Value) -> bool {
        *self.value() == *other
    }
}

impl std::fmt::Display for SharedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value().fmt(f)
    }
}

/// A watch event whose object may be shared with other watchers.
#[derive(Debug, Clone)]
pub struct SharedEvent {
    /// Its type.
    pub event_type: EventType,
    /// The object (a Status for errors).
    pub object: SharedObject,
}

impl SharedEvent {
    /// An event of `event_type` carrying `object`.
    pub fn new(event_type: EventType, object: impl Into<SharedObject>) -> Self {
        Self { event_type, object: object.into() }
    }

    /// The event as one line of a JSON watch stream: `{"type":...,"object":...}` and a newline, reusing the
    /// object's shared encoding.
    pub fn json_line(&self) -> Bytes {
        let json = self.object.json();
        let mut line = Vec::with_capacity(json.len() + 32);
        line.extend_from_slice(br#"{"type":""#);
        line.extend_from_slice(self.event_type.as_str().as_bytes());
        line.extend_from_slice(br#"","object":"#);
        line.extend_from_slice(json);
        line.extend_from_slice(b"}\n");
        Bytes::from(line)
    }
}

impl From<WatchEvent> for SharedEvent {
    fn from(e: WatchEvent) -> Self {
        Self::new(e.event_type, e.object)
    }
}

impl From<SharedEvent> for WatchEvent {
    fn from(e: SharedEvent) -> Self {
        Self { event_type: e.event_type, object: e.object.into_value() }
    }
}

/// A stream of shared watch events; it ends when the watch ends.
pub type SharedEventStream = BoxStream<'static, SharedEvent>;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_line_is_the_wire_frame_and_encodes_once() {
        let obj = SharedObject::from(json!({"kind": "Postgres", "metadata": {"name": "a"}}));
        let event = SharedEvent::new(EventType::Modified, obj.clone());
        let line = event.json_line();
        let parsed: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed, json!({"type": "MODIFIED", "object": {"kind": "Postgres", "metadata": {"name": "a"}}}));
        assert!(line.ends_with(b"\n"));
        // The second watcher reuses the first one's bytes.
        assert_eq!(obj.json().as_ptr(), event.object.json().as_ptr());
        assert!(obj.ptr_eq(&event.object));
    }

    #[test]
    fn a_compact_object_keeps_its_encoding_and_selector_metadata_and_parses_on_demand() {
        let value = json!({"kind": "Postgres", "metadata": {"namespace": "ns", "name": "a", "labels": {"team": "x"}}, "spec": {"replicas": 2}});
        let compact = SharedObject::compact(value.clone());
        let plain = SharedObject::from(value.clone());
        assert!(compact.is_compact() && !plain.is_compact());
        assert_eq!(compact.json(), plain.json(), "the same encoding");
        assert!(matches!(compact.value(), std::borrow::Cow::Owned(_)), "a compact object keeps no tree to lend");
        assert_eq!(*compact.value(), value);
        for o in [&compact, &plain] {
            assert_eq!((o.namespace(), o.name()), (Some("ns"), Some("a")));
            assert_eq!(o.labels().get("team").map(String::as_str), Some("x"));
        }
        assert_eq!(compact, plain);
        assert_eq!(compact, value);
        assert_eq!(compact.clone().into_value(), value);
        assert_eq!(plain.into_value(), value);
        let no_meta = SharedObject::compact(json!({"kind": "Status"}));
        assert_eq!((no_meta.namespace(), no_meta.name(), no_meta.labels().len()), (None, None, 0));
    }
}
