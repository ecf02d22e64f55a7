//! Tests of the OpenAPI documents: built from the 31 fixture definitions and the core kinds, they are
//! self-contained (every reference resolves), sanitized, and carry what the aggregator and kubectl look for.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::resource::ResourceInfo;

/// An application kind as its registry describes it.
fn app_of(kind: &crate::application::AppKind, spec: &Value) -> Resource {
    let package = package(crate::APPS_GROUP, crate::VERSION);
    Resource { info: ResourceInfo::application(kind), schema: kinds::application(&package, &kind.kind, spec) }
}

/// A made-up application kind, described as [`app_of`] describes a real one.
fn app(kind: &str, plural: &str, spec: &Value) -> Resource {
    let package = package(crate::APPS_GROUP, crate::VERSION);
    let info = ResourceInfo {
        group: crate::APPS_GROUP.into(),
        version: crate::VERSION.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced: true,
        verbs: crate::resource::ALL_VERBS.to_vec(),
        short_names: vec![],
        categories: vec![],
    };
    Resource { info, schema: kinds::application(&package, kind, spec) }
}

/// The fixture kinds, read once for all tests.
fn fixtures() -> Vec<Resource> {
    static ALL: std::sync::OnceLock<Vec<Resource>> = std::sync::OnceLock::new();
    ALL.get_or_init(read_fixtures).clone()
}

fn read_fixtures() -> Vec<Resource> {
    crate::fixtures::application_definitions()
        .into_iter()
        .map(|(_, def)| {
            let spec = def.spec_schema().expect("JSON").unwrap_or(Value::Null);
            app_of(&crate::application::AppKind::from_definition(&def).expect("a valid fixture"), &spec)
        })
        .collect()
}

/// The core resources, described as their registries describe them.
fn core() -> Vec<Resource> {
    ResourceInfo::core_resources()
        .into_iter()
        .map(|info| {
            let schema = match info.kind.as_str() {
                "TenantNamespace" => core::tenant_namespace(),
                "TenantModule" => core::tenant_module(),
                "Option" => core::option(),
                _ => core::tenant_secret(),
            };
            Resource { info, schema }
        })
        .collect()
}

fn served() -> Vec<Resource> {
    let mut all = fixtures();
    all.extend(core());
    all.push(Resource { info: ResourceInfo::security_group(), schema: super::sdn::security_group() });
    all
}

fn postgres_spec() -> Value {
    let r = fixtures().into_iter().find(|r| r.info.kind == "Postgres").expect("Postgres fixture");
    r.schema.definitions[&r.schema.name]["properties"]["spec"].clone()
}

/// Every value of `key` anywhere in `v`, with its JSON pointer.
fn find_all<'a>(v: &'a Value, key: &str, at: String, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                if k == key {
                    out.push((here.clone(), x));
                }
                find_all(x, key, here, out);
            }
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| find_all(x, key, format!("{at}/{i}"), out)),
        _ => {}
    }
}

fn refs(doc: &Value) -> BTreeSet<String> {
    let mut out = Vec::new();
    find_all(doc, "$ref", String::new(), &mut out);
    out.into_iter().filter_map(|(_, v)| v.as_str().map(str::to_string)).collect()
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if method != "parameters" {
                out.push((path.clone(), method.clone(), op));
            }
        }
    }
    out
}

fn param_names(op: &Value) -> Vec<&str> {
    op["parameters"].as_array().map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect()).unwrap_or_default()
}

#[test]
fn v3_documents_are_self_contained() {
    let all = served();
    for group in [crate::APPS_GROUP, crate::CORE_GROUP, crate::SDN_GROUP] {
        let doc = document_v3(group, crate::VERSION, &all);
        assert_eq!(doc["openapi"], "3.0.0");
        assert_eq!(doc["info"]["title"], "Cozy");
        assert!(doc["info"]["version"].as_str().unwrap().starts_with("0.1-"), "{}", doc["info"]);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for r in refs(&doc) {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{group}: v3 reference {r}"));
            assert!(schemas.contains_key(name), "{group}: {r} does not resolve");
        }
        for path in doc["paths"].as_object().unwrap().keys() {
            assert!(path.starts_with(&format!("/apis/{group}/v1alpha1/")), "{group}: {path}");
        }
    }
}

