//! Tests of the apply engine: wire forms, typed sets, update and apply bookkeeping, properties.

mod engine;
mod fieldpath;
mod managed;
mod props;
mod sets;

use serde_json::{Value, json};

use super::{ManagedFieldsEntry, Manager, ObjectType};

pub(super) const V: &str = "example.io/v1";
pub(super) const T0: &str = "2026-01-01T00:00:00Z";
pub(super) const T1: &str = "2026-01-01T00:01:00Z";
pub(super) const T2: &str = "2026-01-01T00:02:00Z";
pub(super) const T3: &str = "2026-01-01T00:03:00Z";

pub(super) fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "name": {"type": "string"},
                    "atomicList": {"type": "array", "items": {"type": "string"}},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name", "port"],
                        "items": {"type": "object", "properties": {
                            "name": {"type": "string"},
                            "port": {"type": "integer"},
                            "note": {"type": "string"}
                        }}
                    },
                    "rules": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["protocol", "port"],
                        "items": {"type": "object", "properties": {
                            "protocol": {"type": "string", "default": "TCP"},
                            "port": {"type": "integer"},
                            "note": {"type": "string"}
                        }}
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "atomicMap": {
                        "type": "object",
                        "x-kubernetes-map-type": "atomic",
                        "properties": {"a": {"type": "string"}, "b": {"type": "string"}}
                    },
                    "nested": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
                    "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "intOrString": {"x-kubernetes-int-or-string": true}
                }
            },
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
        }
    })
}

pub(super) fn ty() -> ObjectType {
    ObjectType::from_openapi(&schema())
}

pub(super) fn mgr<'a>(name: &'a str, now: &'a str) -> Manager<'a> {
    Manager { name, api_version: V, subresource: None, now }
}

pub(super) fn obj(spec: Value) -> Value {
    json!({"apiVersion": V, "kind": "Thing", "metadata": {"name": "x", "namespace": "ns"}, "spec": spec})
}

/// The entry of one manager, by name and operation.
pub(super) fn entry<'a>(entries: &'a [ManagedFieldsEntry], name: &str) -> &'a ManagedFieldsEntry {
    entries.iter().find(|e| e.manager == name).unwrap_or_else(|| panic!("no entry for {name}: {entries:#?}"))
}

pub(super) fn fields_of(entries: &[ManagedFieldsEntry], name: &str) -> Value {
    entry(entries, name).fields.to_fields_v1()
}
