//! One client's watch over a cache: its initial events, then a cursor into the shared history. Nothing is
//! copied per watcher but pointers; a watcher whose cursor falls out of the history window (a client too slow to
//! read, or a history reset) gets 410 Gone and ends, so a slow client costs no memory.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use apis::status::Status;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::cache::Shared;
use super::entry::Entry;
use super::shared::{SharedEvent, SharedEventStream, SharedObject};
use super::state::{Position, Read};
use super::view::{Filter, View, convert};
use crate::registry::EventType;

/// Events taken from the history per lock.
const BATCH: usize = 256;
/// kube-apiserver sends the last bookmark this long before a watch's timeout.
const BEFORE_TIMEOUT: Duration = Duration::from_secs(2);

/// One object of the initial state.
pub enum Initial {
    /// From the cache's snapshot, translated when sent.
    Cached(Arc<Entry>),
    /// From a list the backend answered, already translated.
    Listed(SharedObject),
}

/// Where a watch starts: its initial events, its position in the history, and the resourceVersion of the
/// WatchList end bookmark, if one is due.
pub struct Start {
    /// Objects sent as ADDED first.
    pub initial: Vec<Initial>,
    /// The history position after them.
    pub pos: Position,
    /// Where the client stands once the initial events are sent.
    pub rv: u64,
    /// Send a BOOKMARK annotated as the end of the initial events, at `rv`.
    pub end_bookmark: bool,
}

impl Start {
    /// Changes from `pos` on, with no initial events.
    pub fn at(pos: Position) -> Self {
        Self { initial: Vec::new(), rv: pos.skip_until, pos, end_bookmark: false }
    }
}

/// How bookmarks are paced and when the watch ends.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Send periodic BOOKMARK events.
    pub bookmarks: bool,
    /// Their period.
    pub interval: Duration,
    /// When the watch ends (timeoutSeconds).
    pub deadline: Option<Instant>,
}

enum Wake {
    Changed,
    Closed,
    Bookmark,
    Deadline,
}

/// One watch.
pub struct Watcher {
    shared: Arc<Shared>,
    view: Arc<dyn View>,
    filter: Filter,
    initial: std::vec::IntoIter<Initial>,
    end_bookmark: bool,
    pos: Position,
    rv: u64,
    ready: VecDeque<SharedEvent>,
    changed: watch::Receiver<u64>,
    pacing: Pacing,
    bookmark_at: Option<Instant>,
    bookmark_due: bool,
    done: bool,
}

impl Watcher {
    /// A watch of `view` objects selected by `filter` from `start`.
    pub fn new(shared: Arc<Shared>, view: Arc<dyn View>, filter: Filter, start: Start, pacing: Pacing) -> Self {
        let changed = shared.changed.subscribe();
        let mut w = Self {
            shared,
            view,
            filter,
            initial: start.initial.into_iter(),
            end_bookmark: start.end_bookmark,
            pos: start.pos,
            rv: start.rv,
            ready: VecDeque::new(),
            changed,
            pacing,
            bookmark_at: None,
            bookmark_due: false,
            done: false,
        };
        w.bookmark_at = w.next_bookmark(Instant::now());
        w
    }

    /// The events as a stream.
    pub fn into_stream(self) -> SharedEventStream {
        futures::stream::unfold(self, |mut w| async move { w.next().await.map(|e| (e, w)) }).boxed()
    }

    /// As kube-apiserver: every interval, and two seconds before the timeout; none once that has passed.
    fn next_bookmark(&self, now: Instant) -> Option<Instant> {
        if !self.pacing.bookmarks {
            return None;
        }
        let mut at = now + self.pacing.interval;
        if let Some(deadline) = self.pacing.deadline {
            at = at.min(deadline.checked_sub(BEFORE_TIMEOUT)?);
        }
        (at > now).then_some(at)
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> SharedEvent {
        SharedEvent::new(EventType::Bookmark, self.view.bookmark(rv, initial_events_end))
    }

    async fn next(&mut self) -> Option<SharedEvent> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            if let Some(item) = self.initial.next() {
                let served = match item {
                    Initial::Cached(entry) => entry.served(&*self.view),
                    Initial::Listed(object) => Some(object),
                };
                match served.filter(|o| self.filter.matches(o)) {
                    Some(object) => return Some(SharedEvent::new(EventType::Added, object)),
                    None => continue,
                }
            }
            if std::mem::take(&mut self.end_bookmark) {
                return Some(self.bookmark(self.rv, true));
            }
            self.changed.borrow_and_update();
            let read = self.shared.read().read(&self.pos, BATCH);
            let caught_up = match read {
                Read::Gone { oldest } => {
                    self.done = true;
                    let status = serde_json::to_value(Status::too_old_resource_version(self.rv, oldest)).unwrap_or_default();
                    return Some(SharedEvent::new(EventType::Error, status));
                }
                Read::Events { events, next, caught_up } => {
                    self.pos.seq = next;
                    for e in events.iter().filter(|e| e.rv > self.pos.skip_until) {
                        self.rv = e.rv;
                        self.ready.extend(convert(e, &*self.view, &self.filter));
                    }
                    if !events.is_empty() {
                        continue;
                    }
                    caught_up
                }
            };
            // Everything up to `rv` has been sent: a bookmark may say so, never below what the client knows.
            if let Some(rv) = caught_up.filter(|rv| self.bookmark_due && *rv >= self.pos.skip_until) {
                self.bookmark_due = false;
                self.bookmark_at = self.next_bookmark(Instant::now());
                self.rv = self.rv.max(rv);
                return Some(self.bookmark(rv, false));
            }
            let bookmark_at = if self.bookmark_due { None } else { self.bookmark_at };
            let wake = tokio::select! {
                changed = self.changed.changed() => if changed.is_ok() { Wake::Changed } else { Wake::Closed },
                _ = sleep_until(bookmark_at) => Wake::Bookmark,
                _ = sleep_until(self.pacing.deadline) => Wake::Deadline,
            };
            match wake {
                Wake::Changed => {}
                Wake::Bookmark => self.bookmark_due = true,
                Wake::Closed | Wake::Deadline => self.done = true,
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
