use serde_json::json;

use crate::apply::{FieldSet, ManagedFieldsEntry, Operation, decode_managed_fields, encode_managed_fields, requested_managed_fields};

fn e(manager: &str, op: Operation, api: &str, time: Option<&str>, sub: Option<&str>) -> ManagedFieldsEntry {
    ManagedFieldsEntry {
        manager: manager.into(),
        operation: op,
        api_version: api.into(),
        time: time.map(str::to_string),
        fields: FieldSet::from_fields_v1(&json!({"f:spec": {"f:a": {}}})).unwrap(),
        subresource: sub.map(str::to_string),
    }
}

#[test]
fn identifiers_leave_out_the_api_version_of_appliers() {
    assert_eq!(e("a", Operation::Apply, "g/v1", None, None).identifier(), r#"{"manager":"a","operation":"Apply"}"#);
    assert_eq!(
        e("a", Operation::Update, "g/v1", Some("2026-01-01T00:00:00Z"), Some("status")).identifier(),
        r#"{"manager":"a","operation":"Update","apiVersion":"g/v1","subresource":"status"}"#
    );
}

#[test]
fn encodes_sorted_with_empty_sets_dropped() {
    let mut empty = e("zz", Operation::Update, "g/v1", None, None);
    empty.fields = FieldSet::new();
    let entries = vec![
        e("b", Operation::Update, "g/v1", Some("2026-01-01T00:00:05Z"), None),
        e("c", Operation::Update, "g/v1", None, None),
        e("a", Operation::Update, "g/v2", Some("2026-01-01T00:00:05Z"), None),
        e("a", Operation::Update, "g/v1", Some("2026-01-01T00:00:05Z"), Some("status")),
        e("a", Operation::Update, "g/v1", Some("2026-01-01T00:00:05Z"), None),
        e("z", Operation::Apply, "g/v1", Some("2026-01-01T00:00:09Z"), None),
        empty,
    ];
    let out = encode_managed_fields(&entries).unwrap();
    let order: Vec<String> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|x| format!("{} {} {} {}", x["manager"], x["operation"], x["apiVersion"], x.get("subresource").unwrap_or(&json!(""))))
        .collect();
    assert_eq!(
        order,
        vec![
            r#""z" "Apply" "g/v1" """#,
            r#""c" "Update" "g/v1" """#,
            r#""a" "Update" "g/v1" """#,
            r#""a" "Update" "g/v1" "status""#,
            r#""a" "Update" "g/v2" """#,
            r#""b" "Update" "g/v1" """#,
        ]
    );
    assert_eq!(
        out[0],
        json!({"manager": "z", "operation": "Apply", "apiVersion": "g/v1", "time": "2026-01-01T00:00:09Z",
               "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:a": {}}}})
    );
    assert!(out[1].get("time").is_none());
    assert_eq!(encode_managed_fields(&[]), None);
}

#[test]
fn decode_round_trips_and_normalises_time() {
    let v = json!([{"manager": "m", "operation": "Update", "apiVersion": "g/v1", "time": "2026-01-01T01:00:00.5+01:00",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {".": {}, "f:a": {}}}, "subresource": "status"}]);
    let d = decode_managed_fields(&v).unwrap();
    assert_eq!(d[0].time.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(d[0].subresource.as_deref(), Some("status"));
    let again = encode_managed_fields(&d).unwrap();
    assert_eq!(again[0]["fieldsV1"], json!({"f:spec": {".": {}, "f:a": {}}}));
    assert_eq!(again[0]["time"], json!("2026-01-01T00:00:00Z"));
}

#[test]
fn decode_errors_use_kube_apiserver_messages() {
    let base = json!({"manager": "m", "operation": "Update", "apiVersion": "g/v1", "fieldsType": "FieldsV1", "fieldsV1": {}});
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b[k] = v;
        json!([b])
    };
    assert_eq!(decode_managed_fields(&with("operation", json!("Patch"))).unwrap_err(), "operation must be `Apply` or `Update`");
    assert_eq!(decode_managed_fields(&with("apiVersion", json!(""))).unwrap_err(), "apiVersion must not be empty");
    let mut no_type = base.clone();
    no_type.as_object_mut().unwrap().remove("fieldsType");
    assert_eq!(decode_managed_fields(&json!([base, no_type])).unwrap_err(), "missing fieldsType in managed fields entry 1");
    assert_eq!(decode_managed_fields(&with("fieldsType", json!("FieldsV2"))).unwrap_err(), "invalid fieldsType \"FieldsV2\" in managed fields entry 0");
}

#[test]
fn entries_with_one_identity_collapse_into_the_last() {
    let v = json!([
        {"manager": "m", "operation": "Apply", "apiVersion": "g/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:a": {}}},
        {"manager": "m", "operation": "Apply", "apiVersion": "g/v2", "fieldsType": "FieldsV1", "fieldsV1": {"f:b": {}}}
    ]);
    let d = decode_managed_fields(&v).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].api_version, "g/v2");
}

#[test]
fn requested_managed_fields_distinguish_absent_reset_and_entries() {
    assert_eq!(requested_managed_fields(&json!({"metadata": {}})), None);
    assert_eq!(requested_managed_fields(&json!({"metadata": {"managedFields": null}})), None);
    assert_eq!(requested_managed_fields(&json!({"metadata": {"managedFields": []}})), None, "an empty list is no reset for a custom resource");
    assert_eq!(requested_managed_fields(&json!({"metadata": {"managedFields": [{}]}})), Some(vec![]));
    assert_eq!(requested_managed_fields(&json!({"metadata": {"managedFields": [{"operation": "Bad"}]}})), None);
    assert_eq!(requested_managed_fields(&json!({"metadata": {"managedFields": [{}, {}]}})), None);
    let ok = requested_managed_fields(&json!({"metadata": {"managedFields": [
        {"manager": "m", "operation": "Update", "apiVersion": "g/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:a": {}}}
    ]}}))
    .unwrap();
    assert_eq!(ok[0].manager, "m");
}
