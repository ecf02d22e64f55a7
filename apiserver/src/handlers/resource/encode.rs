//! Encoders of resource responses: JSON, YAML, Table and PartialObjectMetadata, for objects, lists and events.

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use storage::registry::{ObjectList, Registry, SharedObject};

use crate::body::{Body, BoxError, full, respond};
use crate::negotiate::Representation;

/// What a client asked to receive, and how.
#[derive(Clone, Copy)]
pub struct Encoder<'a> {
    /// The representation.
    pub repr: Representation,
    /// `includeObject` of Tables: None, Metadata (default) or Object.
    pub include_object: &'a str,
}

impl<'a> Encoder<'a> {
    /// The encoder for a request's Accept header and query.
    pub fn new(repr: Representation, q: &'a HashMap<String, String>) -> Self {
        Self { repr, include_object: q.get("includeObject").map(String::as_str).unwrap_or("Metadata") }
    }

    fn content_type(&self) -> &'static str {
        match self.repr {
            Representation::Yaml => "application/yaml",
            _ => "application/json",
        }
    }

    /// Serializes a value in the chosen wire format.
    pub fn bytes(&self, v: &Value) -> Vec<u8> {
        match self.repr {
            Representation::Yaml => serde_norway::to_string(v).map(String::into_bytes).unwrap_or_default(),
            _ => serde_json::to_vec(v).unwrap_or_default(),
        }
    }

    /// A response carrying `v`.
    pub fn respond(&self, code: StatusCode, v: &Value, warnings: &[String]) -> Response<Body> {
        let mut r = respond(code, self.content_type(), self.bytes(v));
        add_warnings(&mut r, warnings);
        r
    }

    /// One object in the chosen representation.
    pub fn object(&self, reg: &dyn Registry, obj: &Value) -> Value {
        match self.repr {
            Representation::Table => self.table(reg, std::iter::once(Cow::Borrowed(obj)), &ObjectList::default(), true),
            Representation::PartialMetadata => partial(obj),
            _ => obj.clone(),
        }
    }

    /// A list in the chosen representation.
    pub fn list(&self, reg: &dyn Registry, list: &ObjectList) -> Value {
        match self.repr {
            // Items are read one at a time: a compact cached object is parsed for its row and dropped.
            Representation::Table => self.table(reg, list.items.iter().map(|o| o.value()), list, true),
            Representation::PartialMetadata => partial_list(list.items.iter().map(|o| partial(&o.value())).collect(), list),
            _ => {
                let i = reg.info();
                let items: Vec<Value> = list.items.iter().map(|o| o.value().into_owned()).collect();
                json!({"apiVersion": i.api_version(), "kind": format!("{}List", i.kind), "metadata": list_meta(list), "items": items})
            }
        }
    }

    /// A 200 response carrying `list`. A JSON list is written from its items' shared encodings (made once per
    /// object version and reused by every list and watch) and streamed in chunks, so that no copy of the whole
    /// list is built: its bytes are those serde_json writes for the same list (keys in sorted order).
    pub fn respond_list(&self, reg: &dyn Registry, list: ObjectList) -> Response<Body> {
        match self.repr {
            Representation::Json => {}
            Representation::Table | Representation::PartialMetadata => {
                return respond(StatusCode::OK, self.content_type(), self.encoded_list(reg, &list));
            }
            Representation::Yaml => return self.respond(StatusCode::OK, &self.list(reg, &list), &[]),
        }
        let i = reg.info();
        let mut head = Vec::with_capacity(128);
        head.extend_from_slice(br#"{"apiVersion":"#);
        head.extend_from_slice(&serde_json::to_vec(&i.api_version()).unwrap_or_default());
        head.extend_from_slice(br#","items":["#);
        let mut tail = Vec::with_capacity(128);
        tail.extend_from_slice(br#"],"kind":"#);
        tail.extend_from_slice(&serde_json::to_vec(&format!("{}List", i.kind)).unwrap_or_default());
        tail.extend_from_slice(br#","metadata":"#);
        tail.extend_from_slice(&serde_json::to_vec(&list_meta(&list)).unwrap_or_default());
        tail.push(b'}');
        let chunks = ListChunks { head: Some(Bytes::from(head)), items: list.items.into_iter(), first: true, tail: Some(Bytes::from(tail)) };
        let mut r = Response::new(chunks.into_body());
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    }

    /// A Table or PartialObjectMetadataList as JSON, written one item at a time: each item is parsed from its
    /// shared encoding, made into its row or metadata, encoded and dropped. The answer is then held once, as its
    /// bytes, never as a tree of every item (for 10,000 apps such a tree took about 200 MB). The bytes are those
    /// of [`Self::list`]'s value.
    pub fn encoded_list(&self, reg: &dyn Registry, list: &ObjectList) -> Vec<u8> {
        let (envelope, key) = match self.repr {
            Representation::Table => (self.table(reg, std::iter::empty(), list, true), "rows"),
            _ => (partial_list(Vec::new(), list), "items"),
        };
        let items = list.items.iter().map(|o| match self.repr {
            Representation::Table => self.row(reg, o.value()),
            _ => partial(&o.value()),
        });
        with_items(&envelope, key, items)
    }

    /// A watch event's object in the chosen representation; Tables carry column definitions only in the first.
    pub fn event_object(&self, reg: &dyn Registry, obj: &Value, first: bool) -> Value {
        match self.repr {
            Representation::Table => self.table(reg, std::iter::once(Cow::Borrowed(obj)), &ObjectList::default(), first),
            Representation::PartialMetadata => partial(obj),
            _ => obj.clone(),
        }
    }

    fn table<'v>(&self, reg: &dyn Registry, items: impl Iterator<Item = Cow<'v, Value>>, list: &ObjectList, headers: bool) -> Value {
        let rows: Vec<Value> = items.map(|o| self.row(reg, o)).collect();
        let columns = if headers { serde_json::to_value(reg.columns()).unwrap_or_default() } else { json!([]) };
        json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta(list), "columnDefinitions": columns, "rows": rows})
    }

    /// One row of a Table: the object's cells, and the object itself as `includeObject` asks.
    fn row(&self, reg: &dyn Registry, o: Cow<'_, Value>) -> Value {
        let mut row = json!({"cells": reg.cells(&o)});
        match self.include_object {
            "None" => {}
            "Object" => row["object"] = o.into_owned(),
            _ => row["object"] = partial(&o),
        }
        row
    }
}

