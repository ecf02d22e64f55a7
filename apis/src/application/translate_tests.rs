//! Tests of the Application ⇄ HelmRelease mapping: a golden HelmRelease, update merging, reading back,
//! and a round-trip property.

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn load_kind(name: &str) -> AppKind {
    let def = crate::fixtures::application_definition(name);
    AppKind::from_definition(&def).unwrap()
}

fn app(name: &str, namespace: &str, spec: Value) -> Application {
    Application {
        api_version: API_VERSION.into(),
        kind: "Postgres".into(),
        metadata: ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), ..Default::default() },
        spec,
        ..Default::default()
    }
}

#[test]
fn golden_postgres_release() {
    let hr = to_helm_release(&app("db", "tenant-root", json!({"replicas": 3})), &load_kind("postgres"), &ReleaseSettings::default(), None);
    let want = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {
            "name": "postgres-db",
            "namespace": "tenant-root",
            "labels": {
                "sharding.fluxcd.io/key": "tenants",
                "apps.cozystack.io/application.kind": "Postgres",
                "apps.cozystack.io/application.group": "apps.cozystack.io",
                "apps.cozystack.io/application.name": "db"
            }
        },
        "spec": {
            "chartRef": {
                "kind": "ExternalArtifact",
                "name": "cozystack-postgres-application-default-postgres",
                "namespace": "cozy-system"
            },
            "interval": "5m0s",
            "maxHistory": 5,
            "install": {"timeout": "10m0s", "strategy": {"name": "RetryOnFailure", "retryInterval": "30s"}},
            "upgrade": {"timeout": "10m0s", "strategy": {"name": "RetryOnFailure", "retryInterval": "30s"}},
            "valuesFrom": [{"kind": "Secret", "name": "cozystack-values"}],
            "values": {"replicas": 3}
        }
    });
    assert_eq!(hr, want);
}

#[test]
fn user_metadata_overrides_and_wait_settings_reach_the_release() {
    let mut kind = load_kind("redis");
    kind.overrides.install_timeout = Some("15m".into());
    kind.overrides.upgrade_timeout = Some("1h".into());
    kind.overrides.disable_wait = true;
    kind.health_check_exprs = vec![json!({"apiVersion": "v1", "kind": "Pod", "current": "true"})];
    let mut a = app("cache", "tenant-a", Value::Null);
    a.metadata.labels = Some([("team".to_string(), "x".to_string())].into());
    a.metadata.annotations = Some([("note".to_string(), "hi".to_string())].into());
    a.metadata.resource_version = Some("42".into());
    a.metadata.uid = Some("u-1".into());
    let settings = ReleaseSettings { max_history: 0, ..Default::default() };
    let hr = to_helm_release(&a, &kind, &settings, None);
    assert_eq!(hr["metadata"]["name"], "redis-cache");
    assert_eq!(hr["metadata"]["labels"]["apps.cozystack.io-team"], "x");
    assert_eq!(hr["metadata"]["annotations"], json!({"apps.cozystack.io-note": "hi"}));
    assert_eq!(hr["metadata"]["resourceVersion"], "42");
    assert_eq!(hr["metadata"]["uid"], "u-1");
    assert_eq!(hr["spec"]["maxHistory"], 0, "0 = unlimited is written explicitly");
    assert_eq!(hr["spec"]["install"]["timeout"], "15m0s");
    assert_eq!(hr["spec"]["upgrade"]["timeout"], "1h0m0s");
    assert_eq!(hr["spec"]["install"]["disableWait"], true);
    assert_eq!(hr["spec"]["upgrade"]["disableWait"], true);
    assert_eq!(hr["spec"]["waitStrategy"], json!({"name": "poller"}));
    assert_eq!(hr["spec"]["healthCheckExprs"][0]["kind"], "Pod");
    assert!(hr["spec"].get("values").is_none(), "a null spec writes no values");
    assert!(hr["spec"]["install"].get("remediation").is_none());
}

