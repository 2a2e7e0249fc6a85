//! The answers of the web UI's JSON routes ([`crate::nimbus::ui_api`]): the cluster
//! overview, a topology's view, a component's tasks, the history of rates
//! and latencies, a worker's log, and the routes' query parameters. Shapes
//! only: [`crate::nimbus::ui_views`] computes them.

use serde::{Deserialize, Serialize};
use squall::runtime::{CheckpointRecord, Counters, LatencyQuantiles, TaskStats, TopologyGraph};
use utoipa::{IntoParams, ToSchema};

pub use crate::protocol::metrics_read::{ProcessStats, UserMetric};

/// `GET /api/v1/health`: answered without a token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// `leader`, `standby` (it redirects to the leader) or `local`
    /// (`squall run --ui`).
    pub role: String,
    /// The leading nimbus's URL, when known.
    pub leader: Option<String>,
}

/// A nimbus daemon in the election.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NimbusInfo {
    /// Its API URL.
    pub url: String,
    /// Whether it leads.
    pub leader: bool,
}

/// A live supervisor and the use of its slots.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SupervisorView {
    /// Its id.
    pub id: String,
    /// Worker slots it offers.
    pub slots: usize,
    /// Slots running a worker.
    pub used: usize,
    /// Slots free.
    pub free: usize,
    /// Whether it serves its workers' logs.
    pub serves_logs: bool,
}

/// One topology in the overview.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TopologySummary {
    /// Its name.
    pub name: String,
    /// `pending`, `assigned`, `running`, `finished`, `failed` or `killed`.
    pub state: String,
    /// Whether its spouts are switched on (deactivate/activate).
    pub active: bool,
    /// The assignment's epoch (raised at each move or restart).
    pub epoch: u64,
    /// Seconds since its current workers started.
    pub uptime_s: Option<u64>,
    /// Worker processes running it.
    pub workers: usize,
    /// Tasks over all components.
    pub tasks: usize,
    /// Worker restarts.
    pub restarts: u32,
    /// Why it failed, or what happened last.
    pub message: Option<String>,
    /// Tuples its spouts emitted.
    pub emitted: u64,
    /// Tuples its spouts emitted per second, lately.
    pub emitted_rate: f64,
}

/// `GET /api/v1/cluster`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClusterOverview {
    /// `cluster` (nimbus) or `local` (`squall run --ui`).
    pub mode: String,
    /// The server's clock (ms since the Unix epoch).
    pub now_ms: u64,
    /// Nimbus daemons, the leader first (none in local mode).
    pub nimbuses: Vec<NimbusInfo>,
    /// Live supervisors (none in local mode).
    pub supervisors: Vec<SupervisorView>,
    /// Topologies, by name.
    pub topologies: Vec<TopologySummary>,
}

/// A worker process of a topology.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkerInfo {
    /// `{supervisor}-{slot}` (`local` in local mode).
    pub id: String,
    /// Its supervisor.
    pub supervisor: Option<String>,
    /// Its slot.
    pub slot: Option<usize>,
    /// Its process id.
    pub pid: Option<u32>,
    /// The global task ids it runs.
    pub tasks: Vec<usize>,
    /// When it last reported (ms since the Unix epoch).
    pub at_ms: u64,
    /// Its process's resident memory and CPU time, when measured.
    #[serde(default)]
    pub process: Option<ProcessStats>,
}

/// One component with its totals and rates.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComponentView {
    /// Component id.
    pub id: String,
    /// `spout` or `bolt`.
    pub kind: String,
    /// Number of tasks.
    pub parallelism: usize,
    /// Its tasks' counts, summed.
    #[serde(flatten)]
    pub counters: Counters,
    /// Emitted per second.
    pub emitted_rate: f64,
    /// Executed per second.
    pub executed_rate: f64,
    /// Acked per second.
    pub acked_rate: f64,
    /// Failed per second.
    pub failed_rate: f64,
    /// Share of the last seconds its tasks spent blocked on full output
    /// channels (0 to 1, the average over tasks): backpressure.
    pub backpressure: f64,
    /// The fullest input queue of its tasks (0 to 1; bolts).
    pub input_queue_fill: f64,
    /// The lowest output watermark of its tasks (event time ms); absent
    /// without event time.
    pub watermark_ms: Option<i64>,
    /// How far that watermark is behind the wall clock (ms).
    pub watermark_lag_ms: Option<i64>,
    /// Complete latency (spouts with tracking) over the last seconds: the
    /// highest of its tasks' quantiles.
    pub complete_latency: Option<LatencyQuantiles>,
    /// Execute latency (bolts, sampled batches) over the last seconds: the
    /// highest of its tasks' quantiles.
    pub execute_latency: Option<LatencyQuantiles>,
    /// Its newest error.
    pub last_error: Option<ComponentError>,
}

