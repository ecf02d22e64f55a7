//! The contents of one watch cache: the current objects and a bounded window of event history, with the rules
//! for where a watch may start and what it reads next. Plain data kept under the cache's lock: no I/O, no async.
//!
//! Positions: every event gets a sequence number; a watcher holds the number of the next event it reads. Events
//! are kept in resourceVersion order, so a watch from resourceVersion N starts at the first event after N,
//! provided N is not older than the window ([`State::oldest`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tokio::time::Instant;

use serde_json::Value;

use super::entry::{Entry, Key, key_of, rv_of};

/// One change in the history.
#[derive(Debug)]
pub struct HistoryEvent {
    /// Its resourceVersion.
    pub rv: u64,
    /// True for a deletion; `object` is then the deleted object.
    pub deleted: bool,
    /// The object after the change.
    pub object: Arc<Entry>,
    /// The object before the change, if it existed.
    pub prev: Option<Arc<Entry>>,
}

/// What a relist did to the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    /// The first list.
    Initial,
    /// Nothing changed since the last event seen: the history goes on without a gap.
    Continuous,
    /// Objects changed while the backend could not tell how: the history restarts at the list, and every watcher
    /// positioned before it gets 410 Gone, so that its client relists (no event is made up or lost).
    Reset,
}

/// Where a watcher reads next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Sequence number of the next event.
    pub seq: u64,
    /// The history generation it belongs to.
    pub epoch: u64,
    /// Events up to this resourceVersion are already known to the client (a watch from a resourceVersion the
    /// cache has not reached yet) and skipped.
    pub skip_until: u64,
}

/// The result of reading from a position.
#[derive(Debug)]
pub enum Read {
    /// The next events (possibly none).
    Events {
        /// The events.
        events: Vec<Arc<HistoryEvent>>,
        /// The position after them.
        next: u64,
        /// When nothing more is there: the cache's resourceVersion, every change up to which has been read.
        caught_up: Option<u64>,
    },
    /// The position fell out of the window, or the history was reset.
    Gone {
        /// The oldest resourceVersion a watch may start from now.
        oldest: u64,
    },
}

/// The objects and history of one cache.
#[derive(Debug)]
pub struct State {
    objects: BTreeMap<Key, Arc<Entry>>,
    history: VecDeque<Arc<HistoryEvent>>,
    first_seq: u64,
    rv: u64,
    oldest: u64,
    epoch: u64,
    capacity: usize,
    synced: bool,
    last_event: Option<Instant>,
}

impl State {
    /// An empty, unsynced state keeping at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            first_seq: 0,
            rv: 0,
            oldest: 0,
            epoch: 0,
            capacity: capacity.max(1),
            synced: false,
            last_event: None,
        }
    }

    /// True once the first list is in.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Every change up to this resourceVersion is in.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch may start from.
    pub fn oldest(&self) -> u64 {
        self.oldest
    }

    /// When the last event came in.
    pub fn last_event(&self) -> Option<Instant> {
        self.last_event
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.history.len() as u64
    }

    /// Number of current objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when there is no object.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Number of events kept.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// Takes a full list at `list_rv`. See [`Replaced`] for what happens to the history.
    pub fn replace(&mut self, items: Vec<Entry>, list_rv: u64) -> Replaced {
        let mut objects = BTreeMap::new();
        let mut same = self.synced;
        for item in items {
            let key = item.key();
            let entry = match self.objects.get(&key) {
                // Keep the entry already there, with the translations it remembers.
                Some(known) if known.rv == item.rv => known.clone(),
                _ => {
                    same = false;
                    Arc::new(item)
                }
            };
            objects.insert(key, entry);
        }
        same &= objects.len() == self.objects.len();
        let outcome = if !self.synced {
            Replaced::Initial
        } else if same {
            Replaced::Continuous
        } else {
            Replaced::Reset
        };
        self.objects = objects;
        match outcome {
            Replaced::Continuous => self.rv = self.rv.max(list_rv),
            Replaced::Initial | Replaced::Reset => {
                self.first_seq = self.next_seq();
                self.history.clear();
                self.rv = list_rv;
                self.oldest = list_rv;
                self.epoch += u64::from(outcome == Replaced::Reset);
            }
        }
        self.synced = true;
        outcome
    }

    /// Applies a backend event (ADDED, MODIFIED or DELETED); false when it changes nothing (an event the cache
    /// already has, or the deletion of an object it never had).
    pub fn apply(&mut self, deleted: bool, object: Value) -> bool {
        let Some(rv) = rv_of(&object) else {
            return false;
        };
        if rv <= self.rv {
            return false;
        }
        let key = key_of(&object);
        let entry = Arc::new(Entry::new(object, key.clone(), rv));
        let prev = if deleted { self.objects.remove(&key) } else { self.objects.insert(key, entry.clone()) };
        self.rv = rv;
        if deleted && prev.is_none() {
            return false;
        }
        self.last_event = Some(Instant::now());
        self.history.push_back(Arc::new(HistoryEvent { rv, deleted, object: entry, prev }));
        while self.history.len() > self.capacity {
            if let Some(gone) = self.history.pop_front() {
                self.first_seq += 1;
                self.oldest = gone.rv;
            }
        }
        true
    }

    /// Takes a backend BOOKMARK: nothing changed up to `rv`.
    pub fn bookmark(&mut self, rv: u64) -> bool {
        let newer = rv > self.rv;
        self.rv = self.rv.max(rv);
        newer
    }

    /// The position of a watch from resourceVersion `from`: the first event after it, or, for a resourceVersion
    /// the cache has not reached yet, the end (events up to `from` are skipped when they come). Err(oldest) when
    /// `from` is older than the window.
    pub fn position(&self, from: u64) -> Result<Position, u64> {
        if from < self.oldest {
            return Err(self.oldest);
        }
        let seq = if from >= self.rv { self.next_seq() } else { self.first_seq + self.history.partition_point(|e| e.rv <= from) as u64 };
        Ok(Position { seq, epoch: self.epoch, skip_until: from })
    }

    /// The position after the last event.
    pub fn end(&self) -> Position {
        Position { seq: self.next_seq(), epoch: self.epoch, skip_until: self.rv }
    }

    /// Up to `max` events from `pos`.
    pub fn read(&self, pos: &Position, max: usize) -> Read {
        if pos.epoch != self.epoch || pos.seq < self.first_seq {
            return Read::Gone { oldest: self.oldest };
        }
        let start = (pos.seq - self.first_seq) as usize;
        let end = self.history.len().min(start.saturating_add(max));
        let events: Vec<_> = self.history.range(start.min(end)..end).cloned().collect();
        let caught_up = (end == self.history.len()).then_some(self.rv);
        Read::Events { next: pos.seq + events.len() as u64, events, caught_up }
    }

    /// The current entry of `key`, if any.
    pub fn get(&self, key: &Key) -> Option<Arc<Entry>> {
        self.objects.get(key).cloned()
    }

    /// The current objects in `namespace` ("" for all), in key order.
    pub fn snapshot(&self, namespace: &str) -> Vec<Arc<Entry>> {
        if namespace.is_empty() {
            return self.objects.values().cloned().collect();
        }
        let from = (namespace.to_string(), String::new());
        self.objects.range(from..).take_while(|((ns, _), _)| ns == namespace).map(|(_, e)| e.clone()).collect()
    }
}
