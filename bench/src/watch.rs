//! Watch event delivery: W watchers of all namespaces through one target, writes that each cause one event, and
//! the time from sending a write to each watcher receiving its event.
//!
//! Writes go where the target's events come from: HelmReleases for cozystack-api (both ways) and for the
//! HelmRelease watch, CRD objects for the CRD, plain puts for etcd. The larger fan-out measurement is the
//! "Watch fan-out" section of docs/benchmarks.md; this one keeps the table complete.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use etcd_client::{GetOptions, WatchOptions};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::cluster::{APPS, CRDS, Cluster, FLOOR_KEYS, HRS, SCRATCH, get_json};
use crate::measure::{Stats, Target};

/// Time between two writes.
const SPACING: Duration = Duration::from_millis(50);
/// How long watchers may lag behind the last write before their missing events count as errors.
const GRACE: Duration = Duration::from_secs(10);

type Received = Arc<Mutex<Vec<Option<Instant>>>>;

/// Measures event delivery to `watchers` watchers through `target`, with `events` writes.
pub async fn measure(c: &Arc<Cluster>, target: Target, watchers: usize, events: usize) -> Result<Stats> {
    let names: Vec<String> = (0..events).map(|k| format!("w-{}-{watchers}-{k}", target.short())).collect();
    // The name each target's events carry.
    let wanted: Arc<HashMap<String, usize>> =
        Arc::new(names.iter().enumerate().map(|(k, n)| (if target == Target::HelmRelease { format!("postgres-{n}") } else { n.clone() }, k)).collect());
    let from = start_point(c, target).await?;

    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Result<()>>(watchers);
    let mut tasks = Vec::new();
    let mut received = Vec::new();
    for _ in 0..watchers {
        let got: Received = Arc::new(Mutex::new(vec![None; events]));
        received.push(got.clone());
        let (c, wanted, from, ready) = (c.clone(), wanted.clone(), from.clone(), ready_tx.clone());
        tasks.push(tokio::spawn(async move {
            let r = if target == Target::Etcd {
                watch_etcd(&c, &from, &wanted, &got, &ready).await
            } else {
                watch_http(&c, target, &from, &wanted, &got, &ready).await
            };
            if let Err(e) = r {
                let _ = ready.send(Err(e)).await;
            }
        }));
    }
    for _ in 0..watchers {
        let r = tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await.context("watchers did not start within 60 s")?;
        r.context("a watcher ended")??;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut sent = Vec::with_capacity(events);
    let start = Instant::now();
    for name in &names {
        sent.push(Instant::now());
        write(c, target, name).await?;
        tokio::time::sleep(SPACING).await;
    }
    let all = futures::future::join_all(tasks.iter_mut());
    let _ = tokio::time::timeout(GRACE, all).await;
    for t in &tasks {
        t.abort();
    }

    let (mut lat, mut missing) = (Vec::new(), 0);
    for got in &received {
        for (k, t) in got.lock().expect("not poisoned").iter().enumerate() {
            match t {
                Some(t) => lat.push(t.saturating_duration_since(sent[k])),
                None => missing += 1,
            }
        }
    }
    let first_error = (missing > 0).then(|| format!("{missing} events not delivered within {GRACE:?}"));
    let mut stats = Stats::from_samples(lat, 0, missing, start.elapsed(), first_error);
    stats.rps = None;
    Ok(stats)
}

/// Where watches start: the current resourceVersion (or etcd revision), so that no old object is replayed.
async fn start_point(c: &Cluster, target: Target) -> Result<String> {
    if target == Target::Etcd {
        let resp = c.kv().get(FLOOR_KEYS, Some(GetOptions::new().with_prefix().with_count_only())).await?;
        return Ok((resp.header().context("no header")?.revision() + 1).to_string());
    }
    let list = get_json(c.http(target), &format!("{}?limit=1", collection(target, Some(SCRATCH)))).await?;
    Ok(list["metadata"]["resourceVersion"].as_str().context("a list without resourceVersion")?.to_string())
}

/// The collection path of `target`, in one namespace or all.
fn collection(target: Target, ns: Option<&str>) -> String {
    let (base, plural) = match target {
        Target::Crd => (CRDS, "postgreses"),
        Target::HelmRelease => (HRS, "helmreleases"),
        _ => (APPS, "postgreses"),
    };
    match ns {
        Some(ns) => format!("{base}/namespaces/{ns}/{plural}"),
        None => format!("{base}/{plural}"),
    }
}

/// The write that causes event `name` for `target`.
async fn write(c: &Cluster, target: Target, name: &str) -> Result<()> {
    match target {
        Target::Crd => c.create(Target::Crd, SCRATCH, name).await.map(drop),
        Target::Etcd => c.kv().put(format!("{FLOOR_KEYS}watch/{name}"), "x", None).await.map(drop).map_err(Into::into),
        _ => c.create(Target::HelmRelease, SCRATCH, name).await.map(drop),
    }
}

fn record(got: &Received, wanted: &HashMap<String, usize>, name: &str) -> bool {
    let mut got = got.lock().expect("not poisoned");
    if let Some(&k) = wanted.get(name) {
        got[k].get_or_insert_with(Instant::now);
    }
    got.iter().all(Option::is_some)
}

async fn watch_http(
    c: &Cluster,
    target: Target,
    rv: &str,
    wanted: &HashMap<String, usize>,
    got: &Received,
    ready: &tokio::sync::mpsc::Sender<Result<()>>,
) -> Result<()> {
    let path = format!("{}?watch=true&resourceVersion={rv}&timeoutSeconds=300", collection(target, None));
    let req = http::Request::builder().uri(path).body(kube::client::Body::from(Vec::new()))?;
    let resp = c.http(target).send(req).await?;
    if resp.status() != 200 {
        bail!("watch through {}: {}", target.label(), resp.status());
    }
    ready.send(Ok(())).await?;
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if event["type"] == "ERROR" {
                bail!("watch through {}: {}", target.label(), event["object"]);
            }
            if record(got, wanted, event["object"]["metadata"]["name"].as_str().unwrap_or_default()) {
                return Ok(());
            }
        }
    }
    bail!("watch through {} ended early", target.label())
}

async fn watch_etcd(c: &Cluster, revision: &str, wanted: &HashMap<String, usize>, got: &Received, ready: &tokio::sync::mpsc::Sender<Result<()>>) -> Result<()> {
    let prefix = format!("{FLOOR_KEYS}watch/");
    let opts = WatchOptions::new().with_prefix().with_start_revision(revision.parse()?);
    let mut stream = c.etcd.watch_client().watch(prefix.clone(), Some(opts)).await?;
    ready.send(Ok(())).await?;
    while let Some(resp) = stream.message().await? {
        for event in resp.events() {
            let key = event.kv().map(|kv| String::from_utf8_lossy(kv.key()).into_owned()).unwrap_or_default();
            if record(got, wanted, key.strip_prefix(&prefix).unwrap_or_default()) {
                return Ok(());
            }
        }
    }
    bail!("etcd watch ended early")
}
