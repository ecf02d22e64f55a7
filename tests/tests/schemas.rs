//! Schemas end to end: the OpenAPI documents as the aggregator, kubectl and a generated client use them;
//! defaulting and validation compared with kube-apiserver serving the same schemas as CRDs; broken definitions.

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::twins::{DEFS, crd_spec, create_crds, definition, fixture, fixtures, serve, spec_schema};
use e2e::{APPS, ControlPlane, namespace, raw, req, run_ok, unique, wait_until};
use serde_json::{Value, json};

const APPS_V3: &str = "apis/apps.cozystack.io/v1alpha1";

/// Status code, headers and body bytes of a request.
async fn fetch(client: &kube::Client, req: http::Request<Vec<u8>>) -> (u16, http::HeaderMap, Vec<u8>) {
    let resp = client.send(req.map(kube::client::Body::from)).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = http_body_util::BodyExt::collect(body).await.unwrap().to_bytes().to_vec();
    (parts.status.as_u16(), parts.headers, bytes)
}

fn get_with(path: &str, accept: Option<&str>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::get(path);
    if let Some(a) = accept {
        b = b.header("Accept", a);
    }
    b.body(Vec::new()).unwrap()
}

/// Deletes what a test made outside its namespace (definitions, CRDs) and the namespace itself when the test
/// ends, passed or failed, so that a reused control plane is left as it was found.
struct Cleanup<'a> {
    cp: &'a ControlPlane,
    objects: Vec<String>,
}

impl<'a> Cleanup<'a> {
    fn new(cp: &'a ControlPlane) -> Self {
        Self { cp, objects: Vec::new() }
    }

    /// Deletes `object` (`kind/name`, as kubectl takes it) at the end.
    fn add(&mut self, object: String) {
        self.objects.push(object);
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for o in &self.objects {
            let _ = self.cp.kubectl().args(["delete", o, "--wait=false", "--ignore-not-found"]).output();
        }
    }
}

/// Waits until kube-apiserver's /openapi/v3 lists our apps group version and serves that document, and
/// returns it with its server-relative URL. `ready` says whether the document is the one the caller waits for
/// (definitions change while other tests run, so "the current one" is a moving target).
async fn aggregated_v3(cp: &ControlPlane, what: &str, ready: impl Fn(&Value) -> bool) -> (String, Value) {
    let admin = cp.admin().await.unwrap();
    let found = std::sync::Mutex::new((String::new(), Value::Null));
    wait_until(what, Duration::from_secs(90), || async {
        let root = raw(&admin, req("GET", "/openapi/v3", None)).await.unwrap().1;
        let Some(url) = root["paths"][APPS_V3]["serverRelativeURL"].as_str() else {
            return false;
        };
        let (code, doc) = raw(&admin, req("GET", url, None)).await.unwrap();
        let done = code == 200 && ready(&doc);
        *found.lock().unwrap() = (url.to_string(), doc);
        done
    })
    .await
    .unwrap();
    found.into_inner().unwrap()
}

/// [`aggregated_v3`] for any document: kubectl can read our schemas through kube-apiserver.
async fn published_v3(cp: &ControlPlane) -> String {
    aggregated_v3(cp, "the aggregator to serve our v3 document", |_| true).await.0
}

fn find_booleans(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "additionalProperties" && x.is_boolean() {
                    out.push(format!("{at}/{k}"));
                }
                find_booleans(x, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| find_booleans(x, &format!("{at}/{i}"), out)),
        _ => {}
    }
}

