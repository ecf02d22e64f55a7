//! What is measured (targets and operations), closed-loop workers, and latency statistics.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::guard::MemoryGuard;

/// Who serves a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Target {
    /// cozystack-api behind kube-apiserver's aggregator, as users reach it.
    Aggregated,
    /// cozystack-api straight, with the admin client certificate.
    Direct,
    /// kube-apiserver serving the same objects as the CRD `postgreses.bench.cozystack.io`.
    Crd,
    /// kube-apiserver serving the backing HelmReleases themselves.
    HelmRelease,
    /// etcd: range reads of the HelmRelease keys, puts, and watches; the floor.
    Etcd,
}

impl Target {
    /// Every target, in table order.
    pub const ALL: [Target; 5] = [Self::Aggregated, Self::Direct, Self::Crd, Self::HelmRelease, Self::Etcd];

    /// The column title.
    pub fn label(self) -> &'static str {
        match self {
            Self::Aggregated => "cozystack-api via aggregator",
            Self::Direct => "cozystack-api direct",
            Self::Crd => "CRD",
            Self::HelmRelease => "HelmRelease",
            Self::Etcd => "etcd",
        }
    }

    /// A short name for object names and progress lines.
    pub fn short(self) -> &'static str {
        match self {
            Self::Aggregated => "agg",
            Self::Direct => "dir",
            Self::Crd => "crd",
            Self::HelmRelease => "hr",
            Self::Etcd => "etcd",
        }
    }
}

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Op {
    /// List every object in all namespaces.
    ListAll,
    /// List the objects of one namespace.
    ListNamespace,
    /// Get one object.
    Get,
    /// Create one object.
    Create,
    /// Create one object by server-side apply (with managedFields).
    Apply,
    /// Deliver one event to every watcher.
    Watch,
}

impl Op {
    /// Every operation, in table order.
    pub const ALL: [Op; 6] = [Self::ListAll, Self::ListNamespace, Self::Get, Self::Create, Self::Apply, Self::Watch];

    /// The row title.
    pub fn label(self) -> &'static str {
        match self {
            Self::ListAll => "list all",
            Self::ListNamespace => "list one namespace",
            Self::Get => "get one",
            Self::Create => "create",
            Self::Apply => "create by server-side apply",
            Self::Watch => "watch event delivery",
        }
    }
}

/// The summary of one measurement.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Successful requests (or delivered events).
    pub count: usize,
    /// Failed requests (or events not delivered).
    pub errors: usize,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Successful requests per second; None where it means nothing (watch).
    pub rps: Option<f64>,
    /// Mean response size in bytes.
    pub bytes: f64,
    /// The first error, to show.
    pub first_error: Option<String>,
    /// Why the measurement stopped early or did not run, if it did.
    pub stopped: Option<String>,
}

impl Stats {
    /// Summarizes latencies (and response sizes) collected over `elapsed`.
    pub fn from_samples(mut latencies: Vec<Duration>, bytes: u64, errors: usize, elapsed: Duration, first_error: Option<String>) -> Self {
        latencies.sort_unstable();
        let count = latencies.len();
        let pct = |q: f64| bench::percentile(&latencies, q).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
        Self {
            count,
            errors,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            rps: Some(count as f64 / elapsed.as_secs_f64().max(1e-9)),
            bytes: if count == 0 { 0.0 } else { bytes as f64 / count as f64 },
            first_error,
            stopped: None,
        }
    }
}

/// When a measurement ends.
#[derive(Clone)]
pub struct Budget {
    /// Run this long...
    pub duration: Duration,
    /// ...and on until this many requests have finished (slow requests would otherwise give one or two samples).
    pub min_samples: usize,
    /// Stop at once (dropping requests in flight) when memory runs short...
    pub guard: MemoryGuard,
    /// ...and before starting, wait this long for it to come back, else skip.
    pub recovery: Duration,
}

