//! cozystack-chaos: the fault harness. Several clients write (create, update, merge patch, server-side apply,
//! delete) applications through the aggregator and straight to cozystack-api, watchers follow them, and etcd,
//! kube-apiserver and cozystack-api are SIGKILLed and restarted at points the seed fixes; etcd itself is watched
//! as the ground truth. At the end the checker (chaos::checker) compares the histories. Run by hack/chaos.sh.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chaos::checker::{Anomaly, Change, EventType, History, Op, OpKind, Outcome, WatchRecord, check};
use chaos::plane::{HR_KEYS, Plane, create_namespace, send};
use chaos::report::write_section;
use chaos::rng::Rng;
use clap::Parser;
use e2e::{APPS, postgres, req, with_type};
use serde_json::{Value, json};

/// Flags of cozystack-chaos.
#[derive(Parser)]
#[command(about = "Fault harness of cozystack-api with a Jepsen-style checker")]
struct Args {
    /// State folder of the control plane (hack/up.sh's COZY_STATE_DIR).
    #[arg(long)]
    state: PathBuf,
    /// Seed of the workload and of the fault schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Writes in all.
    #[arg(long, default_value_t = 10_000)]
    ops: u64,
    /// Writing clients.
    #[arg(long, default_value_t = 4)]
    clients: u64,
    /// Objects each client owns.
    #[arg(long, default_value_t = 4)]
    objects: u64,
    /// Watchers.
    #[arg(long, default_value_t = 3)]
    watchers: u64,
    /// SIGKILLs of each component.
    #[arg(long, default_value_t = 20)]
    kills: u64,
    /// The components to kill.
    #[arg(long, value_delimiter = ',', default_value = "etcd,kube-apiserver,cozystack-api")]
    components: Vec<String>,
    /// Write the run's row into this document (docs/reliability.md).
    #[arg(long)]
    doc: Option<PathBuf>,
}

/// HelmReleases of Postgres apps are named with this prefix.
const RELEASE_PREFIX: &str = "postgres-";

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let plane = Arc::new(Plane::connect(&args.state).await?);
    let ns = format!("tenant-chaos-{}-{}", args.seed, std::process::id());
    create_namespace(&plane.cp, &ns)?;
    eprintln!(
        "[chaos] seed {} in namespace {ns}: {} writes by {} clients, {} watchers, {} kills of each of {:?}",
        args.seed, args.ops, args.clients, args.watchers, args.kills, args.components
    );

    let stop = Arc::new(AtomicBool::new(false));
    let truth = Arc::new(Mutex::new(Truth::default()));
    let start_rev = {
        let mut etcd = plane.etcd().await?;
        etcd.get("/", None).await?.header().context("etcd answers with a header")?.revision()
    };
    let truth_task = tokio::spawn(watch_etcd(plane.clone(), format!("{HR_KEYS}{ns}/"), start_rev + 1, truth.clone(), stop.clone()));

    let watchers: Vec<Arc<Mutex<WatcherState>>> = (0..args.watchers).map(|_| Arc::default()).collect();
    let watcher_tasks: Vec<_> = watchers
        .iter()
        .enumerate()
        .map(|(i, w)| tokio::spawn(watch_api(plane.clone(), ns.clone(), i, Rng::fork(args.seed, 1000 + i as u64), w.clone(), stop.clone())))
        .collect();
    // The watchers list first, so they see every write.
    wait_until(Duration::from_secs(60), || watchers.iter().all(|w| !w.lock().unwrap().records.is_empty())).await.context("the watchers' first lists")?;

    let counter = Arc::new(AtomicU64::new(0));
    let ops = Arc::new(Mutex::new(Vec::<Op>::new()));
    let clients: Vec<_> = (0..args.clients)
        .map(|c| {
            let client = Client { plane: plane.clone(), ns: ns.clone(), id: c as usize, rng: Rng::fork(args.seed, c), objects: args.objects, seed: args.seed };
            tokio::spawn(client.run(counter.clone(), args.ops, ops.clone()))
        })
        .collect();
    let faults = tokio::spawn(inject_faults(plane.clone(), args.seed, args.kills, args.components.clone(), args.ops, counter.clone()));
    for c in clients {
        c.await?;
    }
    let kills = faults.await??;
    eprintln!("[chaos] writes done after {:.0?}", started.elapsed());

    // The end: etcd's final state, then the etcd watch and every watcher caught up with it.
    let (final_state, final_rev) = read_final_state(&plane, &ns).await?;
    let caught_up = wait_until(Duration::from_secs(60), || truth.lock().unwrap().next_rev > final_rev).await;
    if caught_up.is_err() {
        eprintln!("[chaos] the etcd watch did not reach revision {final_rev}");
    }
    let want: BTreeMap<String, u64> = final_state.iter().map(|(k, (rev, _))| (k.clone(), *rev)).collect();
    if wait_until(Duration::from_secs(60), || watchers.iter().all(|w| w.lock().unwrap().view == want)).await.is_err() {
        eprintln!("[chaos] not every watcher reached etcd's final state");
    }
    stop.store(true, Ordering::SeqCst);
    for t in watcher_tasks {
        let _ = t.await;
    }
    truth_task.abort();

    let history = History {
        ops: ops.lock().unwrap().clone(),
        changes: truth.lock().unwrap().changes.clone(),
        final_state,
        watchers: watchers.iter().map(|w| w.lock().unwrap().records.clone()).collect(),
    };
    let anomalies = check(&history);
    let summary = Summary::of(&history, &anomalies, &kills, &args, started.elapsed());
    println!("{}", summary.table());
    for a in anomalies.iter().take(50) {
        println!("anomaly: {a}");
    }
    if let Some(doc) = &args.doc {
        write_section(doc, "chaos", &summary.table())?;
    }
    if !anomalies.is_empty() {
        bail!("{} anomalies", anomalies.len());
    }
    Ok(())
}

