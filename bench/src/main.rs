//! cozystack-bench: cozystack-api measured side by side with the ceiling on the local control plane.
//!
//! Run it with one command from the repository root:
//!
//! ```text
//! hack/bench.sh [N...]          # default N: 1000 10000; up to 30000 and beyond
//! ```
//!
//! The script builds this binary in release mode, uses the control plane of `hack/up.sh` (`.local/`, or
//! `COZY_STATE_DIR`) or starts one, and runs `cozystack-bench --state <dir> [N...]`. For each N (ascending, loaded
//! incrementally) the tool loads N Postgres apps spread over `tenant-bench-*` namespaces through cozystack-api
//! behind the aggregator, and the same objects as a CRD (`postgreses.bench.cozystack.io`); then it measures list
//! all, list one namespace, get one, create and watch event delivery at each concurrency, through the aggregator,
//! straight to cozystack-api, against the CRD, against the HelmReleases, and against etcd (the floor); and the
//! resident memory of cozystack-api and kube-apiserver. It writes `docs/benchmarks.md` (its own sections; others
//! are kept) and `docs/benchmarks-latency.svg`, and deletes the benchmark namespaces at the end.

mod chart;
mod cluster;
mod guard;
mod measure;
mod progress;
mod report;
mod setup;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use cluster::{Cluster, SCRATCH};
use guard::MemoryGuard;
use measure::{Budget, Op, Stats, Target};
use progress::{Heartbeat, say};
use report::{Meta, Run};

/// Benchmarks cozystack-api against kube-apiserver serving the same objects as a CRD, the backing HelmReleases,
/// and etcd, on a running local control plane (see hack/bench.sh).
#[derive(Debug, Parser)]
#[command(name = "cozystack-bench")]
struct Args {
    /// Numbers of apps to measure with, loaded incrementally in ascending order.
    #[arg(default_values_t = [1000, 10000])]
    n: Vec<usize>,
    /// The state folder of the control plane (as hack/up.sh makes it).
    #[arg(long, env = "COZY_STATE_DIR", default_value_os_t = e2e::repo_root().join(".local"))]
    state: PathBuf,
    /// Apps per tenant namespace.
    #[arg(long, default_value_t = 100)]
    per_namespace: usize,
    /// Concurrent clients (and watchers) to measure with.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 32])]
    concurrency: Vec<usize>,
    /// Seconds each read or create measurement runs.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Requests each read or create measurement runs at least, however long they take.
    #[arg(long, default_value_t = 10)]
    min_samples: usize,
    /// Workers loading apps.
    #[arg(long, default_value_t = 32)]
    load_concurrency: usize,
    /// Writes (events) per watch measurement.
    #[arg(long, default_value_t = 20)]
    watch_events: usize,
    /// Where to write benchmarks.md and benchmarks-latency.svg.
    #[arg(long, default_value_os_t = e2e::repo_root().join("docs"))]
    out_dir: PathBuf,
    /// Leave the benchmark namespaces and their apps in place at the end.
    #[arg(long)]
    keep: bool,
    /// Operations to measure (default: all).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Op::ALL)]
    ops: Vec<Op>,
    /// Targets to measure (default: all).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Target::ALL)]
    targets: Vec<Target>,
    /// Stop a measurement when less than this share (%) of the machine's memory is available: kube-apiserver
    /// needs about half a GiB per list of 10,000 CRD objects in flight.
    #[arg(long, default_value_t = 25.0)]
    min_available_memory: f64,
    /// A shell command run while the measurements of each N run: started after loading, sent SIGINT when they
    /// end, and waited for (hack/profile.sh runs `perf record` so).
    #[arg(long)]
    during: Option<String>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let mut ns = args.n.clone();
    ns.sort_unstable();
    ns.dedup();
    if ns.first() == Some(&0) || args.per_namespace == 0 || args.concurrency.contains(&0) || args.load_concurrency == 0 {
        bail!("N, --per-namespace, --concurrency and --load-concurrency must be positive");
    }
    let command = command_line();
    let cluster = Cluster::connect(&args.state, args.per_namespace).await.with_context(|| format!("control plane in {}", args.state.display()))?;
    setup::check_served(&cluster).await?;
    let meta = Meta {
        date: jiff::Timestamp::now().round(jiff::Unit::Second)?.to_string(),
        machine: machine(),
        loadavg: std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        server_build: setup::server_build(&cluster),
        kube_version: setup::kube_version(&cluster),
        duration: Duration::from_secs_f64(args.duration),
        min_samples: args.min_samples,
        min_available_memory: args.min_available_memory,
        concurrency: args.concurrency.clone(),
        watch_events: args.watch_events,
        load_concurrency: args.load_concurrency,
    };
    say(format!(
        "control plane in {}; cozystack-api {} build; kube-apiserver {}; load average {}",
        args.state.display(),
        meta.server_build,
        meta.kube_version,
        meta.loadavg
    ));
    if meta.server_build != "release" {
        say("warning: cozystack-api is not a release build; its numbers say little");
    }

