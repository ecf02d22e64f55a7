//! docs/benchmarks.md: the results as markdown tables, merged into the file so that sections other tools write
//! ("## Watch fan-out", "## TenantNamespace list", ...) are kept as they are.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use crate::measure::{Op, Stats, Target};
use crate::setup::Memory;

/// The headings of the sections this tool owns; everything before the first "## " is its header too.
pub const OWNED: [&str; 6] = ["## How it is measured", "## Results", "## Memory", "## Memory under full lists", "## Growth with N", "## Latency against N"];

/// About the whole run.
#[derive(Debug, Clone)]
pub struct Meta {
    /// When it started (RFC 3339).
    pub date: String,
    /// CPUs and their model.
    pub machine: String,
    /// /proc/loadavg at the start.
    pub loadavg: String,
    /// release or debug.
    pub server_build: String,
    /// kube-apiserver's version.
    pub kube_version: String,
    /// Seconds per measurement.
    pub duration: Duration,
    /// Requests per measurement at least.
    pub min_samples: usize,
    /// The memory guard's threshold, % of the machine's memory.
    pub min_available_memory: f64,
    /// Concurrencies measured.
    pub concurrency: Vec<usize>,
    /// Writes per watch measurement.
    pub watch_events: usize,
    /// Workers loading apps.
    pub load_concurrency: usize,
}

/// The results for one N.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Apps loaded.
    pub n: usize,
    /// Namespaces they are spread over.
    pub namespaces: usize,
    /// Apps per namespace.
    pub per_namespace: usize,
    /// Objects a list of everything returned, per target.
    pub items: BTreeMap<Target, usize>,
    /// Apps added for this N, and how long loading them took per target.
    pub load: Vec<(Target, usize, Duration)>,
    /// Every measurement, by operation, concurrency and target.
    pub cells: BTreeMap<(Op, usize, Target), Stats>,
    /// cozystack-api's memory: idle (before any load), after loading, and its peak.
    pub ours: [Memory; 3],
    /// kube-apiserver's memory, likewise.
    pub kube: [Memory; 3],
    /// Bytes of managedFields one object created by apply carries (its compact JSON), when measured.
    pub managed_fields_bytes: Option<usize>,
    /// cozystack-api's resident memory around the lists of everything, when they ran.
    pub list_memory: Option<ListMemory>,
}

/// cozystack-api's resident memory around the lists of everything (KiB).
#[derive(Debug, Clone, Copy, Default)]
pub struct ListMemory {
    /// Clients of the most concurrent list cells, during which the peak is sampled.
    pub clients: usize,
    /// VmRSS before the first list of everything.
    pub before_kib: u64,
    /// Highest VmRSS sampled (every 20 ms) while `clients` clients listed everything.
    pub peak_kib: u64,
    /// VmRSS after the last list of everything.
    pub after_kib: u64,
}

/// Merges freshly rendered own sections into the existing file: replaces the header and the owned sections,
/// keeps every other section, in its order, after them.
pub fn merge(existing: &str, own: &str) -> String {
    let mut out = own.trim_end().to_string();
    out.push('\n');
    for (heading, body) in sections(existing) {
        if heading.is_empty() || OWNED.contains(&heading.trim_end()) {
            continue;
        }
        out.push('\n');
        out.push_str(body.trim_end());
        out.push('\n');
    }
    out
}

/// Splits markdown into (heading, text with heading) at each "## " line; the header has an empty heading.
fn sections(text: &str) -> Vec<(&str, String)> {
    let mut out: Vec<(&str, String)> = vec![("", String::new())];
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with("## ") {
            out.push((line, String::new()));
        }
        let last = out.last_mut().expect("never empty");
        last.1.push_str(line);
        last.1.push('\n');
    }
    out
}