#[test]
fn update_keeps_what_the_mapping_does_not_own() {
    let kind = load_kind("postgres");
    let live = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {
            "name": "postgres-db",
            "namespace": "tenant-root",
            "uid": "live-uid",
            "resourceVersion": "99",
            "generation": 4,
            "finalizers": ["finalizers.fluxcd.io"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": "tenant-root", "uid": "ns"}],
            "managedFields": [{"manager": "helm-controller"}],
            "labels": {
                "sharding.fluxcd.io/key": "shard-2",
                "platform.cozystack.io/no-delete": "true",
                "apps.cozystack.io-old": "gone",
                "apps.cozystack.io/application.kind": "Postgres",
                "apps.cozystack.io/application.group": "apps.cozystack.io",
                "apps.cozystack.io/application.name": "db"
            },
            "annotations": {"reconcile.fluxcd.io/requestedAt": "now", "apps.cozystack.io-stale": "x"}
        },
        "spec": {
            "suspend": true,
            "chart": {"spec": {"chart": "old"}},
            "interval": "1m",
            "install": {"remediation": {"retries": 3}},
            "values": {"replicas": 1, "_cluster": {}}
        },
        "status": {"lastAttemptedRevision": "1.0.0"}
    });
    let mut a = app("db", "tenant-root", json!({"replicas": 2}));
    a.metadata.resource_version = Some("98".into());
    a.metadata.labels = Some([("new".to_string(), "yes".to_string())].into());
    let hr = to_helm_release(&a, &kind, &ReleaseSettings::default(), Some(&live));

    let meta = &hr["metadata"];
    assert_eq!(meta["resourceVersion"], "98", "the client's resourceVersion, never the live one");
    assert!(meta.get("uid").is_none(), "uid comes from the app only");
    assert!(meta.get("managedFields").is_none());
    assert_eq!(meta["finalizers"], json!(["finalizers.fluxcd.io"]));
    assert_eq!(meta["ownerReferences"][0]["kind"], "Namespace");
    assert_eq!(
        meta["labels"],
        json!({
            "sharding.fluxcd.io/key": "shard-2",
            "platform.cozystack.io/no-delete": "true",
            "apps.cozystack.io-new": "yes",
            "apps.cozystack.io/application.kind": "Postgres",
            "apps.cozystack.io/application.group": "apps.cozystack.io",
            "apps.cozystack.io/application.name": "db"
        })
    );
    assert_eq!(meta["annotations"], json!({"reconcile.fluxcd.io/requestedAt": "now"}));

    let spec = &hr["spec"];
    assert_eq!(spec["suspend"], true, "an operator's suspend survives");
    assert!(spec.get("chart").is_none(), "chart and chartRef are exclusive");
    assert_eq!(spec["interval"], "5m0s");
    assert!(spec["install"].get("remediation").is_none());
    assert_eq!(spec["values"], json!({"replicas": 2}));
    assert!(hr.get("status").is_none());
}

#[test]
fn update_without_live_shard_label_uses_the_definition() {
    let kind = load_kind("postgres");
    let live = json!({"metadata": {"name": "postgres-db", "labels": {"x": "1"}}, "spec": {}});
    let hr = to_helm_release(&app("db", "ns", json!({})), &kind, &ReleaseSettings::default(), Some(&live));
    assert_eq!(hr["metadata"]["labels"]["sharding.fluxcd.io/key"], "tenants");
    assert_eq!(hr["metadata"]["labels"]["x"], "1");
    assert_eq!(hr["spec"]["values"], json!({}));
}

fn release(labels: Value) -> Value {
    json!({"metadata": {"name": "postgres-db", "namespace": "tenant-root", "labels": labels}})
}

#[test]
fn ownership_checks_kind_group_and_optionally_name() {
    let kind = load_kind("postgres");
    let owned = json!({KIND_LABEL: "Postgres", GROUP_LABEL: "apps.cozystack.io", NAME_LABEL: "db"});
    let cases = [
        ("all labels", owned.clone(), true, true),
        ("no name label", json!({KIND_LABEL: "Postgres", GROUP_LABEL: "apps.cozystack.io"}), true, false),
        ("other kind", json!({KIND_LABEL: "Redis", GROUP_LABEL: "apps.cozystack.io"}), false, false),
        ("other group", json!({KIND_LABEL: "Postgres", GROUP_LABEL: "x"}), false, false),
        ("no labels", Value::Null, false, false),
    ];
    for (what, labels, get, delete) in cases {
        let hr = release(labels);
        assert_eq!(is_owned_by(&hr, &kind), get, "{what}");
        assert_eq!(is_owned_by_name(&hr, &kind, "db"), delete, "{what}");
    }
    assert!(!is_owned_by_name(&release(owned), &kind, "other"));
}

#[test]
fn reads_a_release_back() {
    let kind = load_kind("postgres");
    let hr = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {
            "name": "postgres-db",
            "namespace": "tenant-a",
            "uid": "u-1",
            "resourceVersion": "7",
            "generation": 3,
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "deletionTimestamp": "2026-01-03T00:00:00Z",
            "finalizers": ["finalizers.fluxcd.io"],
            "labels": {"apps.cozystack.io-team": "x", SHARD_LABEL: "tenants", KIND_LABEL: "Postgres"},
            "annotations": {"other": "y"}
        },
        "spec": {"values": {"replicas": 3, "_cluster": {"a": 1}, "_namespace": {}, "nested": {"_keep": 1}}},
        "status": {
            "lastAttemptedRevision": "0.1.4+abc",
            "conditions": [
                {"type": "Reconciling", "status": "True", "reason": "R", "message": "", "lastTransitionTime": "2026-01-02T03:04:05Z"},
                {"type": "Ready", "status": "False", "reason": "InstallFailed", "message": "boom", "observedGeneration": 3, "lastTransitionTime": "2026-01-02T03:04:06Z"},
                {"type": "Released", "status": "True", "reason": "InstallSucceeded", "message": "ok", "lastTransitionTime": "2026-01-02T03:04:07Z"}
            ]
        }
    });
    let a = from_helm_release(&hr, &kind).unwrap();
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(
        v,
        json!({
            "apiVersion": "apps.cozystack.io/v1alpha1",
            "kind": "Postgres",
            "metadata": {
                "name": "db",
                "namespace": "tenant-a",
                "uid": "u-1",
                "resourceVersion": "7",
                "generation": 3,
                "creationTimestamp": "2026-01-02T03:04:05Z",
                "deletionTimestamp": "2026-01-03T00:00:00Z",
                "labels": {"team": "x"}
            },
            "spec": {"replicas": 3, "nested": {"_keep": 1}},
            "status": {
                "version": "0.1.4+abc",
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "InstallFailed", "message": "boom", "lastTransitionTime": "2026-01-02T03:04:06Z"},
                    {"type": "Released", "status": "True", "reason": "InstallSucceeded", "message": "ok", "lastTransitionTime": "2026-01-02T03:04:07Z"}
                ]
            }
        })
    );
}