#[tokio::test]
async fn v3_documents_follow_the_hash_protocol_directly_and_through_the_aggregator() {
    let cp = ControlPlane::shared();
    let ours = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await.unwrap();
    let (code, root) = raw(&ours, req("GET", "/openapi/v3", None)).await.unwrap();
    assert_eq!(code, 200, "{root}");
    for gv in [APPS_V3, "apis/core.cozystack.io/v1alpha1"] {
        let url = root["paths"][gv]["serverRelativeURL"].as_str().unwrap_or_else(|| panic!("{gv} missing: {root}")).to_string();
        let hash = url.split("hash=").nth(1).unwrap().to_string();
        let (code, headers, body) = fetch(&ours, get_with(&url, None)).await;
        assert_eq!(code, 200, "{gv}");
        assert_eq!(apis::openapi::etag(&body), hash, "{gv}: the hash is the SHA-512 of the document");
        assert_eq!(headers["etag"], format!("\"{hash}\"").as_str());
        assert_eq!(headers["cache-control"], "public, immutable");
        assert!(headers["expires"].to_str().unwrap().ends_with("GMT"));
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["openapi"], "3.0.0");
        let mut booleans = Vec::new();
        find_booleans(&doc, "", &mut booleans);
        assert!(booleans.is_empty(), "{gv}: boolean additionalProperties at {booleans:?}");
        // Every PATCH lists fieldValidation: that is what makes kubectl validate on the server.
        for (path, item) in doc["paths"].as_object().unwrap() {
            if let Some(patch) = item.get("patch") {
                let names: Vec<&str> = patch["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
                for p in ["dryRun", "fieldManager", "fieldValidation", "force"] {
                    assert!(names.contains(&p), "PATCH {path} lacks {p}");
                }
            }
        }
        let gv_path = url.split('?').next().unwrap();
        let (code, headers, _) = fetch(&ours, get_with(&format!("{gv_path}?hash=0BADC0DE"), None)).await;
        // Definitions change while other tests run: the current URL is whatever the root says now.
        let location = headers["location"].to_str().unwrap().to_string();
        assert_eq!(code, 301, "{gv}: an unknown hash redirects");
        assert!(location.starts_with(&format!("{gv_path}?hash=")), "{location}");
        let (code, _, _) = fetch(&ours, get_with(&location, None)).await;
        assert_eq!(code, 200, "{gv}: to the current URL");
        let (code, _, _) = fetch(&ours, get_with(gv_path, Some("application/com.github.proto-openapi.spec.v3.v1.0+protobuf"))).await;
        assert_eq!(code, 406, "{gv}: JSON only");
        let (code, headers, _) = fetch(&ours, get_with(gv_path, Some("application/json"))).await;
        assert_eq!(code, 200);
        assert!(headers.get("cache-control").is_none(), "{gv}: only the hashed URL is immutable");
    }
    // kube-apiserver lists and proxies the same document.
    let url = published_v3(cp).await;
    let admin = cp.admin().await.unwrap();
    let (code, _, through) = fetch(&admin, get_with(&url, Some("application/json"))).await;
    let (direct_code, _, direct) = fetch(&ours, get_with(&url, None)).await;
    assert_eq!((code, direct_code), (200, 200), "{url}");
    assert!(through == direct, "{url}: the aggregator serves our document unchanged");
}

#[tokio::test]
async fn v2_is_merged_by_the_aggregator_without_renamed_definitions() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let merged = std::sync::Mutex::new(Value::Null);
    wait_until("the aggregator to merge our v2 document", Duration::from_secs(90), || async {
        let doc = raw(&admin, req("GET", "/openapi/v2", None)).await.unwrap().1;
        let done = doc["paths"].get(format!("{APPS}/namespaces/{{namespace}}/postgreses/{{name}}")).is_some()
            && doc["paths"].get("/apis/core.cozystack.io/v1alpha1/tenantnamespaces").is_some();
        *merged.lock().unwrap() = doc;
        done
    })
    .await
    .unwrap();
    let doc = merged.into_inner().unwrap();
    let defs = doc["definitions"].as_object().unwrap();
    let renamed: Vec<&String> = defs.keys().filter(|k| k.starts_with("io.k8s.apimachinery") && k.contains("_v")).collect();
    assert!(renamed.is_empty(), "our apimachinery definitions differ from kube-apiserver's: {renamed:?}");
    let pkg = "com.github.cozystack.cozystack.pkg.apis.apps.v1alpha1";
    assert_eq!(
        defs[&format!("{pkg}.Postgres")]["x-kubernetes-group-version-kind"],
        json!([{"group": "apps.cozystack.io", "kind": "Postgres", "version": "v1alpha1"}])
    );
    assert_eq!(defs[&format!("{pkg}.PostgresList")]["x-kubernetes-group-version-kind"][0]["kind"], "PostgresList");
    let delete_options = defs["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]["x-kubernetes-group-version-kind"].to_string();
    assert!(delete_options.contains("apps.cozystack.io") && delete_options.contains("core.cozystack.io"), "group-version-kinds merged: {delete_options}");
    let mut booleans = Vec::new();
    for (name, d) in defs.iter().filter(|(k, _)| k.starts_with("com.github.cozystack")) {
        find_booleans(d, name, &mut booleans);
    }
    assert!(booleans.is_empty(), "boolean additionalProperties at {booleans:?}");
    let patch = &doc["paths"][format!("{APPS}/namespaces/{{namespace}}/postgreses/{{name}}")]["patch"];
    assert_eq!(patch["consumes"], json!(["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"]));
}

