//! Server-side apply and managedFields, compared step by step with kube-apiserver serving the Postgres schema as a
//! CRD: the same applies, updates and patches by several managers give the same objects, the same managedFields
//! (times aside), the same conflicts and the same errors.

use std::time::Duration;

use e2e::twins::{create_crds, fixture, spec_schema};
use e2e::{APPS, ControlPlane, namespace, raw, req, unique, wait_until, with_type};
use serde_json::{Value, json};

const APPLY: &str = "application/apply-patch+yaml";
const MERGE: &str = "application/merge-patch+json";

/// One side of the comparison: our Postgres, or the CRD twin.
struct Side {
    group: String,
    path: String,
}

impl Side {
    fn api_version(&self) -> String {
        format!("{}/v1alpha1", self.group)
    }

    fn config(&self, name: &str, spec: Value) -> Value {
        self.config_of("Postgres", name, spec)
    }

    fn config_of(&self, kind: &str, name: &str, spec: Value) -> Value {
        json!({"apiVersion": self.api_version(), "kind": kind, "metadata": {"name": name}, "spec": spec})
    }

    async fn send(&self, client: &kube::Client, method: &str, name: &str, query: &str, content_type: &str, body: &Value) -> (u16, Value) {
        let path = format!("{}/{name}{query}", self.path);
        let bytes = serde_json::to_vec(body).unwrap();
        raw(client, with_type(method, &path, content_type, &bytes)).await.unwrap()
    }

    async fn apply(&self, client: &kube::Client, manager: &str, force: bool, config: &Value) -> (u16, Value) {
        let name = config["metadata"]["name"].as_str().unwrap().to_string();
        let query = format!("?fieldManager={manager}{}", if force { "&force=true" } else { "" });
        self.send(client, "PATCH", &name, &query, APPLY, config).await
    }

    async fn get(&self, client: &kube::Client, name: &str) -> Value {
        let (code, obj) = raw(client, req("GET", &format!("{}/{name}", self.path), None)).await.unwrap();
        assert_eq!(code, 200, "{obj}");
        obj
    }
}

/// What must match between the two sides: the status code, the spec (or the Status message, reason and
/// causes), and managedFields without their times (but with whether each has one), the twin's group named as
/// ours.
fn verdict(side: &Side, code: u16, body: &Value) -> Value {
    let text = serde_json::to_string(body).unwrap().replace(&side.group, "apps.cozystack.io");
    let body: Value = serde_json::from_str(&text).unwrap();
    if body["kind"] == "Status" {
        let mut causes: Vec<Value> = body["details"]["causes"].as_array().cloned().unwrap_or_default();
        causes.sort_by_key(|c| c.to_string());
        // Go prints several conflicts in map order: compare the lines as a set.
        let mut lines: Vec<&str> = body["message"].as_str().unwrap_or_default().lines().collect();
        lines.sort();
        return json!({"code": code, "reason": body["reason"], "message": lines, "causes": causes});
    }
    let mut managed: Vec<Value> = body["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut e| {
            let timed = e.as_object_mut().unwrap().remove("time").is_some();
            e["timed"] = timed.into();
            e
        })
        .collect();
    // Entries are ordered by operation, then time, then manager: the two sides' clocks tick at different moments,
    // so compare them in an order without time (the engine's unit tests check the order itself).
    managed.sort_by_key(|e| (e["operation"].to_string(), e["manager"].to_string(), e["apiVersion"].to_string()));
    json!({"code": code, "spec": body["spec"], "labels": body["metadata"]["labels"], "managedFields": managed})
}

