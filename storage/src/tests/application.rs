//! What the application registry checks and writes: defaults, names, reserved keys, prefixed labels.

use serde_json::{Value, json};

use super::{ctx, pg, postgres};
use crate::backend::HELM_RELEASES;
use crate::backend::testing::FakeBackend;
use crate::registry::{Registry, WriteOptions};

const NS: &str = "tenant-root";

#[tokio::test]
async fn defaults_are_written_on_create() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let created = store.create(&ctx(NS), pg("db", json!({"size": "20Gi"})), &WriteOptions::default()).await.unwrap().object;
    assert_eq!((created["spec"]["replicas"].clone(), created["spec"]["size"].clone()), (json!(2), json!("20Gi")));
    let values = &fake.object(&HELM_RELEASES, NS, "postgres-db").unwrap()["spec"]["values"];
    assert_eq!(values["replicas"], 2, "defaults reach the HelmRelease, not only the answer");
    assert_eq!(values["version"], "v18");
    assert_eq!(values["size"], "20Gi");
}

#[tokio::test]
async fn names_are_validated() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    for bad in ["Bad", "1db", "a_b", &"x".repeat(60)] {
        let s = store.create(&ctx(NS), pg(bad, json!({})), &WriteOptions::default()).await.unwrap_err().to_status();
        assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{bad}");
        assert!(s.message.starts_with(&format!("Postgres.apps.cozystack.io \"{bad}\" is invalid: metadata.name")), "{bad}: {}", s.message);
    }
    assert!(fake.objects(&HELM_RELEASES).is_empty());
}

#[tokio::test]
async fn reserved_keys_are_refused() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let s = store.create(&ctx(NS), pg("db", json!({"_cluster": {"x": 1}})), &WriteOptions::default()).await.unwrap_err().to_status();
    assert_eq!(s.code, 400);
    assert!(s.message.contains("\"_cluster\" is reserved"), "{}", s.message);
    let created = store.create(&ctx(NS), pg("db", json!({})), &WriteOptions::default()).await.unwrap().object;
    let mut sneaky = created.clone();
    sneaky["spec"]["_namespace"] = json!({});
    assert_eq!(store.update(&ctx(NS), "db", sneaky, &WriteOptions::default()).await.unwrap_err().to_status().code, 400, "on update too");
}

#[tokio::test]
async fn user_labels_and_annotations_are_prefixed_in_the_release() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let mut obj = pg("db", json!({}));
    obj["metadata"]["labels"] = json!({"team": "x"});
    obj["metadata"]["annotations"] = json!({"note": "y"});
    let created = store.create(&ctx(NS), obj, &WriteOptions::default()).await.unwrap().object;
    assert_eq!(created["metadata"]["labels"], json!({"team": "x"}), "read back without the prefix");
    let hr = fake.object(&HELM_RELEASES, NS, "postgres-db").unwrap();
    let labels = &hr["metadata"]["labels"];
    assert_eq!(labels["apps.cozystack.io-team"], "x");
    assert!(labels.get("team").is_none());
    assert_eq!(labels["apps.cozystack.io/application.kind"], "Postgres");
    assert_eq!(labels["apps.cozystack.io/application.name"], "db");
    assert_eq!(hr["metadata"]["annotations"]["apps.cozystack.io-note"], "y");
    assert_eq!(hr.pointer("/metadata/annotations/note"), None::<&Value>);
}

#[tokio::test]
async fn a_release_without_the_apps_name_label_is_not_deleted_through_the_app() {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    let c = ctx(NS);
    store.create(&c, pg("db", json!({})), &WriteOptions::default()).await.unwrap();
    let mut release = fake.object(&HELM_RELEASES, NS, "postgres-db").unwrap();
    release["metadata"]["labels"].as_object_mut().unwrap().remove("apps.cozystack.io/application.name");
    fake.put(&HELM_RELEASES, release);
    assert!(store.get(&c, "db").await.is_ok(), "still read as the app");
    let s = store.delete(&c, "db", &crate::registry::DeleteOptions::default()).await.unwrap_err().to_status();
    assert_eq!((s.code, s.message.as_str()), (404, "postgreses.apps.cozystack.io \"db\" not found"));
    assert!(fake.object(&HELM_RELEASES, NS, "postgres-db").is_some(), "the HelmRelease stays");
}

