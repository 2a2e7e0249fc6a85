//! The local runtime: logical graph to physical graph, executors on tokio,
//! bounded channels, output buffers and partitioners.
//!
//! A record's way through this module is one straight line:
//! spout ([`executor`]) -> [`OutputCollector`] buffer -> partitioner
//! ([`partition`]) -> bounded channel ([`message`]) -> [`inputs`] of the
//! consuming executor -> bolt -> sink. Edges that are chained skip the
//! channel: the collector hands the tuple to the next operator of the same
//! executor.
//!
//! What this module does not own: what a topology is ([`crate::topology`])
//! and what the built-in components do ([`crate::builtins`]).

mod acker;
mod barrier;
mod checkpointing;
mod collector;
mod coordinator;
mod event_time;
mod executor;
mod fence;
mod inputs;
mod local;
mod message;
mod metrics;
mod part;
mod part_ackers;
mod part_checkpoint;
mod partition;
mod plan;
mod recovery;
mod restart;
mod restart_strategy;
mod rotating_map;
mod spout_loop;
mod spout_tracker;
mod task_metrics;
mod task_snapshot;
mod tracking;
mod watermark;

pub use collector::OutputCollector;
pub use coordinator::CheckpointStats;
pub(crate) use event_time::now_ms;
pub use fence::{CheckpointFence, Fence, FenceFuture};
pub use local::{LocalCluster, RunSummary, RunningTopology};
pub use metrics::{ComponentMetrics, MetricsSnapshot};
pub use part::{RemoteInput, RemoteMessage, RemoteOutput, TopologyPart};
pub use part_ackers::{AckerInbox, AckerOutbox, AckerTraffic, PartAckers};
pub use part_checkpoint::{
    CheckpointEvent, ClusterCoordinator, CoordinatorInbox, PartCheckpointing, PartEvents,
    SavepointTrigger,
};
pub use restart_strategy::RestartTracker;
pub use task_metrics::{MetricsHandle, TaskSnapshot};
pub use watermark::NO_WATERMARK;