#[tokio::test]
async fn applies_updates_and_conflicts_match_a_crd_with_the_same_schema() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "apply");
    // A group after apps.cozystack.io in kubectl's order, so that `kubectl get postgres` in other tests stays ours.
    let group = format!("ssa-{}.cozystack.io", std::process::id());
    let kinds = vec![("Postgres".to_string(), "postgreses".to_string(), spec_schema(&fixture("postgres.yaml")))];
    let accepted = create_crds(&admin, &group, &kinds).await;
    assert!(accepted.contains("Postgres"));
    let sides = [
        Side { group: "apps.cozystack.io".into(), path: format!("{APPS}/namespaces/{ns}/postgreses") },
        Side { group: group.clone(), path: format!("/apis/{group}/v1alpha1/namespaces/{ns}/postgreses") },
    ];
    let name = "db";

    // Each step runs on both sides; the answers must agree.
    type Step = Box<dyn Fn(&Side) -> (String, String, String, Value)>;
    let apply = |manager: &'static str, force: bool, spec: Value| -> Step {
        Box::new(move |s: &Side| {
            let q = format!("?fieldManager={manager}{}", if force { "&force=true" } else { "" });
            ("PATCH".into(), q, APPLY.into(), s.config(name, spec.clone()))
        })
    };
    let merge =
        |manager: &'static str, patch: Value| -> Step { Box::new(move |_| ("PATCH".into(), format!("?fieldManager={manager}"), MERGE.into(), patch.clone())) };
    let steps: Vec<(&str, Step)> = vec![
        (
            "alice creates by apply",
            apply("alice", false, json!({"replicas": 2, "users": {"app": {"password": "x"}}, "databases": {"main": {"roles": {"admin": ["app"]}}}})),
        ),
        (
            "alice applies the same again",
            apply("alice", false, json!({"replicas": 2, "users": {"app": {"password": "x"}}, "databases": {"main": {"roles": {"admin": ["app"]}}}})),
        ),
        ("bob changes alice's field without force", apply("bob", false, json!({"replicas": 3}))),
        ("bob applies alice's value: shared", apply("bob", false, json!({"replicas": 2}))),
        ("bob forces another value", apply("bob", true, json!({"replicas": 4, "size": "20Gi"}))),
        ("carol merge-patches a field", merge("carol", json!({"spec": {"size": "30Gi", "external": true}}))),
        ("bob conflicts with carol's update", apply("bob", false, json!({"replicas": 4, "size": "40Gi"}))),
        ("alice drops a user and the database", apply("alice", false, json!({"replicas": 2, "users": {}}))),
        ("alice drops everything", apply("alice", false, json!({}))),
        ("carol labels it", merge("carol", json!({"metadata": {"labels": {"team": "a"}}}))),
        ("dave applies a label and a list", apply("dave", false, json!({"databases": {"x": {"roles": {"readonly": ["a", "b"]}}}}))),
        ("dave replaces the list", apply("dave", false, json!({"databases": {"x": {"roles": {"readonly": ["c"]}}}}))),
    ];
    let mut rvs: [Vec<String>; 2] = Default::default();
    for (what, step) in &steps {
        let mut verdicts = Vec::new();
        for (i, side) in sides.iter().enumerate() {
            let (method, query, content_type, body) = step(side);
            let (code, out) = side.send(&admin, &method, name, &query, &content_type, &body).await;
            rvs[i].push(out["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string());
            verdicts.push(verdict(side, code, &out));
        }
        assert_eq!(verdicts[0], verdicts[1], "{what}: ours (left) and the CRD's (right) differ");
    }
    // Applying the same config twice is a no-op on both: the resourceVersion stays.
    assert_eq!(rvs[0][0], rvs[0][1], "a repeated apply must not write");
    assert_eq!(rvs[1][0], rvs[1][1]);

    // What a GET shows is what the writes answered.
    let ours = sides[0].get(&admin, name).await;
    let theirs = sides[1].get(&admin, name).await;
    assert_eq!(verdict(&sides[0], 200, &ours), verdict(&sides[1], 200, &theirs));

    // A PUT with an empty managedFields list keeps them; one with a single empty entry resets them, and the next
    // apply finds before-first-apply holding what was there.
    for (what, reset) in [("an empty list", json!([])), ("one empty entry", json!([{}]))] {
        let mut verdicts = Vec::new();
        for side in &sides {
            let mut obj = side.get(&admin, name).await;
            obj["metadata"]["managedFields"] = reset.clone();
            let (code, out) = side.send(&admin, "PUT", name, "?fieldManager=eve", "application/json", &obj).await;
            verdicts.push(verdict(side, code, &out));
        }
        assert_eq!(verdicts[0], verdicts[1], "a PUT with {what}");
    }
    let mut verdicts = Vec::new();
    for side in &sides {
        let (code, out) = side.apply(&admin, "frank", false, &side.config(name, json!({"replicas": 7}))).await;
        verdicts.push(verdict(side, code, &out));
    }
    assert_eq!(verdicts[0], verdicts[1], "reset then apply");
    assert_eq!(verdicts[0]["code"], 409, "before-first-apply holds the replicas: {}", verdicts[0]);

    // Errors of the request itself.
    let checks: Vec<(&str, &str, &str, Value)> = vec![
        ("no fieldManager", "", APPLY, json!({})),
        ("force on a merge patch", "?fieldManager=x&force=true", MERGE, json!({"spec": {}})),
        ("a JSON apply type", "?fieldManager=x", "application/apply-patch+json", json!({})),
        ("managedFields in the config", "?fieldManager=x", APPLY, json!({"metadata": {"managedFields": []}})),
        ("a stale resourceVersion and a conflict", "?fieldManager=x", APPLY, json!({"metadata": {"resourceVersion": "1"}})),
        ("a stale resourceVersion", "?fieldManager=x&force=true", APPLY, json!({"metadata": {"resourceVersion": "1"}})),
        ("another kind", "?fieldManager=x", APPLY, json!({"kind": "Redis"})),
    ];
    for (what, query, content_type, extra) in checks {
        let mut verdicts = Vec::new();
        for side in &sides {
            let mut body = side.config(name, json!({"replicas": 8}));
            if let Some(kind) = extra.get("kind") {
                body["kind"] = kind.clone();
            }
            if let Some(spec) = extra.get("spec") {
                body["spec"] = spec.clone();
            }
            if let Some(meta) = extra.get("metadata") {
                for (k, v) in meta.as_object().unwrap() {
                    body["metadata"][k] = v.clone();
                }
            }
            if content_type == MERGE {
                body = extra.clone();
            }
            let (code, out) = side.send(&admin, "PATCH", name, query, content_type, &body).await;
            verdicts.push(verdict(side, code, &out));
        }
        assert_eq!(verdicts[0], verdicts[1], "{what}: ours (left) and the CRD's (right) differ");
    }

    // A config the schema cannot type: the same message; kube-apiserver answers it with a 500, this server with a
    // 400, as for any bad input.
    let mut answers = Vec::new();
    for side in &sides {
        let (code, out) = side.apply(&admin, "x", false, &side.config(name, json!({"nosuch": 1}))).await;
        answers.push((code, verdict(side, code, &out)["message"].clone()));
    }
    assert_eq!((answers[0].0, answers[1].0), (400, 500));
    assert_eq!(answers[0].1, answers[1].1, "the message");

    // Metadata-only answers show managedFields as the CRD's do.
    let mut shapes = Vec::new();
    for side in &sides {
        let mut shape = Vec::new();
        for accept in ["application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", "application/json;as=Table;g=meta.k8s.io;v=v1"] {
            let get = http::Request::get(format!("{}/{name}?includeObject=Metadata", side.path)).header("Accept", accept).body(Vec::new()).unwrap();
            let (code, out) = raw(&admin, get).await.unwrap();
            assert_eq!(code, 200, "{out}");
            let meta = if out["kind"] == "Table" { &out["rows"][0]["object"]["metadata"] } else { &out["metadata"] };
            shape.push((out["kind"].clone(), meta.get("managedFields").is_some()));
        }
        shapes.push(shape);
    }
    assert_eq!(shapes[0], shapes[1], "managedFields in PartialObjectMetadata and Table rows");

    // A dry-run apply with a conflict conflicts; one without changes nothing.
    for side in &sides {
        let before = side.get(&admin, name).await;
        let (code, _) = side.send(&admin, "PATCH", name, "?fieldManager=zed&dryRun=All", APPLY, &side.config(name, json!({"replicas": 9}))).await;
        assert_eq!(code, 409, "{}: a dry run still conflicts", side.group);
        let (code, out) = side.send(&admin, "PATCH", name, "?fieldManager=zed&dryRun=All&force=true", APPLY, &side.config(name, json!({"replicas": 9}))).await;
        assert_eq!((code, &out["spec"]["replicas"]), (200, &json!(9)), "{}: {out}", side.group);
        assert_eq!(side.get(&admin, name).await["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"], "a dry run writes nothing");
    }
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
    cp.kubectl_ok(&["delete", "crd", &format!("postgreses.{group}"), "--wait=false"]).unwrap();
}

#[tokio::test]
async fn kubectl_server_side_apply_shares_and_takes_fields() {
    let cp = ControlPlane::shared();
    let ns = namespace(cp, "kubectl-ssa");
    let dir = std::env::temp_dir().join(unique("ssa"));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |file: &str, replicas: u32, size: Option<&str>| {
        let size = size.map(|s| format!("  size: {s}\n")).unwrap_or_default();
        let text =
            format!("apiVersion: apps.cozystack.io/v1alpha1\nkind: Postgres\nmetadata:\n  name: db\n  namespace: {ns}\nspec:\n  replicas: {replicas}\n{size}");
        std::fs::write(dir.join(file), text).unwrap();
        dir.join(file).to_string_lossy().to_string()
    };
    // The full resource name: other tests serve twin CRDs of Postgres meanwhile.
    const PG: &str = "postgreses.apps.cozystack.io";
    let rv = || cp.kubectl_ok(&["get", PG, "db", "-n", &ns, "-o", "jsonpath={.metadata.resourceVersion}"]).unwrap();
    let first = write("a.yaml", 2, Some("20Gi"));
    cp.kubectl_ok(&["apply", "--server-side", "-f", &first]).unwrap();
    let before = rv();
    cp.kubectl_ok(&["apply", "--server-side", "-f", &first]).unwrap();
    assert_eq!(rv(), before, "a second identical apply writes nothing");

    // kubectl diff shows exactly the change.
    let changed = write("a3.yaml", 3, Some("20Gi"));
    let out = cp.kubectl().args(["diff", "--server-side", "-f", &changed]).output().unwrap();
    let diff = String::from_utf8_lossy(&out.stdout);
    let changes: Vec<&str> = diff.lines().filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---")).collect();
    assert!(changes.iter().any(|l| l.trim_start_matches(['+', '-']).trim() == "replicas: 3"), "{diff}");
    assert!(
        changes.iter().all(|l| l.contains("replicas") || l.contains("generation") || l.contains("resourceVersion") || l.contains("time:")),
        "only the replicas change: {diff}"
    );

    // Another manager changing the field conflicts, naming the first; forcing takes it.
    let theirs = write("b.yaml", 3, None);
    let other = cp.kubectl().args(["apply", "--server-side", "--field-manager=other", "-f", &theirs]).output().unwrap();
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(!other.status.success() && err.contains("conflict") && err.contains("\"kubectl\"") && err.contains(".spec.replicas"), "{err}");
    cp.kubectl_ok(&["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", &theirs]).unwrap();
    let replicas = cp.kubectl_ok(&["get", PG, "db", "-n", &ns, "-o", "jsonpath={.spec.replicas}"]).unwrap();
    assert_eq!(replicas, "3");

    // A field dropped from kubectl's configuration goes when no one else holds it; the one it now shares stays.
    let dropped = write("c.yaml", 3, None);
    cp.kubectl_ok(&["apply", "--server-side", "-f", &dropped]).unwrap();
    let size = cp.kubectl_ok(&["get", PG, "db", "-n", &ns, "-o", "jsonpath={.spec.size}"]).unwrap();
    assert_eq!(size, "10Gi", "the dropped size is gone and the default is back");
    std::fs::remove_dir_all(&dir).ok();
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn an_informer_and_an_apply_client_see_the_managed_fields_a_get_shows() {
    use futures::StreamExt;
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    use kube::core::{ApiResource, GroupVersionKind};
    let cp = ControlPlane::shared();
    let client = cp.admin().await.unwrap();
    let ns = namespace(cp, "informer");
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps.cozystack.io", "v1alpha1", "Postgres"), "postgreses");
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &resource);
    let seen: std::sync::Arc<std::sync::Mutex<Option<Value>>> = Default::default();
    let sink = seen.clone();
    let stream = kube::runtime::watcher(api.clone(), kube::runtime::watcher::Config::default());
    let informer = tokio::spawn(async move {
        let mut stream = stream.boxed();
        while let Some(Ok(event)) = stream.next().await {
            if let kube::runtime::watcher::Event::Apply(obj) | kube::runtime::watcher::Event::InitApply(obj) = event {
                *sink.lock().unwrap() = Some(serde_json::to_value(obj).unwrap());
            }
        }
    });
    let config = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": "db"}, "spec": {"replicas": 2}});
    let applied = api.patch("db", &PatchParams::apply("rust-client").force(), &Patch::Apply(&config)).await.unwrap();
    let applied = serde_json::to_value(applied).unwrap();
    let got = serde_json::to_value(api.get("db").await.unwrap()).unwrap();
    assert_eq!(applied["metadata"]["managedFields"], got["metadata"]["managedFields"]);
    assert_eq!(got["metadata"]["managedFields"][0]["manager"], "rust-client");
    let ok = wait_until("the informer to see the apply", Duration::from_secs(20), || async {
        seen.lock().unwrap().as_ref().is_some_and(|o| o["metadata"]["managedFields"] == got["metadata"]["managedFields"])
    })
    .await;
    informer.abort();
    assert!(ok.is_ok(), "the informer holds {:?}", seen.lock().unwrap());
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn every_fixture_kind_converges_when_applied_as_flux_applies() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "flux");
    for def in e2e::twins::fixtures() {
        let (kind, plural) = (def["spec"]["application"]["kind"].as_str().unwrap(), def["spec"]["application"]["plural"].as_str().unwrap());
        let name = kind.to_lowercase();
        let path = format!("{APPS}/namespaces/{ns}/{plural}/{name}?fieldManager=kustomize-controller&force=true");
        let config =
            |labels: Value| json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": kind, "metadata": {"name": name, "labels": labels}, "spec": {}});
        let send = |c: Value| {
            let (admin, path) = (admin.clone(), path.clone());
            async move { raw(&admin, with_type("PATCH", &path, APPLY, &serde_json::to_vec(&c).unwrap())).await.unwrap() }
        };
        let (code, created) = send(config(json!({"app.kubernetes.io/managed-by": "flux"}))).await;
        assert_eq!(code, 201, "{kind}: {created}");
        let (code, changed) = send(config(json!({"app.kubernetes.io/managed-by": "flux", "revision": "2"}))).await;
        assert_eq!(code, 200, "{kind}: {changed}");
        assert_eq!(changed["metadata"]["labels"]["revision"], "2");
        let (code, again) = send(config(json!({"app.kubernetes.io/managed-by": "flux", "revision": "2"}))).await;
        assert_eq!(code, 200, "{kind}: {again}");
        assert_eq!(again["metadata"]["resourceVersion"], changed["metadata"]["resourceVersion"], "{kind}: converged, nothing written");
        let managers: Vec<&str> = again["metadata"]["managedFields"].as_array().unwrap().iter().map(|e| e["manager"].as_str().unwrap()).collect();
        assert_eq!(managers, ["kustomize-controller"], "{kind}");
    }
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn every_list_and_map_type_merges_and_conflicts_as_for_a_crd() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "lists");
    let kind = format!("Lists{}", std::process::id());
    let schema = json!({"type": "object", "properties": {
        "atomicList": {"type": "array", "items": {"type": "integer"}},
        "setList": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
        "mapList": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
        "atomicMap": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "quantity": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    }});
    let def = e2e::twins::definition(&kind, &schema.to_string());
    let plural = e2e::twins::serve(&admin, &def).await;
    let group = format!("lists-{}.cozystack.io", std::process::id());
    assert!(create_crds(&admin, &group, &[(kind.clone(), plural.clone(), schema)]).await.contains(&kind));
    let sides = [
        Side { group: "apps.cozystack.io".into(), path: format!("{APPS}/namespaces/{ns}/{plural}") },
        Side { group: group.clone(), path: format!("/apis/{group}/v1alpha1/namespaces/{ns}/{plural}") },
    ];
    let steps: Vec<(&str, &str, bool, Value)> = vec![
        (
            "alice sets everything",
            "alice",
            false,
            json!({"setList": ["a", "b"], "mapList": [{"name": "x", "port": 1}, {"name": "y", "port": 2}],
            "atomicList": [1, 2], "atomicMap": {"a": "1"}, "free": {"k": {"n": 1}}, "quantity": "1Gi"}),
        ),
        (
            "bob shares some items and conflicts on the atomic map",
            "bob",
            false,
            json!({"setList": ["b", "c"], "mapList": [{"name": "y", "port": 2}, {"name": "z", "port": 3}], "atomicMap": {"b": "2"}}),
        ),
        ("bob forces", "bob", true, json!({"setList": ["b", "c"], "mapList": [{"name": "y", "port": 2}, {"name": "z", "port": 3}], "atomicMap": {"b": "2"}})),
        (
            "alice drops shared and own items",
            "alice",
            false,
            json!({"setList": ["a"], "mapList": [], "atomicList": [1, 2], "free": {"k": {"n": 1}}, "quantity": "1Gi"}),
        ),
        ("carol adds to the open map", "carol", false, json!({"free": {"k": {"m": 2}, "other": true}})),
        ("alice replaces the atomic list and a quantity", "alice", false, json!({"setList": ["a"], "atomicList": [3], "free": {"k": {"n": 1}}, "quantity": 5})),
        ("carol changes an item port with force", "carol", true, json!({"mapList": [{"name": "z", "port": 4}], "free": {"k": {"m": 2}, "other": true}})),
    ];
    for (what, manager, force, spec) in steps {
        let mut verdicts = Vec::new();
        for side in &sides {
            let (code, out) = side.apply(&admin, manager, force, &side.config_of(&kind, "l", spec.clone())).await;
            verdicts.push(verdict(side, code, &out));
        }
        assert_eq!(verdicts[0], verdicts[1], "{what}: ours (left) and the CRD's (right) differ");
    }
    // A merge patch replaces a whole list: an Update entry takes it.
    let mut verdicts = Vec::new();
    for side in &sides {
        let (code, out) = side.send(&admin, "PATCH", "l", "?fieldManager=dave", MERGE, &json!({"spec": {"setList": ["q"]}})).await;
        verdicts.push(verdict(side, code, &out));
    }
    assert_eq!(verdicts[0], verdicts[1], "a merge patch of a set");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
    cp.kubectl_ok(&["delete", "crd", &format!("{plural}.{group}"), "--wait=false"]).unwrap();
    cp.kubectl_ok(&["delete", "applicationdefinitions.cozystack.io", &kind.to_lowercase(), "--wait=false"]).unwrap();
}

