//! Watch fan-out benchmark: N concurrent watchers of one kind on cozystack-api (directly, not through the
//! aggregator), then M HelmRelease writes to the backend. Reports the delivery latency from each backend write to
//! each watcher's receipt of its event (p50, p99, max) and cozystack-api's resident memory, and writes them into
//! the "## Watch fan-out" section of docs/benchmarks.md. A measurement, not a test: nothing is asserted on timings.
//!
//! Usage: `bench_watch [--watchers N[,N...]] [--events M] [--interval-ms T] [--no-write]`; N and M also come
//! from `COZY_BENCH_WATCHERS` and `COZY_BENCH_EVENTS` (defaults 1,1000 and 100: the 1-watcher row is the
//! baseline the fan-out adds to). It uses the control plane named by `COZY_E2E_STATE_DIR`, or starts one (and
//! stops it after).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use e2e::{ControlPlane, raw, repo_root, unique};
use http_body_util::BodyExt;
use serde_json::{Value, json};

const APPS: &str = "/apis/apps.cozystack.io/v1alpha1";
const HRS: &str = "/apis/helm.toolkit.fluxcd.io/v2";
const SECTION: &str = "## Watch fan-out";

struct Args {
    /// Watcher counts, measured one after another.
    watchers: Vec<usize>,
    events: usize,
    interval: Duration,
    write_docs: bool,
    /// Which control plane it ran on, for the section's last sentence.
    plane: String,
}

const USAGE: &str = "usage: bench_watch [--watchers N[,N...]] [--events M] [--interval-ms T] [--plane TEXT] [--no-write]";

/// A positive number, or a comma-separated list of them.
fn counts(text: &str) -> Result<Vec<usize>> {
    let counts = text.split(',').map(|n| n.trim().parse::<usize>().ok().filter(|n| *n > 0)).collect::<Option<Vec<_>>>();
    counts.filter(|c| !c.is_empty()).with_context(|| format!("{text:?} is not a list of positive numbers; {USAGE}"))
}

impl Args {
    fn parse() -> Result<Self> {
        let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        let mut a = Self {
            watchers: counts(&env("COZY_BENCH_WATCHERS", "1,1000"))?,
            events: counts(&env("COZY_BENCH_EVENTS", "100"))?[0],
            interval: Duration::from_millis(100),
            write_docs: true,
            plane: "a control plane freshly started by `hack/up.sh`".into(),
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().with_context(|| format!("{flag} needs a value; {USAGE}"));
            match flag.as_str() {
                "--watchers" => a.watchers = counts(&value()?)?,
                "--events" => a.events = counts(&value()?)?[0],
                "--interval-ms" => a.interval = Duration::from_millis(counts(&value()?)?[0] as u64),
                "--plane" => a.plane = value()?,
                "--no-write" => a.write_docs = false,
                other => bail!("unknown argument {other:?}; {USAGE}"),
            }
        }
        Ok(a)
    }
}

fn req(method: &str, path: &str, body: Option<Value>) -> http::Request<Vec<u8>> {
    let b = http::Request::builder().method(method).uri(path).header("Content-Type", "application/json");
    b.body(body.map(|v| serde_json::to_vec(&v).unwrap_or_default()).unwrap_or_default()).expect("a valid request")
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("bad VmRSS")?.parse()?)
}

/// The event number in a watch line `{"type":"ADDED",...,"name":"bench-<k>",...}`, found without parsing the JSON,
/// so the clients stay cheap next to the server they measure.
fn event_number(line: &[u8]) -> Option<usize> {
    const MARK: &[u8] = br#""name":"bench-"#;
    if !line.starts_with(br#"{"type":"ADDED""#) {
        return None;
    }
    let at = line.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&line[at..at + digits]).ok()?.parse().ok()
}