/// Renders the header and the owned sections.
pub fn render(meta: &Meta, runs: &[Run], command: &str) -> String {
    let mut s = String::new();
    let conc = |c: &[usize]| c.iter().map(usize::to_string).collect::<Vec<_>>().join(" and ");
    let _ = write!(
        s,
        r#"# Benchmarks

cozystack-api measured side by side with the ceiling, in one run on one local control plane (etcd,
kube-apiserver, kube-controller-manager from `hack/up.sh`): kube-apiserver serving the same objects as a CRD
from its own watch cache, kube-apiserver serving the backing HelmReleases, and etcd itself.

Reproduce with one command (it uses the control plane of `hack/up.sh` if one runs, or starts one and stops it
at the end; it builds everything in release mode):

```
hack/bench.sh [N...]        # default: hack/bench.sh 1000 10000; all options: hack/bench.sh --help
```

It writes this file (only the sections below up to "Latency against N"; other sections are kept) and
`docs/benchmarks-latency.svg`. Benchmarks are not tests: CI runs the tool once with a tiny N so that it keeps
working, and asserts nothing about timings. Good numbers need a quiet machine: anything else running (builds,
tests, other developers) skews them, mostly the p99 and the 32-client rows.

## How it is measured

- **Objects.** N Postgres apps (`app-0` ...), {per} per namespace in `tenant-bench-0` ...; each is created
  through cozystack-api behind the aggregator (which writes HelmRelease `postgres-app-<i>`) and, with the same
  name and spec, as a `postgres.bench.cozystack.io` object of a CRD whose spec schema is the Postgres
  ApplicationDefinition's openAPISchema (its `x-cozystack-*` extensions dropped, and `required` fields an
  object's own `default` lacks, which kube-apiserver refuses). Status is `x-kubernetes-preserve-unknown-fields`.
  The CRD stores its objects with every default filled in and with managedFields, so they are larger on the
  wire than cozystack-api's; the response size table shows by how much.
  Loading uses {load} workers; several N load incrementally. The namespaces are deleted at the end (and at
  the start of the next run).
- **Targets** (columns). *cozystack-api via aggregator*: as users reach it, through kube-apiserver.
  *cozystack-api direct*: straight to its port with the admin client certificate. *CRD*: kube-apiserver serving
  `postgreses.bench.cozystack.io`. *HelmRelease*: kube-apiserver serving the backing HelmReleases. *etcd*: the
  floor: range reads of the HelmRelease keys (`/registry/helm.toolkit.fluxcd.io/helmreleases/...`) with
  etcd-client; for create, a put-if-absent transaction of a HelmRelease-sized value under another prefix; for
  watch, a put watched by prefix.
- **Reads and creates.** Closed loop: {conc} concurrent clients (tokio tasks sharing one client), each
  sending the next request when the previous answer has been read in full; {dur:.1} s per cell (and at least
  {min} requests) after one unmeasured request per client. Plain JSON, no resourceVersion (what kubectl
  sends: kube-apiserver answers such lists from its watch cache after a revision check in etcd, and such gets
  from etcd; cozystack-api answers such lists from its cache once its progress marker is back, see
  docs/architecture.md), bodies not parsed. The HelmRelease and etcd counts below include that marker, one
  HelmRelease in `cozy-system`. List all = every namespace; list one namespace = {per} objects; get one and
  list one namespace rotate over objects and namespaces. Creates make new objects in `tenant-bench-scratch`,
  which is deleted before the lists of everything (measured last for each N). Latency is p50 / p99 in
  milliseconds (nearest rank); throughput is successful requests per second.
- **Watch event delivery.** {conc} watchers of all namespaces, started at the current resourceVersion;
  {events} writes 50 ms apart, each causing one event; latency is from sending the write to each watcher
  reading the event. Writes go where each target's events come from: a HelmRelease for cozystack-api and for
  the HelmRelease watch, a CRD object for the CRD, a put for etcd. The "Watch fan-out" section, when present,
  measures many more watchers.
- **Ratios.** ours/CRD and ours/HelmRelease compare cozystack-api *via the aggregator* with kube-apiserver
  serving the CRD and the HelmReleases. Latency ratios below 1 and throughput ratios above 1 mean cozystack-api
  is faster.
- **Shared machines.** A guard stops a measurement at once (dropping the requests in flight) when less than
  {guard}% of the machine's memory is available, and skips the next ones until it is back: kube-apiserver needs
  far more memory than the answer's size for each large list in flight (about 1 GiB more for 32 concurrent
  lists of 1,000 objects, whether CRD, HelmRelease or proxied from cozystack-api), so 32 clients listing
  10,000 objects can exhaust a small machine. Such cells say "stopped".
- **Memory.** VmRSS and VmHWM (peak) from `/proc/<pid>/status`: idle is before the first load of the run;
  growth per 1,000 apps is (after loading - idle) / (N / 1,000). kube-apiserver's growth covers both the
  HelmReleases and the CRD objects (and their watch caches). During the lists of everything, cozystack-api's
  VmRSS is sampled every 20 ms while the most concurrent clients list: the "Memory under full lists" table
  gives that peak against the steady state before the lists, and whether the lists leave resident memory
  grown (VmRSS after the last list cell against before the first).
- **Growth with N.** When several N run, the "Growth with N" table gives, per measurement, p50 at the largest N
  divided by p50 at the smallest, and the slope in milliseconds per 1,000 apps between them. N can go to
  30,000 and beyond (`hack/bench.sh 1000 10000 30000`): the memory guard stops the cells a small machine
  cannot hold.
- **Watch fan-out.** `COZY_BENCH_FANOUT=1 hack/bench.sh ...` also runs `bench_watch` (1 and 1,000 watchers
  straight to cozystack-api, 100 events) after the main run, which writes the "Watch fan-out" section with
  the memory per watcher: (VmRSS with the watchers open - VmRSS before) / watchers.
"#,
        per = runs.first().map_or(100, |r| r.per_namespace),
        load = meta.load_concurrency,
        conc = conc(&meta.concurrency),
        dur = meta.duration.as_secs_f64(),
        min = meta.min_samples,
        guard = meta.min_available_memory,
        events = meta.watch_events,
    );
    let _ = write!(
        s,
        "\n## Results\n\nRun {}: `{command}`; {}; load average at the start {}; cozystack-api {} build; kube-apiserver {}.\n",
        meta.date, meta.machine, meta.loadavg, meta.server_build, meta.kube_version
    );
    for run in runs {
        render_run(&mut s, meta, run);
    }
    render_memory(&mut s, runs);
    render_list_memory(&mut s, runs);
    render_growth(&mut s, runs);
    s.push_str("\n## Latency against N\n\n![p50 latency with one client against N, log-log](benchmarks-latency.svg)\n");
    s
}