/// Runs `concurrency` closed-loop workers within `budget`: each sends a request, waits for the whole answer, and
/// sends the next. `request(i)` gets a number unique in this run and returns the response size. One request per
/// worker is sent first and not counted, to open connections and warm caches.
pub async fn closed_loop<F, Fut>(concurrency: usize, budget: &Budget, request: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<usize>> + Send,
{
    if let Some(why) = budget.guard.until_recovered(budget.recovery).await {
        return Stats { stopped: Some(format!("skipped: {why}")), ..Stats::from_samples(vec![], 0, 0, Duration::ZERO, None) };
    }
    let request = Arc::new(request);
    let next = Arc::new(AtomicU64::new(0));
    let warm: Vec<_> = (0..concurrency)
        .map(|_| {
            let (request, next, guard) = (request.clone(), next.clone(), budget.guard.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = request(next.fetch_add(1, Ordering::Relaxed)) => {}
                    _ = guard.until_low() => {}
                }
            })
        })
        .collect();
    futures::future::join_all(warm).await;

    let start = Instant::now();
    let finished = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (request, next, finished, budget) = (request.clone(), next.clone(), finished.clone(), budget.clone());
            tokio::spawn(async move {
                let (mut lat, mut bytes, mut errors, mut first_error, mut stopped) = (Vec::new(), 0u64, 0usize, None, None);
                while start.elapsed() < budget.duration || finished.load(Ordering::Relaxed) < budget.min_samples {
                    let t = Instant::now();
                    let result = tokio::select! {
                        r = request(next.fetch_add(1, Ordering::Relaxed)) => r,
                        why = budget.guard.until_low() => {
                            stopped = Some(format!("stopped early: {why}"));
                            break;
                        }
                    };
                    match result {
                        Ok(b) => {
                            lat.push(t.elapsed());
                            bytes += b as u64;
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                    finished.fetch_add(1, Ordering::Relaxed);
                }
                (lat, bytes, errors, first_error, stopped)
            })
        })
        .collect();
    let (mut lat, mut bytes, mut errors, mut first_error, mut stopped) = (Vec::new(), 0, 0, None, None);
    for w in futures::future::join_all(workers).await {
        let (l, b, e, f, s) = w.expect("a worker panicked");
        lat.extend(l);
        bytes += b;
        errors += e;
        first_error = first_error.or(f);
        stopped = stopped.or(s);
    }
    Stats { stopped, ..Stats::from_samples(lat, bytes, errors, start.elapsed(), first_error) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let ms = |v: u64| Duration::from_millis(v);
        let rows: [(&str, Vec<u64>, f64, f64); 3] = [
            ("one sample is every percentile", vec![7], 7.0, 7.0),
            ("median of 1..=100 is 50, p99 is 99", (1..=100).rev().collect(), 50.0, 99.0),
            ("p99 of ten samples is the largest", (1..=10).collect(), 5.0, 10.0),
        ];
        for (what, samples, p50, p99) in rows {
            let s = Stats::from_samples(samples.into_iter().map(ms).collect(), 0, 0, Duration::from_secs(1), None);
            assert_eq!((s.p50_ms, s.p99_ms), (p50, p99), "{what}");
        }
    }

    #[tokio::test]
    async fn closed_loop_takes_at_least_the_minimum_of_samples_and_counts_errors() {
        let (guard, _low) = MemoryGuard::manual();
        let budget = Budget { duration: Duration::ZERO, min_samples: 6, guard, recovery: Duration::ZERO };
        let stats = closed_loop(2, &budget, |i| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if i % 2 == 0 { Ok(10) } else { anyhow::bail!("odd {i}") }
        })
        .await;
        assert!(stats.count + stats.errors >= 6, "{stats:?}");
        assert!(stats.count >= 1 && stats.errors >= 1, "{stats:?}");
        assert_eq!(stats.bytes, 10.0);
        assert!(stats.first_error.is_some_and(|e| e.starts_with("odd")));
    }

    #[tokio::test]
    async fn short_memory_stops_a_measurement_at_once_and_skips_the_next() {
        let (guard, low) = MemoryGuard::manual();
        let budget = Budget { duration: Duration::from_secs(60), min_samples: 0, guard, recovery: Duration::ZERO };
        let slow = |_| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(1)
        };
        let flip = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            low.send(Some("short".into())).unwrap();
            low
        });
        let started = Instant::now();
        let stats = closed_loop(4, &budget, slow).await;
        assert!(started.elapsed() < Duration::from_secs(5), "stopped at once, not after the duration");
        assert_eq!(stats.stopped.as_deref(), Some("stopped early: short"));
        assert!(stats.count > 0);
        let _low = flip.await.unwrap();
        let skipped = closed_loop(4, &budget, slow).await;
        assert_eq!((skipped.count, skipped.stopped.as_deref()), (0, Some("skipped: short")));
    }

    #[test]
    fn no_samples_give_no_latency_and_no_throughput() {
        let s = Stats::from_samples(vec![], 0, 3, Duration::from_secs(1), Some("boom".into()));
        assert!(s.p50_ms.is_nan());
        assert_eq!((s.count, s.errors, s.rps), (0, 3, Some(0.0)));
    }
}
