//! [`TopologyPart`]: the tasks of a topology that one cluster worker runs,
//! with the far ends of the channels that cross to other workers exposed as
//! [`RemoteOutput`]s and [`RemoteInput`]s. The cluster crate carries them
//! over TCP; a remote channel is a local bounded channel plus framing, so
//! backpressure and ordering are the local ones.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{Receiver, Sender};
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{CheckpointStorage, RestoredCheckpoint};
use crate::error::{Error, Result};
use crate::runtime::executor::Executor;
use crate::runtime::local::drive;
use crate::runtime::message::Message;
use crate::runtime::metrics::Metrics;
use crate::runtime::part_ackers::PartAckers;
use crate::runtime::part_checkpoint::{self, PartCheckpointing, PartEvents};
use crate::runtime::{plan, MetricsSnapshot};
use crate::topology::Topology;

/// One message of a channel (tuples, a watermark, a barrier, the end), as it
/// crosses a process boundary: serde-serializable, opaque otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RemoteMessage(Message);

impl RemoteMessage {
    /// Whether this is the channel's last message (its producer finished):
    /// a connection that closes before it lost its producer.
    pub fn is_end(&self) -> bool {
        matches!(self.0, Message::End)
    }
}

/// A channel from a local task to a task in another worker: read it and
/// send what comes to that worker.
pub struct RemoteOutput {
    /// Global task id of the local producer.
    pub producer: usize,
    /// Global task id of the remote consumer.
    pub consumer: usize,
    rx: Receiver<Message>,
}

impl RemoteOutput {
    /// The next message, waiting for one; `None` once the producer has
    /// stopped (after its end-of-stream message, or killed).
    pub async fn recv(&mut self) -> Option<RemoteMessage> {
        self.rx.recv().await.map(RemoteMessage)
    }
}

/// A channel from a task in another worker to a local task: feed it what
/// arrives from that worker.
pub struct RemoteInput {
    /// Global task id of the remote producer.
    pub producer: usize,
    /// Global task id of the local consumer.
    pub consumer: usize,
    tx: Sender<Message>,
}

impl RemoteInput {
    /// Delivers `message`, waiting while the consumer's channel is full
    /// (backpressure). Returns `false` if the consumer has stopped.
    pub async fn send(&self, message: RemoteMessage) -> bool {
        self.tx.send(message.0).await.is_ok()
    }
}

/// What a worker's part carries besides its data path. The topology's
/// guarantee says which planes are on: checkpoints with
/// `checkpoint_interval_ms` above 0, the ackers under `at_least_once`, both
/// at once in Flink's `AT_LEAST_ONCE` checkpointing mode.
#[derive(Default)]
pub struct PartOptions<'a> {
    /// Where the tasks write their snapshots: given exactly when the
    /// topology takes checkpoints.
    pub storage: Option<Arc<CheckpointStorage>>,
    /// The checkpoint every task starts from (the one the coordinator's
    /// worker chose); `None` for a fresh start.
    pub restored: Option<&'a RestoredCheckpoint>,
    /// Under `at_least_once`: this worker runs every acker task and sends
    /// verdicts for other workers' spouts out; otherwise its tasks' acker
    /// messages go out and verdicts for its spouts come in.
    pub runs_ackers: bool,
}

/// The executors of one worker's tasks and the remote ends of their
/// channels and planes, for the cluster crate to take and connect.
pub struct TopologyPart {
    pub(crate) executors: Vec<Executor>,
    cancel: CancellationToken,
    metrics: Arc<Metrics>,
    /// Channels from local tasks to remote ones.
    pub outputs: Vec<RemoteOutput>,
    /// Channels from remote tasks to local ones.
    pub inputs: Vec<RemoteInput>,
    /// Under `at_least_once`: this worker's side of the ackers.
    pub ackers: Option<PartAckers>,
    /// With checkpoints: barriers and completions in, the tasks' events out
    /// (to the [`crate::runtime::ClusterCoordinator`]).
    pub checkpoints: Option<(PartCheckpointing, PartEvents)>,
}

impl TopologyPart {
    /// The part of `topology` whose executors' first tasks satisfy `local`
    /// (global task ids, contiguous per component in topological order; a
    /// task chained to its producer runs wherever the producer's executor
    /// does), with the planes its guarantee needs (`options`).
    ///
    /// # Errors
    /// [`Error::Config`] for a topology that takes checkpoints without a
    /// `storage`, or a `storage` for one that does not; as
    /// [`crate::LocalCluster::submit`] for a component that cannot be made.
    pub fn build(
        topology: &Topology,
        local: impl Fn(usize) -> bool,
        options: PartOptions<'_>,
    ) -> Result<Self> {
        let config = topology.config();
        if config.checkpointing() != options.storage.is_some() {
            return Err(Error::Config(format!(
                "topology '{}': {} across cluster workers",
                topology.name(),
                match config.checkpointing() {
                    true => "checkpoints need a checkpoint storage",
                    false => "a checkpoint storage without checkpoints",
                }
            )));
        }
        let cancel = CancellationToken::new();
        let metrics = plan::metrics(topology);
        let (mut plan, remote) =
            plan::build_part(topology, &cancel, &metrics, options.restored, &local)?;
        let outputs = remote
            .outputs
            .into_iter()
            .map(|((producer, consumer), rx)| RemoteOutput { producer, consumer, rx })
            .collect();
        let inputs = remote
            .inputs
            .into_iter()
            .map(|((producer, consumer), tx)| RemoteInput { producer, consumer, tx })
            .collect();
        let checkpoints = options.storage.map(|s| part_checkpoint::link(&mut plan.executors, &s));
        let ackers = config.tracking().then(|| {
            PartAckers::new(
                plan.ackers,
                plan.acker_inboxes,
                plan.remote_spouts,
                options.runs_ackers,
            )
        });
        let executors = plan.executors;
        Ok(TopologyPart { executors, cancel, metrics, outputs, inputs, ackers, checkpoints })
    }

    /// Cancels every local task (as [`crate::RunningTopology::kill`]).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Current totals of this worker's tasks.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// A handle on this worker's counters, readable while it runs (tasks of
    /// other workers stay at 0).
    pub fn metrics_handle(&self) -> crate::runtime::MetricsHandle {
        crate::runtime::MetricsHandle(self.metrics.clone())
    }

    /// Runs the local executors on the current tokio runtime until they
    /// have all stopped. Take [`TopologyPart::outputs`] and
    /// [`TopologyPart::inputs`] first and connect them.
    ///
    /// # Errors
    /// The first error or panic of any local task.
    pub async fn run(self) -> Result<MetricsSnapshot> {
        drive(self.executors, self.cancel).await?;
        Ok(self.metrics.snapshot())
    }
}
