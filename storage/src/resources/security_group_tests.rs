//! SecurityGroups over the in-memory backend: what is written to the CiliumNetworkPolicy, what is read back,
//! and that policies without the marker are never seen or touched.

use std::sync::Arc;

use apis::security_group::{ATTACHMENTS_ANNOTATION, MARKER_LABEL, MEMBERSHIP_FINALIZER};
use serde_json::{Value, json};

use super::*;
use crate::backend::testing::FakeBackend;
use crate::registry::{DeleteOptions, Deleted, ListOptions, Registry, SharedObject};
use crate::store::Store;

const NS: &str = "tenant-a";

fn store(fake: &Arc<FakeBackend>) -> Store<SecurityGroupRegistry> {
    Store::new(Arc::new(SecurityGroupRegistry::new()), fake.backend())
}

fn ctx() -> RequestContext {
    RequestContext { namespace: NS.into(), ..Default::default() }
}

fn group(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "sdn.cozystack.io/v1alpha1", "kind": "SecurityGroup", "metadata": {"name": name, "labels": {"app": "web"}}, "spec": spec})
}

fn policy(fake: &FakeBackend, name: &str) -> Option<Value> {
    fake.object(&CILIUM_NETWORK_POLICIES, NS, name)
}

fn unmarked(name: &str) -> Value {
    json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": name, "namespace": NS, "labels": {"team": "platform"}},
           "spec": {"endpointSelector": {}, "ingress": [{"fromEntities": ["cluster"]}]}})
}

