//! Progress on stderr: one line per step, and a counter that updates while a long step runs.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Prints one progress line.
pub fn say(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

/// A long step with a known number of items: shows done/total and the rate every second on a terminal (every
/// ten seconds in a log).
pub struct Progress {
    label: String,
    total: usize,
    done: Arc<AtomicUsize>,
    start: Instant,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts showing progress of `label`.
    pub fn start(label: String, total: usize) -> Self {
        let done = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let tty = std::io::stderr().is_terminal();
        let ticker = {
            let (label, done) = (label.clone(), done.clone());
            tokio::spawn(async move {
                let every = Duration::from_secs(if tty { 1 } else { 10 });
                loop {
                    tokio::time::sleep(every).await;
                    let line = line(&label, done.load(Ordering::Relaxed), total, start.elapsed());
                    if tty {
                        eprint!("\r\x1b[2K[bench] {line}");
                        let _ = std::io::stderr().flush();
                    } else {
                        say(line);
                    }
                }
            })
        };
        say(format!("{label}: 0/{total}"));
        Self { label, total, done, start, ticker }
    }

    /// The counter to add finished items to.
    pub fn counter(&self) -> Arc<AtomicUsize> {
        self.done.clone()
    }

    /// Stops showing progress, prints the final line, and returns how long the step took.
    pub fn finish(self) -> Duration {
        self.ticker.abort();
        let took = self.start.elapsed();
        if std::io::stderr().is_terminal() {
            eprint!("\r\x1b[2K");
        }
        say(format!("{} in {:.1} s", line(&self.label, self.done.load(Ordering::Relaxed), self.total, took), took.as_secs_f64()));
        took
    }
}

fn line(label: &str, done: usize, total: usize, elapsed: Duration) -> String {
    format!("{label}: {done}/{total} ({:.0}/s)", done as f64 / elapsed.as_secs_f64().max(1e-9))
}

/// Says that a step is still running, every 15 seconds, until dropped.
pub struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    /// Starts the heartbeat of `label`.
    pub fn start(label: String) -> Self {
        let start = Instant::now();
        Self(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(15)).await;
                say(format!("{label}: still measuring after {:.0} s", start.elapsed().as_secs_f64()));
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}
