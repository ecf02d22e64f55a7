//! The 31 ApplicationDefinition fixtures: every schema builds, defaults, prunes and validates consistently.

use serde_json::{Value, json};

use crate::schema::StructuralSchema;

/// Every fixture as (file name, kind, spec schema).
pub(super) fn fixtures() -> Vec<(String, String, Value)> {
    crate::fixtures::application_definitions()
        .into_iter()
        .map(|(file, def)| {
            let schema = def.spec_schema().expect("schema is JSON").expect("schema present");
            (file, def.spec.application.kind.clone(), schema)
        })
        .collect()
}

/// The built schema of the fixture for `kind`.
pub(super) fn schema_of(kind: &str) -> StructuralSchema {
    let (_, _, raw) = fixtures().into_iter().find(|(_, k, _)| k == kind).expect("fixture kind");
    StructuralSchema::new(&raw).expect("fixture schema builds")
}

/// A defaulted empty spec for `kind`.
pub(super) fn defaulted_empty(s: &StructuralSchema) -> Value {
    let mut spec = json!({});
    s.apply_defaults(&mut spec);
    spec
}

fn has_defaults(v: &Value) -> bool {
    v.get("properties").and_then(Value::as_object).is_some_and(|props| props.values().any(|p| p.get("default").is_some()))
}

#[test]
fn all_fixtures_build_default_and_validate_clean() {
    let all = fixtures();
    assert_eq!(all.len(), 31, "expected the 31 fixture definitions");
    for (file, kind, raw) in all {
        let s = StructuralSchema::new(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
        let spec = defaulted_empty(&s);
        if has_defaults(&raw) {
            assert_ne!(spec, json!({}), "{file}: defaults of an empty spec are non-trivial");
        }
        let mut again = spec.clone();
        s.apply_defaults(&mut again);
        assert_eq!(again, spec, "{file}: defaulting is idempotent");
        let errs = s.validate(&spec, None, "spec");
        assert!(errs.is_empty(), "{file} ({kind}): a defaulted empty spec validates clean, got {errs:?}");
        let mut pruned = spec.clone();
        let removed = s.prune(&mut pruned, "spec");
        assert!(removed.is_empty(), "{file}: pruning a defaulted spec removes nothing, got {removed:?}");
        assert_eq!(pruned, spec, "{file}: pruning leaves a known-good spec unchanged");
        let errs = s.validate(&spec, Some(&spec), "spec");
        assert!(errs.is_empty(), "{file}: an unchanged update validates clean, got {errs:?}");
    }
}

#[test]
fn kubernetes_node_groups_are_a_map_with_item_defaults() {
    let s = schema_of("Kubernetes");
    let rows = [
        (json!({}), json!({}), "the nodeGroups default {} creates no group"),
        (json!({"nodeGroups": {}}), json!({}), "an explicit empty map stays empty"),
        (
            json!({"nodeGroups": {"md0": {}}}),
            json!({"md0": {"diskSize": "20Gi", "instanceType": "u1.medium", "logSerialConsole": false, "maxReplicas": 10, "minReplicas": 0}}),
            "a group gets the value schema's defaults, nothing else",
        ),
        (
            json!({"nodeGroups": {"md0": {"minReplicas": 2, "roles": ["ingress-nginx"]}}}),
            json!({"md0": {"diskSize": "20Gi", "instanceType": "u1.medium", "logSerialConsole": false, "maxReplicas": 10, "minReplicas": 2, "roles": ["ingress-nginx"]}}),
            "set values are kept",
        ),
    ];
    for (mut spec, want, why) in rows {
        s.apply_defaults(&mut spec);
        assert_eq!(spec["nodeGroups"], want, "{why}");
    }
}

#[test]
fn postgres_storage_class_is_immutable() {
    let s = schema_of("Postgres");
    let old = defaulted_empty(&s);
    let mut changed = old.clone();
    changed["storageClass"] = json!("replicated");
    let errs = s.validate(&changed, Some(&old), "spec");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].to_string(), "spec.storageClass: Invalid value: \"replicated\": storageClass is immutable");
    assert!(s.validate(&old, Some(&old), "spec").is_empty(), "keeping storageClass is allowed");
    assert!(s.validate(&changed, None, "spec").is_empty(), "on create the transition rule does not run");
    let mut other_change = old.clone();
    other_change["replicas"] = json!(5);
    assert!(s.validate(&other_change, Some(&old), "spec").is_empty(), "changing another field is allowed");
}
