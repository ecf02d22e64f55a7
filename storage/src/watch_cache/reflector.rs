//! The feeder of a cache: one list, then one watch from the cache's resourceVersion, resumed from there whenever
//! it ends or breaks, and a relist when the backend answers 410 Gone. Failures are retried with backoff, forever.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;

use super::cache::Shared;
use super::entry::rv_of;
use super::state::Replaced;
use crate::backend::{BackendError, RawEvent};

/// Longest pause between retries.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// How a backend watch ended.
enum Ended {
    /// Events came, then the stream ended: resume at once.
    AfterEvents,
    /// It ended with nothing (or with an error event): resume after a pause, so as not to spin.
    Early,
    /// 410 Gone: the cache's resourceVersion is out of the backend's window; relist.
    Expired,
}

/// Feeds `shared` until the task is aborted.
pub async fn run(shared: Arc<Shared>) {
    let mut delay = shared.config.retry_delay;
    let mut relist = true;
    loop {
        if relist {
            match shared.source.list().await {
                Ok((items, rv)) => {
                    let count = items.len();
                    let outcome = shared.write().replace(items, rv);
                    shared.notify();
                    match outcome {
                        Replaced::Initial => {
                            tracing::info!(cache = %shared.name, objects = count, rv, "watch cache synced")
                        }
                        Replaced::Continuous => {
                            tracing::info!(cache = %shared.name, rv, "watch cache relisted; nothing was missed")
                        }
                        Replaced::Reset => {
                            tracing::warn!(cache = %shared.name, rv, "watch cache relisted after changes it could not follow; watchers restart with 410")
                        }
                    }
                    relist = false;
                }
                Err(e) => {
                    tracing::warn!(cache = %shared.name, error = %e, "listing for the watch cache failed; retrying");
                    delay = pause(delay, shared.config.retry_delay).await;
                    continue;
                }
            }
        }
        let from = shared.read().rv();
        let ended = match shared.source.watch(from).await {
            Ok(stream) => follow(&shared, stream).await,
            Err(e) if e.code() == Some(410) => Ended::Expired,
            Err(e) => {
                tracing::warn!(cache = %shared.name, error = %e, rv = from, "watching for the watch cache failed; retrying");
                Ended::Early
            }
        };
        match ended {
            Ended::AfterEvents => delay = shared.config.retry_delay,
            Ended::Early => delay = pause(delay, shared.config.retry_delay).await,
            Ended::Expired => {
                tracing::info!(cache = %shared.name, rv = from, "the backend no longer has the cache's resourceVersion; relisting");
                relist = true;
            }
        }
    }
}

/// Sleeps `delay`, returns the next one.
async fn pause(delay: Duration, first: Duration) -> Duration {
    tokio::time::sleep(delay).await;
    (delay * 2).clamp(first, MAX_DELAY)
}

/// Applies the events of one backend watch.
async fn follow(shared: &Shared, mut stream: BoxStream<'static, Result<RawEvent, BackendError>>) -> Ended {
    let mut any = false;
    while let Some(item) = stream.next().await {
        let (kind, object) = match item {
            Ok(event) => event,
            Err(e) => {
                tracing::debug!(cache = %shared.name, error = %e, "the backend watch broke; resuming");
                break;
            }
        };
        match kind.as_str() {
            "ADDED" | "MODIFIED" => {
                shared.write().apply(false, object);
            }
            "DELETED" => {
                shared.write().apply(true, object);
            }
            "BOOKMARK" => {
                if let Some(rv) = rv_of(&object) {
                    shared.write().bookmark(rv);
                }
            }
            "ERROR" => {
                if object.get("code").and_then(Value::as_u64) == Some(410) {
                    return Ended::Expired;
                }
                tracing::warn!(cache = %shared.name, status = %object, "the backend watch sent an error; resuming");
                return Ended::Early;
            }
            other => {
                tracing::warn!(cache = %shared.name, event = other, "unknown backend watch event ignored")
            }
        }
        shared.notify();
        any = true;
    }
    if any { Ended::AfterEvents } else { Ended::Early }
}
