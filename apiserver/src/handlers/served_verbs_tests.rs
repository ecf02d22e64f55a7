//! Every verb a served resource publishes in its OpenAPI document is routed to it and listed by discovery,
//! and every verb it serves is published: for the 31 fixture application kinds, every core resource and
//! SecurityGroup,
//! built with the real registries over the in-memory backend.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use apis::application::ReleaseSettings;
use serde_json::Value;
use storage::backend::testing::FakeBackend;
use storage::catalog::Catalog;

use crate::request_info::RequestInfo;

fn settings() -> ReleaseSettings {
    let minute = Duration::from_secs(60);
    ReleaseSettings { interval: 5 * minute, retry_interval: minute, install_timeout: 10 * minute, upgrade_timeout: 10 * minute, max_history: 5 }
}

/// The verb of an OpenAPI operation, from its id as kube-apiserver names operations.
fn verb_of(operation_id: &str) -> &'static str {
    let rows: &[(&str, &str)] = &[("list", "list"), ("read", "get"), ("watch", "watch"), ("create", "create"), ("replace", "update"), ("patch", "patch")];
    if operation_id.starts_with("delete") {
        return if operation_id.contains("Collection") { "deletecollection" } else { "delete" };
    }
    rows.iter().find(|(prefix, _)| operation_id.starts_with(prefix)).map(|(_, v)| *v).unwrap_or_else(|| panic!("unknown operation {operation_id}"))
}

#[tokio::test]
async fn published_verbs_are_served_and_served_verbs_are_published() {
    let fake = FakeBackend::new();
    let backend = fake.backend();
    let defs: BTreeMap<_, _> = apis::fixtures::application_definitions().into_iter().collect();
    let (mut resources, broken) = storage::definitions::build_registries(&defs, &settings(), &backend);
    assert!(broken.is_empty(), "{broken:?}");
    assert_eq!(resources.len(), 31, "every fixture kind");
    let core = storage::resources::core_registries(&backend, storage::rbac_index::RbacIndex::new());
    let core_kinds: BTreeSet<String> = core.values().map(|r| r.info().kind.clone()).collect();
    let described: BTreeSet<String> = apis::resource::ResourceInfo::fixed_resources().into_iter().map(|i| i.kind).collect();
    assert_eq!(core_kinds, described, "every fixed resource is described once, in apis");
    resources.extend(core);
    let groups = vec![apis::APPS_GROUP.to_string(), apis::CORE_GROUP.to_string(), apis::SDN_GROUP.to_string()];
    let catalog = Catalog::new(groups.clone());
    catalog.replace(resources);
    let snap = catalog.snapshot();

    let docs = super::openapi::resources(&snap);
    // (group, plural) → verbs, as published in the v3 documents.
    let mut published: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for group in &groups {
        let doc = apis::openapi::document_v3(group, apis::VERSION, &docs);
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap().iter().filter(|(_, op)| op.get("operationId").is_some()) {
                let verb = verb_of(op["operationId"].as_str().unwrap());
                let concrete = path.replace("{namespace}", "tenant-root").replace("{name}", "x");
                let info = RequestInfo::parse(method.to_uppercase(), &concrete, None);
                let registry = snap.get(&info.api_group, &info.resource).unwrap_or_else(|| panic!("{method} {path}: no registry"));
                let ri = registry.info();
                assert_eq!(info.verb, verb, "{method} {path}: the operation's verb is the request's");
                assert!(super::resource::route(ri, &info).is_ok(), "{method} {path}: {verb} is published but not routed");
                published.entry((ri.group.clone(), ri.plural.clone())).or_default().insert(verb.to_string());
            }
        }
    }

    for ((group, plural), registry) in &snap.resources {
        let ri = registry.info();
        let serves: BTreeSet<String> = ri.verbs.iter().map(|v| v.to_string()).collect();
        let key = (group.clone(), plural.clone());
        assert_eq!(published.get(&key), Some(&serves), "{plural}.{group}: published verbs are the served verbs");
        let discovery = super::discovery::resource_list(group, &snap);
        let listed = discovery["resources"].as_array().unwrap().iter().find(|r| r["name"] == plural.as_str()).expect("listed by discovery");
        let verbs: BTreeSet<String> = listed["verbs"].as_array().unwrap().iter().map(|v: &Value| v.as_str().unwrap().to_string()).collect();
        assert_eq!(verbs, serves, "{plural}.{group}: discovery lists the served verbs");
        for verb in &serves {
            // Every served verb is routed somewhere the documents publish.
            assert!(published[&key].contains(verb), "{plural}.{group}: {verb} is served but not published");
        }
    }
    assert_eq!(published.len(), 36, "31 application kinds, 4 core resources and SecurityGroup");
    assert!(published.contains_key(&(apis::SDN_GROUP.to_string(), "securitygroups".to_string())), "SecurityGroup is published");
}
