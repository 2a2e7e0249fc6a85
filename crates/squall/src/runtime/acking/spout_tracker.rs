//! [`SpoutTracker`]: a spout task's tuples in flight when tracking is on:
//! pending trees, `max_spout_pending`, message timeouts, complete latency
//! and replay counts.
//!
//! Storm's spout executor keeps its pending tuples in a `RotatingMap` and
//! fails those still there after the message timeout; so does this, with
//! [`SPOUT_BUCKETS`] buckets so that a tuple times out between 1 and 1.1
//! timeouts after its emit. Time is passed in (`now`), never read here, so
//! that tests control the clock.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::runtime::acker::{Completion, Outcome};
use crate::runtime::rotating_map::RotatingMap;
use crate::runtime::tracking::Started;
use crate::topology::MessageId;

/// Buckets of the pending map: a rotation every timeout / 10.
const SPOUT_BUCKETS: usize = 11;

/// How often a spout task publishes its complete-latency histogram.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// What became of one spout tuple, to tell the spout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    /// Its tree completed: `Spout::ack`.
    Acked(MessageId),
    /// A tuple of its tree failed: `Spout::fail`.
    Failed(MessageId),
    /// Its tree did not complete within the message timeout: `Spout::fail`.
    TimedOut(MessageId),
}

#[derive(Debug)]
struct Pending {
    msg_id: MessageId,
    emitted: Instant,
}

/// Counters since the executor last published them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpoutCounts {
    pub acked: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub replayed: u64,
}

/// The pending trees of one spout task.
pub(crate) struct SpoutTracker {
    pending: RotatingMap<u64, Pending>,
    period: Duration,
    next_rotation: Instant,
    inbox: UnboundedReceiver<Completion>,
    /// Completions received while waiting, or decided locally.
    stash: Vec<Completion>,
    max_pending: Option<usize>,
    /// Message ids failed and not yet emitted again (bounded).
    failed_ids: HashSet<MessageId>,
    /// Complete latency of acked trees (µs), since last published.
    pub latency: Histogram<u64>,
    /// When the latency is next due to be published.
    next_publish: Instant,
    pub counts: SpoutCounts,
}

impl SpoutTracker {
    /// A tracker fed by `inbox` (from the ackers), timing trees out after
    /// `timeout`, starting at `now`.
    pub fn new(
        inbox: UnboundedReceiver<Completion>,
        timeout: Duration,
        max_pending: Option<usize>,
        now: Instant,
    ) -> Self {
        let period = (timeout / (SPOUT_BUCKETS as u32 - 1)).max(Duration::from_millis(1));
        SpoutTracker {
            pending: RotatingMap::new(SPOUT_BUCKETS),
            period,
            next_rotation: now + period,
            inbox,
            stash: Vec::new(),
            max_pending,
            failed_ids: HashSet::new(),
            // 1 µs to 1 hour, 2 significant digits (1% precision).
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid bounds"),
            next_publish: now,
            counts: SpoutCounts::default(),
        }
    }

    /// Trees in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether `max_spout_pending` trees are in flight: the spout is not
    /// asked for more.
    pub fn is_full(&self) -> bool {
        self.max_pending.is_some_and(|max| self.pending.len() >= max)
    }

    /// When the next timeout check is due.
    pub fn next_rotation(&self) -> Instant {
        self.next_rotation
    }

    /// Records the trees the spout started at `now`.
    pub fn started(&mut self, started: impl IntoIterator<Item = Started>, now: Instant) {
        for s in started {
            if self.failed_ids.remove(&s.msg_id) {
                self.counts.replayed += 1;
            }
            self.pending.insert(s.root, Pending { msg_id: s.msg_id, emitted: now });
            if !s.sent {
                // No consumer: the tree is done already (Storm acks at once).
                self.stash.push(Completion { root: s.root, outcome: Outcome::Acked });
            }
        }
    }

