//! Applications: every fixture kind served, definitions followed live, the full verb set through kubectl and
//! kube clients, and the HelmReleases written exactly as the upstream server writes them.

use std::time::Duration;

use e2e::{APPS, ControlPlane, HRS, namespace, postgres, raw, req, unique, wait_until, with_type};
use serde_json::{Value, json};

#[tokio::test]
async fn every_fixture_kind_is_discovered_with_its_names() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let (code, list) = raw(&admin, req("GET", APPS, None)).await.unwrap();
    assert_eq!(code, 200);
    let served = list["resources"].as_array().unwrap();
    let dir = apis::fixtures::application_definitions_dir();
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let def: Value = serde_norway::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        let a = &def["spec"]["application"];
        let r = served.iter().find(|r| r["name"] == a["plural"]).unwrap_or_else(|| panic!("{} not served", a["plural"]));
        assert_eq!(r["kind"], a["kind"]);
        assert_eq!(r["singularName"], a["singular"]);
        assert_eq!(r["namespaced"], true);
        assert_eq!(r["verbs"], json!(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]));
        n += 1;
    }
    assert_eq!(n, 31);
    let out = cp.kubectl_ok(&["api-resources", "--api-group=apps.cozystack.io", "-o", "name"]).unwrap();
    // The fixture kinds only: other tests add and remove kinds meanwhile, and kubectl learns of them a moment later.
    let fixture_plurals: Vec<Value> = std::fs::read_dir(apis::fixtures::application_definitions_dir())
        .unwrap()
        .map(|e| serde_norway::from_str::<Value>(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap()["spec"]["application"]["plural"].clone())
        .collect();
    for r in served.iter().filter(|r| fixture_plurals.contains(&r["name"])) {
        let name = format!("{}.apps.cozystack.io", r["name"].as_str().unwrap());
        assert!(out.lines().any(|l| l == name), "kubectl api-resources lacks {name}:\n{out}");
    }
}

