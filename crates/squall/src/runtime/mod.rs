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
//! Its folders are its subsystems: `data/` (the data path above),
//! `event_time/` (watermarks and ticks), `acking/` (Storm's acker and task
//! restarts), `checkpointing/` (barriers, the coordinator, snapshots,
//! fencing), `driver/` (the one job driver: restore, attempts, restarts, fencing;
//! local mode is its in-process host) and `metrics/`.
//!
//! What this module does not own: what a topology is ([`crate::topology`])
//! and what the built-in components do ([`crate::builtins`]).

mod acking;
mod checkpointing;
mod data;
mod driver;
mod event_time;
mod metrics;

// The subsystems' modules, by their own names across the crate.
pub(crate) use acking::{acker, part_ackers, restart, rotating_map, spout_tracker, tracking};
pub(crate) use checkpointing::{barrier, coordinator, fence, part_checkpoint};
pub(crate) use data::{collector, combiner, executor, inputs, message, part, partition, plan};
pub(crate) use driver::{local, restart_strategy};
pub(crate) use event_time::watermark;
pub(crate) use metrics::task_metrics;
pub(crate) use metrics::Metrics;

pub use collector::OutputCollector;
pub use driver::job::{run as drive_job, Attempt, AttemptEnd, AttemptHost, RestorePoint};
pub(crate) use event_time::now_ms;
pub use fence::{CheckpointFence, Fence, FenceFuture};
pub use local::{LocalCluster, RunSummary, RunningTopology};
pub use metrics::live::{
    CheckpointRecord, CheckpointStatus, GraphEdge, GraphNode, LatencyQuantiles, LiveStats,
    TaskError, TaskStats, TopologyGraph,
};
pub use metrics::publish::Publisher;
pub use metrics::user::{TaskMetricGroup, USER_PREFIX};
pub use metrics::{ComponentMetrics, MetricsSnapshot};
pub use part::{PartOptions, RemoteInput, RemoteMessage, RemoteOutput, TopologyPart};
pub use part_ackers::{AckerInbox, AckerOutbox, AckerTraffic, PartAckers};
pub use part_checkpoint::{
    CheckpointEvent, ClusterCoordinator, CoordinatorInbox, PartCheckpointing, PartEvents,
    SavepointTrigger,
};
pub use restart_strategy::{RestartRefused, RestartTracker};
pub use task_metrics::{Counters, MetricsHandle, TaskSnapshot};
pub use watermark::NO_WATERMARK;