struct NoKinds;
impl crate::admission::policies::KindResolver for NoKinds {
    fn resolve<'a>(&'a self, _: &'a str, kind: &'a str) -> futures::future::BoxFuture<'a, Result<crate::backend::BackingResource, String>> {
        Box::pin(async move { Err(format!("no kind {kind}")) })
    }
}

#[tokio::test]
async fn mutating_policies_change_the_defaulted_object_before_its_validation() {
    use crate::admission::mutating_policies::{BINDINGS, MutatingPolicies, POLICIES};
    let fake = FakeBackend::new();
    fake.put(
        &POLICIES,
        json!({"metadata": {"name": "p"}, "spec": {
            "matchConstraints": {"resourceRules": [{"apiGroups": ["apps.cozystack.io"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["postgreses"]}]},
            "reinvocationPolicy": "Never",
            "mutations": [
                {"patchType": "ApplyConfiguration", "applyConfiguration": {"expression": "Object{metadata: Object.metadata{labels: {'by': 'map'}}, spec: Object.spec{replicas: object.spec.replicas + 1}}"}},
                {"patchType": "JSONPatch", "jsonPatch": {"expression": "[JSONPatch{op: 'add', path: '/spec/unknownField', value: 1}]"}},
            ]}}),
    );
    fake.put(&BINDINGS, json!({"metadata": {"name": "b"}, "spec": {"policyName": "p"}}));
    let store = postgres(&fake);
    let policies = std::sync::Arc::new(MutatingPolicies::new(super::backend(&fake), std::sync::Arc::new(NoKinds), None, None));
    let chain = crate::admission::AdmissionChain::new(vec![]).with_mutating(vec![policies]);
    let c = crate::registry::RequestContext { admission: std::sync::Arc::new(chain), ..ctx(NS) };
    let created = store.create(&c, pg("db", json!({})), &WriteOptions::default()).await.unwrap().object;
    // The policy saw replicas defaulted (2); the unknown field its JSONPatch added is pruned silently.
    assert_eq!(created["metadata"]["labels"]["by"], "map");
    assert_eq!(created["spec"]["replicas"], 3);
    assert!(created["spec"].get("unknownField").is_none());
}

#[tokio::test]
async fn the_test_on_encoded_releases_never_refuses_a_release_of_the_kind() {
    use crate::projection::Projection;
    let fake = FakeBackend::new();
    let b = super::backend(&fake);
    postgres(&fake).create(&ctx(NS), pg("db", json!({})), &WriteOptions::default()).await.unwrap();
    let release = fake.object(&HELM_RELEASES, NS, "postgres-db").unwrap();
    let (postgres, redis) = (super::application("postgres", &b), super::application("redis", &b));
    let mut unlabelled = release.clone();
    unlabelled["metadata"]["labels"].as_object_mut().unwrap().remove("apps.cozystack.io/application.kind");
    // The same text elsewhere passes the test; the translation then refuses it.
    unlabelled["metadata"]["annotations"] = json!({"apps.cozystack.io/application.kind": "Postgres"});
    let mut other_group = release.clone();
    other_group["metadata"]["labels"]["apps.cozystack.io/application.group"] = json!("example.com");
    for (why, object, ours) in [("its own", &release, true), ("without the kind label", &unlabelled, false), ("of another group", &other_group, false)] {
        let encoded = serde_json::to_vec(object).unwrap();
        assert_eq!(postgres.served(object).is_some(), ours, "{why}");
        // A false may only ever mean "not ours"; a true leaves the decision to the translation.
        assert!(postgres.may_own_encoded(&encoded) || !ours, "{why}");
        assert!(!redis.may_own_encoded(&encoded), "{why}: another kind's release is refused without parsing it");
    }
}
