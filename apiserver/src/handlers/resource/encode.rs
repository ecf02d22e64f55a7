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
            Representation::PartialMetadata => {
                json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta(list), "items": list.items.iter().map(|o| partial(&o.value())).collect::<Vec<_>>()})
            }
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
        if self.repr != Representation::Json {
            return self.respond(StatusCode::OK, &self.list(reg, &list), &[]);
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

    /// A watch event's object in the chosen representation; Tables carry column definitions only in the first.
    pub fn event_object(&self, reg: &dyn Registry, obj: &Value, first: bool) -> Value {
        match self.repr {
            Representation::Table => self.table(reg, std::iter::once(Cow::Borrowed(obj)), &ObjectList::default(), first),
            Representation::PartialMetadata => partial(obj),
            _ => obj.clone(),
        }
    }

    fn table<'v>(&self, reg: &dyn Registry, items: impl Iterator<Item = Cow<'v, Value>>, list: &ObjectList, headers: bool) -> Value {
        let rows: Vec<Value> = items
            .map(|o| {
                let mut row = json!({"cells": reg.cells(&o)});
                match self.include_object {
                    "None" => {}
                    "Object" => row["object"] = o.into_owned(),
                    _ => row["object"] = partial(&o),
                }
                row
            })
            .collect();
        let columns = if headers { serde_json::to_value(reg.columns()).unwrap_or_default() } else { json!([]) };
        json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta(list), "columnDefinitions": columns, "rows": rows})
    }
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