#[tokio::test]
async fn create_get_list_update_delete() {
    let fake = FakeBackend::new();
    let store = store(&fake);
    let (c, w) = (ctx(), WriteOptions::default());
    let spec = json!({"attachments": [{"kind": "Postgres", "name": "db"}], "ingress": [{"fromSG": ["admins"], "toPorts": [{"ports": [{"port": "5432", "protocol": "tcp"}]}]}]});
    let created = store.create(&c, group("web", spec), &w).await.unwrap().object;
    assert_eq!(created["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(created["spec"]["attachments"], json!([{"apiGroup": "apps.cozystack.io", "kind": "Postgres", "name": "db"}]));
    assert_eq!(created["spec"]["ingress"][0]["toPorts"][0]["ports"][0]["protocol"], "TCP");
    let backing = policy(&fake, "web").unwrap();
    assert_eq!(backing["metadata"]["labels"], json!({"app": "web", MARKER_LABEL: "true"}));
    assert_eq!(backing["metadata"]["annotations"][ATTACHMENTS_ANNOTATION], r#"[{"apiGroup":"apps.cozystack.io","kind":"Postgres","name":"db"}]"#);
    assert_eq!(backing["spec"]["endpointSelector"], json!({"matchLabels": {"securitygroup.sdn.cozystack.io/web": ""}}));
    assert_eq!(store.get(&c, "web").await.unwrap(), created);

    let list = store.list(&c, &ListOptions::default()).await.unwrap();
    assert_eq!(list.items, vec![SharedObject::from(created.clone())]);

    let mut changed = created.clone();
    changed["spec"] = json!({"egress": [{"toFQDNs": [{"matchName": "example.com"}]}]});
    let updated = store.update(&c, "web", changed, &w).await.unwrap().object;
    assert_eq!(updated["spec"], json!({"egress": [{"toFQDNs": [{"matchName": "example.com"}]}]}));
    let backing = policy(&fake, "web").unwrap();
    assert_eq!(backing["spec"]["ingress"], json!([]), "no ingress rules are written as an empty list");
    let annotations = backing["metadata"]["annotations"].as_object().map(|a| a.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(annotations, [crate::projection::MANAGED_FIELDS_ANNOTATION], "no attachments, no annotation but the managedFields: {backing}");

    // A stale resourceVersion is a conflict about the SecurityGroup.
    let s = store.update(&c, "web", created, &w).await.unwrap_err().to_status();
    assert_eq!(
        (s.code, s.message.as_str()),
        (
            409,
            "Operation cannot be fulfilled on securitygroups.sdn.cozystack.io \"web\": the object has been modified; please apply your changes to the latest version and try again"
        )
    );

    match store.delete(&c, "web", &DeleteOptions::default()).await.unwrap() {
        Deleted::Gone(last) => assert_eq!(last["metadata"]["name"], "web"),
        Deleted::Pending(o) => panic!("nothing holds it: {o}"),
    }
    assert!(policy(&fake, "web").is_none());
    let s = store.get(&c, "web").await.unwrap_err().to_status();
    assert_eq!((s.code, s.message.as_str()), (404, "securitygroups.sdn.cozystack.io \"web\" not found"));
}

#[tokio::test]
async fn an_unmarked_policy_is_invisible_and_untouched() {
    let fake = FakeBackend::new();
    let store = store(&fake);
    let (c, w) = (ctx(), WriteOptions::default());
    let before = fake.put(&CILIUM_NETWORK_POLICIES, unmarked("isolation"));
    let not_found = "securitygroups.sdn.cozystack.io \"isolation\" not found";
    assert_eq!(store.get(&c, "isolation").await.unwrap_err().to_status().message, not_found);
    assert!(store.list(&c, &ListOptions::default()).await.unwrap().items.is_empty());
    let mut over = group("isolation", json!({}));
    over["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"].clone();
    assert_eq!(store.update(&c, "isolation", over.clone(), &w).await.unwrap_err().to_status().message, not_found);
    assert_eq!(store.delete(&c, "isolation", &DeleteOptions::default()).await.unwrap_err().to_status().message, not_found);
    let s = store.create(&c, group("isolation", json!({})), &w).await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(policy(&fake, "isolation").unwrap(), before, "the policy is as it was");
}

#[tokio::test]
async fn an_update_keeps_the_membership_finalizer_the_controller_added() {
    let fake = FakeBackend::new();
    let store = store(&fake);
    let (c, w) = (ctx(), WriteOptions::default());
    store.create(&c, group("web", json!({})), &w).await.unwrap();
    let mut backing = policy(&fake, "web").unwrap();
    backing["metadata"]["finalizers"] = json!([MEMBERSHIP_FINALIZER]);
    fake.put(&CILIUM_NETWORK_POLICIES, backing);

    let mut read = store.get(&c, "web").await.unwrap();
    assert_eq!(read["metadata"]["finalizers"], json!([MEMBERSHIP_FINALIZER]), "shown");
    read["metadata"]["finalizers"] = json!(["example.com/mine"]);
    let updated = store.update(&c, "web", read, &w).await.unwrap().object;
    assert_eq!(updated["metadata"]["finalizers"], json!(["example.com/mine", MEMBERSHIP_FINALIZER]));
    assert_eq!(policy(&fake, "web").unwrap()["metadata"]["finalizers"], json!(["example.com/mine", MEMBERSHIP_FINALIZER]));

    // With the finalizer pending, a delete leaves the group terminating.
    match store.delete(&c, "web", &DeleteOptions::default()).await.unwrap() {
        Deleted::Pending(o) => assert!(o["metadata"]["deletionTimestamp"].is_string(), "{o}"),
        Deleted::Gone(o) => panic!("the finalizer holds it: {o}"),
    }
}

#[tokio::test]
async fn a_policy_edited_by_someone_else_reads_back() {
    let fake = FakeBackend::new();
    let store = store(&fake);
    let (c, w) = (ctx(), WriteOptions::default());
    store.create(&c, group("web", json!({})), &w).await.unwrap();
    let mut backing = policy(&fake, "web").unwrap();
    backing["spec"]["ingress"] = json!([{"fromCIDR": ["10.0.0.0/8"], "fromEntities": ["world"]}]);
    backing["spec"]["egress"] = json!([{"toEndpoints": [{"matchLabels": {"securitygroup.sdn.cozystack.io/db": ""}}]}]);
    backing["metadata"]["annotations"] = json!({ATTACHMENTS_ANNOTATION: r#"[{"apiGroup":"apps.cozystack.io","kind":"Redis","name":"cache"}]"#});
    fake.put(&CILIUM_NETWORK_POLICIES, backing);
    let read = store.get(&c, "web").await.unwrap();
    assert_eq!(
        read["spec"],
        json!({"attachments": [{"apiGroup": "apps.cozystack.io", "kind": "Redis", "name": "cache"}], "ingress": [{"fromCIDR": ["10.0.0.0/8"]}], "egress": [{"toSG": ["db"]}]})
    );
    assert!(read["metadata"].get("annotations").is_none());
}

#[tokio::test]
async fn bad_specs_are_refused_before_anything_is_written() {
    let fake = FakeBackend::new();
    let store = store(&fake);
    let c = ctx();
    let w = WriteOptions::default();
    let s = store.create(&c, group("web", json!({"ingress": [{"fromSG": ["world"], "fromCIDR": ["nope"]}]})), &w).await.unwrap_err().to_status();
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    let fields: Vec<&str> = s.details.as_ref().unwrap().causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["spec.ingress[0].fromSG[0]", "spec.ingress[0].fromCIDR[0]"]);
    assert!(s.message.starts_with("SecurityGroup.sdn.cozystack.io \"web\" is invalid: ["), "{}", s.message);

    let s = store.create(&c, group("web", json!({"ingress": [{"toPorts": [{"ports": [{"port": 80}]}]}]})), &w).await.unwrap_err().to_status();
    assert_eq!(s.code, 400, "{}", s.message);
    assert!(s.message.starts_with("SecurityGroup in version \"v1alpha1\" cannot be handled as a SecurityGroup: "), "{}", s.message);

    // Unknown fields: warned about and dropped by default, refused when strict.
    let extra = group("web", json!({"ingress": [{"fromSG": ["a"], "fromEntities": ["world"]}], "enableDefaultDeny": true}));
    let strict = WriteOptions { field_validation: FieldValidation::Strict, ..Default::default() };
    let s = store.create(&c, extra.clone(), &strict).await.unwrap_err().to_status();
    assert_eq!(s.message, "strict decoding error: unknown field \"spec.enableDefaultDeny\", unknown field \"spec.ingress[0].fromEntities\"");
    assert!(fake.objects(&CILIUM_NETWORK_POLICIES).is_empty(), "nothing is written");

    let created = store.create(&c, extra, &w).await.unwrap();
    assert_eq!(created.warnings, ["unknown field \"spec.enableDefaultDeny\"", "unknown field \"spec.ingress[0].fromEntities\""]);
    assert_eq!(policy(&fake, "web").unwrap()["spec"]["ingress"], json!([{"fromEndpoints": [{"matchLabels": {"securitygroup.sdn.cozystack.io/a": ""}}]}]));
}