/// A PartialObjectMetadataList of `items`.
fn partial_list(items: Vec<Value>, list: &ObjectList) -> Value {
    json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta(list), "items": items})
}

/// The JSON of `envelope`, whose `key` holds an empty array, with `items` encoded into that array as they come.
/// Keys are written in sorted order and strings escaped, so `"key":[]` occurs once, where the array is.
fn with_items(envelope: &Value, key: &str, items: impl Iterator<Item = Value>) -> Vec<u8> {
    let whole = serde_json::to_vec(envelope).unwrap_or_default();
    let marker = format!("\"{key}\":[]");
    let Some(at) = whole.windows(marker.len()).position(|w| w == marker.as_bytes()) else {
        return whole;
    };
    let split = at + marker.len() - 1;
    let mut out = whole[..split].to_vec();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &item);
    }
    out.extend_from_slice(&whole[split..]);
    out
}

/// Bytes of a list answer: its head, its items' shared encodings separated by commas, gathered into chunks of
/// about [`LIST_CHUNK`] bytes, and its tail.
struct ListChunks {
    head: Option<Bytes>,
    items: std::vec::IntoIter<SharedObject>,
    first: bool,
    tail: Option<Bytes>,
}

/// Bytes gathered per chunk of a streamed list: large enough that framing costs nothing, small enough that a
/// list in flight holds little besides the shared items.
const LIST_CHUNK: usize = 64 * 1024;

impl ListChunks {
    /// The next chunk, or None at the end.
    fn next_chunk(&mut self) -> Option<Bytes> {
        let mut buf = Vec::new();
        if let Some(head) = self.head.take() {
            buf.extend_from_slice(&head);
        }
        while buf.len() < LIST_CHUNK {
            let Some(item) = self.items.next() else { break };
            if !self.first {
                buf.push(b',');
            }
            self.first = false;
            buf.extend_from_slice(item.json());
        }
        if buf.len() < LIST_CHUNK
            && let Some(tail) = self.tail.take()
        {
            buf.extend_from_slice(&tail);
        }
        (!buf.is_empty()).then(|| Bytes::from(buf))
    }

    /// The body: one full body when the list fits one chunk (it then has a Content-Length), else a stream.
    fn into_body(mut self) -> Body {
        let first = self.next_chunk().unwrap_or_default();
        if self.tail.is_none() {
            return full(first);
        }
        let rest = futures::stream::unfold(self, |mut chunks| async move { chunks.next_chunk().map(|c| (c, chunks)) });
        let frames = futures::stream::iter([first]).chain(rest).map(|c| Ok::<_, BoxError>(Frame::data(c)));
        StreamBody::new(frames).boxed_unsync()
    }
}

/// PartialObjectMetadata of an object.
pub fn partial(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({}))})
}

fn list_meta(list: &ObjectList) -> Value {
    let mut m = serde_json::Map::new();
    if !list.resource_version.is_empty() {
        m.insert("resourceVersion".into(), list.resource_version.clone().into());
    }
    if !list.continue_token.is_empty() {
        m.insert("continue".into(), list.continue_token.clone().into());
    }
    if let Some(n) = list.remaining_item_count {
        m.insert("remainingItemCount".into(), n.into());
    }
    Value::Object(m)
}

/// Appends `299` Warning headers.
pub fn add_warnings(r: &mut Response<Body>, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "'"));
        if let Ok(h) = HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, h);
        }
    }
}
