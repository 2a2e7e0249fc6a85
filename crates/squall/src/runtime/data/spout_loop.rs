//! The loop of an executor whose head is a spout, for every guarantee: it
//! polls the spout with `next_tuple`, runs the chain behind it, sends full
//! buffers and injects checkpoint barriers between calls and while the
//! spout waits.
//!
//! Without tracking, a spout's `emit_with_id` is acked right after its
//! `next_tuple` returns (Storm without ackers), and a failure fails the
//! attempt. With tracking (`at_least_once`) it polls the spout while fewer
//! than `max_spout_pending` of its trees are in flight, hands it
//! `ack`/`fail` for decided trees, times trees out, restarts it after a
//! failure, and ends once the spout has finished and every tree is decided.
//! Trees in flight at a barrier (Flink's `AT_LEAST_ONCE` checkpointing
//! mode) are the spout's to record in its snapshot (the built-in spouts'
//! `Replay` (`builtins/replay.rs`) does), so that a restore replays them.
//!
//! Deadlock freedom: the spout never waits on its acks while holding
//! unsent tuples (it flushes every buffer first), and acks reach it over an
//! unbounded channel that the ackers never block on, so a spout blocked on
//! a full downstream channel still gets its acks once it is unblocked.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::runtime::checkpointing::checkpoint_due;
use crate::runtime::collector::Flow;
use crate::runtime::event_time::sleep_until_opt;
use crate::runtime::executor::{guarded, Executor, Exit, Node, Op, IDLE_WAIT};
use crate::runtime::metrics::TaskMetrics;
use crate::runtime::spout_tracker::Done;
use crate::topology::SpoutStatus;

impl Executor {
    pub(crate) async fn run_spout(&mut self) -> Result<Exit> {
        let mut finished = false;
        let mut dirty_since = None;
        loop {
            if self.cancel.is_cancelled() || self.poll_checkpoint().await? == Flow::Stopped {
                return Ok(Exit::Stopped);
            }
            if self.deliver_done()? {
                finished = false; // the spout may replay what failed
            }
            let in_flight = self.spout_tracker.as_ref().map_or(0, |t| t.len());
            if finished && in_flight == 0 {
                return Ok(Exit::Finished);
            }
            if finished || self.spout_tracker.as_ref().is_some_and(|t| t.is_full()) {
                // Send everything so that the trees in flight can complete.
                dirty_since = None;
                let deadline = self.spout_tracker.as_ref().map(|t| t.next_rotation());
                if self.flush(false).await == Flow::Stopped
                    || self.wait(deadline).await? == Flow::Stopped
                {
                    return Ok(Exit::Stopped);
                }
                continue;
            }
            let status = self.next_tuple()?;
            if self.next_tick().is_some() {
                self.run_due_ticks()?;
            }
            if self.after_step(&mut dirty_since).await? == Flow::Stopped {
                return Ok(Exit::Stopped);
            }
            match status {
                SpoutStatus::Active => {}
                SpoutStatus::Finished => finished = true,
                SpoutStatus::Idle => {
                    if self.flush_before_idle(&mut dirty_since).await == Flow::Stopped
                        || self.wait(Some(Instant::now() + IDLE_WAIT)).await? == Flow::Stopped
                    {
                        return Ok(Exit::Stopped);
                    }
                }
            }
        }
    }

    /// Waits until `until`, a completion from the ackers, or a checkpoint
    /// barrier to inject (injected before it returns).
    async fn wait(&mut self, until: Option<Instant>) -> Result<Flow> {
        let acks = async {
            match self.spout_tracker.as_mut() {
                Some(tracker) => tracker.wait().await,
                None => std::future::pending().await,
            }
        };
        let barrier = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => return Ok(Flow::Stopped),
            _ = acks => None,
            _ = sleep_until_opt(until) => None,
            barrier = checkpoint_due(&mut self.checkpoint) => barrier,
        };
        match barrier {
            Some(b) => self.on_barrier(b, Duration::ZERO).await,
            None => Ok(Flow::Open),
        }
    }

    /// One `next_tuple` call. Untracked, acks what the spout emitted with
    /// ids; tracked, records the trees it started, and a failure restarts
    /// the spout (its trees in flight are forgotten).
    fn next_tuple(&mut self) -> Result<SpoutStatus> {
        let node = &mut self.nodes[0];
        let Node { component, task, op, collector, .. } = node;
        let Op::Spout(spout) = op else { unreachable!("a head without inputs is a spout") };
        let result = guarded(component, *task, || {
            let status = spout.next_tuple(collector)?;
            for id in std::mem::take(&mut collector.to_ack) {
                spout.ack(id);
            }
            Ok(status)
        });
        let Some(tracker) = self.spout_tracker.as_mut() else { return result };
        let started = node.collector.tracker.as_mut().expect("tracking").started.drain(..);
        tracker.started(started, Instant::now());
        result.or_else(|e| {
            node.recover(e)?;
            tracker.reset();
            Ok(SpoutStatus::Active)
        })
    }

    /// Tells the spout what became of its decided trees and publishes the
    /// counters. Returns whether the spout must be asked again even if it
    /// had finished: a tree failed or timed out, or the spout was restarted.
    fn deliver_done(&mut self) -> Result<bool> {
        let Some(tracker) = self.spout_tracker.as_mut() else { return Ok(false) };
        let now = Instant::now();
        let done = tracker.take_done(now);
        let node = &mut self.nodes[0];
        let counts = std::mem::take(&mut tracker.counts);
        let publish = |c: &AtomicU64, n| TaskMetrics::add(c, n);
        publish(&node.metrics.acked, counts.acked);
        publish(&node.metrics.failed, counts.failed);
        publish(&node.metrics.timed_out, counts.timed_out);
        publish(&node.metrics.replayed, counts.replayed);
        if tracker.latency_due(now) {
            node.metrics.merge_latency(&mut tracker.latency);
        }
        if done.is_empty() {
            return Ok(false);
        }
        let Node { component, task, op, .. } = node;
        let Op::Spout(spout) = op else { unreachable!("a tracked head is a spout") };
        let result = guarded(component, *task, || {
            for d in &done {
                match *d {
                    Done::Acked(id) => spout.ack(id),
                    Done::Failed(id) | Done::TimedOut(id) => spout.fail(id),
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            node.recover(e)?;
            tracker.reset();
            return Ok(true);
        }
        Ok(done.iter().any(|d| !matches!(d, Done::Acked(_))))
    }
}
