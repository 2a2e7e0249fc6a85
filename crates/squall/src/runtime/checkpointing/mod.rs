//! The task side of checkpoints: what an executor does on a trigger (spout
//! heads), on an aligned barrier (bolt heads), on a completed checkpoint,
//! and at the end of the run.
//!
//! On barrier n, for every task of the executor, in chain order: the
//! component's `snapshot_state` hook (a spout records its offset, a sink
//! pre-commits), then a copy of its keyed and operator state (the
//! synchronous part). Then all buffered tuples are sent and barrier n
//! follows them on every output channel. The copies are encoded and
//! written by a separate tokio task (the asynchronous part), which then
//! acknowledges to the coordinator: processing goes on meanwhile. A RocksDB
//! backend's keyed state is snapshotted incrementally
//! (`runtime/checkpointing/task_snapshot.rs`).

pub(crate) mod barrier;
pub(crate) mod coordinator;
pub(crate) mod fence;
pub(crate) mod part_checkpoint;
pub(crate) mod task_snapshot;

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::checkpoint::protocol::Input;
use crate::checkpoint::{CheckpointBarrier, CheckpointStorage, TaskAck, END_OF_RUN};
use crate::error::Result;
use crate::runtime::collector::Flow;
use crate::runtime::executor::{guarded, Executor, Op};
use crate::runtime::message::Message;

/// An executor's link to the checkpoint coordinator.
pub(crate) struct TaskCheckpointing {
    /// Barriers to inject (spout heads only).
    pub trigger: Option<mpsc::UnboundedReceiver<CheckpointBarrier>>,
    /// Acknowledgements, refusals and finishes, to the coordinator.
    pub events: mpsc::UnboundedSender<Input<TaskAck>>,
    /// The latest completed checkpoint ([`END_OF_RUN`] when the run ends).
    pub completed: watch::Receiver<u64>,
    pub storage: Arc<CheckpointStorage>,
    /// Snapshot writes still running.
    pub writes: Vec<JoinHandle<()>>,
}

/// The id of the next completed checkpoint; pending forever without
/// checkpoints.
///
/// # Cancel safety
/// Cancel safe (`watch::Receiver::changed` is).
pub(crate) async fn completed(checkpoint: &mut Option<TaskCheckpointing>) -> u64 {
    let Some(c) = checkpoint else { return pending().await };
    if c.completed.changed().await.is_err() {
        return pending().await; // the coordinator stopped: the run is ending
    }
    *c.completed.borrow_and_update()
}

/// A spout head waiting (on acks, or idle): returns a barrier once one is
/// triggered, or `None` once a checkpoint completes (left for
/// [`Executor::poll_checkpoint`]); pending forever without checkpoints.
///
/// # Cancel safety
/// Cancel safe (`recv` and `changed` are).
pub(crate) async fn checkpoint_due(
    checkpoint: &mut Option<TaskCheckpointing>,
) -> Option<CheckpointBarrier> {
    let Some(c) = checkpoint else { return pending().await };
    let (completed, trigger) = (&mut c.completed, &mut c.trigger);
    let triggered = async {
        match trigger {
            Some(t) => t.recv().await,
            None => pending().await,
        }
    };
    tokio::select! {
        changed = completed.changed() => {
            if changed.is_err() {
                return pending().await; // the coordinator stopped: the run is ending
            }
            completed.mark_changed(); // seen again by `poll_checkpoint`
            None
        }
        Some(barrier) = triggered => Some(barrier),
    }
}

impl Executor {
    /// Spout heads, between two `next_tuple` calls: injects a triggered
    /// barrier, and passes on completed checkpoints.
    pub(crate) async fn poll_checkpoint(&mut self) -> Result<Flow> {
        let Some(c) = self.checkpoint.as_mut() else { return Ok(Flow::Open) };
        let done =
            c.completed.has_changed().unwrap_or(false).then(|| *c.completed.borrow_and_update());
        let barrier = c.trigger.as_mut().and_then(|t| t.try_recv().ok());
        if let Some(id) = done {
            self.notify_complete(id)?;
        }
        match barrier {
            Some(b) => self.on_barrier(b, Duration::ZERO).await,
            None => Ok(Flow::Open),
        }
    }