/// One watcher: records, for each event, the time since `base` it arrived (0 = not yet).
async fn watcher(client: kube::Client, path: String, base: Instant, received: Arc<Vec<AtomicU64>>, ready: tokio::sync::mpsc::Sender<()>) -> Result<()> {
    let resp = client.send(req("GET", &path, None).map(kube::client::Body::from)).await?;
    if resp.status() != 200 {
        bail!("watch answered {}", resp.status());
    }
    ready.send(()).await.ok();
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            if let Some(k) = event_number(&buf[..end]).filter(|k| *k < received.len()) {
                received[k].store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
            }
            buf.drain(..=end);
        }
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Replaces (or appends) the section in docs/benchmarks.md.
fn write_section(text: &str) -> Result<()> {
    let path = repo_root().join("docs/benchmarks.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let mut out = String::new();
    let mut lines = old.lines().peekable();
    let mut replaced = false;
    while let Some(line) = lines.next() {
        if line.trim_end() == SECTION {
            out.push_str(text);
            while lines.peek().is_some_and(|l| !l.starts_with("## ")) {
                lines.next();
            }
            if lines.peek().is_some() {
                out.push('\n');
            }
            replaced = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !replaced {
        if !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(text);
    }
    std::fs::write(&path, out)?;
    Ok(())
}

/// One measurement.
struct Row {
    watchers: usize,
    deliveries: usize,
    missing: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    rss_before: u64,
    rss_watching: u64,
    rss_peak: u64,
}

/// A HelmRelease exactly as the server writes one, to write more of: created through the server once.
async fn template(cp: &ControlPlane, admin: &kube::Client) -> Result<Value> {
    let ns = unique("tenant-bench");
    cp.kubectl_ok(&["create", "namespace", &ns])?;
    let app = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": "template"}, "spec": {}});
    let (code, body) = raw(admin, req("POST", &format!("{APPS}/namespaces/{ns}/postgreses"), Some(app))).await?;
    if code != 201 {
        bail!("creating the template application: {code} {body}");
    }
    let (_, hr) = raw(admin, req("GET", &format!("{HRS}/namespaces/{ns}/helmreleases/postgres-template"), None)).await?;
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"])?;
    Ok(json!({"apiVersion": hr["apiVersion"], "kind": hr["kind"], "metadata": {"labels": hr["metadata"]["labels"]}, "spec": hr["spec"]}))
}

/// `watchers` watchers of a new namespace, then `args.events` HelmReleases written into it.
async fn measure(cp: &ControlPlane, admin: &kube::Client, template: &Value, watchers: usize, args: &Args, pid: u32) -> Result<Row> {
    let ns = unique("tenant-bench");
    cp.kubectl_ok(&["create", "namespace", &ns])?;
    let (_, list) = raw(admin, req("GET", &format!("{APPS}/namespaces/{ns}/postgreses"), None)).await?;
    let rv = list["metadata"]["resourceVersion"].as_str().context("a list resourceVersion")?.to_string();

    let rss_before = rss_kib(pid)?;
    let direct = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await?;
    let base = Instant::now();
    let received: Vec<Arc<Vec<AtomicU64>>> = (0..watchers).map(|_| Arc::new((0..args.events).map(|_| AtomicU64::new(0)).collect())).collect();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(watchers);
    let path = format!("{APPS}/namespaces/{ns}/postgreses?watch=1&resourceVersion={rv}&allowWatchBookmarks=true");
    let tasks: Vec<_> = received.iter().map(|r| tokio::spawn(watcher(direct.clone(), path.clone(), base, r.clone(), ready_tx.clone()))).collect();
    for n in 0..watchers {
        tokio::time::timeout(Duration::from_secs(120), ready_rx.recv()).await.with_context(|| format!("only {n} of {watchers} watchers started"))?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_watching = rss_kib(pid)?;
    let peak = Arc::new(AtomicU64::new(rss_watching));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(r) = rss_kib(pid) {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    eprintln!("{watchers} watchers ready; writing {} HelmReleases, one every {:?}", args.events, args.interval);
    let mut sent = Vec::with_capacity(args.events);
    let mut hr = template.clone();
    for k in 0..args.events {
        let name = format!("bench-{k}");
        hr["metadata"] = json!({"name": format!("postgres-{name}"), "namespace": ns, "labels": template["metadata"]["labels"]});
        hr["metadata"]["labels"]["apps.cozystack.io/application.name"] = name.into();
        sent.push(base.elapsed().as_nanos() as u64);
        let (code, body) = raw(admin, req("POST", &format!("{HRS}/namespaces/{ns}/helmreleases"), Some(hr.clone()))).await?;
        if code != 201 {
            bail!("writing event {k}: {code} {body}");
        }
        tokio::time::sleep(args.interval).await;
    }
    let all = |r: &[Arc<Vec<AtomicU64>>]| r.iter().all(|w| w.iter().all(|t| t.load(Ordering::Relaxed) != 0));
    let grace = Instant::now() + Duration::from_secs(30);
    while !all(&received) && Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sampler.abort();
    let rss_peak = peak.load(Ordering::Relaxed).max(rss_kib(pid)?);
    for t in &tasks {
        t.abort();
    }
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"])?;

    let mut latencies = Vec::with_capacity(watchers * args.events);
    let mut missing = 0;
    for w in &received {
        for (k, t) in w.iter().enumerate() {
            match t.load(Ordering::Relaxed) {
                0 => missing += 1,
                at => latencies.push(at.saturating_sub(sent[k])),
            }
        }
    }
    let mut latencies: Vec<Duration> = latencies.into_iter().map(Duration::from_nanos).collect();
    latencies.sort_unstable();
    let percentile = |q| bench::percentile(&latencies, q).unwrap_or_default();
    Ok(Row {
        watchers,
        deliveries: latencies.len(),
        missing,
        p50: percentile(0.50),
        p99: percentile(0.99),
        max: percentile(1.0),
        rss_before,
        rss_watching,
        rss_peak,
    })
}

fn report(rows: &[Row], args: &Args, pid: u32) -> String {
    let sizes = rows.iter().map(|r| r.watchers.to_string()).collect::<Vec<_>>().join(",");
    let mut text = format!(
        "{SECTION}\n\n\
         N watchers of one kind (Postgres, one namespace) connected to cozystack-api directly (one TLS connection \
         each), then {e} HelmReleases written to kube-apiserver, one every {i} ms. Latency: from sending each \
         backend write to each watcher receiving its ADDED event, so it includes the write's own round trip and \
         kube-apiserver's delivery to cozystack-api (the 1-watcher row). Memory: cozystack-api's resident set, \
         before the watchers connect, with them connected and idle, and at its peak while delivering; most of \
         the difference is the connections' TLS and HTTP buffers.\n\n\
         | watchers | deliveries | missing | p50 | p99 | max | RSS before | with watchers | peak | per watcher |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        e = args.events,
        i = args.interval.as_millis(),
    );
    for r in rows {
        let per_watcher = r.rss_watching.saturating_sub(r.rss_before) as f64 / r.watchers as f64;
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {per_watcher:.1} KiB |\n",
            r.watchers,
            r.deliveries,
            r.missing,
            ms(r.p50),
            ms(r.p99),
            ms(r.max),
            mib(r.rss_before),
            mib(r.rss_watching),
            mib(r.rss_peak),
        ));
    }
    text.push_str(&format!(
        "\nMeasured {} on {} cores shared by etcd, kube-apiserver, cozystack-api ({}) and the watchers, with \
         `cargo run --release -p bench --bin bench_watch -- --watchers {sizes} --events {}` against {}.\n",
        today(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        build_of(pid),
        args.events,
        args.plane,
    ));
    text
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse()?;
    let cp = ControlPlane::shared();
    let admin = cp.admin().await?;
    let pid: u32 = std::fs::read_to_string(cp.state.join("pids/cozystack-api.pid"))?.trim().parse()?;
    let template = template(cp, &admin).await?;
    let mut rows = Vec::new();
    for &watchers in &args.watchers {
        rows.push(measure(cp, &admin, &template, watchers, &args, pid).await?);
    }
    let text = report(&rows, &args, pid);
    println!("{text}");
    if args.write_docs {
        write_section(&text)?;
        eprintln!("written to docs/benchmarks.md");
    }
    Ok(())
}

/// Today's date (UTC), YYYY-MM-DD.
fn today() -> String {
    e2e::run_ok(std::process::Command::new("date").args(["-u", "+%F"])).map(|d| d.trim().to_string()).unwrap_or_default()
}

/// Which build of cozystack-api runs as `pid`.
fn build_of(pid: u32) -> &'static str {
    match std::fs::read_link(format!("/proc/{pid}/exe")) {
        Ok(exe) if exe.to_string_lossy().contains("/release/") => "release build",
        Ok(_) => "debug build",
        Err(_) => "build unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_numbers_are_found_in_added_lines_only() {
        let rows: &[(&[u8], Option<usize>)] = &[
            (br#"{"type":"ADDED","object":{"metadata":{"name":"bench-42","namespace":"n"}}}"#, Some(42)),
            (br#"{"type":"MODIFIED","object":{"metadata":{"name":"bench-42"}}}"#, None),
            (br#"{"type":"ADDED","object":{"metadata":{"name":"other"}}}"#, None),
            (br#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"5"}}}"#, None),
        ];
        for (line, want) in rows {
            assert_eq!(event_number(line), *want, "{}", String::from_utf8_lossy(line));
        }
    }
}
