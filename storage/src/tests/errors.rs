//! Backend Statuses about a backing object become Statuses about the user's object: the served kind, group
//! and name, the same code and reason, causes kept, label keys and field paths as the user wrote them.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{backend, ctx, pg, postgres};
use crate::backend::testing::{FakeBackend, status_from_json};
use crate::registry::{Registry, WriteOptions};
use crate::resources::tenant_secret::TenantSecretRegistry;
use crate::store::Store;

const LABEL_DETAIL: &str = "name part must consist of alphanumeric characters, '-', '_' or '.'";

fn invalid_release(code: u16, reason: &str, causes: Value) -> Value {
    let clauses: Vec<String> =
        causes.as_array().unwrap().iter().map(|c| format!("{}: {}", c["field"].as_str().unwrap(), c["message"].as_str().unwrap())).collect();
    let list = if clauses.len() == 1 { clauses[0].clone() } else { format!("[{}]", clauses.join(", ")) };
    json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
        "message": format!("HelmRelease.helm.toolkit.fluxcd.io \"postgres-db\" is invalid: {list}"),
        "details": {"name": "postgres-db", "group": "helm.toolkit.fluxcd.io", "kind": "HelmRelease", "causes": causes}
    })
}

async fn create_failing_with(status: Value) -> apis::status::Status {
    let fake = FakeBackend::new();
    let store = postgres(&fake);
    fake.fail_next("create", status_from_json(status));
    store.create(&ctx("tenant-root"), pg("db", json!({})), &WriteOptions::default()).await.unwrap_err().to_status()
}

fn assert_nothing_of_the_backing_object(s: &apis::status::Status) {
    let text = serde_json::to_string(s).unwrap();
    for leak in ["HelmRelease", "helm.toolkit.fluxcd.io", "postgres-db", "apps.cozystack.io-", "spec.values"] {
        assert!(!text.contains(leak), "{leak:?} leaks into {text}");
    }
}

#[tokio::test]
async fn an_invalid_label_is_the_users_label() {
    let cause =
        json!({"reason": "FieldValueInvalid", "field": "metadata.labels", "message": format!("Invalid value: \"apps.cozystack.io-bad key\": {LABEL_DETAIL}")});
    let s = create_failing_with(invalid_release(422, "Invalid", json!([cause]))).await;
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert_eq!(s.message, format!("Postgres.apps.cozystack.io \"db\" is invalid: metadata.labels: Invalid value: \"bad key\": {LABEL_DETAIL}"));
    let d = s.details.as_ref().unwrap();
    assert_eq!((d.kind.as_str(), d.group.as_str(), d.name.as_str()), ("Postgres", "apps.cozystack.io", "db"));
    assert_eq!(d.causes.len(), 1);
    assert_eq!((d.causes[0].reason.as_str(), d.causes[0].field.as_str()), ("FieldValueInvalid", "metadata.labels"));
    assert_eq!(d.causes[0].message, format!("Invalid value: \"bad key\": {LABEL_DETAIL}"));
    assert_nothing_of_the_backing_object(&s);
}

#[tokio::test]
async fn every_cause_is_kept_and_values_are_the_spec() {
    let causes = json!([
        {"reason": "FieldValueTooLong", "field": "metadata.annotations", "message": "Too long: may not be more than 262144 bytes"},
        {"reason": "FieldValueInvalid", "field": "metadata.annotations[apps.cozystack.io-note]", "message": "Invalid value: \"apps.cozystack.io-note\": bad"},
        {"reason": "FieldValueRequired", "field": "spec.values.size", "message": "Required value"}
    ]);
    let s = create_failing_with(invalid_release(422, "Invalid", causes)).await;
    let fields: Vec<&str> = s.details.as_ref().unwrap().causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["metadata.annotations", "metadata.annotations[note]", "spec.size"]);
    assert_eq!(
        s.message,
        "Postgres.apps.cozystack.io \"db\" is invalid: [metadata.annotations: Too long: may not be more than 262144 bytes, metadata.annotations[note]: Invalid value: \"note\": bad, spec.size: Required value]"
    );
    assert_nothing_of_the_backing_object(&s);
}

#[tokio::test]
async fn a_bad_request_stays_a_bad_request() {
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 400, "reason": "BadRequest",
        "message": format!("HelmRelease.helm.toolkit.fluxcd.io \"postgres-db\" is invalid: metadata.labels: Invalid value: \"apps.cozystack.io-x\": {LABEL_DETAIL}")
    });
    let s = create_failing_with(status).await;
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
    assert_eq!(s.message, format!("Postgres.apps.cozystack.io \"db\" is invalid: metadata.labels: Invalid value: \"x\": {LABEL_DETAIL}"));
    assert_nothing_of_the_backing_object(&s);
}

#[tokio::test]
async fn a_secret_is_the_tenant_secret() {
    let fake = FakeBackend::new();
    let b = backend(&fake);
    let store = Store::new(Arc::new(TenantSecretRegistry::new()), b);
    let cause = json!({"reason": "FieldValueInvalid", "field": "data[bad key]", "message": "Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters"});
    fake.fail_next(
        "create",
        status_from_json(json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422, "reason": "Invalid",
            "message": "Secret \"creds\" is invalid: data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters",
            "details": {"name": "creds", "kind": "Secret", "causes": [cause]}
        })),
    );
    let obj = json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantSecret", "metadata": {"name": "creds"}, "data": {}});
    let s = store.create(&ctx("tenant-root"), obj, &WriteOptions::default()).await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        s.message,
        "TenantSecret.core.cozystack.io \"creds\" is invalid: data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters"
    );
    assert_eq!(s.details.unwrap().causes[0].field, "data[bad key]");
}

/// Found by fuzzing: a body just under the server's limit makes a HelmRelease over kube-apiserver's, which answers
/// 413; that is the client's object being too large, not the backend being unavailable (503).
#[tokio::test]
async fn an_object_too_large_for_the_backend_is_413_naming_it() {
    let s = create_failing_with(json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 413, "reason": "RequestEntityTooLarge",
        "message": "Request entity too large: limit is 3145728"
    }))
    .await;
    assert_eq!(s.code, 413);
    assert_eq!(s.message, "Postgres.apps.cozystack.io \"db\" is too large to store: Request entity too large: limit is 3145728");
    assert_nothing_of_the_backing_object(&s);
}