/// An error of a task.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComponentError {
    /// Component id.
    pub component: String,
    /// Global task id.
    pub task: usize,
    /// The worker running the task.
    pub worker: Option<String>,
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
    /// The error.
    pub message: String,
}

/// `GET /api/v1/topologies/{name}/view`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TopologyView {
    /// Its name.
    pub name: String,
    /// Its state (as in [`TopologySummary`]).
    pub state: String,
    /// Whether its spouts are switched on.
    pub active: bool,
    /// Whether every worker has applied the switch.
    pub applied: bool,
    /// The assignment's epoch.
    pub epoch: u64,
    /// Seconds since its current workers started.
    pub uptime_s: Option<u64>,
    /// Why it failed, or what happened last.
    pub message: Option<String>,
    /// `at_most_once`, `at_least_once` or `exactly_once`.
    pub guarantee: String,
    /// Checkpoint interval (ms); 0 without checkpoints.
    pub checkpoint_interval_ms: u64,
    /// The server's clock (ms since the Unix epoch).
    pub now_ms: u64,
    /// The logical graph.
    pub graph: TopologyGraph,
    /// Per component, producers first.
    pub components: Vec<ComponentView>,
    /// Its workers.
    pub workers: Vec<WorkerInfo>,
    /// Checkpoints, newest first.
    pub checkpoints: Vec<CheckpointRecord>,
    /// The last errors of every task, newest first.
    pub errors: Vec<ComponentError>,
    /// The metrics its spouts and bolts registered, by component and task.
    pub user_metrics: Vec<UserMetric>,
}

/// One task with its counts and rates.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskRow {
    /// Its counters, watermark, latencies, errors and worker.
    #[serde(flatten)]
    pub stats: TaskStats,
    /// Emitted per second.
    pub emitted_rate: f64,
    /// Executed per second.
    pub executed_rate: f64,
    /// Share of the last seconds blocked on full output channels.
    pub backpressure: f64,
}

/// `GET /api/v1/topologies/{name}/components/{component}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComponentDetail {
    /// The topology.
    pub topology: String,
    /// The topology's state.
    pub state: String,
    /// The component's totals.
    pub component: ComponentView,
    /// Its inputs and outputs.
    pub edges: Vec<squall::runtime::GraphEdge>,
    /// One row per task.
    pub tasks: Vec<TaskRow>,
}

/// One component's series in [`History`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ComponentSeries {
    /// Component id.
    pub id: String,
    /// Emitted per second at each point.
    pub emitted: Vec<f64>,
    /// Executed per second.
    pub executed: Vec<f64>,
    /// Acked per second.
    pub acked: Vec<f64>,
    /// Failed per second.
    pub failed: Vec<f64>,
    /// Complete latency p50 (ms), when measured.
    pub latency_p50_ms: Vec<Option<f64>>,
    /// Complete latency p99 (ms), when measured.
    pub latency_p99_ms: Vec<Option<f64>>,
    /// Execute latency p50 (ms, bolts), when sampled.
    pub execute_p50_ms: Vec<Option<f64>>,
    /// Execute latency p99 (ms, bolts), when sampled.
    pub execute_p99_ms: Vec<Option<f64>>,
}

/// `GET /api/v1/topologies/{name}/history`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct History {
    /// The points' times (ms since the Unix epoch).
    pub t_ms: Vec<u64>,
    /// Per component.
    pub components: Vec<ComponentSeries>,
}

/// `GET /api/v1/topologies/{name}/workers/{worker}/log`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogTail {
    /// The topology.
    pub topology: String,
    /// The worker.
    pub worker: String,
    /// The log file, on the supervisor's host.
    pub path: String,
    /// Its last lines.
    pub text: String,
}

/// Query of the history route.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Seconds of history (default 300, at most 600).
    pub seconds: Option<u64>,
}

/// Query of the log route.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Lines from the end (default 200, at most 5000).
    pub lines: Option<usize>,
}