fn render_run(s: &mut String, meta: &Meta, run: &Run) {
    let plural = if run.namespaces == 1 { "" } else { "s" };
    let _ = writeln!(s, "\n### {} apps ({} namespace{plural} of {})\n", thousands(run.n), run.namespaces, run.per_namespace);
    let loads: Vec<String> = run
        .load
        .iter()
        .map(|(t, k, d)| format!("{} {} in {:.1} s ({:.0}/s)", t.label(), thousands(*k), d.as_secs_f64(), *k as f64 / d.as_secs_f64().max(1e-9)))
        .collect();
    if !loads.is_empty() {
        let _ = writeln!(s, "Loading with {} workers: {}.\n", meta.load_concurrency, loads.join("; "));
    }
    let items: Vec<String> = run.items.iter().map(|(t, k)| format!("{} {}", t.label(), thousands(*k))).collect();
    let _ = writeln!(s, "Objects a list of all namespaces returns: {}.\n", items.join(", "));

    let head = |s: &mut String, what: &str| {
        let _ = write!(s, "| {what} | clients |");
        for t in Target::ALL {
            let _ = write!(s, " {} |", t.label());
        }
        s.push_str(" ours/CRD | ours/HelmRelease |\n|---|---:|");
        s.push_str(&"---:|".repeat(Target::ALL.len() + 2));
        s.push('\n');
    };
    let cell = |op: Op, c: usize, t: Target| run.cells.get(&(op, c, t));
    // Only cells with samples have a latency or a rate to compare.
    let measured = |op: Op, c: usize, t: Target| cell(op, c, t).filter(|x| x.count > 0);

    s.push_str("Latency, p50 / p99 in ms:\n\n");
    head(s, "operation");
    for op in Op::ALL {
        for &c in &meta.concurrency {
            let _ = write!(s, "| {} | {c} |", op.label());
            for t in Target::ALL {
                let _ = write!(s, " {} |", cell(op, c, t).map_or("—".into(), latency));
            }
            let ours = measured(op, c, Target::Aggregated).map(|x| x.p50_ms);
            for other in [Target::Crd, Target::HelmRelease] {
                let _ = write!(s, " {} |", ratio(ours, measured(op, c, other).map(|x| x.p50_ms)));
            }
            s.push('\n');
        }
    }
    s.push_str("\nThroughput, requests per second:\n\n");
    head(s, "operation");
    for op in Op::ALL.into_iter().filter(|&op| op != Op::Watch) {
        for &c in &meta.concurrency {
            let _ = write!(s, "| {} | {c} |", op.label());
            for t in Target::ALL {
                let _ = write!(s, " {} |", cell(op, c, t).and_then(|x| x.rps.filter(|_| x.count > 0)).map_or("—".into(), rate));
            }
            let ours = measured(op, c, Target::Aggregated).and_then(|x| x.rps);
            for other in [Target::Crd, Target::HelmRelease] {
                let _ = write!(s, " {} |", ratio(ours, measured(op, c, other).and_then(|x| x.rps)));
            }
            s.push('\n');
        }
    }
    s.push_str("\nResponse size, bytes per answer (one client):\n\n| operation |");
    for t in Target::ALL {
        let _ = write!(s, " {} |", t.label());
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(Target::ALL.len()));
    s.push('\n');
    let c1 = meta.concurrency.first().copied().unwrap_or(1);
    for op in [Op::ListAll, Op::ListNamespace, Op::Get] {
        let _ = write!(s, "| {} |", op.label());
        for t in Target::ALL {
            let _ = write!(s, " {} |", cell(op, c1, t).filter(|x| x.count > 0).map_or("—".into(), |x| thousands(x.bytes.round() as usize)));
        }
        s.push('\n');
    }
    if let Some(b) = run.managed_fields_bytes {
        let _ = writeln!(
            s,
            "\nmanagedFields of one app created by server-side apply: {} bytes (compact JSON), kept in one annotation of its HelmRelease.",
            thousands(b)
        );
    }
    let mut notes = Vec::new();
    for ((op, c, t), x) in &run.cells {
        let clients = if *c == 1 { "client" } else { "clients" };
        let cell = format!("{} with {c} {clients} through {}", op.label(), t.label());
        if let Some(e) = &x.first_error {
            notes.push(format!("- {cell}: {} errors, first: {e}", x.errors));
        }
        if let Some(why) = &x.stopped {
            notes.push(format!("- {cell}: {why}"));
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(s, "\nErrors and stops:\n\n{}", notes.join("\n"));
    }
}

fn render_memory(s: &mut String, runs: &[Run]) {
    s.push_str("\n## Memory\n\nResident memory in MiB (VmRSS; peak is VmHWM). kube-apiserver holds both the HelmReleases and the CRD objects.\n\n");
    s.push_str("| apps | cozystack-api idle | after loading | peak | per 1,000 apps | kube-apiserver idle | after loading | peak | per 1,000 apps |\n");
    s.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in runs {
        let _ = write!(s, "| {} |", thousands(r.n));
        for m in [&r.ours, &r.kube] {
            let per = (m[1].rss_kib as f64 - m[0].rss_kib as f64) / (r.n as f64 / 1000.0);
            let _ = write!(s, " {} | {} | {} | {:.1} |", mib(m[0].rss_kib as f64), mib(m[1].rss_kib as f64), mib(m[2].peak_kib as f64), per / 1024.0);
        }
        s.push('\n');
    }
}

fn render_list_memory(s: &mut String, runs: &[Run]) {
    if runs.iter().all(|r| r.list_memory.is_none()) {
        return;
    }
    s.push_str("\n## Memory under full lists\n\ncozystack-api's VmRSS in MiB: steady after loading, before the lists of everything, the highest sampled while the most concurrent clients listed everything, and after the last list cell; the last column is what the lists left behind (after - before).\n\n");
    s.push_str("| apps | clients | after loading | before the lists | peak during the lists | peak / after loading | after the lists | left behind |\n");
    s.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in runs {
        let Some(m) = r.list_memory else { continue };
        let steady = r.ours[1].rss_kib as f64;
        let ratio = if steady > 0.0 { format!("{:.2}", m.peak_kib as f64 / steady) } else { "-".into() };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {ratio} | {} | {:+.1} |",
            thousands(r.n),
            m.clients,
            mib(steady),
            mib(m.before_kib as f64),
            mib(m.peak_kib as f64),
            mib(m.after_kib as f64),
            (m.after_kib as f64 - m.before_kib as f64) / 1024.0
        );
    }
}

