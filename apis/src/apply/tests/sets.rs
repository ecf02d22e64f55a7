use serde_json::json;

use super::{obj, ty};
use crate::apply::ObjectType;
use crate::apply::typed::{self, compare, merge, to_field_set, validate};

fn apply_set(spec: serde_json::Value) -> serde_json::Value {
    let t = ty();
    let mut v = to_field_set(&t.root, &obj(spec)).to_fields_v1();
    v.as_object_mut().unwrap().remove("f:metadata");
    v.as_object_mut().unwrap().remove("f:apiVersion");
    v.as_object_mut().unwrap().remove("f:kind");
    v
}

#[test]
fn declared_objects_are_not_members_but_their_leaves_are() {
    assert_eq!(apply_set(json!({"replicas": 1, "nested": {"a": "x"}})), json!({"f:spec": {"f:nested": {"f:a": {}}, "f:replicas": {}}}));
}

#[test]
fn empty_and_null_objects_are_members() {
    assert_eq!(apply_set(json!({"nested": {}})), json!({"f:spec": {"f:nested": {}}}));
    assert_eq!(apply_set(json!({"nested": null})), json!({"f:spec": {"f:nested": {}}}));
    assert_eq!(apply_set(json!({})), json!({"f:spec": {}}));
}

#[test]
fn list_map_items_are_members_with_their_fields_and_keys_mix_types() {
    assert_eq!(
        apply_set(json!({"ports": [{"name": "http", "port": 80, "note": "n"}]})),
        json!({"f:spec": {"f:ports": {"k:{\"name\":\"http\",\"port\":80}": {".": {}, "f:name": {}, "f:note": {}, "f:port": {}}}}})
    );
}