#[tokio::test]
async fn client_side_apply_upgrades_to_server_side_apply_as_for_a_crd() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "csa");
    let group = format!("csa-{}.cozystack.io", std::process::id());
    let kinds = vec![("Postgres".to_string(), "postgreses".to_string(), spec_schema(&fixture("postgres.yaml")))];
    assert!(create_crds(&admin, &group, &kinds).await.contains("Postgres"));
    let dir = std::env::temp_dir().join(unique("csa"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut verdicts = Vec::new();
    for side in [
        Side { group: "apps.cozystack.io".into(), path: format!("{APPS}/namespaces/{ns}/postgreses") },
        Side { group: group.clone(), path: format!("/apis/{group}/v1alpha1/namespaces/{ns}/postgreses") },
    ] {
        let file = |replicas: u32| {
            let f = dir.join(format!("{}-{replicas}.yaml", side.group));
            let text = format!(
                "apiVersion: {}\nkind: Postgres\nmetadata:\n  name: db\n  namespace: {ns}\nspec:\n  replicas: {replicas}\n  size: 20Gi\n",
                side.api_version()
            );
            std::fs::write(&f, text).unwrap();
            f.to_string_lossy().to_string()
        };
        // Created and changed by client-side apply, then applied server-side by the same user: no conflict.
        cp.kubectl_ok(&["apply", "-f", &file(2)]).unwrap();
        cp.kubectl_ok(&["apply", "-f", &file(3)]).unwrap();
        cp.kubectl_ok(&["apply", "--server-side", "-f", &file(4)]).unwrap();
        let obj = side.get(&admin, "db").await;
        let last_applied: Value =
            serde_json::from_str(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].as_str().unwrap()).unwrap();
        assert_eq!(last_applied["spec"]["replicas"], 4, "{}: the last-applied annotation follows the server-side apply", side.group);
        let mut v = verdict(&side, 200, &obj);
        // The annotation is the user's: compare it as decoded.
        v["lastApplied"] = serde_json::from_str::<Value>(&serde_json::to_string(&last_applied).unwrap().replace(&side.group, "apps.cozystack.io")).unwrap();
        verdicts.push(v);
    }
    assert_eq!(verdicts[0], verdicts[1], "ours (left) and the CRD's (right) differ after the upgrade");
    let managers: Vec<&str> = verdicts[0]["managedFields"].as_array().unwrap().iter().map(|e| e["manager"].as_str().unwrap()).collect();
    assert!(!managers.contains(&"kubectl-client-side-apply"), "ownership moved to kubectl: {managers:?}");
    std::fs::remove_dir_all(&dir).ok();
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
    cp.kubectl_ok(&["delete", "crd", &format!("postgreses.{group}"), "--wait=false"]).unwrap();
}