/// p50 at the largest N against p50 at the smallest, per measurement, when several N ran.
fn render_growth(s: &mut String, runs: &[Run]) {
    let (Some(first), Some(last)) = (runs.first(), runs.last()) else { return };
    if runs.len() < 2 || last.n <= first.n {
        return;
    }
    let _ = write!(
        s,
        "\n## Growth with N\n\np50 latency from {} to {} apps: the ratio (1.00 = flat) and the slope in ms per 1,000 apps.\n\n| operation | clients | target | p50 at {} | p50 at {} | ratio | ms per 1,000 apps |\n|---|---:|---|---:|---:|---:|---:|\n",
        thousands(first.n),
        thousands(last.n),
        thousands(first.n),
        thousands(last.n)
    );
    let per_thousand = (last.n - first.n) as f64 / 1000.0;
    for (&(op, conc, t), small) in &first.cells {
        let Some(large) = last.cells.get(&(op, conc, t)) else { continue };
        if small.count == 0 || large.count == 0 {
            continue;
        }
        let ratio = if small.p50_ms > 0.0 { format!("{:.2}", large.p50_ms / small.p50_ms) } else { "-".into() };
        let _ = writeln!(
            s,
            "| {} | {conc} | {} | {} | {} | {ratio} | {} |",
            op.label(),
            t.label(),
            ms(small.p50_ms),
            ms(large.p50_ms),
            slope((large.p50_ms - small.p50_ms) / per_thousand)
        );
    }
}

