//! Watches clients can trust: WatchList, 410 and bookmarks on the wire, lists with resourceVersion semantics, and
//! a long run in which kube-rs informers (list-then-watch and streaming list) and `kubectl get -w` follow 10,000
//! random changes and a restart of kube-apiserver without missing or repeating one event.

#[path = "watch/sync.rs"]
mod sync;

use std::sync::Arc;
use std::time::Duration;

use e2e::{APPS, ControlPlane, HRS, namespace, postgres, raw, req};
use http_body_util::BodyExt;
use serde_json::{Value, json};

/// A private control plane (for tests that restart a component), stopped when dropped.
struct Plane(ControlPlane);

impl Plane {
    /// Starts one named after the test, with extra cozystack-api flags.
    fn start(name: &str, api_args: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("cozy-e2e-watch-{name}-{}", std::process::id()));
        let env = vec![("COZY_API_ARGS".to_string(), api_args.to_string())];
        Self(ControlPlane::start(&dir, env).unwrap_or_else(|e| panic!("control plane: {e:#}")))
    }

    /// Restarts one of its components with hack/restart.sh.
    fn restart(&self, component: &str) {
        let script = e2e::repo_root().join("hack/restart.sh");
        e2e::run_ok(std::process::Command::new(script).arg(component).env("COZY_STATE_DIR", &self.0.state)).unwrap();
    }
}

impl Drop for Plane {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

async fn create(client: &kube::Client, ns: &str, name: &str) -> u64 {
    let (code, body) = raw(client, req("POST", &format!("{APPS}/namespaces/{ns}/postgreses"), Some(postgres(ns, name, json!({}))))).await.unwrap();
    assert_eq!(code, 201, "{body}");
    body["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()
}

/// A watch response read event by event.
struct Events {
    body: kube::client::Body,
    buf: Vec<u8>,
}

impl Events {
    async fn open(client: &kube::Client, path: &str) -> Self {
        let resp = client.send(req("GET", path, None).map(kube::client::Body::from)).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        Self { body: resp.into_body(), buf: Vec::new() }
    }

    /// The next event, or None when the stream ends; fails after 30 s.
    async fn next(&mut self) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Some(serde_json::from_slice(&line).unwrap());
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await.expect("an event within 30 s") {
                Some(frame) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                None => return None,
            }
        }
    }

    /// The next event that is not a periodic bookmark.
    async fn next_change(&mut self) -> Value {
        loop {
            let e = self.next().await.expect("the watch goes on");
            if e["type"] != "BOOKMARK" {
                return e;
            }
        }
    }
}

