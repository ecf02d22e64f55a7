//! Watch events whose objects are shared by every watcher that receives them, each JSON-encoded once.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::stream::BoxStream;
use serde_json::Value;

use crate::registry::{EventType, WatchEvent};

/// A served object shared by many watchers. Its JSON encoding is made once, by the first watcher that needs it,
/// and reused by the others.
#[derive(Debug, Clone)]
pub struct SharedObject(Arc<Encoded>);

#[derive(Debug)]
struct Encoded {
    value: Value,
    json: OnceLock<Bytes>,
}

impl SharedObject {
    /// The object.
    pub fn value(&self) -> &Value {
        &self.0.value
    }

    /// Its JSON encoding, made on first use.
    pub fn json(&self) -> &Bytes {
        self.0.json.get_or_init(|| Bytes::from(serde_json::to_vec(&self.0.value).unwrap_or_default()))
    }

    /// True when both handles share one object (not merely equal ones).
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl From<Value> for SharedObject {
    fn from(value: Value) -> Self {
        Self(Arc::new(Encoded { value, json: OnceLock::new() }))
    }
}

impl PartialEq for SharedObject {
    fn eq(&self, other: &Self) -> bool {
        self.ptr_eq(other) || self.value() == other.value()
    }
}

impl PartialEq<Value> for SharedObject {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl std::fmt::Display for SharedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value().fmt(f)
    }
}

impl Deref for SharedObject {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0.value
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
        Self { event_type: e.event_type, object: e.object.value().clone() }
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
}