    say("installing the CRD postgreses.bench.cozystack.io and removing what an earlier run left");
    setup::install_crd(&cluster).await?;
    setup::delete_namespaces(&cluster, None).await?;
    let base: Vec<(Target, usize)> = {
        let mut v = Vec::new();
        for t in [Target::Aggregated, Target::Crd, Target::HelmRelease, Target::Etcd] {
            v.push((t, cluster.count(t).await?));
        }
        v
    };
    let idle = (setup::memory(&cluster, "cozystack-api")?, setup::memory(&cluster, "kube-apiserver")?);

    let c = Arc::new(cluster);
    let mut runs = Vec::new();
    let mut loaded = 0;
    for &n in &ns {
        say(format!("=== N = {n} ==="));
        let mut run = Run { n, namespaces: n.div_ceil(args.per_namespace), per_namespace: args.per_namespace, ..Default::default() };
        for t in [Target::Aggregated, Target::Crd] {
            let took = setup::load(&c, t, loaded, n, args.load_concurrency).await?;
            run.load.push((t, n - loaded, took));
        }
        loaded = n;
        c.learn_hr_template().await?;
        for &(t, before) in &base {
            let got = setup::wait_for_count(&c, t, before + n).await?;
            run.items.insert(t, got);
            if t == Target::Aggregated {
                run.items.insert(Target::Direct, setup::wait_for_count(&c, Target::Direct, before + n).await?);
            }
        }
        let after_load = (setup::memory(&c, "cozystack-api")?, setup::memory(&c, "kube-apiserver")?);

        let during = match &args.during {
            Some(cmd) => Some(std::process::Command::new("sh").arg("-c").arg(cmd).spawn().with_context(|| format!("starting {cmd:?}"))?),
            None => None,
        };
        let measured = measure_all(&c, &args, &mut run, n).await;
        if let Some(mut child) = during {
            let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let status = child.wait()?;
            say(format!("--during command ended ({status})"));
        }
        measured?;

        let peak = (setup::memory(&c, "cozystack-api")?, setup::memory(&c, "kube-apiserver")?);
        run.ours = [idle.0, after_load.0, peak.0];
        run.kube = [idle.1, after_load.1, peak.1];
        runs.push(run);
        write_outputs(&args, &meta, &runs, &command)?;
        // Gone already when lists of everything ran.
        setup::delete_namespaces(&c, Some(SCRATCH)).await?;
    }
    if args.keep {
        say("keeping the benchmark namespaces (--keep)");
    } else {
        setup::delete_namespaces(&c, None).await?;
    }
    say(format!("wrote {} and {}", args.out_dir.join("benchmarks.md").display(), args.out_dir.join("benchmarks-latency.svg").display()));
    // Timings are never judged, but a measurement where every request failed means the tool (or the server)
    // is broken; CI's quick run relies on this.
    let failed: Vec<String> = runs
        .iter()
        .flat_map(|r| r.cells.iter().map(move |(k, x)| (r.n, k, x)))
        .filter(|(_, _, x)| x.count == 0 && x.stopped.is_none())
        .map(|(n, (op, conc, t), x)| format!("N={n} {} c={conc} {}: {}", op.label(), t.label(), x.first_error.as_deref().unwrap_or("no samples")))
        .collect();
    if !failed.is_empty() {
        bail!("{} measurements got no answer at all:\n{}", failed.len(), failed.join("\n"));
    }
    Ok(())
}

