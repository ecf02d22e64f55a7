//! cozystack-soak: mixed load for a long time (writes, lists, watchers coming and going, ApplicationDefinitions
//! added and removed) while recording cozystack-api's resident memory and open file descriptors; writes an SVG
//! chart and its section of docs/reliability.md. Run by hack/soak.sh.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use chaos::chart::{Panel, render};
use chaos::plane::{Plane, create_namespace, send};
use chaos::report::{median, mib, slope_per_hour, write_section};
use chaos::rng::Rng;
use clap::Parser;
use e2e::{APPS, req};
use serde_json::json;

/// Flags of cozystack-soak.
#[derive(Parser)]
#[command(about = "Soak run of cozystack-api: memory and file descriptors under a long mixed load")]
struct Args {
    /// State folder of the control plane (hack/up.sh's COZY_STATE_DIR).
    #[arg(long)]
    state: PathBuf,
    /// How long to run, in minutes.
    #[arg(long, default_value_t = 60)]
    minutes: u64,
    /// Seed of the workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10)]
    sample_seconds: u64,
    /// Writes per second, all writers together.
    #[arg(long, default_value_t = 10)]
    writes_per_second: u64,
    /// The document to write the results into.
    #[arg(long, default_value = "docs/reliability.md")]
    doc: PathBuf,
    /// The section of the document to write.
    #[arg(long, default_value = "soak")]
    section: String,
    /// The chart to write.
    #[arg(long, default_value = "docs/reliability-soak.svg")]
    svg: PathBuf,
}