#[tokio::test]
async fn watchlist_sends_initial_added_events_then_the_initial_events_end_bookmark() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "watchlist");
    let rvs = [create(&admin, &ns, "a").await, create(&admin, &ns, "b").await];
    let path = format!(
        "{APPS}/namespaces/{ns}/postgreses?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=60"
    );
    let mut events = Events::open(&admin, &path).await;
    let mut added = Vec::new();
    let end = loop {
        let e = events.next().await.expect("initial events, then the bookmark");
        match e["type"].as_str().unwrap() {
            "ADDED" => added.push(e["object"]["metadata"]["name"].as_str().unwrap().to_string()),
            "BOOKMARK" => break e["object"].clone(),
            other => panic!("unexpected {other} before the end of the initial events: {e}"),
        }
    };
    assert_eq!(added, ["a", "b"], "every object once, then the bookmark");
    assert_eq!(end["metadata"]["annotations"], json!({"k8s.io/initial-events-end": "true"}));
    assert_eq!((end["apiVersion"].as_str(), end["kind"].as_str()), (Some("apps.cozystack.io/v1alpha1"), Some("Postgres")));
    assert_eq!(end.as_object().unwrap().len(), 3, "apiVersion, kind and metadata only: {end}");
    let end_rv: u64 = end["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(end_rv >= rvs[1], "the state is at least as new as the last write");
    // Then the changes.
    let c = create(&admin, &ns, "c").await;
    let e = events.next_change().await;
    assert_eq!((e["type"].as_str(), e["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("c")));
    assert_eq!(e["object"]["metadata"]["resourceVersion"], c.to_string());
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn a_resource_version_older_than_the_window_gets_410_expired_in_the_stream() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let mut events = Events::open(&admin, &format!("{APPS}/postgreses?watch=1&resourceVersion=1")).await;
    let e = events.next().await.expect("an ERROR event");
    assert_eq!(e["type"], "ERROR", "{e}");
    assert_eq!((e["object"]["kind"].as_str(), e["object"]["code"].as_u64(), e["object"]["reason"].as_str()), (Some("Status"), Some(410), Some("Expired")));
    assert!(e["object"]["message"].as_str().unwrap().starts_with("too old resource version: 1 ("), "{e}");
    assert!(events.next().await.is_none(), "and the watch ends");
}

#[tokio::test]
async fn a_resumed_watch_gets_exactly_the_changes_after_its_version_and_bookmarks_before_its_timeout() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "resume");
    let path = format!("{APPS}/namespaces/{ns}/postgreses");
    let a = create(&admin, &ns, "a").await;
    let b = create(&admin, &ns, "b").await;
    let (code, _) = raw(&admin, req("DELETE", &format!("{path}/a"), None)).await.unwrap();
    assert_eq!(code, 200);
    // From a: b's creation and a's deletion, nothing before.
    let mut events = Events::open(&admin, &format!("{path}?watch=1&resourceVersion={a}&allowWatchBookmarks=true&timeoutSeconds=4")).await;
    let e = events.next_change().await;
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str(), e["object"]["metadata"]["resourceVersion"].as_str()),
        (Some("ADDED"), Some("b"), Some(b.to_string().as_str()))
    );
    let e = events.next_change().await;
    assert_eq!((e["type"].as_str(), e["object"]["metadata"]["name"].as_str()), (Some("DELETED"), Some("a")));
    let deleted: u64 = e["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(deleted > b);
    // Then a bookmark two seconds before the timeout (as kube-apiserver sends), then the end.
    let mut rest = Vec::new();
    while let Some(e) = events.next().await {
        rest.push(e);
    }
    assert!(!rest.is_empty() && rest.iter().all(|e| e["type"] == "BOOKMARK"), "{rest:?}");
    let bm: u64 = rest[0]["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(bm >= deleted, "a bookmark never goes back");
    assert!(rest[0]["object"]["metadata"].get("annotations").is_none());
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn lists_read_their_writes_and_honour_resource_version_and_pages() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "lists");
    let path = format!("{APPS}/namespaces/{ns}/postgreses");
    let names = |l: &Value| l["items"].as_array().unwrap().iter().map(|o| o["metadata"]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let rv = create(&admin, &ns, name).await;
        // A consistent list right after the write sees it, whoever asks.
        let (code, list) = raw(&admin, req("GET", &path, None)).await.unwrap();
        assert_eq!(code, 200);
        assert_eq!(names(&list).len(), i + 1, "{list}");
        assert!(list["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().unwrap() >= rv);
        // Not older than the write.
        let (_, list) = raw(&admin, req("GET", &format!("{path}?resourceVersion={rv}&resourceVersionMatch=NotOlderThan"), None)).await.unwrap();
        assert_eq!(names(&list).len(), i + 1);
    }
    let (_, any) = raw(&admin, req("GET", &format!("{path}?resourceVersion=0"), None)).await.unwrap();
    assert_eq!(names(&any), ["a", "b", "c"]);
    // Pages, with the backend's continue tokens.
    let (_, first) = raw(&admin, req("GET", &format!("{path}?limit=2"), None)).await.unwrap();
    assert_eq!(names(&first), ["a", "b"]);
    let token = first["metadata"]["continue"].as_str().unwrap();
    let (_, second) = raw(&admin, req("GET", &format!("{path}?limit=2&continue={token}"), None)).await.unwrap();
    assert_eq!(names(&second), ["c"]);
    let (code, gone) = raw(&admin, req("GET", &format!("{path}?limit=2&continue=bm90LWEtdG9rZW4"), None)).await.unwrap();
    assert!(code == 400 || code == 410, "a bad continue token is refused: {code} {gone}");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn watch_options_kube_apiserver_refuses_are_refused() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let (code, body) = raw(&admin, req("GET", &format!("{APPS}/postgreses?watch=1&sendInitialEvents=true"), None)).await.unwrap();
    assert_eq!((code, body["reason"].as_str()), (422, Some("Invalid")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_end_cleanly_when_the_server_shuts_down() {
    let plane = Arc::new(Plane::start("shutdown", ""));
    let cp = &plane.0;
    let direct = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await.unwrap();
    let mut events = Events::open(&direct, &format!("{APPS}/postgreses?watch=1&allowWatchBookmarks=true")).await;
    let restart = {
        let plane = plane.clone();
        tokio::task::spawn_blocking(move || plane.restart("cozystack-api"))
    };
    // The stream ends with its last chunk (a broken connection would fail the read), then the server is back.
    assert!(events.next().await.is_none(), "the watch ends when the server shuts down");
    restart.await.unwrap();
}

#[tokio::test]
async fn consistent_lists_are_answered_once_the_progress_marker_comes_back_and_see_writes_made_around_the_server() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "marker");
    let path = format!("{APPS}/namespaces/{ns}/postgreses");
    create(&admin, &ns, "a").await;
    let marker_path = format!("{HRS}/namespaces/cozy-system/helmreleases/cozystack-api-progress");
    let stamp = |hr: &Value| hr["metadata"]["annotations"]["internal.cozystack.io/progress"].clone();
    let (code, before) = raw(&admin, req("GET", &path, None)).await.unwrap();
    assert_eq!((code, before["items"].as_array().unwrap().len()), (200, 1), "{before}");
    let (code, marker) = raw(&admin, req("GET", &marker_path, None)).await.unwrap();
    assert_eq!(code, 200, "a consistent list writes the marker: {marker}");
    assert_eq!(marker["spec"]["suspend"], true);
    // A release written straight to kube-apiserver, then at once a consistent list through the aggregator: the
    // list has it (it was answered after the marker's newer write came back on the cache's watch).
    let (_, hr) = raw(&admin, req("GET", &format!("{HRS}/namespaces/{ns}/helmreleases/postgres-a"), None)).await.unwrap();
    let mut other =
        json!({"apiVersion": hr["apiVersion"], "kind": hr["kind"], "metadata": {"name": "postgres-b", "labels": hr["metadata"]["labels"]}, "spec": hr["spec"]});
    other["metadata"]["labels"]["apps.cozystack.io/application.name"] = json!("b");
    let (code, body) = raw(&admin, req("POST", &format!("{HRS}/namespaces/{ns}/helmreleases"), Some(other))).await.unwrap();
    assert_eq!(code, 201, "{body}");
    let (_, list) = raw(&admin, req("GET", &path, None)).await.unwrap();
    let names: Vec<_> = list["items"].as_array().unwrap().iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b"], "{list}");
    let (_, again) = raw(&admin, req("GET", &marker_path, None)).await.unwrap();
    assert_ne!(stamp(&again), stamp(&marker), "the list wrote the marker again");
    // No reader of the server sees the marker.
    let (_, all) = raw(&admin, req("GET", &format!("{APPS}/postgreses"), None)).await.unwrap();
    assert!(all["items"].as_array().unwrap().iter().all(|o| o["metadata"]["namespace"] != "cozy-system"), "{all}");
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}
