//! Checkpoints of a topology spread over several cluster workers (Flink's
//! checkpoint coordinator in the JobManager, its tasks in TaskManagers).
//!
//! Every worker attaches its executors to a [`PartCheckpointing`]: the
//! events of its tasks (acknowledgements with their snapshot files,
//! refusals, finishes) come out of it, and barriers to inject at its spouts
//! and completed checkpoint ids go into it. One worker also runs the
//! [`ClusterCoordinator`], the same pure protocol and coordinator task as
//! local mode (`checkpoint::protocol`, `runtime/checkpointing/coordinator.rs`), fed with
//! every worker's events; the cluster crate carries events up and
//! barriers and completions down between processes ([`CheckpointEvent`] is
//! serializable for that). Snapshots go to the shared checkpoint storage
//! from the worker that took them; only their file handles travel.
//!
//! A [`Fence`] guards the two irreversible steps against a stale copy of
//! the topology (split brain): the coordinator records every completed
//! checkpoint, and the end of the run, through it, and completes neither
//! when it refuses ([`crate::runtime::CheckpointFence`]).

use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::checkpoint::protocol::Input;
use crate::checkpoint::{CheckpointBarrier, CheckpointStorage, TaskAck};
use crate::error::{Error, Result};
use crate::runtime::checkpointing::TaskCheckpointing;
use crate::runtime::coordinator::{CoordinatorTask, SavepointReply};
use crate::runtime::executor::{Executor, Op};
use crate::runtime::fence::Fence;
use crate::topology::Topology;

/// What a task tells the coordinator (an acknowledgement with its snapshot
/// file, a refusal, or that it finished), as it crosses a process boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckpointEvent(Input<TaskAck>);

/// The checkpoint ends of a set of executors: their events out, barriers
/// and completions in.
pub(crate) struct Attached {
    /// Barrier queues of the spout heads.
    pub triggers: Vec<mpsc::UnboundedSender<CheckpointBarrier>>,
    /// Events of every task.
    pub events: mpsc::UnboundedReceiver<Input<TaskAck>>,
    /// The latest completed checkpoint, as the tasks see it.
    pub completed: watch::Sender<u64>,
    /// Global ids of every task of the executors.
    pub tasks: Vec<usize>,
}

/// Links every executor of `executors` to one coordinator through new
/// channels: spout heads get a barrier queue, every executor the event
/// sender and the completion watch. Used by local mode and by cluster
/// workers alike.
pub(crate) fn attach(executors: &mut [Executor], storage: &Arc<CheckpointStorage>) -> Attached {
    let (events_tx, events) = mpsc::unbounded_channel();
    let (completed, completed_rx) = watch::channel(0);
    let mut triggers = Vec::new();
    let mut tasks = Vec::new();
    for executor in executors {
        tasks.extend(executor.nodes.iter().map(|n| n.task));
        let trigger = match executor.nodes[0].op {
            Op::Spout(_) => {
                let (tx, rx) = mpsc::unbounded_channel();
                triggers.push(tx);
                Some(rx)
            }
            Op::Bolt(_) => None,
        };
        executor.checkpoint = Some(TaskCheckpointing {
            trigger,
            events: events_tx.clone(),
            completed: completed_rx.clone(),
            storage: storage.clone(),
            writes: Vec::new(),
        });
    }
    Attached { triggers, events, completed, tasks }
}

/// One worker's side of the checkpoints, inward: barriers to inject and
/// completions to commit.
pub struct PartCheckpointing {
    triggers: Vec<mpsc::UnboundedSender<CheckpointBarrier>>,
    completed: watch::Sender<u64>,
}

impl PartCheckpointing {
    /// Injects `barrier` at every local spout head.
    pub fn trigger(&self, barrier: CheckpointBarrier) {
        for t in &self.triggers {
            let _ = t.send(barrier);
        }
    }

    /// Checkpoint `id` is complete ([`crate::checkpoint::END_OF_RUN`]: the
    /// run is over): every local task commits up to it. Call it only for an
    /// id the coordinator recorded through its [`Fence`].
    pub fn complete(&self, id: u64) {
        self.completed.send_replace(id);
    }
}

/// One worker's side of the checkpoints, outward: its tasks' events.
pub struct PartEvents(mpsc::UnboundedReceiver<Input<TaskAck>>);

impl PartEvents {
    /// The next event of a local task, for the coordinator; `None` once
    /// every local task has stopped.
    pub async fn next(&mut self) -> Option<CheckpointEvent> {
        self.0.recv().await.map(CheckpointEvent)
    }
}

