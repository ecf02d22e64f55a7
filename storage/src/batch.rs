//! Consistent reads batched per key: clients asking the backend the same question at the same time share one
//! answer, without any of them getting an answer older than its request.
//!
//! A request joins the batch of its key that has not been sent yet, or opens one. A batch is sent when the one
//! before it (same key) has its answer, so at most one request per key is in flight, and every member of a batch
//! asked before the batch was sent: the answer is as fresh as each of them needs (what kube-apiserver's
//! consistent reads promise). Under load, N concurrent identical lists cost about one backend list and one copy
//! of the answer in memory, instead of N.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// One batch: its answer once there is one.
struct Batch<V> {
    answer: watch::Sender<Option<V>>,
}

impl<V: Clone> Batch<V> {
    fn new() -> Arc<Self> {
        Arc::new(Self { answer: watch::Sender::new(None) })
    }

    async fn wait(&self) -> V {
        let mut rx = self.answer.subscribe();
        loop {
            if let Some(v) = rx.borrow_and_update().clone() {
                return v;
            }
            // The sender lives as long as the batch, which this caller holds.
            if rx.changed().await.is_err() {
                unreachable!("a batch outlives its waiters' handles");
            }
        }
    }
}

/// The batches of one key: the one being answered, and the one collecting requests to be sent next.
struct Lane<V> {
    sent: Option<Arc<Batch<V>>>,
    open: Option<Arc<Batch<V>>>,
}

/// Batches of reads, by key.
pub struct Batcher<K, V> {
    lanes: Arc<Mutex<HashMap<K, Lane<V>>>>,
}

impl<K, V> Default for Batcher<K, V> {
    fn default() -> Self {
        Self { lanes: Arc::default() }
    }
}

impl<K, V> Batcher<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The answer to `key`: from a batch sent after this call, read by `read` (which runs in its own task, so a
    /// caller that goes away does not leave the others of its batch waiting).
    pub async fn read<F, Fut>(&self, key: K, read: F) -> V
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (batch, opened) = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let lane = lanes.entry(key.clone()).or_insert(Lane { sent: None, open: None });
            match &lane.open {
                Some(open) => (open.clone(), false),
                None => {
                    let open = Batch::new();
                    lane.open = Some(open.clone());
                    (open, true)
                }
            }
        };
        if opened {
            tokio::spawn(Self::send(self.lanes.clone(), key, batch.clone(), read));
        }
        batch.wait().await
    }

    /// Sends `batch` once the batch before it is answered, and publishes its answer.
    async fn send<F, Fut>(lanes: Arc<Mutex<HashMap<K, Lane<V>>>>, key: K, batch: Arc<Batch<V>>, read: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        loop {
            let before = {
                let mut all = lanes.lock().unwrap_or_else(|e| e.into_inner());
                let lane = all.get_mut(&key).expect("an open batch keeps its lane");
                match &lane.sent {
                    Some(sent) => sent.clone(),
                    None => {
                        // From here on, requests open the next batch.
                        lane.open = None;
                        lane.sent = Some(batch.clone());
                        break;
                    }
                }
            };
            before.wait().await;
        }
        let answer = read().await;
        {
            let mut all = lanes.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(lane) = all.get_mut(&key) {
                lane.sent = None;
                if lane.open.is_none() {
                    all.remove(&key);
                }
            }
        }
        batch.answer.send_replace(Some(answer));
    }

    /// Keys with a batch open or sent.
    #[cfg(test)]
    fn busy(&self) -> usize {
        self.lanes.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::*;

    /// A backend whose reads answer the number of reads sent before them and wait for a release.
    #[derive(Default)]
    struct Backend {
        sent: AtomicUsize,
        release: Notify,
    }

    fn read(b: &Arc<Backend>) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = usize> + Send>> + Send + 'static {
        let b = b.clone();
        move || {
            Box::pin(async move {
                let n = b.sent.fetch_add(1, Ordering::SeqCst) + 1;
                b.release.notified().await;
                n
            })
        }
    }

    async fn until(what: &str, cond: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn requests_during_a_read_share_the_next_one_never_the_one_in_flight() {
        let batcher = Arc::new(Batcher::<&str, usize>::default());
        let backend = Arc::new(Backend::default());
        let first = tokio::spawn({
            let (batcher, r) = (batcher.clone(), read(&backend));
            async move { batcher.read("ns", r).await }
        });
        until("the first read is sent", || backend.sent.load(Ordering::SeqCst) == 1).await;
        // Asked while the first read is in flight: they must not get its answer (it may predate them).
        let later: Vec<_> = (0..5)
            .map(|_| {
                let (batcher, r) = (batcher.clone(), read(&backend));
                tokio::spawn(async move { batcher.read("ns", r).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(backend.sent.load(Ordering::SeqCst), 1, "one read per key in flight");
        backend.release.notify_one();
        assert_eq!(first.await.unwrap(), 1);
        until("the second read is sent", || backend.sent.load(Ordering::SeqCst) == 2).await;
        backend.release.notify_one();
        for l in later {
            assert_eq!(l.await.unwrap(), 2, "the five share the read sent after they asked");
        }
        assert_eq!(backend.sent.load(Ordering::SeqCst), 2);
        until("nothing is left behind", || batcher.busy() == 0).await;
    }

    #[tokio::test]
    async fn keys_do_not_wait_for_each_other_and_a_caller_gone_does_not_strand_its_batch() {
        let batcher = Arc::new(Batcher::<&str, usize>::default());
        let backend = Arc::new(Backend::default());
        // The opener of a batch goes away: the read still completes for the one that joined it.
        let opener = tokio::spawn({
            let (batcher, r) = (batcher.clone(), read(&backend));
            async move { batcher.read("a", r).await }
        });
        until("a's read is sent", || backend.sent.load(Ordering::SeqCst) == 1).await;
        let other = {
            let (batcher, r) = (batcher.clone(), read(&backend));
            tokio::spawn(async move { batcher.read("b", r).await })
        };
        until("b's read is sent without waiting for a's", || backend.sent.load(Ordering::SeqCst) == 2).await;
        opener.abort();
        backend.release.notify_waiters();
        assert!(other.await.unwrap() >= 1);
        until("nothing is left behind", || batcher.busy() == 0).await;
    }
}