#[tokio::test]
async fn kubectl_explain_reads_the_published_schemas() {
    let cp = ControlPlane::shared();
    published_v3(cp).await;
    let cache = cp.state.join(unique("kcache-explain"));
    let cache = cache.to_str().unwrap();
    let out = cp.kubectl_ok(&["explain", "postgres.spec.backup", "--cache-dir", cache]).unwrap();
    assert!(out.contains("KIND:       Postgres") && out.contains("GROUP:      apps.cozystack.io"), "{out}");
    assert!(out.contains("Backup configuration.") && out.contains("enabled\t<boolean> -required-") && out.contains("schedule\t<string>"), "{out}");
    let out = cp.kubectl_ok(&["explain", "tenants", "--recursive", "--cache-dir", cache]).unwrap();
    assert!(out.contains("KIND:       Tenant"), "{out}");
    for field in ["metadata\t<ObjectMeta>", "spec\t<Object>", "status\t<", "resourceQuotas\t<map[string]", "conditions\t<[]Condition>"] {
        assert!(out.contains(field), "explain tenants --recursive lacks {field:?}:\n{out}");
    }
    let out = cp.kubectl_ok(&["explain", "tenantsecrets.data", "--cache-dir", cache]).unwrap();
    assert!(out.contains("KIND:       TenantSecret") && out.contains("map[string]string"), "{out}");
}

