//! The exact-sync run, on a private control plane (it restarts kube-apiserver): random creates, updates and
//! deletes of HelmReleases, the backend of Postgres applications, while three clients watch the applications
//! through the aggregator: a kube-rs reflector listing then watching, one using a streaming list (WatchList), and
//! `kubectl get -w` (restarted whenever it exits). Half-way, kube-apiserver restarts.
//!
//! Every change's resourceVersion is recorded as it is written. A client's events are then checked per session
//! (between relists): after an object's first appearance, each event must be exactly the next change of that
//! object, so no event is missing or repeated; and every client ends with exactly the backend's final state.

use std::collections::{BTreeMap, HashMap};
use std::io::BufReader;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{ControlPlane, raw, wait_until};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::{Value, json};

use super::{APPS, Plane, req};

const HRS: &str = "/apis/helm.toolkit.fluxcd.io/v2";
const NS: &str = "tenant-sync";
/// Objects the changes pick from.
const NAMES: usize = 60;
/// Writers, each owning its share of the names, so that every object's changes are in order.
const WRITERS: usize = 6;

/// One change of one object, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Created(u64),
    Updated(u64),
    Deleted,
}

/// Every object's changes, in order.
type Truth = BTreeMap<String, Vec<Change>>;

/// What a client saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// A new session: the client (re)listed or restarted.
    Session,
    /// An object of the initial state (kube-rs InitApply).
    Initial(String, u64),
    /// ADDED or MODIFIED, not told apart (kube-rs Apply).
    Applied(String, u64),
    Added(String, u64),
    Modified(String, u64),
    Deleted(String, u64),
}

impl Seen {
    fn name(&self) -> Option<&str> {
        match self {
            Seen::Session => None,
            Seen::Initial(n, _) | Seen::Applied(n, _) | Seen::Added(n, _) | Seen::Modified(n, _) | Seen::Deleted(n, _) => Some(n),
        }
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// The application written first, to copy its HelmRelease; deleted before the run, and ignored by the checks.
const TEMPLATE: &str = "template";

/// A small deterministic generator (xorshift), seeded per run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn rv_of(o: &Value) -> u64 {
    o["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no resourceVersion in {o}"))
}

/// One writer: its names, what it last wrote of each, and the changes it made.
struct Writer {
    names: Vec<String>,
    live: HashMap<String, Value>,
    truth: Truth,
    rng: Rng,
}

impl Writer {
    async fn run(&mut self, client: &kube::Client, template: &Value, ops: usize) {
        for i in 0..ops {
            let name = self.names[self.rng.below(self.names.len())].clone();
            let path = format!("{HRS}/namespaces/{NS}/helmreleases");
            let change = match self.live.get(&name) {
                None => {
                    let mut hr = template.clone();
                    hr["metadata"] = json!({"name": format!("postgres-{name}"), "namespace": NS, "labels": template["metadata"]["labels"].clone()});
                    hr["metadata"]["labels"]["apps.cozystack.io/application.name"] = name.clone().into();
                    hr["spec"]["values"]["replicas"] = i.into();
                    let (code, body) = raw(client, req("POST", &path, Some(hr))).await.unwrap();
                    assert_eq!(code, 201, "{body}");
                    let rv = rv_of(&body);
                    self.live.insert(name.clone(), body);
                    Change::Created(rv)
                }
                Some(current) if self.rng.below(10) < 7 => {
                    let mut hr = current.clone();
                    hr["spec"]["values"]["replicas"] = i.into();
                    let (code, body) = raw(client, req("PUT", &format!("{path}/postgres-{name}"), Some(hr))).await.unwrap();
                    assert_eq!(code, 200, "{body}");
                    let rv = rv_of(&body);
                    self.live.insert(name.clone(), body);
                    Change::Updated(rv)
                }
                Some(_) => {
                    let (code, body) = raw(client, req("DELETE", &format!("{path}/postgres-{name}"), None)).await.unwrap();
                    assert_eq!(code, 200, "{body}");
                    self.live.remove(&name);
                    Change::Deleted
                }
            };
            self.truth.entry(name).or_default().push(change);
        }
    }
}