/// Milliseconds per 1,000 apps, with the digits that matter; negative when a measurement got faster.
fn slope(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.3}"),
    }
}

fn mib(kib: f64) -> String {
    format!("{:.0}", kib / 1024.0)
}

fn latency(x: &Stats) -> String {
    if x.count == 0 {
        return if x.stopped.is_some() { "stopped".into() } else { "failed".into() };
    }
    let mut out = format!("{} / {}", ms(x.p50_ms), ms(x.p99_ms));
    if x.errors > 0 {
        let _ = write!(out, " ({} errors)", x.errors);
    }
    if x.stopped.is_some() {
        out.push_str(" (stopped early)");
    }
    out
}

/// Three significant digits or so.
pub fn ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3}")
    } else if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn rate(v: f64) -> String {
    if v < 10.0 { format!("{v:.1}") } else { thousands(v.round() as usize) }
}

fn ratio(ours: Option<f64>, other: Option<f64>) -> String {
    match (ours, other) {
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() && b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

/// 12345 as "12,345".
pub fn thousands(v: usize) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_own_sections_and_keeps_the_others_in_order() {
        let old = "# Old header\n\ntext\n\n## Results\n\nold results\n\n## Watch fan-out\n\nw1\n```\n## not a heading\n```\n\n## Memory\n\nold\n\n## TenantNamespace list\n\nt1\n";
        let own = "# Benchmarks\n\n## How it is measured\n\nnew\n\n## Results\n\nnew results\n";
        let want = "# Benchmarks\n\n## How it is measured\n\nnew\n\n## Results\n\nnew results\n\n## Watch fan-out\n\nw1\n```\n## not a heading\n```\n\n## TenantNamespace list\n\nt1\n";
        assert_eq!(merge(old, own), want);
    }

    #[test]
    fn merge_into_nothing_is_the_own_text() {
        assert_eq!(merge("", "# B\n\n## Results\n\nx\n\n"), "# B\n\n## Results\n\nx\n");
    }

    #[test]
    fn numbers_are_formatted_for_reading() {
        let rows = [(0, "0"), (999, "999"), (1000, "1,000"), (12345, "12,345"), (1234567, "1,234,567")];
        for (v, want) in rows {
            assert_eq!(thousands(v), want, "{v}");
        }
        let rows = [(0.1234, "0.123"), (1.234, "1.23"), (12.34, "12.3"), (123.4, "123")];
        for (v, want) in rows {
            assert_eq!(ms(v), want, "{v}");
        }
        assert_eq!(ratio(Some(1.0), Some(4.0)), "0.25×");
        assert_eq!(ratio(Some(1.0), None), "—");
    }

    fn run_with(n: usize, p50_ms: f64) -> Run {
        let mut stats = Stats::from_samples(vec![Duration::from_secs_f64(p50_ms / 1000.0)], 100, 0, Duration::from_secs(1), None);
        stats.p50_ms = p50_ms;
        let mut run = Run { n, ..Default::default() };
        run.cells.insert((Op::ListAll, 32, Target::Aggregated), stats);
        run.ours[1] = Memory { rss_kib: 100 * 1024, peak_kib: 0 };
        run.list_memory = Some(ListMemory { clients: 32, before_kib: 100 * 1024, peak_kib: 250 * 1024, after_kib: 110 * 1024 });
        run
    }

    #[test]
    fn growth_compares_the_largest_n_with_the_smallest() {
        let mut s = String::new();
        render_growth(&mut s, &[run_with(1000, 2.0), run_with(10000, 5.0), run_with(30000, 60.0)]);
        assert!(s.contains("| p50 at 1,000 | p50 at 30,000 |"), "{s}");
        // 60 / 2 = 30×; (60 - 2) / 29 thousand apps = 2 ms per 1,000 apps.
        assert!(s.contains("| 32 | cozystack-api via aggregator | 2.00 | 60.0 | 30.00 | 2.000 |"), "{s}");
        let mut one = String::new();
        render_growth(&mut one, &[run_with(1000, 2.0)]);
        assert!(one.is_empty(), "one N has no growth: {one}");
    }

    #[test]
    fn list_memory_shows_the_peak_against_the_steady_state_and_what_stays() {
        let mut s = String::new();
        render_list_memory(&mut s, &[run_with(30000, 1.0)]);
        assert!(s.contains("| 30,000 | 32 | 100 | 100 | 250 | 2.50 | 110 | +10.0 |"), "{s}");
    }
}
