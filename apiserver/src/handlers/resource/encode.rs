//! Encoders of resource responses: JSON, YAML, Table and PartialObjectMetadata, for objects, lists and events.

use std::collections::HashMap;

use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};
use storage::registry::{ObjectList, Registry};

use crate::body::{Body, respond};
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
            Representation::Table => self.table(reg, std::slice::from_ref(obj), &ObjectList::default(), true),
            Representation::PartialMetadata => partial(obj),
            _ => obj.clone(),
        }
    }

    /// A list in the chosen representation.
    pub fn list(&self, reg: &dyn Registry, list: &ObjectList) -> Value {
        match self.repr {
            Representation::Table => self.table(reg, &list.items, list, true),
            Representation::PartialMetadata => {
                json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta(list), "items": list.items.iter().map(partial).collect::<Vec<_>>()})
            }
            _ => {
                let i = reg.info();
                json!({"apiVersion": i.api_version(), "kind": format!("{}List", i.kind), "metadata": list_meta(list), "items": list.items})
            }
        }
    }

    /// A watch event's object in the chosen representation; Tables carry column definitions only in the first.
    pub fn event_object(&self, reg: &dyn Registry, obj: &Value, first: bool) -> Value {
        match self.repr {
            Representation::Table => self.table(reg, std::slice::from_ref(obj), &ObjectList::default(), first),
            Representation::PartialMetadata => partial(obj),
            _ => obj.clone(),
        }
    }

    fn table(&self, reg: &dyn Registry, items: &[Value], list: &ObjectList, headers: bool) -> Value {
        let rows: Vec<Value> = items
            .iter()
            .map(|o| {
                let mut row = json!({"cells": reg.cells(o)});
                match self.include_object {
                    "None" => {}
                    "Object" => row["object"] = o.clone(),
                    _ => row["object"] = partial(o),
                }
                row
            })
            .collect();
        let columns = if headers { serde_json::to_value(reg.columns()).unwrap_or_default() } else { json!([]) };
        json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta(list), "columnDefinitions": columns, "rows": rows})
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