    /// Every decided tree at `now`: completions received from the ackers,
    /// then the trees that timed out. Completions of unknown roots (timed
    /// out already, or from before a restart) are ignored.
    pub fn take_done(&mut self, now: Instant) -> Vec<Done> {
        while let Ok(c) = self.inbox.try_recv() {
            self.stash.push(c);
        }
        let mut done = Vec::new();
        for c in std::mem::take(&mut self.stash) {
            let Some(p) = self.pending.remove(&c.root) else { continue };
            match c.outcome {
                Outcome::Acked => {
                    let us = now.saturating_duration_since(p.emitted).as_micros() as u64;
                    self.latency.saturating_record(us);
                    self.counts.acked += 1;
                    done.push(Done::Acked(p.msg_id));
                }
                Outcome::Failed => {
                    self.counts.failed += 1;
                    self.remember_failed(p.msg_id);
                    done.push(Done::Failed(p.msg_id));
                }
            }
        }
        while now >= self.next_rotation {
            self.next_rotation += self.period;
            let expired: Vec<Pending> = self.pending.rotate().map(|(_, p)| p).collect();
            for p in expired {
                self.counts.timed_out += 1;
                self.remember_failed(p.msg_id);
                done.push(Done::TimedOut(p.msg_id));
            }
        }
        done
    }

    fn remember_failed(&mut self, msg_id: MessageId) {
        // A spout that never replays must not grow this without bound.
        let cap = self.max_pending.unwrap_or(100_000).saturating_mul(4).max(1024);
        if self.failed_ids.len() < cap {
            self.failed_ids.insert(msg_id);
        }
    }

    /// Waits until an acker sends a completion (kept for `take_done`).
    ///
    /// # Cancel safety
    /// Cancel safe: a completion is only taken when this returns.
    pub async fn wait(&mut self) {
        match self.inbox.recv().await {
            Some(c) => self.stash.push(c),
            // The ackers are gone: the topology is stopping.
            None => std::future::pending().await,
        }
    }

    /// Whether the latency histogram is due to be published at `now`
    /// (every [`PUBLISH_EVERY`]: merging costs a pass over its buckets, too
    /// much for every call into the spout).
    pub fn latency_due(&mut self, now: Instant) -> bool {
        if now < self.next_publish {
            return false;
        }
        self.next_publish = now + PUBLISH_EVERY;
        true
    }

    /// Forgets every tree in flight: the spout was restarted, and the new
    /// instance does not know their message ids.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.stash.clear();
        self.failed_ids.clear();
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc::unbounded_channel;

    use super::*;

    fn started(root: u64, msg_id: MessageId) -> Started {
        Started { root, msg_id, sent: true }
    }

    #[test]
    fn acks_fails_and_timeouts_with_a_controlled_clock() {
        let (tx, rx) = unbounded_channel();
        let t0 = Instant::now();
        let timeout = Duration::from_secs(30);
        let mut tracker = SpoutTracker::new(rx, timeout, Some(3), t0);
        tracker.started([started(1, 100), started(2, 200), started(3, 300)], t0);
        assert!(tracker.is_full(), "3 in flight, bound 3");

        tx.send(Completion { root: 1, outcome: Outcome::Acked }).unwrap();
        tx.send(Completion { root: 2, outcome: Outcome::Failed }).unwrap();
        tx.send(Completion { root: 99, outcome: Outcome::Acked }).unwrap(); // unknown
        let done = tracker.take_done(t0 + Duration::from_millis(1500));
        assert_eq!(done, [Done::Acked(100), Done::Failed(200)]);
        assert_eq!(tracker.len(), 1);
        assert!(!tracker.is_full());
        let p50 = tracker.latency.value_at_quantile(0.5);
        assert!((1_485_000..=1_515_000).contains(&p50), "complete latency {p50} µs");

        // Root 3 times out between 30 s and 33 s after its emit.
        assert_eq!(tracker.take_done(t0 + Duration::from_secs(29)), []);
        assert_eq!(tracker.take_done(t0 + Duration::from_secs(34)), [Done::TimedOut(300)]);
        assert_eq!(tracker.counts, SpoutCounts { acked: 1, failed: 1, timed_out: 1, replayed: 0 });

        // An ack arriving after the timeout is ignored; a re-emit of a
        // failed message id counts as a replay.
        tx.send(Completion { root: 3, outcome: Outcome::Acked }).unwrap();
        assert_eq!(tracker.take_done(t0 + Duration::from_secs(35)), []);
        tracker.started([started(4, 300), started(5, 200), started(6, 600)], t0);
        assert_eq!(tracker.counts.replayed, 2);
    }

    #[test]
    fn a_tuple_with_no_consumer_is_acked_at_once() {
        let (_tx, rx) = unbounded_channel();
        let t0 = Instant::now();
        let mut tracker = SpoutTracker::new(rx, Duration::from_secs(1), None, t0);
        tracker.started([Started { root: 7, msg_id: 70, sent: false }], t0);
        assert!(!tracker.is_full(), "no bound");
        assert_eq!(tracker.take_done(t0), [Done::Acked(70)]);
        assert_eq!(tracker.len(), 0);
    }
}