/// Polls `cond` every 50 ms until it holds or `deadline` passes.
async fn wait_until(deadline: Duration, cond: impl Fn() -> bool) -> Result<()> {
    let end = Instant::now() + deadline;
    while !cond() {
        if Instant::now() > end {
            bail!("not within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The app key (`ns/name`) of a HelmRelease's etcd key.
fn app_key(etcd_key: &[u8]) -> Option<String> {
    let rest = std::str::from_utf8(etcd_key).ok()?.strip_prefix(HR_KEYS)?;
    let (ns, name) = rest.split_once('/')?;
    Some(format!("{ns}/{}", name.strip_prefix(RELEASE_PREFIX)?))
}

/// The token in a HelmRelease as etcd stores it (JSON).
fn token_of(value: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(value).ok()?;
    v["spec"]["values"]["users"]["chaos"]["password"].as_str().map(str::to_string)
}

/// An app spec holding `token` (in a field with no validation rules: `storageClass` is immutable).
fn spec(token: &str) -> Value {
    json!({"users": {"chaos": {"password": token}}})
}

/// What etcd did, from a watch on it.
#[derive(Default)]
struct Truth {
    changes: BTreeMap<String, Vec<Change>>,
    next_rev: i64,
    errors: Vec<String>,
}

/// Watches etcd from `from` on, resuming from the next revision after every break (etcd restarts).
async fn watch_etcd(plane: Arc<Plane>, prefix: String, from: i64, truth: Arc<Mutex<Truth>>, stop: Arc<AtomicBool>) {
    truth.lock().unwrap().next_rev = from;
    while !stop.load(Ordering::SeqCst) {
        let next = truth.lock().unwrap().next_rev;
        let stream = async {
            let mut etcd = plane.etcd().await?;
            let opts = etcd_client::WatchOptions::new().with_prefix().with_start_revision(next);
            anyhow::Ok(etcd.watch(prefix.as_str(), Some(opts)).await?)
        };
        let mut stream = match stream.await {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        while let Ok(Some(resp)) = stream.message().await {
            let mut t = truth.lock().unwrap();
            if resp.canceled() {
                t.errors.push(format!("etcd watch canceled (compacted at {})", resp.compact_revision()));
                break;
            }
            for e in resp.events() {
                let Some(kv) = e.kv() else { continue };
                let Some(key) = app_key(kv.key()) else { continue };
                let rev = kv.mod_revision() as u64;
                let change = match e.event_type() {
                    etcd_client::EventType::Put => Change::Put { rev, token: token_of(kv.value()) },
                    etcd_client::EventType::Delete => Change::Delete { rev },
                };
                t.changes.entry(key).or_default().push(change);
                t.next_rev = t.next_rev.max(kv.mod_revision() + 1);
            }
            if let Some(h) = resp.header() {
                // An event-less response (progress) says everything up to its revision was sent.
                if resp.events().is_empty() && !resp.created() {
                    t.next_rev = t.next_rev.max(h.revision() + 1);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// etcd's HelmReleases of the namespace at the end, and the revision read at; retried while etcd is down.
async fn read_final_state(plane: &Plane, ns: &str) -> Result<(BTreeMap<String, (u64, Option<String>)>, i64)> {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let attempt = async {
            let mut etcd = plane.etcd().await?;
            let resp = etcd.get(format!("{HR_KEYS}{ns}/"), Some(etcd_client::GetOptions::new().with_prefix())).await?;
            let rev = resp.header().context("a header")?.revision();
            let state = resp.kvs().iter().filter_map(|kv| Some((app_key(kv.key())?, (kv.mod_revision() as u64, token_of(kv.value()))))).collect();
            anyhow::Ok((state, rev))
        };
        match attempt.await {
            Ok(r) => return Ok(r),
            Err(e) if Instant::now() > end => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// What one watcher recorded, and the objects it holds now (key → resourceVersion).
#[derive(Default)]
struct WatcherState {
    records: Vec<WatchRecord>,
    view: BTreeMap<String, u64>,
}

fn rv_of(v: &Value) -> Option<u64> {
    v["metadata"]["resourceVersion"].as_str()?.parse().ok()
}

fn key_of(ns: &str, v: &Value) -> String {
    format!("{ns}/{}", v["metadata"]["name"].as_str().unwrap_or_default())
}

/// A watcher: list, then watch from the list's resourceVersion, resuming from the last one seen whenever the
/// watch ends, relisting only after a 410.
async fn watch_api(plane: Arc<Plane>, ns: String, id: usize, mut rng: Rng, state: Arc<Mutex<WatcherState>>, stop: Arc<AtomicBool>) {
    let client = if id.is_multiple_of(2) { plane.direct.clone() } else { plane.aggregated.clone() };
    let path = format!("{APPS}/namespaces/{ns}/postgreses");
    'relist: while !stop.load(Ordering::SeqCst) {
        let list = match send(&client, req("GET", &path, None), Duration::from_secs(15)).await {
            Ok((200, body)) => serde_json::from_slice::<Value>(&body).ok(),
            _ => None,
        };
        let Some(list) = list else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let Some(mut rv) = rv_of(&list) else { continue };
        let items: BTreeMap<String, u64> = list["items"].as_array().into_iter().flatten().filter_map(|o| Some((key_of(&ns, o), rv_of(o)?))).collect();
        {
            let mut s = state.lock().unwrap();
            s.view = items.clone();
            s.records.push(WatchRecord::Listed { rv, items });
        }
        while !stop.load(Ordering::SeqCst) {
            let timeout = rng.range(5, 30);
            let url = format!("{path}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds={timeout}");
            let resp = tokio::time::timeout(Duration::from_secs(15), client.send(req("GET", &url, None).map(kube::client::Body::from))).await;
            let resp = match resp {
                Ok(Ok(r)) if r.status() == 200 => r,
                Ok(Ok(r)) if r.status() == 410 => {
                    state.lock().unwrap().records.push(WatchRecord::Gone);
                    continue 'relist;
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let mut body = resp.into_body();
            let mut buf = Vec::new();
            let guard = Instant::now() + Duration::from_secs(timeout + 15);
            loop {
                if stop.load(Ordering::SeqCst) || Instant::now() > guard {
                    break;
                }
                let frame = match tokio::time::timeout(Duration::from_millis(500), http_body_util::BodyExt::frame(&mut body)).await {
                    Err(_) => continue,
                    Ok(Some(Ok(f))) => f,
                    Ok(_) => break,
                };
                let Ok(data) = frame.into_data() else { continue };
                buf.extend_from_slice(&data);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let Ok(e) = serde_json::from_slice::<Value>(&line) else { continue };
                    let obj = &e["object"];
                    let kind = match e["type"].as_str() {
                        Some("ADDED") => EventType::Added,
                        Some("MODIFIED") => EventType::Modified,
                        Some("DELETED") => EventType::Deleted,
                        Some("BOOKMARK") => {
                            rv = rv_of(obj).unwrap_or(rv);
                            continue;
                        }
                        _ => {
                            if obj["code"] == 410 {
                                state.lock().unwrap().records.push(WatchRecord::Gone);
                                continue 'relist;
                            }
                            break;
                        }
                    };
                    let Some(event_rv) = rv_of(obj) else { continue };
                    rv = event_rv;
                    let key = key_of(&ns, obj);
                    let mut s = state.lock().unwrap();
                    if kind == EventType::Deleted {
                        s.view.remove(&key);
                    } else {
                        s.view.insert(key.clone(), event_rv);
                    }
                    s.records.push(WatchRecord::Event { kind, key, rv: event_rv });
                }
            }
        }
    }
}

/// One writing client: its objects, its own random stream, one request at a time.
struct Client {
    plane: Arc<Plane>,
    ns: String,
    id: usize,
    rng: Rng,
    objects: u64,
    seed: u64,
}

/// What a client believes of one of its objects.
#[derive(Clone, Copy)]
enum Belief {
    Absent,
    Present(u64),
    Unsure,
}

impl Client {
    async fn run(mut self, counter: Arc<AtomicU64>, total: u64, log: Arc<Mutex<Vec<Op>>>) {
        let mut beliefs = vec![Belief::Absent; self.objects as usize];
        let mut backoff = Duration::from_millis(100);
        let path = format!("{APPS}/namespaces/{}/postgreses", self.ns);
        loop {
            let j = self.rng.below(self.objects) as usize;
            let name = format!("c{}-o{j}", self.id);
            let client = if self.rng.chance(0.5) { &self.plane.direct } else { &self.plane.aggregated };
            if let Belief::Unsure = beliefs[j] {
                match send(client, req("GET", &format!("{path}/{name}"), None), Duration::from_secs(15)).await {
                    Ok((200, body)) => beliefs[j] = serde_json::from_slice::<Value>(&body).ok().and_then(|v| rv_of(&v)).map_or(Belief::Unsure, Belief::Present),
                    Ok((404, _)) => beliefs[j] = Belief::Absent,
                    _ => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                }
            }
            let n = counter.fetch_add(1, Ordering::SeqCst);
            if n >= total {
                return;
            }
            let token = format!("s{}-c{}-{n}", self.seed, self.id);
            let roll = self.rng.below(100);
            let kind = match beliefs[j] {
                Belief::Absent if roll < 70 => OpKind::Create,
                Belief::Absent => OpKind::Apply,
                _ if roll < 30 => OpKind::Update,
                _ if roll < 55 => OpKind::Patch,
                _ if roll < 80 => OpKind::Apply,
                _ => OpKind::Delete,
            };
            let item = format!("{path}/{name}");
            let request = match kind {
                OpKind::Create => req("POST", &path, Some(postgres(&self.ns, &name, spec(&token)))),
                OpKind::Update => {
                    let mut obj = postgres(&self.ns, &name, spec(&token));
                    if let Belief::Present(rv) = beliefs[j] {
                        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
                    }
                    req("PUT", &item, Some(obj))
                }
                OpKind::Patch => req("PATCH", &item, Some(json!({"spec": spec(&token)}))),
                OpKind::Apply => {
                    let body = serde_json::to_vec(&postgres(&self.ns, &name, spec(&token))).expect("JSON");
                    with_type("PATCH", &format!("{item}?fieldManager=chaos-{}&force=true", self.id), "application/apply-patch+yaml", &body)
                }
                OpKind::Delete => req("DELETE", &item, None),
            };
            let direct = std::ptr::eq(client, &self.plane.direct);
            let answer = send(client, request, Duration::from_secs(15)).await;
            if std::env::var_os("CHAOS_DEBUG").is_some()
                && let Ok((code, body)) = &answer
                && *code >= 400
            {
                eprintln!(
                    "[chaos] {kind:?} {name} {} → {code} {}",
                    if direct { "direct" } else { "aggregated" },
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                );
            }
            let outcome = match &answer {
                Ok((code, body)) if (200..300).contains(code) => {
                    let v: Value = serde_json::from_slice(body).unwrap_or_default();
                    Outcome::Ok { rv: rv_of(&v).unwrap_or(0) }
                }
                Ok((code, _)) if (400..500).contains(code) => Outcome::Failed { code: *code },
                Ok((code, body)) => Outcome::Unknown { why: format!("{code}: {}", String::from_utf8_lossy(&body[..body.len().min(200)])) },
                Err(e) => Outcome::Unknown { why: e.clone() },
            };
            beliefs[j] = match (&outcome, kind) {
                (Outcome::Ok { .. }, OpKind::Delete) => Belief::Absent,
                (Outcome::Ok { rv }, _) => Belief::Present(*rv),
                (Outcome::Failed { code: 404 }, _) => Belief::Absent,
                (Outcome::Failed { code: 409 }, _) => Belief::Unsure,
                (Outcome::Failed { .. }, _) => beliefs[j],
                (Outcome::Unknown { .. }, _) => Belief::Unsure,
            };
            if matches!(outcome, Outcome::Unknown { .. }) {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            } else {
                backoff = Duration::from_millis(100);
            }
            let token = (kind != OpKind::Delete).then_some(token);
            log.lock().unwrap().push(Op { client: self.id, key: format!("{}/{name}", self.ns), kind, token, outcome });
        }
    }
}

/// SIGKILLs and restarts the components, `kills` times each, in an order and at write counts the seed fixes.
async fn inject_faults(
    plane: Arc<Plane>,
    seed: u64,
    kills: u64,
    components: Vec<String>,
    total: u64,
    counter: Arc<AtomicU64>,
) -> Result<BTreeMap<String, u64>> {
    let mut rng = Rng::fork(seed, 10_000);
    let mut schedule = Vec::new();
    for _ in 0..kills {
        let mut round = components.clone();
        for i in (1..round.len()).rev() {
            round.swap(i, rng.below(i as u64 + 1) as usize);
        }
        schedule.extend(round);
    }
    let slot = total / (schedule.len() as u64 + 1);
    let mut done: BTreeMap<String, u64> = components.iter().map(|c| (c.clone(), 0)).collect();
    for (i, component) in schedule.into_iter().enumerate() {
        let at = slot * (i as u64 + 1) + rng.below(slot.max(1) / 2 + 1);
        while counter.load(Ordering::SeqCst) < at.min(total.saturating_sub(1)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let p = plane.clone();
        let c = component.clone();
        let t = Instant::now();
        tokio::task::spawn_blocking(move || p.kill_and_restart(&c)).await??;
        *done.entry(component.clone()).or_default() += 1;
        eprintln!("[chaos] killed {component} at write {} (back in {:.1?})", counter.load(Ordering::SeqCst), t.elapsed());
    }
    Ok(done)
}

/// The numbers of a run, as docs/reliability.md shows them.
struct Summary {
    rows: Vec<(String, String)>,
}

impl Summary {
    fn of(h: &History, anomalies: &[Anomaly], kills: &BTreeMap<String, u64>, args: &Args, took: Duration) -> Self {
        let count = |f: &dyn Fn(&Op) -> bool| h.ops.iter().filter(|o| f(o)).count();
        let mut rows = vec![
            ("Seed".to_string(), args.seed.to_string()),
            ("Writes (clients × objects each)".into(), format!("{} ({} × {})", h.ops.len(), args.clients, args.objects)),
        ];
        let kinds: Vec<String> = OpKind::ALL.iter().map(|k| format!("{k:?} {}", count(&|o| o.kind == *k))).collect();
        rows.push(("Writes by verb".into(), kinds.join(", ")));
        rows.push((
            "Outcomes: acknowledged / failed (4xx) / unknown".into(),
            format!(
                "{} / {} / {}",
                count(&|o| matches!(o.outcome, Outcome::Ok { .. })),
                count(&|o| matches!(o.outcome, Outcome::Failed { .. })),
                count(&|o| matches!(o.outcome, Outcome::Unknown { .. }))
            ),
        ));
        let mut codes: BTreeMap<(OpKind, u16), usize> = BTreeMap::new();
        for o in &h.ops {
            if let Outcome::Failed { code } = o.outcome {
                *codes.entry((o.kind, code)).or_default() += 1;
            }
        }
        let codes: Vec<String> = codes.iter().map(|((k, c), n)| format!("{k:?} {c}: {n}")).collect();
        rows.push(("Failed writes by verb and code".into(), codes.join(", ")));
        let k: Vec<String> = kills.iter().map(|(c, n)| format!("{c} {n}")).collect();
        rows.push(("SIGKILLs and restarts".into(), k.join(", ")));
        rows.push((
            "Watchers (relists after 410)".into(),
            format!("{} ({})", h.watchers.len(), h.watchers.iter().flatten().filter(|r| **r == WatchRecord::Gone).count()),
        ));
        rows.push(("Watch events checked".into(), h.watchers.iter().flatten().filter(|r| matches!(r, WatchRecord::Event { .. })).count().to_string()));
        rows.push(("etcd changes (ground truth)".into(), h.changes.values().map(Vec::len).sum::<usize>().to_string()));
        let lost = anomalies.iter().filter(|a| matches!(a, Anomaly::LostWrite { .. } | Anomaly::LostDelete { .. })).count();
        rows.push(("Acknowledged writes lost".into(), lost.to_string()));
        rows.push(("Watch anomalies".into(), anomalies.iter().filter(|a| a.is_watch()).count().to_string()));
        rows.push((
            "Other anomalies (failed writes visible, phantoms, final state)".into(),
            (anomalies.iter().filter(|a| !a.is_watch()).count() - lost).to_string(),
        ));
        rows.push(("Wall clock".into(), format!("{:.0} s", took.as_secs_f64())));
        Self { rows }
    }

    fn table(&self) -> String {
        let mut s = String::from("| Fault run | Value |\n|---|---|\n");
        for (k, v) in &self.rows {
            s.push_str(&format!("| {k} | {v} |\n"));
        }
        s
    }
}
