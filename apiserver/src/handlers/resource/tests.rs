//! Patch retries and deletecollection, through the real Postgres registry over the in-memory backend.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use apis::application::ReleaseSettings;
use serde_json::{Value, json};
use storage::backend::HELM_RELEASES;
use storage::backend::testing::{FakeBackend, status_error};
use storage::registry::{DeleteOptions, ListOptions, Registry, RequestContext, WriteOptions};

use super::patch::PatchType;
use super::{delete_collection, patch_object};

const NS: &str = "tenant-root";

fn settings() -> ReleaseSettings {
    let minute = Duration::from_secs(60);
    ReleaseSettings { interval: 5 * minute, retry_interval: minute, install_timeout: 10 * minute, upgrade_timeout: 10 * minute, max_history: 5 }
}

fn postgres(fake: &Arc<FakeBackend>) -> Arc<dyn Registry> {
    let defs = BTreeMap::from([("postgres".to_string(), apis::fixtures::application_definition("postgres"))]);
    let (registries, broken) = storage::definitions::build_registries(&defs, &settings(), &fake.backend());
    assert!(broken.is_empty(), "{broken:?}");
    registries.into_values().next().expect("the Postgres registry")
}

fn ctx() -> RequestContext {
    RequestContext { namespace: NS.into(), ..Default::default() }
}

async fn create(reg: &dyn Registry, name: &str, labels: Value) {
    let obj = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": name, "labels": labels}, "spec": {}});
    reg.create(&ctx(), obj, &WriteOptions::default()).await.expect("created");
}

fn conflict() -> storage::backend::BackendError {
    status_error(409, "Conflict", "Operation cannot be fulfilled on helmreleases.helm.toolkit.fluxcd.io \"postgres-db\": the object has been modified")
}

fn replaces(fake: &FakeBackend) -> usize {
    fake.calls().iter().filter(|(verb, _)| *verb == "replace").count()
}