#[tokio::test]
async fn kubectl_validate_strict_refuses_unknown_fields_and_validate_false_prunes_them() {
    let cp = ControlPlane::shared();
    published_v3(cp).await;
    let ns = namespace(cp, "strict");
    let cache = cp.state.join(unique("kcache-strict"));
    let manifest = cp.state.join(format!("{ns}.yaml"));
    std::fs::write(&manifest, format!("apiVersion: apps.cozystack.io/v1alpha1\nkind: Postgres\nmetadata:\n  name: db\n  namespace: {ns}\nspec:\n  replicas: 2\n  bogus: 1\n  backup:\n    nonsense: true\n")).unwrap();
    let apply =
        |validate: &str| cp.kubectl().args(["apply", validate, "-f", manifest.to_str().unwrap(), "--cache-dir", cache.to_str().unwrap()]).output().unwrap();
    let out = apply("--validate=strict");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(r#"strict decoding error: unknown field "spec.backup.nonsense", unknown field "spec.bogus""#), "{stderr}");
    let got = cp.kubectl().args(["get", "postgres", "db", "-n", &ns]).output().unwrap();
    assert!(!got.status.success(), "nothing was created");
    let out = apply("--validate=false");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let spec: Value = serde_json::from_str(&cp.kubectl_ok(&["get", "postgres", "db", "-n", &ns, "-o", "jsonpath={.spec}"]).unwrap()).unwrap();
    assert_eq!(spec["replicas"], 2);
    assert!(spec.get("bogus").is_none() && spec["backup"].get("nonsense").is_none(), "pruned: {spec}");
    let values = cp.kubectl_ok(&["get", "helmreleases.helm.toolkit.fluxcd.io", "postgres-db", "-n", &ns, "-o", "jsonpath={.spec.values}"]).unwrap();
    assert!(!values.contains("bogus") && !values.contains("nonsense"), "{values}");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn changing_the_postgres_storage_class_is_refused_with_the_rule_message() {
    let cp = ControlPlane::shared();
    let ns = namespace(cp, "immutable");
    let admin = cp.admin().await.unwrap();
    let path = format!("{APPS}/namespaces/{ns}/postgreses");
    let pg =
        json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": "db", "namespace": ns}, "spec": {"storageClass": "fast"}});
    let (code, mut created) = raw(&admin, req("POST", &path, Some(pg.clone()))).await.unwrap();
    assert_eq!(code, 201, "{created}");
    created["spec"]["storageClass"] = "slow".into();
    let (code, body) = raw(&admin, req("PUT", &format!("{path}/db"), Some(created.clone()))).await.unwrap();
    assert_eq!((code, body["reason"].as_str()), (422, Some("Invalid")), "{body}");
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "FieldValueInvalid", "message": "Invalid value: \"slow\": storageClass is immutable", "field": "spec.storageClass"}])
    );
    let patch = http::Request::patch(format!("{path}/db"))
        .header("Content-Type", "application/merge-patch+json")
        .body(br#"{"spec":{"storageClass":"slow"}}"#.to_vec())
        .unwrap();
    let (code, body) = raw(&admin, patch).await.unwrap();
    assert_eq!(code, 422);
    assert!(body["message"].as_str().unwrap().contains("storageClass is immutable"), "{body}");
    // Other changes still go through.
    let patch =
        http::Request::patch(format!("{path}/db")).header("Content-Type", "application/merge-patch+json").body(br#"{"spec":{"replicas":5}}"#.to_vec()).unwrap();
    let (code, body) = raw(&admin, patch).await.unwrap();
    assert_eq!((code, &body["spec"]["storageClass"]), (200, &json!("fast")), "{body}");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn defaults_of_every_fixture_kind_appear_on_read_as_kube_apiserver_applies_them() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "defaults");
    let group = format!("defaults-{}.cozystack.io", std::process::id());
    let defs = fixtures();
    assert_eq!(defs.len(), 31);
    let kinds: Vec<(String, String, Value)> = defs
        .iter()
        .map(|d| {
            (d["spec"]["application"]["kind"].as_str().unwrap().to_string(), d["spec"]["application"]["plural"].as_str().unwrap().to_string(), spec_schema(d))
        })
        .collect();
    let mut cleanup = Cleanup::new(cp);
    cleanup.add(format!("namespace/{ns}"));
    kinds.iter().for_each(|(_, plural, _)| cleanup.add(format!("crd/{plural}.{group}")));
    let accepted = create_crds(&admin, &group, &kinds).await;
    for (kind, plural, schema) in &kinds {
        // Distinct names: tenant modules have no release prefix, so their releases would clash.
        let name = kind.to_lowercase();
        let body = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": {}});
        let (code, created) = raw(&admin, req("POST", &format!("{APPS}/namespaces/{ns}/{plural}"), Some(body.clone()))).await.unwrap();
        assert_eq!(code, 201, "{kind}: {created}");
        let (_, got) = raw(&admin, req("GET", &format!("{APPS}/namespaces/{ns}/{plural}/{name}"), None)).await.unwrap();
        let spec = &got["spec"];
        for (field, prop) in schema["properties"].as_object().into_iter().flatten() {
            if prop.get("default").is_some() {
                assert!(spec.get(field).is_some(), "{kind}: default of spec.{field} missing on read: {spec}");
            }
        }
        let mut root = crd_spec(schema);
        root["default"] = json!({});
        apis::openapi::kinds::complete_defaults(&mut root);
        if accepted.contains(kind) {
            let mut cr = body.clone();
            cr["apiVersion"] = format!("{group}/v1alpha1").into();
            let (code, cr) = raw(&admin, req("POST", &format!("/apis/{group}/v1alpha1/namespaces/{ns}/{plural}"), Some(cr.clone()))).await.unwrap();
            assert_eq!(code, 201, "{kind} CRD: {cr}");
            assert_eq!(spec, &cr["spec"], "{kind}: our defaults differ from kube-apiserver's for the same schema");
        } else {
            assert_eq!(spec, &root["default"], "{kind}: defaults on read");
        }
    }
    assert!(accepted.len() >= 10, "kube-apiserver accepted too few fixture schemas as CRDs to compare: {accepted:?}");
}

