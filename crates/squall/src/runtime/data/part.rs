//! [`TopologyPart`]: the tasks of a topology that one cluster worker runs,
//! with the far ends of the channels that cross to other workers exposed as
//! [`RemoteOutput`]s and [`RemoteInput`]s. The cluster crate carries them
//! over TCP; a remote channel is a local bounded channel plus framing, so
//! backpressure and ordering are the local ones.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{Receiver, Sender};
use tokio_util::sync::CancellationToken;

use crate::checkpoint::RestoredCheckpoint;
use crate::error::{Error, Result};
use crate::runtime::executor::Executor;
use crate::runtime::local::drive;
use crate::runtime::message::Message;
use crate::runtime::metrics::Metrics;
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

/// The executors of one worker's tasks and the remote ends of their channels.
pub struct TopologyPart {
    pub(crate) executors: Vec<Executor>,
    cancel: CancellationToken,
    metrics: Arc<Metrics>,
    /// Channels from local tasks to remote ones.
    pub outputs: Vec<RemoteOutput>,
    /// Channels from remote tasks to local ones.
    pub inputs: Vec<RemoteInput>,
    /// Acker tasks, their inboxes, and the inboxes of remote spout tasks
    /// (tracking only; see [`TopologyPart::build_tracked`]).
    pub(crate) tracking: crate::runtime::part_ackers::AckerPlan,
}

impl TopologyPart {
    /// The part of `topology` whose executors' first tasks satisfy `local`
    /// (global task ids, contiguous per component in topological order; a
    /// task chained to its producer runs wherever the producer's executor
    /// does).
    ///
    /// # Errors
    /// [`Error::Config`] for a topology that takes checkpoints (use
    /// [`TopologyPart::build_checkpointed`]) or tracks tuples with ackers
    /// (use [`TopologyPart::build_tracked`]); as
    /// [`crate::LocalCluster::submit`] for a component that cannot be made.
    pub fn build(topology: &Topology, local: impl Fn(usize) -> bool) -> Result<Self> {
        let config = topology.config();
        if config.checkpointing() || config.tracking() {
            return Err(Error::Config(format!(
                "topology '{}': {} across cluster workers",
                topology.name(),
                match config.tracking() {
                    true => "ackers need TopologyPart::build_tracked",
                    false => "checkpoints need TopologyPart::build_checkpointed",
                }
            )));
        }
        Self::assemble(topology, &local, None)
    }

    /// The executors and remote ends of the part, with state from
    /// `restored`; no check of the guarantee.
    pub(crate) fn assemble(
        topology: &Topology,
        local: &dyn Fn(usize) -> bool,
        restored: Option<&RestoredCheckpoint>,
    ) -> Result<Self> {
        let cancel = CancellationToken::new();
        let metrics = plan::metrics(topology);
        let (plan, remote) = plan::build_part(topology, &cancel, &metrics, restored, local)?;
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
        let tracking = (plan.ackers, plan.acker_inboxes, plan.remote_spouts);
        Ok(TopologyPart { executors: plan.executors, cancel, metrics, outputs, inputs, tracking })
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