#[test]
fn absent_key_fields_take_their_schema_default() {
    assert_eq!(apply_set(json!({"rules": [{"port": 53}]})), json!({"f:spec": {"f:rules": {"k:{\"port\":53,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}}}}}));
}

#[test]
fn set_elements_and_atomic_nodes_are_leaves() {
    assert_eq!(
        apply_set(json!({"tags": ["b", "a<&>"], "atomicList": ["x"], "atomicMap": {"a": "1"}})),
        json!({"f:spec": {
            "f:atomicList": {},
            "f:atomicMap": {},
            "f:tags": {"v:\"a\\u003c\\u0026\\u003e\"": {}, "v:\"b\"": {}}
        }})
    );
}

#[test]
fn undeclared_entries_are_members_even_with_children() {
    assert_eq!(
        apply_set(json!({"labels": {"a": "1"}, "values": {"x": {"y": 1}, "z": [1, 2]}})),
        json!({"f:spec": {
            "f:labels": {"f:a": {}},
            "f:values": {"f:x": {".": {}, "f:y": {}}, "f:z": {}}
        }})
    );
}

#[test]
fn int_or_string_takes_any_scalar() {
    assert_eq!(apply_set(json!({"intOrString": 5})), json!({"f:spec": {"f:intOrString": {}}}));
    assert_eq!(apply_set(json!({"intOrString": "5%"})), json!({"f:spec": {"f:intOrString": {}}}));
    assert!(validate(&ty().root, &obj(json!({"intOrString": "5%"})), false).is_ok());
}

#[test]
fn metadata_is_object_meta_whatever_the_schema_says() {
    let t = ty();
    let o = json!({"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {
        "name": "x", "labels": {"a": "1"}, "finalizers": ["f1"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "o", "uid": "u1"}]
    }});
    assert_eq!(
        to_field_set(&t.root, &o).to_fields_v1()["f:metadata"],
        json!({"f:finalizers": {"v:\"f1\"": {}}, "f:labels": {"f:a": {}}, "f:name": {},
               "f:ownerReferences": {"k:{\"uid\":\"u1\"}": {}}})
    );
    let bad = json!({"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {"bogus": 1}});
    assert_eq!(validate(&t.root, &bad, false).unwrap_err(), ".metadata.bogus: field not declared in schema");
}

#[test]
fn untypable_configs_name_the_path() {
    let t = ty();
    assert_eq!(validate(&t.root, &obj(json!({"foo": 1})), false).unwrap_err(), ".spec.foo: field not declared in schema");
    assert_eq!(
        validate(&t.root, &obj(json!({"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 1}]})), false).unwrap_err(),
        ".spec.ports: duplicate entries for key [name=\"a\",port=1]"
    );
    assert!(validate(&t.root, &obj(json!({"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 1}]})), true).is_ok());
    assert_eq!(
        validate(&t.root, &obj(json!({"ports": [{"note": "x"}]})), false).unwrap_err(),
        ".spec.ports: element 0: associative list with keys has an element that omits all key fields [\"name\" \"port\"] (and doesn't have default values for any key fields)"
    );
    assert_eq!(validate(&t.root, &obj(json!({"replicas": "x"})), false).unwrap_err(), ".spec.replicas: expected numeric (int or float), got string");
    let two = validate(&t.root, &obj(json!({"replicas": "x", "name": 1})), false).unwrap_err();
    assert_eq!(two, "errors:\n  .spec.name: expected string, got 1\n  .spec.replicas: expected numeric (int or float), got string");
}

#[test]
fn deduced_types_accept_anything_and_keep_maps_granular() {
    let t = ObjectType::deduced();
    let o = json!({"apiVersion": "v1", "kind": "K", "spec": {"a": {"b": 1}, "l": [1]}});
    assert!(validate(&t.root, &o, false).is_ok());
    assert_eq!(
        to_field_set(&t.root, &o).to_fields_v1(),
        json!({"f:apiVersion": {}, "f:kind": {}, "f:spec": {".": {}, "f:a": {".": {}, "f:b": {}}, "f:l": {}}})
    );
}

#[test]
fn merge_keeps_live_items_in_place_and_config_order() {
    let t = ty();
    let live = obj(json!({"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}, {"name": "c", "port": 3}], "tags": ["x", "y"]}));
    let cfg = obj(json!({"ports": [{"name": "c", "port": 3, "note": "n"}, {"name": "d", "port": 4}], "tags": ["z"]}));
    let m = merge(&t.root, &live, &cfg).unwrap();
    assert_eq!(
        m["spec"]["ports"],
        json!([{"name": "a", "port": 1}, {"name": "b", "port": 2}, {"name": "c", "port": 3, "note": "n"}, {"name": "d", "port": 4}])
    );
    assert_eq!(m["spec"]["tags"], json!(["x", "y", "z"]));
    let atomic =
        merge(&t.root, &obj(json!({"atomicMap": {"a": "1", "b": "2"}, "atomicList": [1, 2]})), &obj(json!({"atomicMap": {"a": "3"}, "atomicList": [3]})))
            .unwrap();
    assert_eq!(atomic["spec"], json!({"atomicMap": {"a": "3"}, "atomicList": [3]}));
}

#[test]
fn merge_keeps_empty_and_null_distinct() {
    let t = ty();
    let m = merge(&t.root, &obj(json!({"nested": {}})), &obj(json!({"nested": null}))).unwrap();
    assert_eq!(m["spec"]["nested"], json!(null));
    let m = merge(&t.root, &obj(json!({})), &obj(json!({"nested": {}, "atomicList": []}))).unwrap();
    assert_eq!(m["spec"], json!({"nested": {}, "atomicList": []}));
}

#[test]
fn compare_records_added_nodes_and_removed_ones() {
    let t = ty();
    let c = compare(&t.root, &obj(json!({"replicas": 1})), &obj(json!({"replicas": 2, "nested": {"a": "x"}})));
    assert_eq!(c.modified.to_fields_v1(), json!({"f:spec": {"f:replicas": {}}}));
    assert_eq!(c.added.to_fields_v1(), json!({"f:spec": {"f:nested": {".": {}, "f:a": {}}}}));
    let c = compare(&t.root, &obj(json!({"nested": {"a": "x"}})), &obj(json!({})));
    assert_eq!(c.removed.to_fields_v1(), json!({"f:spec": {"f:nested": {".": {}, "f:a": {}}}}));
}

#[test]
fn duplicated_live_items_are_tracked_as_the_item_only() {
    let t = ty();
    let live = obj(json!({"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 1, "note": "x"}]}));
    let s = to_field_set(&t.root, &live).to_fields_v1();
    assert_eq!(s["f:spec"], json!({"f:ports": {"k:{\"name\":\"a\",\"port\":1}": {}}}));
    // A config naming the duplicated key replaces the duplicates with one merged item.
    let m = merge(&t.root, &live, &obj(json!({"ports": [{"name": "a", "port": 1, "note": "y"}]}))).unwrap();
    assert_eq!(m["spec"]["ports"], json!([{"name": "a", "port": 1, "note": "y"}]));
}

#[test]
fn reconcile_collapses_owned_children_of_nodes_now_atomic() {
    let t = ty();
    let s =
        crate::apply::FieldSet::from_fields_v1(&json!({"f:spec": {"f:atomicMap": {"f:a": {}}, "f:atomicList": {"i:0": {}}, "f:nested": {"f:a": {}}}})).unwrap();
    assert_eq!(typed::reconcile(&t.root, &s).to_fields_v1(), json!({"f:spec": {"f:atomicList": {}, "f:atomicMap": {}, "f:nested": {"f:a": {}}}}));
}

#[test]
fn schema_conversion_follows_the_structural_rules() {
    let t = ObjectType::from_openapi(&json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {
                "free": {"type": "object", "additionalProperties": true},
                "bare": {"type": "object"},
                "closed": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false},
                "untyped": {},
                "granular": {"type": "object", "x-kubernetes-map-type": "granular", "additionalProperties": {"type": "string"}},
                "embedded": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}},
                "pu": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"inner": {"type": "object", "properties": {"k": {"type": "string"}}}}},
                "dt": {"type": "string", "format": "date-time"}
            }}
        }
    }));
    let o = obj(json!({
        "free": {"a": {"b": 1}},
        "bare": {"x": [1]},
        "untyped": {"m": 1},
        "granular": {"k": "v"},
        "embedded": {"apiVersion": "v1", "kind": "K", "metadata": {"name": "n", "labels": {"l": "v"}}, "spec": {"x": "y"}},
        "pu": {"inner": {"k": "v", "unknown": {"deep": true}}},
        "dt": 5
    }));
    assert_eq!(validate(&t.root, &o, false), Ok(()));
    assert_eq!(
        to_field_set(&t.root, &o).to_fields_v1()["f:spec"],
        json!({
            "f:bare": {"f:x": {}},
            "f:dt": {},
            "f:embedded": {"f:apiVersion": {}, "f:kind": {}, "f:metadata": {"f:labels": {"f:l": {}}, "f:name": {}}, "f:spec": {"f:x": {}}},
            "f:free": {"f:a": {".": {}, "f:b": {}}},
            "f:granular": {"f:k": {}},
            "f:pu": {"f:inner": {"f:k": {}, "f:unknown": {".": {}, "f:deep": {}}}},
            "f:untyped": {"f:m": {}}
        })
    );
    assert_eq!(validate(&t.root, &obj(json!({"closed": {"b": "x"}})), false).unwrap_err(), ".spec.closed.b: field not declared in schema");
    assert_eq!(
        validate(&t.root, &obj(json!({"embedded": {"metadata": {"bogus": 1}}})), false).unwrap_err(),
        ".spec.embedded.metadata.bogus: field not declared in schema"
    );
    assert_eq!(validate(&t.root, &json!({"apiVersion": "v", "kind": "K", "extra": 1}), false).unwrap_err(), ".extra: field not declared in schema");
}