/// A Status answer reduced to what must match: code, reason and the causes as a set.
fn verdict(code: u16, status: &Value, crd_group: &str) -> (u16, String, BTreeSet<(String, String, String)>) {
    let text = |v: &Value| v.as_str().unwrap_or_default().replace(crd_group, "apps.cozystack.io");
    let causes = status["details"]["causes"].as_array().into_iter().flatten().map(|c| (text(&c["field"]), text(&c["reason"]), text(&c["message"]))).collect();
    (code, text(&status["reason"]), causes)
}

#[tokio::test]
async fn validation_errors_match_kube_apiserver_for_a_crd_with_the_same_schema() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "difftest");
    let tag = unique("w").replace('-', "");
    let widget = format!("Widget{tag}");
    let widget_schema = json!({"type": "object", "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 5},
        "count": {"type": "integer", "minimum": 1, "maximum": 10},
        "ratio": {"type": "number", "multipleOf": 0.5},
        "mode": {"type": "string", "enum": ["a", "b"]},
        "code": {"type": "string", "pattern": "^[a-z]+$"},
        "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        "server": {"type": "object", "required": ["host"], "properties": {"host": {"type": "string"}, "port": {"type": "integer", "default": 80}}},
        "limits": {"type": "object", "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                   "x-kubernetes-validations": [{"rule": "!has(self.min) || !has(self.max) || self.min <= self.max", "message": "min must not exceed max"}]},
        "labels": {"type": "object", "maxProperties": 2, "additionalProperties": {"type": "string", "maxLength": 3}},
        "size": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "size is immutable"}]},
        "replicas": {"type": "integer", "default": 1, "x-kubernetes-validations": [{"rule": "self >= oldSelf", "message": "replicas may only grow"}]},
        "pair": {"type": "object", "properties": {"a": {"type": "integer"}}, "x-kubernetes-validations": [
            {"rule": "!has(self.a) || self.a != 1", "message": "taken", "reason": "FieldValueDuplicate"},
            {"rule": "!has(self.a) || self.a != 2", "messageExpression": "'a is ' + (self.a == 2 ? 'two' : 'odd')"},
            {"rule": "!has(self.a) || self.a != 3", "message": "no threes", "reason": "FieldValueForbidden", "fieldPath": ".a"}]},
        "note": {"type": "string", "x-kubernetes-validations": [{"rule": "self != 'x'", "messageExpression": "'note ' + self"}]},
    }});
    let mut cleanup = Cleanup::new(cp);
    cleanup.add(format!("namespace/{ns}"));
    cleanup.add(format!("applicationdefinitions.cozystack.io/{}", widget.to_lowercase()));
    let widget_plural = serve(&admin, &definition(&widget, &widget_schema.to_string())).await;
    let group = format!("difftest-{}.cozystack.io", std::process::id());
    let kinds = vec![
        ("Postgres".to_string(), "postgreses".to_string(), spec_schema(&fixture("postgres.yaml"))),
        ("Kubernetes".to_string(), "kuberneteses".to_string(), spec_schema(&fixture("kubernetes.yaml"))),
        (widget.clone(), widget_plural.clone(), widget_schema),
    ];
    kinds.iter().for_each(|(_, plural, _)| cleanup.add(format!("crd/{plural}.{group}")));
    let accepted = create_crds(&admin, &group, &kinds).await;
    assert!(accepted.contains("Postgres") && accepted.contains(&widget), "{accepted:?}");
    // (kind, spec on create, spec on update or null, what it shows)
    let cases: Vec<(&str, Value, Value, &str)> = vec![
        ("Postgres", json!({"replicas": "two"}), Value::Null, "wrong type"),
        ("Postgres", json!({"version": "v9"}), Value::Null, "enum"),
        ("Postgres", json!({"size": "lots"}), Value::Null, "pattern of an int-or-string"),
        ("Postgres", json!({"size": true}), Value::Null, "int-or-string of the wrong type"),
        (
            "Postgres",
            json!({"backup": {"enabled": "yes"}, "users": {"u": {"replication": "x"}}, "databases": {"d": {"extensions": [1]}}}),
            Value::Null,
            "nested, map and list errors at once",
        ),
        ("Postgres", json!({"resourcesPreset": "huge", "replicas": 1.5}), Value::Null, "enum and a fractional integer"),
        ("Postgres", json!({"storageClass": "fast"}), json!({"storageClass": "slow"}), "immutable transition"),
        (
            "Kubernetes",
            json!({"nodeGroups": {"md0": {"gpus": [{}], "diskSize": "big"}}, "version": "v2"}),
            Value::Null,
            "map of objects: required in a list item, pattern, enum",
        ),
        (&widget, json!({"name": "abcdefgh"}), Value::Null, "too long"),
        (&widget, json!({"name": "a"}), Value::Null, "too short"),
        (&widget, json!({"count": 0, "ratio": 0.3}), Value::Null, "minimum and multipleOf"),
        (&widget, json!({"count": 11}), Value::Null, "maximum"),
        (&widget, json!({"code": "ABC", "mode": "c"}), Value::Null, "pattern and enum"),
        (&widget, json!({"server": {"port": 1}}), Value::Null, "missing required"),
        (&widget, json!({"tags": ["a", "b", "c"]}), Value::Null, "too many items"),
        (&widget, json!({"tags": ["a", "a"]}), Value::Null, "duplicate set item"),
        (&widget, json!({"labels": {"a": "x", "b": "y", "c": "z"}}), Value::Null, "too many properties"),
        (&widget, json!({"labels": {"a": "long"}}), Value::Null, "map value too long"),
        (&widget, json!({"name": null}), Value::Null, "null for a string (dropped, not refused)"),
        (&widget, json!({"limits": {"min": 5, "max": 1}}), Value::Null, "CEL rule"),
        (&widget, json!({"pair": {"a": 1}}), Value::Null, "CEL reason Duplicate"),
        (&widget, json!({"pair": {"a": 2}}), Value::Null, "CEL messageExpression on an object"),
        (&widget, json!({"pair": {"a": 3}}), Value::Null, "CEL reason Forbidden at a fieldPath"),
        (&widget, json!({"note": "x"}), Value::Null, "CEL messageExpression on a string"),
        (&widget, json!({"limits": {"min": 5, "max": 1}, "count": "x"}), Value::Null, "CEL rules skipped after a type error"),
        (&widget, json!({"size": "a", "replicas": 3}), json!({"size": "b", "replicas": 2}), "two transition rules"),
        (&widget, json!({"replicas": 3}), json!({"replicas": 3, "count": 0}), "ratcheting: only the changed field is checked"),
    ];
    let mut differences = Vec::new();
    for (i, (kind, spec, update, what)) in cases.iter().enumerate() {
        let (_, plural, _) = kinds.iter().find(|(k, _, _)| k == kind).unwrap();
        if !accepted.contains(*kind) {
            continue;
        }
        let name = format!("c{i}");
        let mut answers = Vec::new();
        for (api_version, base) in
            [("apps.cozystack.io/v1alpha1".to_string(), APPS.to_string()), (format!("{group}/v1alpha1"), format!("/apis/{group}/v1alpha1"))]
        {
            let path = format!("{base}/namespaces/{ns}/{plural}");
            let obj = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec});
            let (mut code, mut status) = raw(&admin, req("POST", &path, Some(obj.clone()))).await.unwrap();
            if !update.is_null() {
                assert_eq!(code, 201, "{what} ({api_version}): the first version is valid: {status}");
                status["spec"] = update.clone();
                (code, status) = raw(&admin, req("PUT", &format!("{path}/{name}"), Some(status.clone()))).await.unwrap();
            }
            answers.push(verdict(code, &status, &group));
        }
        let want = if what.contains("not refused") { 201 } else { 422 };
        assert_eq!(answers[1].0, want, "{what}: kube-apiserver answered {:?}", answers[1]);
        if answers[0] != answers[1] {
            differences.push(format!("{what}:\n  ours: {:?}\n  kube: {:?}", answers[0], answers[1]));
        }
    }
    assert!(differences.is_empty(), "validation differs from kube-apiserver's:\n{}", differences.join("\n"));
}

