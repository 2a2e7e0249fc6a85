//! The spout executor's loop when tracking is on (`at_least_once`): polls
//! the spout while fewer than `max_spout_pending` of its trees are in
//! flight, hands it `ack`/`fail` for decided trees, times trees out, and
//! ends once the spout has finished and every tree is decided.
//!
//! With checkpoints (Flink's `AT_LEAST_ONCE` checkpointing mode), barriers
//! are injected between `next_tuple` calls and while the spout waits, as in
//! the untracked loop; trees in flight at a barrier are the spout's to
//! record in its snapshot (the built-in spouts' `Replay` (`builtins/replay.rs`)
//! does), so that a restore replays them.
//!
//! Deadlock freedom: the spout never waits on its acks while holding
//! unsent tuples (it flushes every buffer first), and acks reach it over an
//! unbounded channel that the ackers never block on, so a spout blocked on
//! a full downstream channel still gets its acks once it is unblocked.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use crate::checkpoint::CheckpointBarrier;
use crate::error::Result;
use crate::runtime::checkpointing::checkpoint_due;
use crate::runtime::collector::Flow;
use crate::runtime::executor::{guarded, Executor, Exit, Node, Op, IDLE_WAIT};
use crate::runtime::metrics::TaskMetrics;
use crate::runtime::spout_tracker::Done;
use crate::topology::SpoutStatus;

impl Executor {
    pub(crate) async fn run_tracked_spout(&mut self) -> Result<Exit> {
        let exit = self.run_tracked_spout_loop().await;
        // Publish the last latencies, whatever the exit.
        let tracker = self.spout_tracker.as_mut().expect("tracked spout");
        self.nodes[0].metrics.merge_latency(&mut tracker.latency);
        exit
    }

    async fn run_tracked_spout_loop(&mut self) -> Result<Exit> {
        let mut finished = false;
        let mut dirty_since = None;
        loop {
            if self.cancel.is_cancelled() {
                return Ok(Exit::Stopped);
            }
            if self.poll_checkpoint().await? == Flow::Stopped {
                return Ok(Exit::Stopped);
            }
            if self.deliver_done()? {
                finished = false; // the spout may replay what failed
            }
            let tracker = self.spout_tracker.as_ref().expect("tracked spout");
            if finished && tracker.len() == 0 {
                return Ok(Exit::Finished);
            }
            if finished || tracker.is_full() {
                let deadline = tracker.next_rotation();
                // Send everything so that the trees in flight can complete.
                if self.flush(false).await == Flow::Stopped {
                    return Ok(Exit::Stopped);
                }
                dirty_since = None;
                let tracker = self.spout_tracker.as_mut().expect("tracked spout");
                let barrier = tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => return Ok(Exit::Stopped),
                    _ = tracker.wait() => None,
                    _ = tokio::time::sleep_until(deadline.into()) => None,
                    barrier = checkpoint_due(&mut self.checkpoint) => barrier,
                };
                if self.inject(barrier).await? == Flow::Stopped {
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
                    if self.flush_before_idle(&mut dirty_since).await == Flow::Stopped {
                        return Ok(Exit::Stopped);
                    }
                    let tracker = self.spout_tracker.as_mut().expect("tracked spout");
                    let barrier = tokio::select! {
                        _ = self.cancel.cancelled() => return Ok(Exit::Stopped),
                        _ = tracker.wait() => None,
                        _ = tokio::time::sleep(IDLE_WAIT) => None,
                        barrier = checkpoint_due(&mut self.checkpoint) => barrier,
                    };
                    if self.inject(barrier).await? == Flow::Stopped {
                        return Ok(Exit::Stopped);
                    }
                }
            }
        }
    }

    /// Injects `barrier`, triggered while the spout waited.
    async fn inject(&mut self, barrier: Option<CheckpointBarrier>) -> Result<Flow> {
        match barrier {
            Some(b) => self.on_barrier(b, Duration::ZERO).await,
            None => Ok(Flow::Open),
        }
    }

    /// One `next_tuple` call; records the trees it started. A failure
    /// restarts the spout (its trees in flight are forgotten).
    fn next_tuple(&mut self) -> Result<SpoutStatus> {
        let Node { component, task, op, collector, .. } = &mut self.nodes[0];
        let Op::Spout(spout) = op else { unreachable!("a tracked head is a spout") };
        let result = guarded(component, *task, || spout.next_tuple(collector));
        let tracker = self.spout_tracker.as_mut().expect("tracked spout");
        let node = &mut self.nodes[0];
        let started = node.collector.tracker.as_mut().expect("tracking").started.drain(..);
        tracker.started(started, Instant::now());
        match result {
            Ok(status) => Ok(status),
            Err(e) => {
                node.recover(e)?;
                tracker.reset();
                Ok(SpoutStatus::Active)
            }
        }
    }

    /// Tells the spout what became of its decided trees and publishes the
    /// counters. Returns whether the spout must be asked again even if it
    /// had finished: a tree failed or timed out, or the spout was restarted.
    fn deliver_done(&mut self) -> Result<bool> {
        let tracker = self.spout_tracker.as_mut().expect("tracked spout");
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
