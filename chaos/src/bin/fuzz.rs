//! cozystack-fuzz: sends generated hostile requests (chaos::fuzz) to the live server, straight and through the
//! aggregator, and requires of every answer: no 5xx, every rejection a 4xx Status with a message, no panic in the
//! server's log, and no jump in its memory on huge bodies. Writes its section of docs/reliability.md. Run by
//! hack/fuzz.sh.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use chaos::fuzz::{Generator, Input, MAX_BODY};
use chaos::plane::{Plane, create_namespace, process_usage};
use chaos::report::{mib, write_section};
use clap::Parser;
use futures::StreamExt;
use serde_json::Value;

/// Flags of cozystack-fuzz.
#[derive(Parser)]
#[command(about = "Fuzzes the live cozystack-api with hostile requests")]
struct Args {
    /// State folder of the control plane (hack/up.sh's COZY_STATE_DIR).
    #[arg(long)]
    state: PathBuf,
    /// Seed of the inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Inputs to send.
    #[arg(long, default_value_t = 100_000)]
    inputs: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Write the run's numbers into this document (docs/reliability.md).
    #[arg(long)]
    doc: Option<PathBuf>,
}

/// What one answer showed.
enum Verdict {
    Fine(u16),
    ServerError(u16, String),
    NoStatus(u16, String),
    NoAnswer(String),
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let plane = Arc::new(Plane::connect(&args.state).await?);
    let nobody_direct = {
        let (crt, key) = plane.cp.user_cert("fuzz-nobody", &[])?;
        chaos::plane::once(plane.cp.direct_config(Some((&crt, &key))).await?)?
    };
    let nobody_aggregated = chaos::plane::once(plane.cp.config_from(&plane.cp.user_kubeconfig("fuzz-nobody", &[])?).await?)?;
    let ns = format!("tenant-fuzz-{}-{}", args.seed, std::process::id());
    create_namespace(&plane.cp, &ns)?;
    let log = args.state.join("logs/cozystack-api.log");
    let panics_before = count_panics(&log);
    let pid = plane.pid("cozystack-api")?;
    let (rss_start, _) = process_usage(pid)?;

    // Huge bodies at once: memory must not grow with them (each is refused by its length or read and dropped).
    let huge_rss = {
        let before = process_usage(pid)?.0;
        let big = vec![b' '; MAX_BODY + (1 << 20)];
        let path = format!("/apis/apps.cozystack.io/v1alpha1/namespaces/{ns}/postgreses");
        let sends = (0..16).map(|_| chaos::plane::send(&plane.direct, e2e::with_type("POST", &path, "application/json", &big), Duration::from_secs(60)));
        let answers = futures::future::join_all(sends).await;
        let codes: Vec<String> = answers.iter().map(|a| a.as_ref().map(|(c, _)| c.to_string()).unwrap_or_else(|e| e.clone())).collect();
        if !answers.iter().all(|a| matches!(a, Ok((413, _)))) {
            bail!("16 bodies over the limit got {codes:?}, not 413 each");
        }
        let after = process_usage(pid)?.0;
        (before, after)
    };