    /// Barrier `barrier` is here (triggered at a spout, or aligned on every
    /// input of a bolt, which took `alignment`): snapshot every task, pass
    /// the barrier on, and write the snapshots asynchronously; each task's
    /// acknowledgement carries the alignment.
    pub(crate) async fn on_barrier(
        &mut self,
        barrier: CheckpointBarrier,
        alignment: Duration,
    ) -> Result<Flow> {
        let Some(c) = self.checkpoint.as_mut() else {
            return Ok(Flow::Open); // checkpoints off: nothing injects barriers
        };
        c.writes.retain(|w| !w.is_finished());
        let (events, storage) = (c.events.clone(), c.storage.clone());
        let mut snapshots = Vec::with_capacity(self.nodes.len());
        for node in &mut self.nodes {
            let (component, task) = (node.component.as_str(), node.task);
            guarded(component, task, || match &mut node.op {
                Op::Spout(s) => s.snapshot_state(barrier.id),
                Op::Bolt(b) => b.snapshot_state(barrier.id),
            })?;
            let (index, parallelism) = (node.context.task_index(), node.context.parallelism());
            let incremental = node.context.config().incremental_checkpoints;
            let snap = guarded(component, task, || {
                task_snapshot::take(&node.state, component, index, parallelism, incremental)
            })?;
            snapshots.push((task, snap));
        }
        if self.flush(false).await == Flow::Stopped {
            return Ok(Flow::Stopped);
        }
        let mut waited = Duration::ZERO;
        for node in &mut self.nodes {
            let msg = Message::Barrier(barrier);
            if node.collector.broadcast(msg, &self.cancel, &mut waited).await == Flow::Stopped {
                return Ok(Flow::Stopped);
            }
        }
        let id = barrier.id;
        let guard = storage.write_guard().await;
        let write = tokio::spawn(async move {
            let _writing = guard;
            for (task, snap) in snapshots {
                let input = match snap.write(&storage, id).await {
                    Ok(mut ack) => {
                        ack.alignment_us = alignment.as_micros() as u64;
                        Input::Ack { id, task, ack }
                    }
                    Err(e) => Input::Decline { id, task, reason: e.to_string() },
                };
                if events.send(input).is_err() {
                    return; // the run is over
                }
            }
        });
        if let Some(c) = self.checkpoint.as_mut() {
            c.writes.push(write);
        }
        Ok(Flow::Open)
    }

    /// Checkpoint `id` completed: every task commits.
    pub(crate) fn notify_complete(&mut self, id: u64) -> Result<()> {
        if id == END_OF_RUN {
            return Ok(()); // handled by `end_of_run`, after `finish`
        }
        self.complete_all(id)
    }

    fn complete_all(&mut self, id: u64) -> Result<()> {
        for node in &mut self.nodes {
            task_snapshot::completed(&node.state, id);
            guarded(&node.component, node.task, || match &mut node.op {
                Op::Spout(s) => s.on_checkpoint_complete(id),
                Op::Bolt(b) => b.on_checkpoint_complete(id),
            })?;
        }
        Ok(())
    }

    /// After `finish`: tells the coordinator, waits until every task of the
    /// topology has finished (so that no failure can replay what this task
    /// saw), then lets every task commit everything with [`END_OF_RUN`].
    /// Without checkpoints, commits at once.
    pub(crate) async fn end_of_run(&mut self) -> Result<super::executor::Exit> {
        use super::executor::Exit;
        if let Some(c) = self.checkpoint.as_mut() {
            // Acknowledgements before the finish, and no write in flight
            // once every task has finished (the coordinator then cleans up).
            for write in c.writes.drain(..) {
                let _ = write.await;
            }
            let tasks = self.nodes.iter().map(|n| n.task).collect();
            let _ = c.events.send(Input::Finished { tasks });
            loop {
                if *c.completed.borrow_and_update() == END_OF_RUN {
                    break;
                }
                tokio::select! {
                    changed = c.completed.changed() => if changed.is_err() {
                        return Ok(Exit::Stopped);
                    },
                    _ = self.cancel.cancelled() => return Ok(Exit::Stopped),
                }
            }
        }
        self.complete_all(END_OF_RUN)?;
        Ok(Exit::Finished)
    }
}