/// Runs every writer for `ops` changes in all.
async fn write(cp: &ControlPlane, writers: Vec<Writer>, template: &Arc<Value>, ops: usize) -> Vec<Writer> {
    let client = cp.admin().await.unwrap();
    let tasks: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(i, mut w)| {
            let (client, template) = (client.clone(), template.clone());
            let share = ops / WRITERS + usize::from(i < ops % WRITERS);
            tokio::spawn(async move {
                w.run(&client, &template, share).await;
                w
            })
        })
        .collect();
    futures::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect()
}

fn app_name(o: &DynamicObject) -> String {
    o.metadata.name.clone().unwrap_or_default()
}

fn app_rv(o: &DynamicObject) -> u64 {
    o.metadata.resource_version.as_deref().and_then(|s| s.parse().ok()).unwrap_or_default()
}

/// A kube-rs reflector over the Postgres applications, recording what its watcher yields.
fn informer(client: kube::Client, config: watcher::Config, log: Log) -> reflector::Store<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps.cozystack.io", "v1alpha1", "Postgres"), "postgreses");
    let api: Api<DynamicObject> = Api::namespaced_with(client, NS, &ar);
    let writer = reflector::store::Writer::new(ar);
    let store = writer.as_reader();
    let events = reflector(writer, watcher(api, config)).default_backoff();
    tokio::spawn(events.for_each(move |e| {
        let seen = match e {
            Ok(watcher::Event::Init) => Some(Seen::Session),
            Ok(watcher::Event::InitApply(o)) => Some(Seen::Initial(app_name(&o), app_rv(&o))),
            Ok(watcher::Event::InitDone) => None,
            Ok(watcher::Event::Apply(o)) => Some(Seen::Applied(app_name(&o), app_rv(&o))),
            Ok(watcher::Event::Delete(o)) => Some(Seen::Deleted(app_name(&o), app_rv(&o))),
            Err(e) => {
                eprintln!("informer: {e}");
                None
            }
        };
        log.lock().unwrap().extend(seen.filter(|s| s.name() != Some(TEMPLATE)));
        futures::future::ready(())
    }));
    store
}