#[tokio::test]
async fn tenant_secrets_and_security_groups_apply_too() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "apply-core");
    let cases = [
        (
            format!("{}/namespaces/{ns}/tenantsecrets/s", e2e::CORE),
            // `data`, not the write-only `stringData`: a config carrying stringData differs from every read, so
            // each apply of it records a new time, as for a core Secret.
            json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantSecret", "metadata": {"name": "s"}, "data": {"a": "MQ=="}}),
            "/data/a",
            json!("Mg=="),
        ),
        (
            format!("{}/namespaces/{ns}/securitygroups/g", e2e::SDN),
            json!({"apiVersion": "sdn.cozystack.io/v1alpha1", "kind": "SecurityGroup", "metadata": {"name": "g"}, "spec": {"ingress": [{"fromCIDR": ["10.0.0.0/8"]}]}}),
            "/spec/ingress",
            json!([{"fromCIDR": ["10.1.0.0/16"]}]),
        ),
    ];
    for (path, config, field, other_value) in cases {
        let send = |manager: &str, body: &Value| {
            let (admin, url) = (admin.clone(), format!("{path}?fieldManager={manager}"));
            let bytes = serde_json::to_vec(body).unwrap();
            async move { raw(&admin, with_type("PATCH", &url, APPLY, &bytes)).await.unwrap() }
        };
        let (code, created) = send("alice", &config).await;
        assert_eq!(code, 201, "{path}: {created}");
        assert_eq!(created["metadata"]["managedFields"][0]["manager"], "alice", "{created}");
        let (code, again) = send("alice", &config).await;
        assert_eq!((code, &again["metadata"]["resourceVersion"]), (200, &created["metadata"]["resourceVersion"]), "{path}: a repeated apply writes nothing");
        let mut theirs = config.clone();
        *theirs.pointer_mut(field).unwrap() = other_value;
        let (code, conflict) = send("bob", &theirs).await;
        assert_eq!(code, 409, "{path}: {conflict}");
        assert!(conflict["message"].as_str().unwrap().contains("conflict with \"alice\""), "{conflict}");
    }
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}