/// Every measurement for one N. Lists of everything come last: they strain kube-apiserver's memory most, and
/// the objects creates and watches make (in the scratch namespace) are deleted before them.
async fn measure_all(c: &Arc<Cluster>, args: &Args, run: &mut Run, n: usize) -> Result<()> {
    let budget = Budget {
        duration: Duration::from_secs_f64(args.duration),
        min_samples: args.min_samples,
        guard: MemoryGuard::start(args.min_available_memory),
        recovery: Duration::from_secs(60),
    };
    let most_clients = args.concurrency.iter().copied().max().unwrap_or(1);
    for op in [Op::ListNamespace, Op::Get, Op::Create, Op::Apply, Op::Watch, Op::ListAll] {
        if !args.ops.contains(&op) {
            continue;
        }
        let mut list_memory = None;
        match op {
            Op::Create | Op::Apply | Op::Watch => setup::ensure_namespace(c, SCRATCH).await?,
            Op::ListAll => {
                say(format!("dropping {SCRATCH}"));
                setup::delete_namespaces(c, Some(SCRATCH)).await?;
                let before = setup::memory(c, "cozystack-api")?.rss_kib;
                list_memory = Some(report::ListMemory { clients: most_clients, before_kib: before, peak_kib: before, after_kib: 0 });
            }
            _ => {}
        }
        for &conc in &args.concurrency {
            // cozystack-api's resident memory is sampled while the most clients list everything.
            let sampler = (op == Op::ListAll && conc == most_clients).then(|| PeakSampler::start(c.clone()));
            for &t in Target::ALL.iter().filter(|t| args.targets.contains(t)) {
                let _beat = Heartbeat::start(format!("N={n} {} c={conc} {}", op.label(), t.label()));
                let c2 = c.clone();
                let stats = match op {
                    Op::Watch => watch::measure(c, t, conc, args.watch_events).await.unwrap_or_else(|e| Stats {
                        errors: 1,
                        first_error: Some(format!("{e:#}")),
                        ..Stats::from_samples(vec![], 0, 0, Duration::ZERO, None)
                    }),
                    Op::Create => {
                        measure::closed_loop(conc, &budget, move |i| {
                            let c = c2.clone();
                            async move { c.create(t, SCRATCH, &format!("c-{}-{conc}-{i}", t.short())).await }
                        })
                        .await
                    }
                    Op::Apply => {
                        measure::closed_loop(conc, &budget, move |i| {
                            let c = c2.clone();
                            async move { c.apply(t, SCRATCH, &format!("a-{}-{conc}-{i}", t.short())).await }
                        })
                        .await
                    }
                    _ => {
                        measure::closed_loop(conc, &budget, move |i| {
                            let c = c2.clone();
                            async move { c.read(t, op, i, n).await }
                        })
                        .await
                    }
                };
                if op == Op::Apply && t == Target::Direct && stats.count > 0 && run.managed_fields_bytes.is_none() {
                    run.managed_fields_bytes = c.managed_fields_bytes(SCRATCH, &format!("a-{}-{conc}-0", t.short())).await.ok();
                }
                show(n, op, conc, t, &stats);
                run.cells.insert((op, conc, t), stats);
            }
            if let (Some(sampler), Some(m)) = (sampler, list_memory.as_mut()) {
                m.peak_kib = m.peak_kib.max(sampler.stop().await);
            }
        }
        if let Some(mut m) = list_memory {
            m.after_kib = setup::memory(c, "cozystack-api")?.rss_kib;
            say(format!(
                "N={n} cozystack-api VmRSS around the full lists: before {} MiB, peak with {} clients {} MiB, after {} MiB",
                m.before_kib / 1024,
                m.clients,
                m.peak_kib / 1024,
                m.after_kib / 1024
            ));
            run.list_memory = Some(m);
        }
    }
    Ok(())
}

/// Samples cozystack-api's VmRSS every 20 ms until stopped, keeping the highest.
struct PeakSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<u64>,
}

impl PeakSampler {
    fn start(c: Arc<Cluster>) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                if let Ok(m) = setup::memory(&c, "cozystack-api") {
                    peak = peak.max(m.rss_kib);
                }
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => return peak,
                }
            }
        });
        Self { stop, task }
    }

    /// The highest VmRSS seen.
    async fn stop(self) -> u64 {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0)
    }
}

fn show(n: usize, op: Op, conc: usize, t: Target, s: &Stats) {
    let rps = s.rps.map(|r| format!(", {r:.0}/s")).unwrap_or_default();
    let err = s.first_error.as_ref().map(|e| format!(", {} errors, first: {e}", s.errors)).unwrap_or_default();
    let err = match &s.stopped {
        Some(why) => format!("{err}; {why}"),
        None => err,
    };
    say(format!(
        "N={n} {:<22} c={conc:<3} {:<28} p50 {:>8} ms  p99 {:>8} ms{rps} ({} samples){err}",
        op.label(),
        t.label(),
        report::ms(s.p50_ms),
        report::ms(s.p99_ms),
        s.count
    ));
}

fn write_outputs(args: &Args, meta: &Meta, runs: &[Run], command: &str) -> Result<()> {
    std::fs::create_dir_all(&args.out_dir)?;
    let md = args.out_dir.join("benchmarks.md");
    // Read just before writing: other tools write their own sections of the same file.
    let existing = std::fs::read_to_string(&md).unwrap_or_default();
    std::fs::write(&md, report::merge(&existing, &report::render(meta, runs, command)))?;
    let clients = args.concurrency.first().copied().unwrap_or(1);
    std::fs::write(args.out_dir.join("benchmarks-latency.svg"), chart::render(runs, clients))?;
    Ok(())
}

/// The command as a person would type it: hack/bench.sh and the arguments, without the paths the script adds.
fn command_line() -> String {
    let mut out = vec!["hack/bench.sh".to_string()];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--state" | "--out-dir" => {
                args.next();
            }
            a if a.starts_with("--state=") || a.starts_with("--out-dir=") => {}
            _ => out.push(a),
        }
    }
    out.join(" ")
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|v| v.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs ({model})")
}