    let mut generator = Generator::new(args.seed, &ns);
    let inputs = (0..args.inputs).map(|_| generator.next_input());
    let mut families: BTreeMap<&'static str, (u64, BTreeMap<u16, u64>)> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    let (mut server_errors, mut no_status, mut no_answer) = (0u64, 0u64, 0u64);
    let mut peak_rss = rss_start;
    let mut done = 0u64;
    let mut answers = futures::stream::iter(inputs.enumerate())
        .map(|(n, input)| {
            let client = match (input.as_nobody, n % 10 == 0) {
                (false, false) => plane.direct.clone(),
                (false, true) => plane.aggregated.clone(),
                (true, false) => nobody_direct.clone(),
                (true, true) => nobody_aggregated.clone(),
            };
            // Through the aggregator only our group-versions reach the server; kube-apiserver answers every other
            // path itself (`/apis/apps.cozystack.io/healthz` too, with its own plain-text 404).
            let ours = ["/apis/apps.cozystack.io/v1alpha1", "/apis/core.cozystack.io/v1alpha1", "/apis/sdn.cozystack.io/v1alpha1"]
                .iter()
                .any(|p| input.uri.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?'])));
            let judged = n % 10 != 0 || ours;
            async move {
                let verdict = send(&client, &input).await;
                let verdict = if judged { verdict } else { Verdict::Fine(0) };
                (input, verdict)
            }
        })
        .buffer_unordered(args.concurrency);
    while let Some((input, verdict)) = answers.next().await {
        done += 1;
        let entry = families.entry(input.family).or_default();
        entry.0 += 1;
        let what = || format!("{} {} {} ({} bytes of body)", input.family, input.method, &input.uri[..input.uri.len().min(160)], input.body.len());
        match verdict {
            Verdict::Fine(code) => *entry.1.entry(code).or_default() += 1,
            Verdict::ServerError(code, body) => {
                server_errors += 1;
                *entry.1.entry(code).or_default() += 1;
                failures.push(format!("{code} for {}: {body}", what()));
            }
            Verdict::NoStatus(code, body) => {
                no_status += 1;
                *entry.1.entry(code).or_default() += 1;
                failures.push(format!("{code} without a Status for {}: {body}", what()));
            }
            Verdict::NoAnswer(e) => {
                no_answer += 1;
                failures.push(format!("no answer for {}: {e}", what()));
            }
        }
        if done.is_multiple_of(1000) {
            let (rss, fds) = process_usage(pid)?;
            peak_rss = peak_rss.max(rss);
            eprintln!("[fuzz] {done} inputs: rss {} fds {fds}, 5xx {server_errors}, without Status {no_status}, unanswered {no_answer}", mib(rss));
        }
    }
    let (rss_end, _) = process_usage(pid)?;
    let panics = count_panics(&log).saturating_sub(panics_before);
    for f in failures.iter().take(40) {
        println!("failure: {f}");
    }
    let mut body = format!(
        "| Fuzz run | Value |\n|---|---|\n| Seed | {} |\n| Inputs | {done} |\n| Panics (in the server's log) | {panics} |\n| 5xx answers | {server_errors} |\n| Rejections without a Status naming the problem | {no_status} |\n| Requests without an answer | {no_answer} |\n| Resident memory: start → peak → end | {} → {} → {} |\n| 16 bodies of 4 MiB at once: memory before → after | {} → {} |\n| Wall clock | {:.0} s |\n\n| Input family | Inputs | Answers by code |\n|---|---|---|\n",
        args.seed,
        mib(rss_start),
        mib(peak_rss.max(rss_end)),
        mib(rss_end),
        mib(huge_rss.0),
        mib(huge_rss.1),
        started.elapsed().as_secs_f64()
    );
    for (family, (n, codes)) in &families {
        let codes: Vec<String> = codes.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        body.push_str(&format!("| {family} | {n} | {} |\n", codes.join(", ")));
    }
    println!("{body}");
    if let Some(doc) = &args.doc {
        write_section(doc, "fuzz", &body)?;
    }
    if panics as u64 + server_errors + no_status + no_answer > 0 {
        bail!("{panics} panics, {server_errors} 5xx, {no_status} rejections without a Status, {no_answer} unanswered");
    }
    Ok(())
}

/// Lines of the server's log that report a panic.
fn count_panics(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log).map(|t| t.lines().filter(|l| l.contains("panicked")).count()).unwrap_or(0)
}

/// Sends one input and judges the answer.
async fn send(client: &kube::Client, input: &Input) -> Verdict {
    let mut b = http::Request::builder().method(input.method).uri(&input.uri);
    for (k, v) in &input.headers {
        // Headers no HTTP client can send (control characters) are left out.
        if let Ok(v) = http::HeaderValue::from_bytes(v) {
            b = b.header(k.as_str(), v);
        }
    }
    let Ok(req) = b.body(kube::client::Body::from(input.body.clone())) else {
        return Verdict::Fine(0);
    };
    let head = match tokio::time::timeout(Duration::from_secs(60), client.send(req)).await {
        Err(_) => return Verdict::NoAnswer("no answer within 60 s".into()),
        Ok(Err(e)) => return Verdict::NoAnswer(e.to_string()),
        Ok(Ok(r)) => r,
    };
    let code = head.status().as_u16();
    let content_type = head.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    // A watch answered 200 streams on; its head is the answer.
    if code == 200 && input.uri.contains("watch=") {
        return Verdict::Fine(code);
    }
    let bytes = match tokio::time::timeout(Duration::from_secs(60), http_body_util::BodyExt::collect(head.into_body())).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => return Verdict::NoAnswer(format!("{code}, then the body failed: {e}")),
        Err(_) => return Verdict::NoAnswer(format!("{code}, then no body within 60 s")),
    };
    let snippet = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
    if code >= 500 {
        return Verdict::ServerError(code, snippet);
    }
    if code >= 400 && input.method != "HEAD" {
        // A Status in the representation the client asked for: JSON, YAML, or (from kube-apiserver) protobuf.
        let named = if content_type.contains("protobuf") {
            bytes.starts_with(b"k8s\0") && bytes.windows(6).any(|w| w == b"Status")
        } else {
            let status: Value = if content_type.contains("yaml") {
                serde_norway::from_slice(&bytes).unwrap_or_default()
            } else {
                serde_json::from_slice(&bytes).unwrap_or_default()
            };
            status["kind"] == "Status" && status["message"].as_str().is_some_and(|m| !m.is_empty()) && status["code"] == code
        };
        if !named {
            return Verdict::NoStatus(code, snippet);
        }
    }
    Verdict::Fine(code)
}