const WRITERS: u64 = 2;
const OBJECTS: u64 = 40;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let plane = Arc::new(Plane::connect(&args.state).await?);
    let ns = format!("tenant-soak-{}", std::process::id());
    create_namespace(&plane.cp, &ns)?;
    let deadline = Instant::now() + Duration::from_secs(args.minutes * 60);
    let counters = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let (writes, errors, watches, definitions, lists) = (0, 1, 2, 3, 4);
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (plane, ns, counters) = (plane.clone(), ns.clone(), counters.clone());
        let pause = Duration::from_millis(1000 * WRITERS / args.writes_per_second.max(1));
        let mut rng = Rng::fork(args.seed, w);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let name = format!("app-{}", w * OBJECTS + rng.below(OBJECTS));
                let client = if rng.chance(0.5) { &plane.direct } else { &plane.aggregated };
                let path = format!("{APPS}/namespaces/{ns}/postgreses");
                let r = match rng.below(4) {
                    0 => req("POST", &path, Some(e2e::postgres(&ns, &name, json!({"users": {"soak": {"password": format!("s{}", rng.next_u64())}}})))),
                    1 | 2 => req("PATCH", &format!("{path}/{name}"), Some(json!({"spec": {"users": {"soak": {"password": format!("s{}", rng.next_u64())}}}}))),
                    _ => req("DELETE", &format!("{path}/{name}"), None),
                };
                counters[writes].fetch_add(1, Ordering::Relaxed);
                match send(client, r, Duration::from_secs(30)).await {
                    Ok((code, _)) if code < 500 => {}
                    _ => {
                        counters[errors].fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(pause).await;
            }
        }));
    }
    {
        let (plane, ns, counters) = (plane.clone(), ns.clone(), counters.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                for (i, client) in [&plane.direct, &plane.aggregated].into_iter().enumerate() {
                    let path = if i == 0 { format!("{APPS}/namespaces/{ns}/postgreses") } else { format!("{APPS}/postgreses?limit=20") };
                    counters[lists].fetch_add(1, Ordering::Relaxed);
                    if !matches!(send(client, req("GET", &path, None), Duration::from_secs(30)).await, Ok((200, _))) {
                        counters[errors].fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }));
    }
    // Watchers coming and going: each stays 5 to 40 s, reading what comes, then hangs up.
    {
        let (plane, ns, counters) = (plane.clone(), ns.clone(), counters.clone());
        let mut rng = Rng::fork(args.seed, 100);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let (plane, ns, counters) = (plane.clone(), ns.clone(), counters.clone());
                let stay = Duration::from_secs(rng.range(5, 40));
                let direct = rng.chance(0.5);
                let all = rng.chance(0.3);
                tokio::spawn(async move {
                    let client = if direct { &plane.direct } else { &plane.aggregated };
                    let path =
                        if all { format!("{APPS}/postgreses?watch=1") } else { format!("{APPS}/namespaces/{ns}/postgreses?watch=1&allowWatchBookmarks=true") };
                    counters[watches].fetch_add(1, Ordering::Relaxed);
                    let _ = tokio::time::timeout(stay, async {
                        let resp = client.send(req("GET", &path, None).map(kube::client::Body::from)).await.ok()?;
                        let mut body = resp.into_body();
                        while let Some(Ok(_)) = http_body_util::BodyExt::frame(&mut body).await {}
                        Some(())
                    })
                    .await;
                });
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }));
    }
    // Definitions added and removed: a new kind every minute, an object of it, the kind removed half a minute later.
    {
        let (plane, ns, counters) = (plane.clone(), ns.clone(), counters.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                let name = format!("soak-{}-{n}", std::process::id());
                let kind = format!("Soak{n}");
                let plural = format!("soak{n}s");
                let def = json!({"apiVersion": "cozystack.io/v1alpha1", "kind": "ApplicationDefinition", "metadata": {"name": name},
                    "spec": {"application": {"kind": kind, "plural": plural, "singular": format!("soak{n}"),
                        "openAPISchema": "{\"type\":\"object\",\"properties\":{\"size\":{\"type\":\"string\",\"default\":\"1Gi\"}}}"},
                        "release": {"prefix": format!("soak{n}-"), "chartRef": {"kind": "ExternalArtifact", "name": "soak", "namespace": "cozy-system"}}}});
                let defs = "/apis/cozystack.io/v1alpha1/applicationdefinitions";
                let _ = send(&plane.aggregated, req("POST", defs, Some(def)), Duration::from_secs(30)).await;
                counters[definitions].fetch_add(1, Ordering::Relaxed);
                // The catalog serves a new kind within seconds; until then the create gets 404 and is retried.
                let obj = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": kind, "metadata": {"name": "one", "namespace": ns}, "spec": {}});
                for _ in 0..30 {
                    if matches!(
                        send(&plane.direct, req("POST", &format!("{APPS}/namespaces/{ns}/{plural}"), Some(obj.clone())), Duration::from_secs(30)).await,
                        Ok((201, _))
                    ) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                tokio::time::sleep(Duration::from_secs(30)).await;
                let _ = send(&plane.direct, req("DELETE", &format!("{APPS}/namespaces/{ns}/{plural}/one"), None), Duration::from_secs(30)).await;
                let _ = send(&plane.aggregated, req("DELETE", &format!("{defs}/{name}"), None), Duration::from_secs(30)).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }));
    }
    let start = Instant::now();
    let mut samples: Vec<(f64, u64, u64)> = Vec::new();
    // The HelmRelease cache's history events and capacity, per sample: memory grows until the window is full.
    let mut windows: Vec<(u64, u64)> = Vec::new();
    while Instant::now() < deadline {
        let t = start.elapsed().as_secs_f64() / 60.0;
        match plane.usage("cozystack-api") {
            Ok((rss, fds)) => {
                samples.push((t, rss, fds));
                windows.push(history_window(&plane.direct).await);
            }
            Err(e) => eprintln!("[soak] sampling: {e}"),
        }
        if samples.len() % 30 == 1 {
            let (_, rss, fds) = samples.last().copied().unwrap_or_default();
            eprintln!(
                "[soak] {t:.1} min: rss {} fds {fds}, writes {} errors {} watches {} definitions {} lists {}",
                mib(rss),
                counters[writes].load(Ordering::Relaxed),
                counters[errors].load(Ordering::Relaxed),
                counters[watches].load(Ordering::Relaxed),
                counters[definitions].load(Ordering::Relaxed),
                counters[lists].load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_secs(args.sample_seconds)).await;
    }
    for t in tasks {
        let _ = t.await;
    }
    let svg = render(
        &format!("cozystack-api during a {}-minute soak", args.minutes),
        &[
            Panel { title: "resident memory (MiB)".into(), points: samples.iter().map(|(t, r, _)| (*t, *r as f64 / 1048576.0)).collect() },
            Panel { title: "open file descriptors".into(), points: samples.iter().map(|(t, _, f)| (*t, *f as f64)).collect() },
            Panel {
                title: "events in the HelmRelease watch cache's history window".into(),
                points: samples.iter().zip(&windows).map(|((t, _, _), (events, _))| (*t, *events as f64)).collect(),
            },
        ],
    );
    std::fs::write(&args.svg, svg)?;
    // Warm-up lasts until the history window is full: until then memory grows with it, by design. Drift is
    // judged after it: the median of the last sixth against the median of the first sixth, and the trend.
    let full = windows.iter().position(|(events, capacity)| *capacity > 0 && events >= capacity);
    let (warm, window_row) = match full {
        Some(i) => (i, format!("full ({} events) after {:.1} min", windows[i].1, samples[i].0)),
        None => {
            let (events, capacity) = windows.last().copied().unwrap_or_default();
            (samples.len() / 6, format!("not full at the end ({events} of {capacity} events); warm-up taken as the first sixth"))
        }
    };
    let after = &samples[warm.min(samples.len().saturating_sub(1))..];
    let part = (after.len() / 6).max(1);
    let (early, late) = (&after[..part.min(after.len())], &after[after.len().saturating_sub(part)..]);
    let (rss0, rss1) = (median(early.iter().map(|s| s.1)), median(late.iter().map(|s| s.1)));
    let (fd0, fd1) = (median(early.iter().map(|s| s.2)), median(late.iter().map(|s| s.2)));
    let rss_trend = slope_per_hour(&after.iter().map(|s| (s.0, s.1 as f64 / 1048576.0)).collect::<Vec<_>>());
    let fd_trend = slope_per_hour(&after.iter().map(|s| (s.0, s.2 as f64)).collect::<Vec<_>>());
    let max_rss = samples.iter().map(|s| s.1).max().unwrap_or_default();
    let body = format!(
        "| Soak | Value |\n|---|---|\n| Duration | {} min, {} samples |\n| Writes (errors: 5xx or transport) | {} ({}) |\n| Lists | {} |\n| Watchers opened and closed | {} |\n| ApplicationDefinitions added and removed | {} |\n| HelmRelease watch cache history window (warm-up) | {window_row} |\n| Resident memory after warm-up: median of its first sixth → last sixth; trend | {} → {} ({:+.1} MiB); {rss_trend:+.1} MiB per hour; peak {} |\n| Open file descriptors after warm-up: median of its first sixth → last sixth; trend | {fd0} → {fd1} ({:+}); {fd_trend:+.1} per hour |\n\n![resident memory, file descriptors and history window over the soak]({})\n",
        args.minutes,
        samples.len(),
        counters[writes].load(Ordering::Relaxed),
        counters[errors].load(Ordering::Relaxed),
        counters[lists].load(Ordering::Relaxed),
        counters[watches].load(Ordering::Relaxed),
        counters[definitions].load(Ordering::Relaxed),
        mib(rss0),
        mib(rss1),
        (rss1 as f64 - rss0 as f64) / 1048576.0,
        mib(max_rss),
        fd1 as i64 - fd0 as i64,
        args.svg.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
    );
    write_section(&args.doc, &args.section, &body)?;
    println!("{body}");
    Ok(())
}

/// Events in the HelmRelease watch cache's history and its capacity, from the server's metrics ((0, 0) if
/// unreadable).
async fn history_window(direct: &kube::Client) -> (u64, u64) {
    let Ok((200, body)) = send(direct, req("GET", "/metrics", None), Duration::from_secs(10)).await else { return (0, 0) };
    let text = String::from_utf8_lossy(&body);
    let value = |metric: &str| {
        let line = format!("{metric}{{resource=\"helmreleases.helm.toolkit.fluxcd.io\"}} ");
        text.lines().find_map(|l| l.strip_prefix(line.as_str())).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or_default() as u64
    };
    (value("cozystack_watch_cache_history_events"), value("apiserver_watch_cache_capacity"))
}