#[tokio::test]
async fn a_new_definition_is_served_within_seconds_and_removed_with_it() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let tag = unique("w").replace('-', "");
    let (kind, plural) = (format!("Widget{tag}"), format!("widget{tag}s"));
    let mut def: Value = serde_norway::from_str(&std::fs::read_to_string(apis::fixtures::application_definitions_dir().join("redis.yaml")).unwrap()).unwrap();
    def["metadata"] = json!({"name": format!("widget{tag}")});
    def["spec"]["application"]["kind"] = kind.clone().into();
    def["spec"]["application"]["plural"] = plural.clone().into();
    def["spec"]["application"]["singular"] = format!("widget{tag}").into();
    let defs = "/apis/cozystack.io/v1alpha1/applicationdefinitions";
    let (code, body) = raw(&admin, req("POST", defs, Some(def))).await.unwrap();
    assert_eq!(code, 201, "{body}");
    let path = format!("{APPS}/namespaces/tenant-root/{plural}");
    wait_until("the new kind to be served through the aggregator", Duration::from_secs(5), || async {
        raw(&admin, req("GET", &path, None)).await.map(|(c, _)| c == 200).unwrap_or(false)
    })
    .await
    .unwrap();
    // kubectl finds it through kube-apiserver's aggregated discovery.
    wait_until("kubectl to know the new kind", Duration::from_secs(15), || async {
        cp.kubectl()
            .args(["get", &plural, "-n", "tenant-root", "--cache-dir", &cp.state.join(format!("kcache-{tag}")).display().to_string()])
            .output()
            .unwrap()
            .status
            .success()
    })
    .await
    .unwrap();
    let (code, _) = raw(&admin, req("DELETE", &format!("{defs}/widget{tag}"), None)).await.unwrap();
    assert_eq!(code, 200);
    wait_until("the kind to disappear", Duration::from_secs(10), || async {
        let ours = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await.unwrap();
        raw(&ours, req("GET", &path, None)).await.map(|(c, _)| c == 404).unwrap_or(false)
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn postgres_lifecycle_through_kubectl_matches_the_reference_helmrelease() {
    let cp = ControlPlane::shared();
    let ns = namespace(cp, "pg-life");
    let manifest = cp.state.join(format!("{ns}.yaml"));
    std::fs::write(
        &manifest,
        format!("apiVersion: apps.cozystack.io/v1alpha1\nkind: Postgres\nmetadata:\n  name: db\n  namespace: {ns}\n  labels: {{team: a}}\n  annotations: {{note: hello}}\nspec:\n  replicas: 3\n  size: 20Gi\n"),
    )
    .unwrap();
    cp.kubectl_ok(&["create", "-f", manifest.to_str().unwrap()]).unwrap();

    let admin = cp.admin().await.unwrap();
    let (code, hr) = raw(&admin, req("GET", &format!("{HRS}/namespaces/{ns}/helmreleases/postgres-db"), None)).await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(
        hr["metadata"]["labels"],
        json!({
            "apps.cozystack.io-team": "a",
            "apps.cozystack.io/application.group": "apps.cozystack.io",
            "apps.cozystack.io/application.kind": "Postgres",
            "apps.cozystack.io/application.name": "db",
            "sharding.fluxcd.io/key": "tenants",
        })
    );
    let mut annotations = hr["metadata"]["annotations"].clone();
    let managed = annotations.as_object_mut().unwrap().remove("cozystack.io/managed-fields").expect("the managedFields annotation");
    assert_eq!(annotations, json!({"apps.cozystack.io-note": "hello"}));
    let (_, app) = raw(&admin, req("GET", &format!("{APPS}/namespaces/{ns}/postgreses/db"), None)).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(managed.as_str().unwrap()).unwrap(), app["metadata"]["managedFields"], "the app's managedFields are kept there");
    // Values are the spec with the schema's defaults applied on write, as for a CRD.
    let mut spec = hr["spec"].clone();
    let values = spec.as_object_mut().unwrap().remove("values").unwrap();
    assert_eq!(values["replicas"], 3);
    assert_eq!(values["size"], "20Gi");
    assert_eq!(values["version"], "v18", "defaulted");
    assert_eq!(values["storageClass"], "", "defaulted");
    assert_eq!(
        spec,
        json!({
            "chartRef": {"kind": "ExternalArtifact", "name": "cozystack-postgres-application-default-postgres", "namespace": "cozy-system"},
            "interval": "5m0s",
            "maxHistory": 5,
            "install": {"timeout": "10m0s", "strategy": {"name": "RetryOnFailure", "retryInterval": "30s"}},
            "upgrade": {"timeout": "10m0s", "strategy": {"name": "RetryOnFailure", "retryInterval": "30s"}},
            "valuesFrom": [{"kind": "Secret", "name": "cozystack-values"}],
        })
    );

    // Read back: what was written, with the labels and annotations unprefixed.
    let got: Value = serde_json::from_str(&cp.kubectl_ok(&["get", "postgres", "db", "-n", &ns, "-o", "json"]).unwrap()).unwrap();
    assert_eq!(got["metadata"]["labels"], json!({"team": "a"}));
    assert_eq!(got["metadata"]["annotations"], json!({"note": "hello"}));
    assert_eq!(got["spec"], values, "the object reads back as stored");
    assert_eq!(got["metadata"]["uid"], hr["metadata"]["uid"]);
    assert_eq!(got["metadata"]["resourceVersion"], hr["metadata"]["resourceVersion"]);

    // Patch (merge) and update (replace) through kubectl.
    cp.kubectl_ok(&["patch", "postgres", "db", "-n", &ns, "--type=merge", "-p", r#"{"spec":{"replicas":4}}"#]).unwrap();
    let (_, hr) = raw(&admin, req("GET", &format!("{HRS}/namespaces/{ns}/helmreleases/postgres-db"), None)).await.unwrap();
    assert_eq!(hr["spec"]["values"]["replicas"], 4);
    cp.kubectl_ok(&["patch", "postgres", "db", "-n", &ns, "--type=json", "-p", r#"[{"op":"replace","path":"/spec/replicas","value":5}]"#]).unwrap();
    let mut obj: Value = serde_json::from_str(&cp.kubectl_ok(&["get", "postgres", "db", "-n", &ns, "-o", "json"]).unwrap()).unwrap();
    assert_eq!(obj["spec"]["replicas"], 5);
    obj["spec"]["replicas"] = 6.into();
    obj["metadata"]["labels"] = json!({"team": "b"});
    std::fs::write(&manifest, serde_json::to_vec(&obj).unwrap()).unwrap();
    cp.kubectl_ok(&["replace", "-f", manifest.to_str().unwrap()]).unwrap();
    let (_, hr) = raw(&admin, req("GET", &format!("{HRS}/namespaces/{ns}/helmreleases/postgres-db"), None)).await.unwrap();
    assert_eq!(hr["spec"]["values"]["replicas"], 6);
    assert_eq!(hr["metadata"]["labels"]["apps.cozystack.io-team"], "b");
    assert_eq!(hr["metadata"]["labels"]["sharding.fluxcd.io/key"], "tenants");

    let table = cp.kubectl_ok(&["get", "postgreses", "-n", &ns]).unwrap();
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("READY") && table.contains("VERSION"), "{table}");

    let out = cp.kubectl_ok(&["delete", "postgres", "db", "-n", &ns]).unwrap();
    assert!(out.contains("postgres.apps.cozystack.io \"db\" deleted"), "{out}");
    let (code, _) = raw(&admin, req("GET", &format!("{HRS}/namespaces/{ns}/helmreleases/postgres-db"), None)).await.unwrap();
    assert_eq!(code, 404);
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn tenant_lifecycle_writes_the_reference_helmrelease() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let name = unique("t").replace('-', "");
    let body = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": {"etcd": true}});
    let (code, created) = raw(&admin, req("POST", &format!("{APPS}/namespaces/tenant-root/tenants"), Some(body))).await.unwrap();
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["status"]["namespace"], format!("tenant-{name}"));
    let (code, hr) = raw(&admin, req("GET", &format!("{HRS}/namespaces/tenant-root/helmreleases/tenant-{name}"), None)).await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(hr["metadata"]["labels"]["apps.cozystack.io/application.kind"], "Tenant");
    assert_eq!(hr["spec"]["chartRef"]["name"], "cozystack-tenant-application-default-tenant");
    assert_eq!(hr["spec"]["values"]["etcd"], true);
    assert_eq!(hr["spec"]["values"]["monitoring"], false, "defaulted");
    let (code, _) = raw(&admin, req("DELETE", &format!("{APPS}/namespaces/tenant-root/tenants/{name}"), None)).await.unwrap();
    assert_eq!(code, 200);
}

#[tokio::test]
async fn helmrelease_status_shows_as_ready_and_version() {
    let cp = ControlPlane::shared();
    let ns = namespace(cp, "pg-status");
    let admin = cp.admin().await.unwrap();
    let (code, _) = raw(&admin, req("POST", &format!("{APPS}/namespaces/{ns}/postgreses"), Some(postgres(&ns, "db", json!({}))))).await.unwrap();
    assert_eq!(code, 201);
    let status = json!({"status": {"lastAttemptedRevision": "0.12.1+abc123", "conditions": [
        {"type": "Ready", "status": "True", "reason": "InstallSucceeded", "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "Released", "status": "True", "reason": "InstallSucceeded", "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    let patch = with_type(
        "PATCH",
        &format!("{HRS}/namespaces/{ns}/helmreleases/postgres-db/status"),
        "application/merge-patch+json",
        &serde_json::to_vec(&status).unwrap(),
    );
    let (code, body) = raw(&admin, patch).await.unwrap();
    assert_eq!(code, 200, "{body}");
    let table = cp.kubectl_ok(&["get", "postgres", "db", "-n", &ns, "--no-headers"]).unwrap();
    let cols: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(cols[0], "db");
    assert_eq!(cols[1], "True", "{table}");
    assert_eq!(cols[3], "abc123", "{table}");
    let obj: Value = serde_json::from_str(&cp.kubectl_ok(&["get", "postgres", "db", "-n", &ns, "-o", "json"]).unwrap()).unwrap();
    assert_eq!(obj["status"]["version"], "0.12.1+abc123");
    assert_eq!(obj["status"]["conditions"][0]["type"], "Ready");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn concurrent_stale_updates_conflict_and_lose_nothing() {
    let cp = ControlPlane::shared();
    let ns = namespace(cp, "pg-conflict");
    let admin = cp.admin().await.unwrap();
    let path = format!("{APPS}/namespaces/{ns}/postgreses");
    let (code, _) = raw(&admin, req("POST", &path, Some(postgres(&ns, "db", json!({"replicas": 1}))))).await.unwrap();
    assert_eq!(code, 201);
    let mut total_wins = 0;
    for round in 0..3 {
        let (_, current) = raw(&admin, req("GET", &format!("{path}/db"), None)).await.unwrap();
        let updates = (0..8).map(|i| {
            let mut copy = current.clone();
            copy["spec"]["replicas"] = (100 * round + i).into();
            let admin = admin.clone();
            let url = format!("{path}/db");
            tokio::spawn(async move { raw(&admin, req("PUT", &url, Some(copy))).await.unwrap() })
        });
        let results: Vec<(u16, Value)> = futures::future::join_all(updates).await.into_iter().map(Result::unwrap).collect();
        let wins: Vec<&Value> = results.iter().filter(|(c, _)| *c == 200).map(|(_, b)| b).collect();
        assert_eq!(wins.len(), 1, "exactly one update per resourceVersion wins: {results:?}");
        for (code, body) in results.iter().filter(|(c, _)| *c != 200) {
            assert_eq!(*code, 409, "{body}");
            assert_eq!(body["reason"], "Conflict");
            assert!(body["message"].as_str().unwrap().contains("postgreses.apps.cozystack.io \"db\""), "{body}");
        }
        // The winner's write is what is stored: nothing lost, nothing overwritten silently.
        let (_, now) = raw(&admin, req("GET", &format!("{path}/db"), None)).await.unwrap();
        assert_eq!(now["spec"]["replicas"], wins[0]["spec"]["replicas"]);
        total_wins += 1;
    }
    assert_eq!(total_wins, 3);
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn bad_inputs_get_clear_4xx_answers() {
    let cp = ControlPlane::shared();
    let ns = namespace(cp, "pg-bad");
    let admin = cp.admin().await.unwrap();
    let path = format!("{APPS}/namespaces/{ns}/postgreses");
    let long = "a".repeat(60);
    let cases: Vec<(&str, http::Request<Vec<u8>>, u16, &str)> = vec![
        ("invalid name", req("POST", &path, Some(postgres(&ns, "Bad_Name", json!({})))), 422, "metadata.name"),
        ("too long name", req("POST", &path, Some(postgres(&ns, &long, json!({})))), 422, "must be no more than 44 characters"),
        ("reserved key", req("POST", &path, Some(postgres(&ns, "db1", json!({"_cluster": {}})))), 400, "values key \"_cluster\" is reserved"),
        ("malformed JSON", with_type("POST", &path, "application/json", b"{\"apiVersion\": "), 400, "could not be decoded"),
        ("malformed YAML", with_type("POST", &path, "application/yaml", b"kind: [unclosed"), 400, "could not be decoded"),
        (
            "wrong kind",
            req("POST", &path, Some(json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Redis", "metadata": {"name": "x"}}))),
            400,
            "expects kind \"Postgres\"",
        ),
        ("wrong apiVersion", req("POST", &path, Some(json!({"apiVersion": "v1", "kind": "Postgres", "metadata": {"name": "x"}}))), 400, "apiVersion"),
        ("namespace mismatch", req("POST", &path, Some(postgres("elsewhere", "x", json!({})))), 400, "does not match the namespace"),
        ("unsupported field selector", req("GET", &format!("{path}?fieldSelector=spec.replicas%3D1"), None), 400, "field label not supported: spec.replicas"),
        ("bad label selector", req("GET", &format!("{path}?labelSelector=a%20in%20"), None), 400, ""),
        ("strategic merge patch", with_type("PATCH", &format!("{path}/x"), "application/strategic-merge-patch+json", b"{}"), 415, ""),
        ("missing object", req("GET", &format!("{path}/nope"), None), 404, "postgreses.apps.cozystack.io \"nope\" not found"),
        ("bad dryRun", req("POST", &format!("{path}?dryRun=Maybe"), Some(postgres(&ns, "x", json!({})))), 400, "dryRun"),
    ];
    for (what, request, want_code, want_text) in cases {
        let (code, body) = raw(&admin, request).await.unwrap();
        assert_eq!(code, want_code, "{what}: {body}");
        assert_eq!(body["kind"], "Status", "{what}: {body}");
        assert_eq!(body["code"], want_code, "{what}");
        assert!(body["message"].as_str().unwrap_or_default().contains(want_text), "{what}: {body}");
    }
    // Nothing was created by any of them.
    let (_, list) = raw(&admin, req("GET", &path, None)).await.unwrap();
    assert_eq!(list["items"], json!([]));
    // Creating twice: 409 AlreadyExists, not a 500.
    assert_eq!(raw(&admin, req("POST", &path, Some(postgres(&ns, "twice", json!({}))))).await.unwrap().0, 201);
    let (code, body) = raw(&admin, req("POST", &path, Some(postgres(&ns, "twice", json!({}))))).await.unwrap();
    assert_eq!((code, body["reason"].as_str()), (409, Some("AlreadyExists")), "{body}");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn dry_run_writes_nothing_on_every_verb() {
    let cp = ControlPlane::shared();
    let ns = namespace(cp, "pg-dry");
    let admin = cp.admin().await.unwrap();
    let path = format!("{APPS}/namespaces/{ns}/postgreses");
    let hr = format!("{HRS}/namespaces/{ns}/helmreleases/postgres-db");
    let (code, body) = raw(&admin, req("POST", &format!("{path}?dryRun=All"), Some(postgres(&ns, "db", json!({"replicas": 2}))))).await.unwrap();
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["metadata"]["name"], "db");
    assert_eq!(raw(&admin, req("GET", &hr, None)).await.unwrap().0, 404, "dry-run create wrote nothing");
    let (_, created) = raw(&admin, req("POST", &path, Some(postgres(&ns, "db", json!({"replicas": 2}))))).await.unwrap();
    let mut changed = created.clone();
    changed["spec"]["replicas"] = 9.into();
    let (code, body) = raw(&admin, req("PUT", &format!("{path}/db?dryRun=All"), Some(changed))).await.unwrap();
    assert_eq!((code, &body["spec"]["replicas"]), (200, &json!(9)));
    let patch = with_type("PATCH", &format!("{path}/db?dryRun=All"), "application/merge-patch+json", br#"{"spec":{"replicas":7}}"#);
    assert_eq!(raw(&admin, patch).await.unwrap().0, 200);
    let (code, _) = raw(&admin, req("DELETE", &format!("{path}/db?dryRun=All"), None)).await.unwrap();
    assert_eq!(code, 200);
    let (_, stored) = raw(&admin, req("GET", &hr, None)).await.unwrap();
    assert_eq!(stored["spec"]["values"]["replicas"], 2, "no dry-run write reached storage");
    assert_eq!(stored["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"]);
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn list_selectors_pagination_and_representations() {
    let cp = ControlPlane::shared();
    let ns = namespace(cp, "pg-list");
    let admin = cp.admin().await.unwrap();
    let path = format!("{APPS}/namespaces/{ns}/postgreses");
    for i in 0..5 {
        let mut obj = postgres(&ns, &format!("db{i}"), json!({}));
        obj["metadata"]["labels"] = json!({"tier": if i % 2 == 0 { "gold" } else { "silver" }});
        assert_eq!(raw(&admin, req("POST", &path, Some(obj))).await.unwrap().0, 201);
    }
    // Read-your-writes: the list right after the creates sees all of them.
    let (_, all) = raw(&admin, req("GET", &path, None)).await.unwrap();
    assert_eq!(all["kind"], "PostgresList");
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    let names = |v: &Value| v["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let (_, gold) = raw(&admin, req("GET", &format!("{path}?labelSelector=tier%3Dgold"), None)).await.unwrap();
    assert_eq!(names(&gold), ["db0", "db2", "db4"]);
    let (_, notin) = raw(&admin, req("GET", &format!("{path}?labelSelector=tier%20notin%20(gold)"), None)).await.unwrap();
    assert_eq!(names(&notin), ["db1", "db3"]);
    let (_, one) = raw(&admin, req("GET", &format!("{path}?fieldSelector=metadata.name%3Ddb3"), None)).await.unwrap();
    assert_eq!(names(&one), ["db3"]);
    let (_, others) = raw(&admin, req("GET", &format!("{path}?fieldSelector=metadata.name!%3Ddb3"), None)).await.unwrap();
    assert_eq!(others["items"].as_array().unwrap().len(), 4);
    // Pagination.
    let mut seen = Vec::new();
    let mut cont = String::new();
    loop {
        let (code, page) = raw(&admin, req("GET", &format!("{path}?limit=2&continue={cont}"), None)).await.unwrap();
        assert_eq!(code, 200, "{page}");
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(names(&page));
        cont = page["metadata"]["continue"].as_str().unwrap_or_default().to_string();
        if cont.is_empty() {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, ["db0", "db1", "db2", "db3", "db4"]);
    // Cluster-wide list includes them.
    let (_, cluster) = raw(&admin, req("GET", &format!("{APPS}/postgreses?labelSelector=tier"), None)).await.unwrap();
    assert!(cluster["items"].as_array().unwrap().iter().filter(|i| i["metadata"]["namespace"] == ns.as_str()).count() == 5);
    // Table and PartialObjectMetadataList.
    let table_req = http::Request::get(&path).header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").body(Vec::new()).unwrap();
    let (_, table) = raw(&admin, table_req).await.unwrap();
    assert_eq!(table["kind"], "Table");
    let cols: Vec<&str> = table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(&cols[..4], ["NAME", "READY", "AGE", "VERSION"]);
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    let pom_req = http::Request::get(&path).header("Accept", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io").body(Vec::new()).unwrap();
    let (_, pom) = raw(&admin, pom_req).await.unwrap();
    assert_eq!(pom["kind"], "PartialObjectMetadataList");
    assert_eq!(pom["items"][0]["metadata"]["namespace"], ns.as_str());
    assert!(pom["items"][0].get("spec").is_none());
    let yaml = cp.kubectl_ok(&["get", "postgres", "db0", "-n", &ns, "-o", "yaml"]).unwrap();
    assert!(yaml.contains("kind: Postgres"));
    // deletecollection with a selector removes exactly the selected ones.
    let (code, body) = raw(&admin, req("DELETE", &format!("{path}?labelSelector=tier%3Dsilver"), None)).await.unwrap();
    assert_eq!(code, 200, "{body}");
    let (_, left) = raw(&admin, req("GET", &path, None)).await.unwrap();
    assert_eq!(names(&left), ["db0", "db2", "db4"]);
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn deleting_a_namespace_with_apps_completes() {
    let cp = ControlPlane::shared();
    let ns = namespace(cp, "pg-nsdel");
    let admin = cp.admin().await.unwrap();
    for name in ["a", "b"] {
        assert_eq!(raw(&admin, req("POST", &format!("{APPS}/namespaces/{ns}/postgreses"), Some(postgres(&ns, name, json!({}))))).await.unwrap().0, 201);
    }
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
    wait_until("the namespace controller to finish", Duration::from_secs(90), || async {
        raw(&admin, req("GET", &format!("/api/v1/namespaces/{ns}"), None)).await.map(|(c, _)| c == 404).unwrap_or(false)
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn watch_streams_changes_of_one_kind() {
    let cp = ControlPlane::shared();
    let ns = namespace(cp, "pg-watch");
    let admin = cp.admin().await.unwrap();
    let path = format!("{APPS}/namespaces/{ns}/postgreses");
    let (_, list) = raw(&admin, req("GET", &path, None)).await.unwrap();
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let watch_req = req("GET", &format!("{path}?watch=1&resourceVersion={rv}&timeoutSeconds=30"), None);
    let resp = admin.send(watch_req.map(kube::client::Body::from)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    assert_eq!(raw(&admin, req("POST", &path, Some(postgres(&ns, "w1", json!({}))))).await.unwrap().0, 201);
    let patch = with_type("PATCH", &format!("{path}/w1"), "application/merge-patch+json", br#"{"spec":{"replicas":5}}"#);
    assert_eq!(raw(&admin, patch).await.unwrap().0, 200);
    assert_eq!(raw(&admin, req("DELETE", &format!("{path}/w1"), None)).await.unwrap().0, 200);
    let mut events = Vec::new();
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while events.len() < 3 {
        let frame = tokio::time::timeout_at(deadline, http_body_util::BodyExt::frame(&mut body)).await.expect("events arrive").unwrap().unwrap();
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let e: Value = serde_json::from_slice(&line).unwrap();
                events.push((e["type"].as_str().unwrap().to_string(), e["object"].clone()));
            }
        }
    }
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);
    assert_eq!(events[0].1["kind"], "Postgres");
    assert_eq!(events[0].1["metadata"]["name"], "w1");
    assert_eq!(events[1].1["spec"]["replicas"], 5);
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}