/// The checkpoint ends of a worker's `executors` ([`attach`]), writing
/// to `storage`: barriers and completions in, events out.
pub(crate) fn link(
    executors: &mut [Executor],
    storage: &Arc<CheckpointStorage>,
) -> (PartCheckpointing, PartEvents) {
    let attached = attach(executors, storage);
    let link = PartCheckpointing { triggers: attached.triggers, completed: attached.completed };
    (link, PartEvents(attached.events))
}

/// The checkpoint coordinator of a topology spread over workers, fed with
/// every worker's [`CheckpointEvent`]s.
pub struct ClusterCoordinator {
    events: mpsc::UnboundedSender<Input<TaskAck>>,
    task: Option<CoordinatorTask>,
    /// Barriers to send to every worker.
    pub barriers: mpsc::UnboundedReceiver<CheckpointBarrier>,
    /// Completed checkpoint ids to send to every worker (recorded through
    /// the fence).
    pub completed: watch::Receiver<u64>,
    savepoints: mpsc::UnboundedSender<SavepointReply>,
}

/// Asks a [`ClusterCoordinator`] for savepoints (Flink's `savepoint`):
/// cloneable, usable from any task while the coordinator runs.
#[derive(Clone)]
pub struct SavepointTrigger(pub(crate) mpsc::UnboundedSender<SavepointReply>);

impl SavepointTrigger {
    /// Triggers a checkpoint now, waits for it to complete and copies it to
    /// a savepoint folder, where retention does not delete it; returns its
    /// location. `target` `None` puts it at
    /// `<checkpoint_dir>/<topology>/savepoints/sp-<id>/`; `Some(dir)` in a
    /// new folder `savepoint-<topology>-<id>/` inside `dir` (see
    /// [`crate::checkpoint::CheckpointStorage::save`]).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the checkpoint was aborted, a task had
    /// finished its input, the copy failed, or the coordinator stopped
    /// first.
    ///
    /// # Cancel safety
    /// Cancelling the wait leaves the savepoint to be taken, unread.
    pub async fn take(&self, target: Option<String>) -> Result<String> {
        let (ask, rx) = SavepointReply::new(target);
        let stopped = || Error::Checkpoint("the topology stopped before the savepoint".into());
        self.0.send(ask).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

impl ClusterCoordinator {
    /// A coordinator of every task of `topology`, writing to `storage`,
    /// with checkpoint ids from `first_id` on, its figures and the web
    /// UI's history in `metrics` (this worker's); it stops when `cancel`
    /// fires, and completes nothing that `fence` does not record (it then
    /// cancels `cancel`).
    pub fn new(
        topology: &Topology,
        storage: Arc<CheckpointStorage>,
        first_id: u64,
        cancel: CancellationToken,
        fence: Fence,
        metrics: &crate::runtime::MetricsHandle,
    ) -> Self {
        let total: usize = topology.component_ids().filter_map(|c| topology.parallelism(c)).sum();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (barriers_tx, barriers) = mpsc::unbounded_channel();
        let (completed_tx, completed) = watch::channel(0);
        let (savepoints_tx, savepoints) = mpsc::unbounded_channel();
        let attached = Attached {
            tasks: (0..total).collect(),
            events: events_rx,
            triggers: vec![barriers_tx],
            completed: completed_tx,
        };
        let metrics = metrics.0.clone();
        let task = CoordinatorTask {
            savepoints: Arc::new(tokio::sync::Mutex::new(savepoints)),
            fence: Some(fence),
            ..CoordinatorTask::new(topology, attached, first_id, storage, metrics, cancel)
        };
        ClusterCoordinator {
            events,
            task: Some(task),
            barriers,
            completed,
            savepoints: savepoints_tx,
        }
    }

    /// A handle that takes savepoints of this run.
    pub fn savepoints(&self) -> SavepointTrigger {
        SavepointTrigger(self.savepoints.clone())
    }

    /// Where workers' events go.
    pub fn events(&self) -> CoordinatorInbox {
        CoordinatorInbox(self.events.clone())
    }

    /// The coordinator's loop, to spawn: runs until the end of the run or
    /// cancellation.
    ///
    /// # Panics
    /// If called twice.
    pub fn run(&mut self) -> impl Future<Output = ()> + Send + 'static {
        let task = self.task.take().expect("the coordinator runs once");
        async move {
            // Failed checkpoints are not bounded across workers yet.
            let _ = task.run().await;
        }
    }
}

/// Hands events to a [`ClusterCoordinator`].
#[derive(Clone)]
pub struct CoordinatorInbox(mpsc::UnboundedSender<Input<TaskAck>>);

impl CoordinatorInbox {
    /// Delivers one worker's event; `false` once the coordinator stopped.
    pub fn send(&self, event: CheckpointEvent) -> bool {
        self.0.send(event.0).is_ok()
    }
}