#[tokio::test]
async fn a_broken_definition_is_served_without_validation_and_the_documents_follow_definitions() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ours = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await.unwrap();
    let ns = namespace(cp, "broken");
    let tag = unique("b").replace('-', "");
    let (not_json, not_structural) = (format!("Notjson{tag}"), format!("Unstructured{tag}"));
    let mut cleanup = Cleanup::new(cp);
    cleanup.add(format!("namespace/{ns}"));
    for kind in [&not_json, &not_structural] {
        cleanup.add(format!("applicationdefinitions.cozystack.io/{}", kind.to_lowercase()));
    }
    let mut plurals = Vec::new();
    for (kind, schema) in [(&not_json, "{not json"), (&not_structural, r#"{"type":"object","properties":{"a":{"properties":{"b":{"type":"string"}}}}}"#)] {
        plurals.push(serve(&admin, &definition(kind, schema)).await);
    }
    // Served with a spec that takes anything, kept as sent.
    for (kind, plural) in [&not_json, &not_structural].iter().zip(&plurals) {
        let spec = json!({"a": {"b": 5}, "anything": ["goes", {"x": 1}]});
        let obj = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": kind, "metadata": {"name": "x", "namespace": ns}, "spec": spec});
        let (code, created) = raw(&admin, req("POST", &format!("{APPS}/namespaces/{ns}/{plural}?fieldValidation=Strict"), Some(obj.clone()))).await.unwrap();
        assert_eq!(code, 201, "{kind}: {created}");
        let (_, got) = raw(&admin, req("GET", &format!("{APPS}/namespaces/{ns}/{plural}/x"), None)).await.unwrap();
        assert_eq!(got["spec"], spec, "{kind}");
    }
    // Reported.
    let metrics = raw(&ours, req("GET", "/metrics", None)).await.unwrap().1;
    for kind in [&not_json, &not_structural] {
        assert!(metrics.as_str().unwrap().contains(&format!("definition=\"{}\"", kind.to_lowercase())), "{kind} not reported broken");
    }
    // Published with the preserve-unknown-fields spec, through the aggregator too.
    let pkg = "com.github.cozystack.cozystack.pkg.apis.apps.v1alpha1";
    let has = |d: &Value, kind: &str| d["components"]["schemas"].get(format!("{pkg}.{kind}")).is_some();
    let (_, doc) = aggregated_v3(cp, "the aggregator to publish the new kinds", |d| has(d, &not_json) && has(d, &not_structural)).await;
    let schemas = &doc["components"]["schemas"];
    for kind in [&not_json, &not_structural] {
        assert_eq!(schemas[format!("{pkg}.{kind}")]["properties"]["spec"], json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}), "{kind}");
        assert_eq!(schemas[format!("{pkg}.{kind}List")]["x-kubernetes-group-version-kind"][0]["kind"], format!("{kind}List"));
    }
    // Other kinds are unaffected: Postgres still prunes and validates.
    assert_eq!(
        schemas[format!("{pkg}.Postgres")]["properties"]["spec"]["properties"]["storageClass"]["x-kubernetes-validations"][0]["message"],
        "storageClass is immutable"
    );
    let pg = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": "db", "namespace": ns}, "spec": {"replicas": "many"}});
    let (code, body) = raw(&admin, req("POST", &format!("{APPS}/namespaces/{ns}/postgreses"), Some(pg.clone()))).await.unwrap();
    assert_eq!(code, 422, "{body}");
    // The documents drop the kinds with their definitions.
    for kind in [&not_json, &not_structural] {
        let (code, _) = raw(&admin, req("DELETE", &format!("{DEFS}/{}", kind.to_lowercase()), None)).await.unwrap();
        assert_eq!(code, 200);
    }
    let gone = |d: &Value| !has(d, &not_json) && !has(d, &not_structural);
    wait_until("the kinds to leave our document", Duration::from_secs(10), || async {
        let root = raw(&ours, req("GET", "/openapi/v3", None)).await.unwrap().1;
        let url = root["paths"][APPS_V3]["serverRelativeURL"].as_str().unwrap().to_string();
        gone(&raw(&ours, req("GET", &url, None)).await.unwrap().1)
    })
    .await
    .unwrap();
    aggregated_v3(cp, "the aggregator to drop the kinds", gone).await;
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn a_client_generated_from_the_v3_document_creates_and_reads_a_postgres() {
    let cp = ControlPlane::shared();
    published_v3(cp).await;
    let ns = namespace(cp, "client");
    let out = run_ok(
        std::process::Command::new(e2e::repo_root().join("hack/openapi-client-test.sh"))
            .env("KUBECTL", &cp.kubectl)
            .env("KUBECONFIG", cp.kubeconfig())
            .env("COZY_SERVER", format!("https://127.0.0.1:{}", cp.apiserver_port))
            .env("COZY_CA", cp.cert("ca.crt"))
            .env("COZY_CERT", cp.cert("admin.crt"))
            .env("COZY_KEY", cp.cert("admin.key"))
            .env("COZY_NAMESPACE", &ns),
    )
    .unwrap();
    assert!(out.contains(&format!("created and read Postgres {ns}/generated")), "{out}");
    let spec: Value = serde_json::from_str(&cp.kubectl_ok(&["get", "postgres", "generated", "-n", &ns, "-o", "jsonpath={.spec}"]).unwrap()).unwrap();
    assert_eq!(spec["storageClass"], "fast");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn generation_moves_on_spec_changes_as_a_crds_does() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "generation");
    let group = format!("generation-{}.cozystack.io", std::process::id());
    let postgres = fixture("postgres.yaml");
    let kinds = vec![("Postgres".to_string(), "postgreses".to_string(), spec_schema(&postgres))];
    let mut cleanup = Cleanup::new(cp);
    cleanup.add(format!("namespace/{ns}"));
    cleanup.add(format!("crd/postgreses.{group}"));
    assert!(create_crds(&admin, &group, &kinds).await.contains("Postgres"));
    let ours = format!("{APPS}/namespaces/{ns}/postgreses");
    let theirs = format!("/apis/{group}/v1alpha1/namespaces/{ns}/postgreses");
    let body = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": "db", "namespace": ns}, "spec": {"replicas": 2}});
    let mut twin = body.clone();
    twin["apiVersion"] = format!("{group}/v1alpha1").into();
    let merge = |path: String, patch: Value| e2e::with_type("PATCH", &path, "application/merge-patch+json", &serde_json::to_vec(&patch).unwrap());
    // The same steps on both: create, a label, a spec change, the same spec again, an annotation, another spec change.
    let steps = [
        json!({"metadata": {"labels": {"team": "a"}}}),
        json!({"spec": {"replicas": 3}}),
        json!({"spec": {"replicas": 3}}),
        json!({"metadata": {"annotations": {"note": "x"}}}),
        json!({"spec": {"size": "20Gi"}}),
    ];
    let mut generations: [Vec<Value>; 2] = Default::default();
    for (i, (path, create)) in [(&ours, &body), (&theirs, &twin)].into_iter().enumerate() {
        let (code, created) = raw(&admin, req("POST", path, Some(create.clone()))).await.unwrap();
        assert_eq!(code, 201, "{created}");
        generations[i].push(created["metadata"]["generation"].clone());
        for step in &steps {
            let (code, patched) = raw(&admin, merge(format!("{path}/db"), step.clone())).await.unwrap();
            assert_eq!(code, 200, "{patched}");
            generations[i].push(patched["metadata"]["generation"].clone());
        }
    }
    assert_eq!(generations[0], generations[1], "generations (ours, the CRD's)");
    assert_eq!(generations[1], [1, 1, 2, 2, 2, 3].map(|g| json!(g)));
}