#[test]
fn v2_document_is_self_contained_and_v2_only() {
    let doc = document_v2(&served());
    assert_eq!(doc["swagger"], "2.0");
    let defs = doc["definitions"].as_object().unwrap();
    for r in refs(&doc) {
        let name = r.strip_prefix("#/definitions/").unwrap_or_else(|| panic!("v2 reference {r}"));
        assert!(defs.contains_key(name), "{r} does not resolve");
    }
    for (key, within) in [("anyOf", &doc), ("oneOf", &doc), ("nullable", &doc), ("allOf", &doc), ("requestBody", &doc["paths"]), ("content", &doc["paths"])] {
        let mut found = Vec::new();
        find_all(within, key, String::new(), &mut found);
        assert!(found.is_empty(), "v2 document has {key} at {:?}", found.iter().map(|(p, _)| p).take(3).collect::<Vec<_>>());
    }
    let cpu = &defs["com.github.cozystack.cozystack.pkg.apis.apps.v1alpha1.Postgres"]["properties"]["spec"]["properties"]["resources"]["properties"]["cpu"];
    assert_eq!(cpu["type"], "string", "int-or-string is a string with the extension in v2: {cpu}");
    assert_eq!(cpu["x-kubernetes-int-or-string"], true);
    for (name, def) in defs.iter().filter(|(k, _)| k.starts_with("com.github.cozystack")) {
        let mut found = Vec::new();
        find_all(def, "default", String::new(), &mut found);
        // A property named `default` (OptionItem's) is no default.
        found.retain(|(path, _)| !path.ends_with("/properties/default"));
        assert!(found.is_empty(), "{name}: v2 carries no defaults, as kube-apiserver's v2 of a CRD: {:?}", found.first());
    }
    let meta = &defs["com.github.cozystack.cozystack.pkg.apis.apps.v1alpha1.Postgres"]["properties"]["metadata"];
    assert_eq!(meta["$ref"], "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "{meta}");
}

#[test]
fn no_boolean_additional_properties_is_ever_published() {
    let mut all = served();
    let spec = json!({"type": "object", "additionalProperties": false, "properties": {
        "free": {"type": "object", "additionalProperties": true},
        "closed": {"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}},
        "list": {"type": "array", "items": {"type": "object", "additionalProperties": true}},
    }});
    all.push(app("Booleans", "booleans", &spec));
    let docs = [document_v2(&all), document_v3(crate::APPS_GROUP, crate::VERSION, &all), document_v3(crate::CORE_GROUP, crate::VERSION, &all)];
    for doc in &docs {
        let mut found = Vec::new();
        find_all(doc, "additionalProperties", String::new(), &mut found);
        let booleans: Vec<&String> = found.iter().filter(|(_, v)| v.is_boolean()).map(|(p, _)| p).collect();
        assert!(booleans.is_empty(), "boolean additionalProperties at {booleans:?}");
    }
    let free = &docs[1]["components"]["schemas"]["com.github.cozystack.cozystack.pkg.apis.apps.v1alpha1.Booleans"]["properties"]["spec"]["properties"]["free"];
    assert_eq!(free, &json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
}

#[test]
fn every_kind_has_a_list_and_group_version_kinds() {
    let all = served();
    let v2 = document_v2(&all);
    let apps = document_v3(crate::APPS_GROUP, crate::VERSION, &all);
    let core = document_v3(crate::CORE_GROUP, crate::VERSION, &all);
    let sdn = document_v3(crate::SDN_GROUP, crate::VERSION, &all);
    for r in &all {
        let v3 = match r.info.group.as_str() {
            crate::APPS_GROUP => &apps,
            crate::SDN_GROUP => &sdn,
            _ => &core,
        };
        let schemas = &v3["components"]["schemas"];
        let defs = &v2["definitions"];
        for (name, kind) in [(r.schema.name.clone(), r.info.kind.clone()), (format!("{}List", r.schema.name), format!("{}List", r.info.kind))] {
            let want = json!([{"group": r.info.group, "kind": kind, "version": "v1alpha1"}]);
            assert_eq!(schemas[&name]["x-kubernetes-group-version-kind"], want, "v3 {name}");
            assert_eq!(defs[&name]["x-kubernetes-group-version-kind"], want, "v2 {name}");
        }
        assert_eq!(schemas[format!("{}List", r.schema.name)]["properties"]["items"]["items"]["$ref"], format!("#/components/schemas/{}", r.schema.name));
    }
    // The shared apimachinery kinds name our group versions, so that the aggregator merges their lists.
    let delete_options = &v2["definitions"]["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]["x-kubernetes-group-version-kind"];
    for group in ["", crate::APPS_GROUP, crate::CORE_GROUP, crate::SDN_GROUP] {
        assert!(delete_options.as_array().unwrap().iter().any(|g| g["group"] == group), "{group}: {delete_options}");
    }
}

#[test]
fn writes_list_the_parameters_kubectl_checks() {
    let all = served();
    let sdn = document_v3(crate::SDN_GROUP, crate::VERSION, &all);
    for doc in [document_v3(crate::APPS_GROUP, crate::VERSION, &all), document_v3(crate::CORE_GROUP, crate::VERSION, &all), sdn, document_v2(&all)] {
        for (path, method, op) in operations(&doc) {
            let names = param_names(op);
            let want: &[&str] = match (method.as_str(), op["x-kubernetes-action"].as_str().unwrap()) {
                ("patch", _) => &["dryRun", "fieldManager", "fieldValidation", "force"],
                ("post" | "put", _) => &["dryRun", "fieldManager", "fieldValidation"],
                ("delete", _) => &["dryRun"],
                _ => &[],
            };
            for p in want {
                assert!(names.contains(p), "{method} {path} lacks {p}: {names:?}");
            }
            assert!(op["x-kubernetes-group-version-kind"].is_object(), "{method} {path}");
            let consumes = op.get("consumes").or_else(|| op["requestBody"].get("content")).map(|c| c.to_string()).unwrap_or_default();
            assert!(!consumes.contains("strategic-merge-patch"), "{method} {path}: {consumes}");
            if method == "patch" {
                for t in ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"] {
                    assert!(consumes.contains(t), "{method} {path} does not take {t}: {consumes}");
                }
            }
        }
    }
}

#[test]
fn operations_follow_the_verbs_served() {
    let all = served();
    let doc = document_v3(crate::CORE_GROUP, crate::VERSION, &all);
    let ops: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(p, m, op)| (p, format!("{m} {}", op["operationId"].as_str().unwrap()))).collect();
    let p = "/apis/core.cozystack.io/v1alpha1";
    let want: BTreeSet<(String, String)> = [
        // Cluster-scoped, read-only.
        (format!("{p}/tenantnamespaces"), "get listCoreCozystackIoV1alpha1TenantNamespace"),
        (format!("{p}/tenantnamespaces/{{name}}"), "get readCoreCozystackIoV1alpha1TenantNamespace"),
        (format!("{p}/watch/tenantnamespaces"), "get watchCoreCozystackIoV1alpha1TenantNamespaceList"),
        (format!("{p}/watch/tenantnamespaces/{{name}}"), "get watchCoreCozystackIoV1alpha1TenantNamespace"),
        // Namespaced, read-only.
        (format!("{p}/namespaces/{{namespace}}/tenantmodules"), "get listCoreCozystackIoV1alpha1NamespacedTenantModule"),
        (format!("{p}/namespaces/{{namespace}}/tenantmodules/{{name}}"), "get readCoreCozystackIoV1alpha1NamespacedTenantModule"),
        (format!("{p}/tenantmodules"), "get listCoreCozystackIoV1alpha1TenantModuleForAllNamespaces"),
        (format!("{p}/watch/namespaces/{{namespace}}/tenantmodules"), "get watchCoreCozystackIoV1alpha1NamespacedTenantModuleList"),
        (format!("{p}/watch/namespaces/{{namespace}}/tenantmodules/{{name}}"), "get watchCoreCozystackIoV1alpha1NamespacedTenantModule"),
        (format!("{p}/watch/tenantmodules"), "get watchCoreCozystackIoV1alpha1TenantModuleListForAllNamespaces"),
        // Namespaced, every verb but deletecollection.
        (format!("{p}/namespaces/{{namespace}}/tenantsecrets"), "get listCoreCozystackIoV1alpha1NamespacedTenantSecret"),
        (format!("{p}/namespaces/{{namespace}}/tenantsecrets"), "post createCoreCozystackIoV1alpha1NamespacedTenantSecret"),
        (format!("{p}/namespaces/{{namespace}}/tenantsecrets/{{name}}"), "get readCoreCozystackIoV1alpha1NamespacedTenantSecret"),
        (format!("{p}/namespaces/{{namespace}}/tenantsecrets/{{name}}"), "put replaceCoreCozystackIoV1alpha1NamespacedTenantSecret"),
        (format!("{p}/namespaces/{{namespace}}/tenantsecrets/{{name}}"), "patch patchCoreCozystackIoV1alpha1NamespacedTenantSecret"),
        (format!("{p}/namespaces/{{namespace}}/tenantsecrets/{{name}}"), "delete deleteCoreCozystackIoV1alpha1NamespacedTenantSecret"),
        (format!("{p}/tenantsecrets"), "get listCoreCozystackIoV1alpha1TenantSecretForAllNamespaces"),
        (format!("{p}/watch/namespaces/{{namespace}}/tenantsecrets"), "get watchCoreCozystackIoV1alpha1NamespacedTenantSecretList"),
        (format!("{p}/watch/namespaces/{{namespace}}/tenantsecrets/{{name}}"), "get watchCoreCozystackIoV1alpha1NamespacedTenantSecret"),
        (format!("{p}/watch/tenantsecrets"), "get watchCoreCozystackIoV1alpha1TenantSecretListForAllNamespaces"),
        // Namespaced, read-only.
        (format!("{p}/namespaces/{{namespace}}/options"), "get listCoreCozystackIoV1alpha1NamespacedOption"),
        (format!("{p}/namespaces/{{namespace}}/options/{{name}}"), "get readCoreCozystackIoV1alpha1NamespacedOption"),
        (format!("{p}/options"), "get listCoreCozystackIoV1alpha1OptionForAllNamespaces"),
        (format!("{p}/watch/namespaces/{{namespace}}/options"), "get watchCoreCozystackIoV1alpha1NamespacedOptionList"),
        (format!("{p}/watch/namespaces/{{namespace}}/options/{{name}}"), "get watchCoreCozystackIoV1alpha1NamespacedOption"),
        (format!("{p}/watch/options"), "get watchCoreCozystackIoV1alpha1OptionListForAllNamespaces"),
    ]
    .into_iter()
    .map(|(a, b)| (a, b.to_string()))
    .collect();
    assert_eq!(ops, want);
    let item = &doc["paths"][format!("{p}/tenantnamespaces/{{name}}")]["parameters"];
    assert_eq!(
        item.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["name", "pretty"],
        "no namespace for a cluster-scoped kind"
    );
}

#[test]
fn published_spec_rows() {
    let puf = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    let rows = [
        (json!(null), puf.clone(), "no schema: anything goes"),
        (json!({}), puf.clone(), "empty schema: anything goes"),
        (puf.clone(), puf.clone(), "the fallback of a broken schema is published as is"),
        (
            json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            "a structural root stays closed: the server prunes unknown fields",
        ),
        (json!({"type": "object", "additionalProperties": true}), puf.clone(), "a root open by additionalProperties stays open"),
        (
            json!({"type": "object", "additionalProperties": {"type": "string"}}),
            json!({"type": "object", "additionalProperties": {"type": "string"}}),
            "a map root stays a map",
        ),
    ];
    for (input, want, why) in rows {
        assert_eq!(kinds::publishable_spec(&input), want, "{why}");
    }
    let spec = postgres_spec();
    assert_eq!(spec["properties"]["quorum"]["default"], json!({"maxSyncReplicas": 0, "minSyncReplicas": 0}), "completed default");
    assert!(spec.get("x-kubernetes-preserve-unknown-fields").is_none(), "{spec}");
    assert_eq!(spec["properties"]["storageClass"]["x-kubernetes-validations"], json!([{"rule": "self == oldSelf", "message": "storageClass is immutable"}]));
    assert_eq!(spec["properties"]["backup"]["properties"]["enabled"]["default"], false);
}

#[test]
fn documents_are_stable_and_change_with_the_definitions() {
    let all = served();
    let bytes = |rs: &[Resource]| serde_json::to_vec(&document_v3(crate::APPS_GROUP, crate::VERSION, rs)).unwrap();
    assert_eq!(bytes(&all), bytes(&served()), "same input, same bytes");
    let mut changed = served();
    let r = changed.iter_mut().find(|r| r.info.kind == "Redis").unwrap();
    *r = app("Redis", "redises", &json!({"type": "object", "properties": {"size": {"type": "string"}}}));
    assert_ne!(etag(&bytes(&all)), etag(&bytes(&changed)));
    let v2 = |rs: &[Resource]| serde_json::to_vec(&document_v2(rs)).unwrap();
    assert_ne!(etag(&v2(&all)), etag(&v2(&changed)));
    assert_eq!(etag(b"").len(), 128, "hex SHA-512");
    let fewer: Vec<Resource> = all.iter().filter(|r| r.info.kind != "Redis").cloned().collect();
    let doc = document_v3(crate::APPS_GROUP, crate::VERSION, &fewer);
    assert!(doc["components"]["schemas"].get("com.github.cozystack.cozystack.pkg.apis.apps.v1alpha1.Redis").is_none());
    assert!(doc["paths"].get("/apis/apps.cozystack.io/v1alpha1/namespaces/{namespace}/redises").is_none());
}

#[test]
fn discovery_points_at_each_group_version_with_its_hash() {
    let d = v3_discovery([("apps.cozystack.io", "v1alpha1", "ab12"), ("core.cozystack.io", "v1alpha1", "cd34")]);
    assert_eq!(
        d,
        json!({"paths": {
            "apis/apps.cozystack.io/v1alpha1": {"serverRelativeURL": "/openapi/v3/apis/apps.cozystack.io/v1alpha1?hash=ab12"},
            "apis/core.cozystack.io/v1alpha1": {"serverRelativeURL": "/openapi/v3/apis/core.cozystack.io/v1alpha1?hash=cd34"},
        }})
    );
}

#[test]
fn generic_and_core_schemas_are_named_as_upstream() {
    let rows = [
        (core::tenant_namespace().name, "com.github.cozystack.cozystack.pkg.apis.core.v1alpha1.TenantNamespace"),
        (core::tenant_module().name, "com.github.cozystack.cozystack.pkg.apis.core.v1alpha1.TenantModule"),
        (core::tenant_secret().name, "com.github.cozystack.cozystack.pkg.apis.core.v1alpha1.TenantSecret"),
        (kinds::generic(&package("core.cozystack.io", "v1alpha1"), "Option").name, "com.github.cozystack.cozystack.pkg.apis.core.v1alpha1.Option"),
        (core::option().name, "com.github.cozystack.cozystack.pkg.apis.core.v1alpha1.Option"),
        (app("Postgres", "postgreses", &json!({})).schema.name, "com.github.cozystack.cozystack.pkg.apis.apps.v1alpha1.Postgres"),
    ];
    for (got, want) in rows {
        assert_eq!(got, want);
    }
    let secret = core::tenant_secret();
    assert_eq!(secret.definitions[&secret.name]["properties"]["data"]["additionalProperties"]["format"], "byte");
}

#[test]
fn v2_operations_take_bodies_as_parameters() {
    let doc = document_v2(&served());
    let item = &doc["paths"]["/apis/apps.cozystack.io/v1alpha1/namespaces/{namespace}/postgreses/{name}"];
    let patch = &item["patch"];
    assert_eq!(patch["consumes"], json!(["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"]));
    assert_eq!(patch["produces"], json!(["application/json", "application/yaml"]));
    assert_eq!(
        patch["parameters"][0],
        json!({"name": "body", "in": "body", "required": true, "schema": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}})
    );
    let field_validation = patch["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "fieldValidation").unwrap();
    assert_eq!((&field_validation["in"], &field_validation["type"], field_validation.get("schema")), (&json!("query"), &json!("string"), None));
    assert_eq!(patch["responses"]["200"]["schema"]["$ref"], "#/definitions/com.github.cozystack.cozystack.pkg.apis.apps.v1alpha1.Postgres");
    assert_eq!(item["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect::<Vec<_>>(), ["name", "namespace", "pretty"]);
}

#[test]
fn complete_defaults_rows() {
    let rows = [
        (
            json!({"type": "object", "default": {}, "required": ["a"], "properties": {"a": {"type": "boolean", "default": false}, "b": {"type": "string"}}}),
            json!({"a": false}),
            "required child with a default",
        ),
        (
            json!({"type": "object", "default": {"b": {}}, "properties": {"b": {"type": "object", "properties": {"c": {"type": "integer", "default": 1}}}}}),
            json!({"b": {"c": 1}}),
            "a nested object given in the default is filled too",
        ),
        (
            json!({"type": "object", "default": {"x": {}}, "additionalProperties": {"type": "object", "properties": {"size": {"type": "string", "default": "1Gi"}}}}),
            json!({"x": {"size": "1Gi"}}),
            "map values get the value schema's defaults",
        ),
        (
            json!({"type": "array", "default": [{}], "items": {"type": "object", "properties": {"n": {"type": "integer", "default": 3}}}}),
            json!([{"n": 3}]),
            "array items get the item schema's defaults",
        ),
        (json!({"type": "object", "default": {"a": true}, "properties": {"a": {"type": "boolean", "default": false}}}), json!({"a": true}), "given values win"),
        (
            json!({"type": "object", "default": {"a": 1, "b": {"c": 2, "d": 3}}, "properties": {"b": {"type": "object", "properties": {"c": {"type": "integer"}}}}}),
            json!({"b": {"c": 2}}),
            "unknown fields are pruned, as the server prunes them",
        ),
        (
            json!({"type": "object", "default": {"a": {"x": 1}}, "properties": {"a": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}),
            json!({"a": {"x": 1}}),
            "preserved unknown fields stay",
        ),
    ];
    for (mut schema, want, why) in rows {
        kinds::complete_defaults(&mut schema);
        assert_eq!(schema["default"], want, "{why}");
    }
}

#[test]
fn the_security_group_document_names_upstreams_definitions() {
    let all = served();
    let doc = document_v3(crate::SDN_GROUP, crate::VERSION, &all);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let package = "com.github.cozystack.cozystack.pkg.apis.sdn.v1alpha1";
    for short in [
        "SecurityGroup",
        "SecurityGroupList",
        "SecurityGroupSpec",
        "ApplicationReference",
        "IngressRule",
        "EgressRule",
        "PortRule",
        "PortProtocol",
        "FQDNSelector",
    ] {
        assert!(schemas.contains_key(&format!("{package}.{short}")), "{short}");
    }
    let sg = &schemas[&format!("{package}.SecurityGroup")];
    assert_eq!(sg["x-kubernetes-group-version-kind"], json!([{"group": "sdn.cozystack.io", "kind": "SecurityGroup", "version": "v1alpha1"}]));
    assert_eq!(sg["properties"]["spec"]["default"], json!({}));
    assert!(sg["properties"].get("status").is_none(), "a SecurityGroup has no status");
    let list = &schemas[&format!("{package}.SecurityGroupList")];
    assert_eq!(list["required"], json!(["items"]));
    assert_eq!(list["x-kubernetes-group-version-kind"][0]["kind"], "SecurityGroupList");
    assert_eq!(schemas[&format!("{package}.ApplicationReference")]["required"], json!(["kind", "name"]));
    let ops: BTreeSet<String> = operations(&doc).into_iter().map(|(_, _, op)| op["operationId"].as_str().unwrap().to_string()).collect();
    assert!(ops.contains("createSdnCozystackIoV1alpha1NamespacedSecurityGroup"), "{ops:?}");
    assert!(ops.contains("listSdnCozystackIoV1alpha1SecurityGroupForAllNamespaces"), "{ops:?}");
    assert!(!ops.iter().any(|o| o.contains("Collection")), "no deletecollection: {ops:?}");

    // The published shape is the one pruning keeps: every field of the structural schema is a property of the
    // definition of the same place, and the other way round.
    fn fields(schema: &Value, schemas: &serde_json::Map<String, Value>, at: &str, out: &mut BTreeSet<String>) {
        let resolve = |v: &Value| -> Value {
            match v["allOf"][0]["$ref"].as_str() {
                Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
                None => v.clone(),
            }
        };
        let schema = resolve(schema);
        for (k, p) in schema["properties"].as_object().into_iter().flatten() {
            let here = format!("{at}.{k}");
            out.insert(here.clone());
            let p = resolve(p);
            let next = if p["type"] == "array" { resolve(&p["items"]) } else { p };
            fields(&next, schemas, &here, out);
        }
    }
    let (mut published, mut structural) = (BTreeSet::new(), BTreeSet::new());
    fields(&sg["properties"]["spec"], schemas, "spec", &mut published);
    fields(&crate::security_group::spec_schema(), schemas, "spec", &mut structural);
    assert_eq!(published, structural);
}
