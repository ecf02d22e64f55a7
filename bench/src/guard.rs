//! A guard for shared machines: says when the machine runs short of memory, so that a measurement stops before
//! kube-apiserver (whose memory grows with every large list in flight) pushes everything else out.

use std::time::Duration;

use tokio::sync::watch;

/// Watches MemAvailable in /proc/meminfo; low while it is under a share of MemTotal.
#[derive(Clone)]
pub struct MemoryGuard {
    low: watch::Receiver<Option<String>>,
}

impl MemoryGuard {
    /// Starts watching: low while less than `min_percent` % of the memory is available.
    pub fn start(min_percent: f64) -> Self {
        let (tx, low) = watch::channel(None);
        tokio::spawn(async move {
            loop {
                let state = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| shortage(&m, min_percent));
                if tx.send(state).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self { low }
    }

    /// A guard set by hand (tests).
    #[cfg(test)]
    pub fn manual() -> (Self, watch::Sender<Option<String>>) {
        let (tx, low) = watch::channel(None);
        (Self { low }, tx)
    }

    /// Why memory is short now, if it is.
    pub fn low(&self) -> Option<String> {
        self.low.borrow().clone()
    }

    /// Resolves when memory becomes short, with the reason.
    pub async fn until_low(&self) -> String {
        let mut rx = self.low.clone();
        // The reference the channel lends must not live across an await.
        let why = rx.wait_for(Option::is_some).await.map(|v| v.clone().unwrap_or_default());
        match why {
            Ok(why) => why,
            // The watcher is gone: never low again.
            Err(_) => std::future::pending().await,
        }
    }

    /// Waits up to `max` for memory to be available again (Go gives freed memory back within a few minutes);
    /// returns the reason if it is still short.
    pub async fn until_recovered(&self, max: Duration) -> Option<String> {
        let mut rx = self.low.clone();
        let _ = tokio::time::timeout(max, rx.wait_for(Option::is_none)).await;
        self.low()
    }
}

/// Why memory is short according to /proc/meminfo, if it is.
fn shortage(meminfo: &str, min_percent: f64) -> Option<String> {
    let field = |key: &str| -> Option<f64> { meminfo.lines().find_map(|l| l.strip_prefix(key))?.split_whitespace().next()?.parse().ok() };
    let (total, available) = (field("MemTotal:")?, field("MemAvailable:")?);
    (available < total * min_percent / 100.0)
        .then(|| format!("only {:.1} GiB of {:.1} GiB memory available (under {min_percent}%)", available / 1048576.0, total / 1048576.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_short_under_the_share() {
        let info = |avail: u64| format!("MemTotal:       10485760 kB\nMemFree:          100 kB\nMemAvailable:   {avail} kB\n");
        let rows = [
            ("plenty", info(8_000_000), false),
            ("just above 20%", info(2_200_000), false),
            ("under 20%", info(2_000_000), true),
            ("unreadable counts as fine", "garbage".to_string(), false),
        ];
        for (what, meminfo, low) in rows {
            assert_eq!(shortage(&meminfo, 20.0).is_some(), low, "{what}");
        }
    }
}