#[tokio::test]
async fn a_patch_is_retried_on_conflicts() {
    let fake = FakeBackend::new();
    let reg = postgres(&fake);
    create(&*reg, "db", json!({})).await;
    fake.fail_next("replace", conflict());
    let (code, w) = patch_object(&*reg, &ctx(), "db", PatchType::Merge, br#"{"spec":{"replicas":3}}"#, &WriteOptions::default()).await.unwrap();
    assert_eq!((code.as_u16(), w.object["spec"]["replicas"].clone()), (200, json!(3)));
    assert_eq!(replaces(&fake), 2, "the conflict, then the retry");
}

#[tokio::test]
async fn a_patch_pinned_to_a_resource_version_is_not_retried() {
    let fake = FakeBackend::new();
    let reg = postgres(&fake);
    create(&*reg, "db", json!({})).await;
    fake.fail_next("replace", conflict());
    let body = br#"{"metadata":{"resourceVersion":"1"},"spec":{"replicas":3}}"#;
    let s = patch_object(&*reg, &ctx(), "db", PatchType::Merge, body, &WriteOptions::default()).await.unwrap_err();
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(replaces(&fake), 1);
}

#[tokio::test]
async fn a_patch_gives_up_after_its_attempts() {
    let fake = FakeBackend::new();
    let reg = postgres(&fake);
    create(&*reg, "db", json!({})).await;
    for _ in 0..super::PATCH_ATTEMPTS + 1 {
        fake.fail_next("replace", conflict());
    }
    let s = patch_object(&*reg, &ctx(), "db", PatchType::Merge, br#"{"spec":{"replicas":3}}"#, &WriteOptions::default()).await.unwrap_err();
    assert_eq!(s.code, 409);
    assert_eq!(replaces(&fake), super::PATCH_ATTEMPTS);
}

#[tokio::test]
async fn an_apply_creates_a_missing_object_and_records_its_manager() {
    let fake = FakeBackend::new();
    let reg = postgres(&fake);
    let config = super::patch::apply_config(b"apiVersion: apps.cozystack.io/v1alpha1\nkind: Postgres\nmetadata: {name: db}\nspec: {replicas: 4}\n").unwrap();
    let opts = WriteOptions { field_manager: "flux".into(), ..Default::default() };
    let (created, w) = reg.apply(&ctx(), "db", config.clone(), &opts).await.unwrap();
    assert!(created);
    assert_eq!(w.object["spec"]["replicas"], json!(4));
    let entries = w.object["metadata"]["managedFields"].as_array().expect("managedFields").clone();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!((entries[0]["manager"].as_str(), entries[0]["operation"].as_str()), (Some("flux"), Some("Apply")));
    assert_eq!(entries[0]["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
    // The same config again changes nothing.
    let rv = w.object["metadata"]["resourceVersion"].clone();
    let (created, again) = reg.apply(&ctx(), "db", config, &opts).await.unwrap();
    assert!(!created);
    assert_eq!(again.object["metadata"]["resourceVersion"], rv);
    assert!(fake.object(&HELM_RELEASES, NS, "postgres-db").is_some());
}

fn selecting(selector: &str) -> ListOptions {
    ListOptions { label_selector: apis::selector::LabelSelector::parse(selector).unwrap(), ..Default::default() }
}

fn names(items: &[storage::registry::SharedObject]) -> Vec<&str> {
    items.iter().map(|o| o.name().unwrap()).collect()
}

#[tokio::test]
async fn deletecollection_deletes_what_the_list_selects() {
    let fake = FakeBackend::new();
    let reg = postgres(&fake);
    for (name, labels) in [("a", json!({"team": "x"})), ("b", json!({"team": "x"})), ("c", json!({}))] {
        create(&*reg, name, labels).await;
    }
    let dry = DeleteOptions { dry_run: true, ..Default::default() };
    let out = delete_collection(&*reg, &ctx(), &selecting("team=x"), &dry).await.unwrap();
    assert_eq!(names(&out.items), ["a", "b"]);
    assert_eq!(fake.objects(&HELM_RELEASES).len(), 3, "a dry run deletes nothing");

    // One of them disappears meanwhile: the goal is reached all the same.
    fake.fail_next("delete", status_error(404, "NotFound", "helmreleases.helm.toolkit.fluxcd.io \"postgres-a\" not found"));
    let out = delete_collection(&*reg, &ctx(), &selecting("team=x"), &DeleteOptions::default()).await.unwrap();
    assert_eq!(names(&out.items), ["b"]);
    let left: Vec<String> = fake.objects(&HELM_RELEASES).iter().map(|o| o["metadata"]["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, ["postgres-a", "postgres-c"], "only the selected objects are deleted");

    fake.fail_next("delete", status_error(500, "InternalError", "etcd is down"));
    let s = delete_collection(&*reg, &ctx(), &selecting("team=x"), &DeleteOptions::default()).await.unwrap_err();
    assert_eq!(s.code, 503, "any other failure stops it");
}

/// The bytes of a JSON list response, whether one chunk or streamed.
async fn list_bytes(reg: &dyn Registry, list: storage::registry::ObjectList) -> (Vec<u8>, bool) {
    use http_body_util::BodyExt;
    let enc = super::encode::Encoder { repr: crate::negotiate::Representation::Json, include_object: "Metadata" };
    let resp = enc.respond_list(reg, list);
    let sized = hyper::body::Body::size_hint(resp.body()).exact().is_some();
    (resp.into_body().collect().await.unwrap().to_bytes().to_vec(), sized)
}

#[tokio::test]
async fn a_json_list_is_written_from_the_shared_encodings_as_serde_json_writes_it() {
    let fake = FakeBackend::new();
    let reg = postgres(&fake);
    // Small: one body with a length. Large (past one chunk): streamed. Both byte for byte the encoding of the
    // same list as one value.
    for (count, streamed) in [(0, false), (3, false), (400, true)] {
        let items: Vec<Value> = (0..count).map(|i| json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": format!("db-{i}"), "namespace": NS}, "spec": {"text": "x".repeat(200)}})).collect();
        let list = storage::registry::ObjectList {
            items: items.iter().cloned().map(Into::into).collect(),
            resource_version: "42".into(),
            continue_token: if count > 0 { "next".into() } else { String::new() },
            remaining_item_count: (count > 0).then_some(7),
        };
        let expected = {
            let enc = super::encode::Encoder { repr: crate::negotiate::Representation::Json, include_object: "Metadata" };
            serde_json::to_vec(&enc.list(&*reg, &list)).unwrap()
        };
        let (bytes, sized) = list_bytes(&*reg, list).await;
        assert_eq!(String::from_utf8(bytes).unwrap(), String::from_utf8(expected).unwrap(), "{count} items");
        assert_eq!(sized, !streamed, "{count} items");
    }
}

#[tokio::test]
async fn tables_and_metadata_lists_are_written_item_by_item_as_serde_json_writes_them_whole() {
    use http_body_util::BodyExt;
    use storage::registry::ObjectList;

    use crate::negotiate::Representation;
    let fake = FakeBackend::new();
    let reg = postgres(&fake);
    let forms = [
        (Representation::Table, "None"),
        (Representation::Table, "Metadata"),
        (Representation::Table, "Object"),
        (Representation::PartialMetadata, "Metadata"),
    ];
    for count in [0, 1, 50] {
        let items: Vec<Value> = (0..count)
            .map(|i| {
                let labels = json!({"team": format!("t{i}"), "note": "a \"quoted\" \"rows\":[] value"});
                json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": format!("db-{i}"), "namespace": NS, "labels": labels}, "spec": {"replicas": i}})
            })
            .collect();
        let list = ObjectList {
            items: items.iter().cloned().map(Into::into).collect(),
            resource_version: "42".into(),
            continue_token: "next".into(),
            remaining_item_count: Some(3),
        };
        for (repr, include_object) in forms {
            let enc = super::encode::Encoder { repr, include_object };
            let expected = serde_json::to_vec(&enc.list(&*reg, &list)).unwrap();
            let rows = serde_json::from_slice::<Value>(&expected).unwrap();
            let listed = rows.get("rows").or(rows.get("items")).and_then(Value::as_array).map(Vec::len);
            assert_eq!(listed, Some(count), "{include_object}: {rows}");
            let resp = enc.respond_list(&*reg, list.clone());
            assert_eq!(resp.headers()["content-type"], "application/json");
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(String::from_utf8(bytes.to_vec()).unwrap(), String::from_utf8(expected).unwrap(), "{count} items, {include_object}");
        }
    }
}