/// `kubectl get -w` sessions, one after another until `stop`; the running one is in `child`.
fn kubectl_sessions(kubectl: &Path, kubeconfig: &Path, log: Log, stop: Arc<AtomicBool>, child: Arc<Mutex<Option<Child>>>) -> std::thread::JoinHandle<()> {
    let (kubectl, kubeconfig) = (kubectl.to_path_buf(), kubeconfig.to_path_buf());
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let spawned = Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(["get", "postgreses", "-n", NS, "-w", "--output-watch-events", "-o", "json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn();
            let Ok(mut c) = spawned else { continue };
            let stdout = c.stdout.take().unwrap();
            *child.lock().unwrap() = Some(c);
            log.lock().unwrap().push(Seen::Session);
            for e in serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter::<Value>() {
                let Ok(e) = e else { break };
                let name = e["object"]["metadata"]["name"].as_str().unwrap_or_default().to_string();
                let seen = match e["type"].as_str() {
                    Some("ADDED") => Seen::Added(name, rv_of(&e["object"])),
                    Some("MODIFIED") => Seen::Modified(name, rv_of(&e["object"])),
                    Some("DELETED") => Seen::Deleted(name, rv_of(&e["object"])),
                    // A 410 when this watcher fell out of the history window: kubectl ends, and the next session
                    // relists, as a client must.
                    Some("ERROR") => break,
                    _ => continue,
                };
                if seen.name() != Some(TEMPLATE) {
                    log.lock().unwrap().push(seen);
                }
            }
            if let Some(mut c) = child.lock().unwrap().take() {
                let _ = c.wait();
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    })
}

/// Checks one client's log against the truth: per session, after its first appearance each object's events are
/// exactly its next changes. Returns the number of sessions and events.
fn check(client: &str, log: &[Seen], truth: &Truth) -> (usize, usize) {
    let index = |name: &str, rv: u64| -> usize {
        let changes = truth.get(name).unwrap_or_else(|| panic!("{client}: {name} was never written"));
        changes
            .iter()
            .position(|c| matches!(c, Change::Created(r) | Change::Updated(r) if *r == rv))
            .unwrap_or_else(|| panic!("{client}: {name} never had version {rv}"))
    };
    let (mut sessions, mut events) = (0, 0);
    let mut last: HashMap<String, usize> = HashMap::new();
    for (at, seen) in log.iter().enumerate() {
        let context = || format!("{client}, entry {at} ({seen:?})");
        let (name, next) = match seen {
            Seen::Session => {
                sessions += 1;
                last.clear();
                continue;
            }
            Seen::Initial(name, rv) => {
                last.insert(name.clone(), index(name, *rv));
                continue;
            }
            Seen::Applied(name, rv) | Seen::Added(name, rv) | Seen::Modified(name, rv) => (name, index(name, *rv)),
            Seen::Deleted(name, rv) => {
                let prev = *last.get(name).unwrap_or_else(|| panic!("{}: DELETED of an object the client did not have", context()));
                assert_eq!(truth[name].get(prev + 1), Some(&Change::Deleted), "{}: not the next change", context());
                let (Change::Created(r) | Change::Updated(r)) = truth[name][prev] else { unreachable!("an object is deleted once") };
                assert!(*rv > r, "{}: a deletion carries its own, later version", context());
                (name, prev + 1)
            }
        };
        events += 1;
        let change = truth[name][next];
        match (last.get(name), seen) {
            (Some(prev), _) => {
                assert_eq!(next, prev + 1, "{}: expected change #{} of {name} ({:?}), got #{next}", context(), prev + 1, truth[name].get(prev + 1))
            }
            // kubectl shows the initial state as ADDED: any version.
            (None, Seen::Added(..)) => {}
            (None, _) => {
                assert!(matches!(change, Change::Created(_)), "{}: the first event of an object not in the initial state must be its creation", context())
            }
        }
        match seen {
            Seen::Added(..) if last.contains_key(name) => assert!(matches!(change, Change::Created(_)), "{}: ADDED for an update", context()),
            Seen::Modified(..) => assert!(matches!(change, Change::Updated(_)), "{}: MODIFIED for {change:?}", context()),
            _ => {}
        }
        last.insert(name.clone(), next);
    }
    (sessions, events)
}

/// The final state: object → resourceVersion.
fn final_state(truth: &Truth) -> BTreeMap<String, u64> {
    truth
        .iter()
        .filter_map(|(name, changes)| match changes.last() {
            Some(Change::Created(rv) | Change::Updated(rv)) => Some((name.clone(), *rv)),
            _ => None,
        })
        .collect()
}

/// The state a log ends in.
fn logged_state(log: &[Seen]) -> BTreeMap<String, u64> {
    let mut state = BTreeMap::new();
    for seen in log {
        match seen {
            Seen::Session => state.clear(),
            Seen::Initial(n, rv) | Seen::Applied(n, rv) | Seen::Added(n, rv) | Seen::Modified(n, rv) => {
                state.insert(n.clone(), *rv);
            }
            Seen::Deleted(n, _) => {
                state.remove(n);
            }
        }
    }
    state
}

fn list_state(list: &Value, strip: &str) -> BTreeMap<String, u64> {
    list["items"].as_array().unwrap().iter().map(|o| (o["metadata"]["name"].as_str().unwrap().trim_start_matches(strip).to_string(), rv_of(o))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn informers_and_kubectl_stay_exactly_in_sync_through_10000_changes_and_a_kube_apiserver_restart() {
    let ops: usize = std::env::var("COZY_WATCH_SYNC_OPS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("sync run: {ops} changes, seed {seed}");
    let plane = Plane::start("sync", "--watch-bookmark-interval=1s");
    let cp = &plane.0;
    cp.kubectl_ok(&["create", "namespace", NS]).unwrap();
    let admin = cp.admin().await.unwrap();

    // A HelmRelease exactly as the server writes one, to write more of.
    let (code, body) = raw(
        &admin,
        req(
            "POST",
            &format!("{APPS}/namespaces/{NS}/postgreses"),
            Some(json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": TEMPLATE}, "spec": {}})),
        ),
    )
    .await
    .unwrap();
    assert_eq!(code, 201, "{body}");
    let (_, hr) = raw(&admin, req("GET", &format!("{HRS}/namespaces/{NS}/helmreleases/postgres-template"), None)).await.unwrap();
    let template = Arc::new(json!({"apiVersion": hr["apiVersion"], "kind": hr["kind"], "metadata": {"labels": hr["metadata"]["labels"]}, "spec": hr["spec"]}));
    assert_eq!(raw(&admin, req("DELETE", &format!("{APPS}/namespaces/{NS}/postgreses/template"), None)).await.unwrap().0, 200);

    let logs: [Log; 3] = Default::default();
    let list_watch = informer(admin.clone(), watcher::Config::default(), logs[0].clone());
    let streaming = informer(admin.clone(), watcher::Config::default().streaming_lists(), logs[1].clone());
    let (stop, child) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(None)));
    let kubectl = kubectl_sessions(&cp.kubectl, &cp.kubeconfig(), logs[2].clone(), stop.clone(), child.clone());

    let names: Vec<String> = (0..NAMES).map(|i| format!("o{i}")).collect();
    let writers: Vec<Writer> = (0..WRITERS)
        .map(|w| Writer {
            names: names.iter().skip(w).step_by(WRITERS).cloned().collect(),
            live: HashMap::new(),
            truth: Truth::new(),
            rng: Rng(seed.wrapping_mul(w as u64 + 1) | 1),
        })
        .collect();
    let writers = write(cp, writers, &template, ops / 2).await;
    plane.restart("kube-apiserver");
    let admin = cp.admin().await.unwrap();
    wait_until("the aggregator to serve applications again", Duration::from_secs(120), || async {
        raw(&admin, req("GET", &format!("{APPS}/namespaces/{NS}/postgreses"), None)).await.map(|(c, _)| c == 200).unwrap_or(false)
    })
    .await
    .unwrap();
    let writers = write(cp, writers, &template, ops - ops / 2).await;

    let truth: Truth = writers.into_iter().flat_map(|w| w.truth).collect();
    let want = final_state(&truth);
    let store_state = |s: &reflector::Store<DynamicObject>| s.state().iter().map(|o| (app_name(o), app_rv(o))).collect::<BTreeMap<_, _>>();
    let converged = wait_until("every client to reach the final state", Duration::from_secs(180), || async {
        store_state(&list_watch) == want && store_state(&streaming) == want && logs.iter().all(|l| logged_state(&l.lock().unwrap()) == want)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    while !kubectl.is_finished() {
        if let Some(c) = child.lock().unwrap().as_mut() {
            let _ = c.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    kubectl.join().unwrap();
    if let Err(e) = converged {
        for (client, log) in ["list-watch", "streaming-list", "kubectl"].iter().zip(&logs) {
            let got = logged_state(&log.lock().unwrap());
            let differ: Vec<_> = want.keys().chain(got.keys()).filter(|k| want.get(*k) != got.get(*k)).map(|k| (k, want.get(k), got.get(k))).collect();
            eprintln!("{client}: {} differences (object, want, got): {differ:?}", differ.len());
        }
        panic!("{e}");
    }

    for (client, log) in ["list-watch", "streaming-list", "kubectl"].iter().zip(&logs) {
        let (sessions, events) = check(client, &log.lock().unwrap(), &truth);
        eprintln!("{client}: {events} events in {sessions} session(s)");
        assert!(events > 0);
    }
    // The server's own lists agree: a consistent list, and the backend's.
    let (_, ours) = raw(&admin, req("GET", &format!("{APPS}/namespaces/{NS}/postgreses"), None)).await.unwrap();
    assert_eq!(list_state(&ours, ""), want);
    let (_, backend) = raw(&admin, req("GET", &format!("{HRS}/namespaces/{NS}/helmreleases"), None)).await.unwrap();
    assert_eq!(list_state(&backend, "postgres-"), want);
    let written: usize = truth.values().map(Vec::len).sum();
    assert_eq!(written, ops);
}