#[test]
fn tenant_status_carries_the_owned_namespace() {
    let kind = load_kind("tenant");
    let cases = [("tenant-root", "tenant-root", "tenant-root"), ("tenant-foo", "tenant-root", "tenant-foo"), ("tenant-bar", "tenant-foo", "tenant-foo-bar")];
    for (hr_name, ns, want) in cases {
        let hr = json!({"metadata": {"name": hr_name, "namespace": ns}});
        assert_eq!(from_helm_release(&hr, &kind).unwrap().status.namespace, want, "{hr_name} in {ns}");
    }
    let redis = from_helm_release(&json!({"metadata": {"name": "redis-x", "namespace": "n"}}), &load_kind("redis"));
    assert_eq!(redis.unwrap().status.namespace, "");
}

#[test]
fn unreadable_releases_are_errors() {
    let kind = load_kind("postgres");
    let cases = [("not an object", json!([1]), TranslateError::NotAnObject), ("no name", json!({"metadata": {}}), TranslateError::NoName)];
    for (what, hr, want) in cases {
        assert_eq!(from_helm_release(&hr, &kind).unwrap_err(), want, "{what}");
    }
    let bad_labels = json!({"metadata": {"name": "postgres-x", "labels": {"a": 1}}});
    assert!(matches!(from_helm_release(&bad_labels, &kind), Err(TranslateError::BadMetadata(_))));
    let bad_status = json!({"metadata": {"name": "postgres-x"}, "status": {"conditions": "no"}});
    assert!(matches!(from_helm_release(&bad_status, &kind), Err(TranslateError::BadStatus(_))));
}

#[test]
fn names_map_through_the_prefix() {
    let kind = load_kind("postgres");
    assert_eq!(release_name(&kind, "db"), "postgres-db");
    assert_eq!(app_name_from_release(&kind, "postgres-db"), "db");
    assert_eq!(app_name_from_release(&kind, "other"), "other", "no prefix: name kept, as TrimPrefix does");
}

fn string_maps() -> impl Strategy<Value = Option<BTreeMap<String, String>>> {
    prop::collection::btree_map("[a-z][a-z0-9./-]{0,12}", "[ -~]{0,10}", 0..4).prop_map(|m| (!m.is_empty()).then_some(m))
}

fn json_values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::from), any::<i64>().prop_map(Value::from), "[ -~]{0,8}".prop_map(Value::from),];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[ -~]{0,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn specs() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        6 => prop::collection::btree_map("[a-zA-Z][ -~]{0,6}", json_values(), 0..5)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

proptest! {
    #[test]
    fn round_trip_keeps_name_labels_annotations_and_spec(
        name in "[a-z]([-a-z0-9]{0,20}[a-z0-9])?",
        namespace in "[a-z][-a-z0-9]{0,20}",
        labels in string_maps(),
        annotations in string_maps(),
        spec in specs(),
        rv in proptest::option::of("[0-9]{1,6}"),
        kind_name in prop_oneof![Just("postgres"), Just("etcd"), Just("tenant")],
    ) {
        let kind = load_kind(kind_name);
        let mut a = app(&name, &namespace, spec);
        a.kind = kind.kind.clone();
        a.metadata.labels = labels;
        a.metadata.annotations = annotations;
        a.metadata.resource_version = rv;
        a.metadata.uid = Some("uid-1".into());
        let hr = to_helm_release(&a, &kind, &ReleaseSettings::default(), None);
        prop_assert!(is_owned_by_name(&hr, &kind, &name));
        let back = from_helm_release(&hr, &kind).unwrap();
        prop_assert_eq!(back.name(), a.name());
        prop_assert_eq!(&back.metadata.namespace, &a.metadata.namespace);
        prop_assert_eq!(&back.metadata.labels, &a.metadata.labels);
        prop_assert_eq!(&back.metadata.annotations, &a.metadata.annotations);
        prop_assert_eq!(&back.metadata.resource_version, &a.metadata.resource_version);
        prop_assert_eq!(&back.metadata.uid, &a.metadata.uid);
        prop_assert_eq!(&back.spec, &a.spec);
        // Writing the read-back object over the release changes nothing.
        let again = to_helm_release(&back, &kind, &ReleaseSettings::default(), Some(&hr));
        prop_assert_eq!(again, hr);
    }
}
