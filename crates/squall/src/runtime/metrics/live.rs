//! What the web UI shows of a running topology, read from the runtime's
//! own counters (Storm UI's executor table, Flink's dashboard): per task
//! its [`TaskSnapshot`] (counters, watermark), the complete and execute
//! latencies over the last seconds and the last errors; the checkpoint
//! history; the logical graph.
//!
//! [`LiveStats`] reads a [`MetricsHandle`] while the topology runs (in
//! `squall run --ui`, and in each cluster worker, which publishes what it
//! reads for nimbus). Nothing here is on the hot path: tasks write their
//! atomics as before, and an error when one happens.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::runtime::metrics::Metrics;
use crate::runtime::{MetricsHandle, TaskSnapshot};
use crate::topology::{ComponentKind, Grouping, Topology};

/// Errors kept per task.
pub const ERRORS_KEPT: usize = 5;
/// Checkpoints kept in the history.
pub const CHECKPOINTS_KEPT: usize = 50;
/// The latency quantiles cover the tuples acked in about this much time.
pub const LATENCY_WINDOW: Duration = Duration::from_secs(10);

/// Wall-clock time (ms since the Unix epoch).
pub(crate) fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An error of one task: a failure that restarted it or ended the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskError {
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
    /// The error, naming the component and task.
    pub message: String,
}

/// Quantiles of a latency (µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LatencyQuantiles {
    /// Values measured.
    pub count: u64,
    /// Median (µs).
    pub p50_us: u64,
    /// 99th percentile (µs).
    pub p99_us: u64,
    /// 99.9th percentile (µs).
    pub p999_us: u64,
    /// Largest (µs); 0 from workers older than this field.
    #[serde(default)]
    pub max_us: u64,
}

impl LatencyQuantiles {
    /// The quantiles of `h`, whose values are `unit_ns` nanoseconds each;
    /// `None` when it is empty.
    pub(crate) fn of(h: &Histogram<u64>, unit_ns: u64) -> Option<Self> {
        let us = |v: u64| v * unit_ns / 1000;
        (!h.is_empty()).then(|| LatencyQuantiles {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.5)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        })
    }

    /// The worst of `self` and `other` quantile by quantile, their counts
    /// summed: a component's latency from its tasks'.
    pub fn worst(self, other: Self) -> Self {
        LatencyQuantiles {
            count: self.count + other.count,
            p50_us: self.p50_us.max(other.p50_us),
            p99_us: self.p99_us.max(other.p99_us),
            p999_us: self.p999_us.max(other.p999_us),
            max_us: self.max_us.max(other.max_us),
        }
    }
}

/// One task at one moment, as the web UI shows it: its
/// [`TaskSnapshot`] (counters, watermark, latencies since the start), its
/// latencies over the last [`LATENCY_WINDOW`] and its last errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskStats {
    /// What the metrics report has of it.
    #[serde(flatten)]
    pub snapshot: TaskSnapshot,
    /// Spouts with tracking: complete latency of the trees acked in the
    /// last [`LATENCY_WINDOW`].
    pub recent_complete_latency: Option<LatencyQuantiles>,
    /// Bolts: execute latency of the batches sampled in the last
    /// [`LATENCY_WINDOW`].
    #[serde(default)]
    pub recent_execute_latency: Option<LatencyQuantiles>,
    /// Its last errors, newest last.
    #[serde(default)]
    pub errors: Vec<TaskError>,
}

impl TaskStats {
    /// A task with nothing counted yet.
    pub fn empty(component: &str, task: usize) -> Self {
        TaskStats {
            snapshot: TaskSnapshot { component: component.to_string(), task, ..Default::default() },
            recent_complete_latency: None,
            recent_execute_latency: None,
            errors: Vec::new(),
        }
    }
}

/// How a checkpoint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckpointStatus {
    /// Every task acknowledged and it was recorded.
    Completed,
    /// Aborted (a task declined, a timeout) or not recorded.
    Failed,
}

/// One checkpoint of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointRecord {
    /// Its id.
    pub id: u64,
    /// Completed or failed.
    pub status: CheckpointStatus,
    /// Whether it was a savepoint.
    pub savepoint: bool,
    /// When it ended (ms since the Unix epoch).
    pub at_ms: u64,
    /// From trigger to the last acknowledgement (ms); 0 when failed.
    pub duration_ms: u64,
    /// Size of its state (bytes).
    pub state_bytes: u64,
    /// Bytes written by this checkpoint (less with incremental snapshots).
    pub uploaded_bytes: u64,
    /// Keyed entries in its full snapshots (incremental snapshots are not
    /// counted: that would read the whole database); 0 when failed.
    #[serde(default)]
    pub keyed_entries: usize,
    /// The longest barrier alignment of its tasks (µs); 0 when failed.
    #[serde(default)]
    pub alignment_us: u64,
    /// Why it failed.
    pub reason: Option<String>,
}

impl CheckpointRecord {
    /// Checkpoint `id`, failed after `duration_ms` with `error`.
    pub(crate) fn failed(id: u64, savepoint: bool, duration_ms: u64, error: &Error) -> Self {
        CheckpointRecord {
            id,
            status: CheckpointStatus::Failed,
            savepoint,
            at_ms: epoch_ms(),
            duration_ms,
            state_bytes: 0,
            uploaded_bytes: 0,
            keyed_entries: 0,
            alignment_us: 0,
            reason: Some(error.to_string()),
        }
    }
}

/// A component of the logical graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphNode {
    /// Component id.
    pub id: String,
    /// `spout` or `bolt`.
    pub kind: String,
    /// Number of tasks.
    pub parallelism: usize,
}

/// An edge of the logical graph: a bolt's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphEdge {
    /// Producer.
    pub from: String,
    /// Consumer.
    pub to: String,
    /// The producer's stream.
    pub stream: String,
    /// The grouping's YAML name (`shuffle`, `fields`, ...).
    pub grouping: String,
    /// The key fields of a `fields` grouping.
    pub fields: Vec<String>,
}

/// The logical graph: components producers first, and their inputs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopologyGraph {
    /// Components, producers first.
    pub components: Vec<GraphNode>,
    /// Edges.
    pub edges: Vec<GraphEdge>,
}

impl TopologyGraph {
    /// The graph of `topology`.
    pub fn of(topology: &Topology) -> Self {
        let components = topology
            .components
            .iter()
            .map(|c| GraphNode {
                id: c.id.clone(),
                kind: match c.kind {
                    ComponentKind::Spout(_) => "spout".into(),
                    _ => "bolt".into(),
                },
                parallelism: c.parallelism,
            })
            .collect();
        let edges = topology
            .components
            .iter()
            .flat_map(|c| {
                c.inputs().iter().map(|i| GraphEdge {
                    from: i.component.clone(),
                    to: c.id.clone(),
                    stream: i.stream.clone(),
                    grouping: i.grouping.name().to_string(),
                    fields: match &i.grouping {
                        Grouping::Fields(f) => f.names().to_vec(),
                        _ => Vec::new(),
                    },
                })
            })
            .collect();
        TopologyGraph { components, edges }
    }
}

/// What one task keeps for the web UI besides its counters
/// (`TaskMetrics::live`).
#[derive(Debug, Default)]
pub(crate) struct TaskLive {
    /// Its last errors (a failure that restarted it or ended the
    /// topology), newest last, at most [`ERRORS_KEPT`].
    errors: Mutex<VecDeque<TaskError>>,
}

impl TaskLive {
    fn errors(&self) -> Vec<TaskError> {
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    /// Keeps `error` among the task's last errors (once: the same error
    /// seen again as the run ends is not kept twice).
    pub(crate) fn record_error(&self, error: &Error) {
        let message = error.to_string();
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if errors.back().is_some_and(|e| e.message == message) {
            return;
        }
        if errors.len() == ERRORS_KEPT {
            errors.pop_front();
        }
        errors.push_back(TaskError { at_ms: epoch_ms(), message });
    }
}

impl Metrics {
    /// Records the outcome of a checkpoint: in the history, the completed
    /// list and through the `metrics` facade ([`export`]).
    pub(crate) fn record_checkpoint(&self, record: CheckpointRecord) {
        export(&self.topology, &record);
        if record.status == CheckpointStatus::Completed {
            self.checkpoints.lock().unwrap_or_else(|e| e.into_inner()).push(record.clone());
        }
        let mut log = self.checkpoint_log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == CHECKPOINTS_KEPT {
            log.pop_front();
        }
        log.push_back(record);
    }
}

/// The error an executor ended with, kept by the task it names (or its
/// head) unless [`TaskLive::record_error`] already has it.
pub(crate) fn record_executor_error(nodes: &[crate::runtime::executor::Node], error: &Error) {
    let named = match error {
        Error::ComponentFailed { component, task, .. }
        | Error::ComponentPanicked { component, task, .. }
        | Error::TooManyRestarts { component, task, .. } => {
            nodes.iter().find(|n| &n.component == component && n.task == *task)
        }
        _ => None,
    };
    if let Some(node) = named.or(nodes.first()) {
        node.metrics.live.record_error(error);
    }
}

/// Reads a running topology's counters for the web UI; keeps what it needs
/// to give latencies over the last [`LATENCY_WINDOW`].
pub struct LiveStats {
    metrics: Arc<Metrics>,
    /// Per task, earlier copies of its cumulative complete-latency
    /// histogram (µs) and of its execute-latency one (ns).
    complete: Vec<VecDeque<(Instant, Histogram<u64>)>>,
    execute: Vec<VecDeque<(Instant, Histogram<u64>)>>,
}

impl std::fmt::Debug for LiveStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveStats").finish_non_exhaustive()
    }
}

impl LiveStats {
    /// A reader of `handle`'s counters.
    pub fn new(handle: &MetricsHandle) -> Self {
        LiveStats { metrics: handle.0.clone(), complete: Vec::new(), execute: Vec::new() }
    }

    /// Every task now, in global task id order.
    pub fn tasks(&mut self) -> Vec<TaskStats> {
        let now = Instant::now();
        let snapshots = self.metrics.task_snapshots();
        let tasks = self.metrics.components.iter().flat_map(|c| c.tasks.iter());
        let mut out = Vec::with_capacity(snapshots.len());
        for (i, (snapshot, t)) in snapshots.into_iter().zip(tasks).enumerate() {
            if self.complete.len() <= i {
                self.complete.push(VecDeque::new());
                self.execute.push(VecDeque::new());
            }
            type Kept = VecDeque<(Instant, Histogram<u64>)>;
            let recent = |h: &Mutex<Option<Histogram<u64>>>, kept: &mut Kept, unit_ns: u64| {
                let h = h.lock().unwrap_or_else(|e| e.into_inner());
                h.as_ref().and_then(|h| window(kept, h, now, unit_ns))
            };
            out.push(TaskStats {
                snapshot,
                recent_complete_latency: recent(&t.latency, &mut self.complete[i], 1000),
                recent_execute_latency: recent(&t.execute_latency, &mut self.execute[i], 1),
                errors: t.live.errors(),
            });
        }
        out
    }

    /// The checkpoint history, oldest first.
    pub fn checkpoints(&self) -> Vec<CheckpointRecord> {
        self.metrics
            .checkpoint_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// The quantiles of what `current` (cumulative) gained since the copy in
/// `kept` taken at least [`LATENCY_WINDOW`] ago (or the oldest copy);
/// keeps a copy of `current`.
fn window(
    kept: &mut VecDeque<(Instant, Histogram<u64>)>,
    current: &Histogram<u64>,
    now: Instant,
    unit_ns: u64,
) -> Option<LatencyQuantiles> {
    // Drop copies older than the newest one that is old enough.
    while kept.len() > 1 && now.duration_since(kept[1].0) >= LATENCY_WINDOW {
        kept.pop_front();
    }
    let recent = match kept.front() {
        Some((_, base)) if base.len() <= current.len() => {
            let mut delta = current.clone();
            delta.subtract(base).ok().map(|()| delta)
        }
        _ => Some(current.clone()),
    };
    if kept.back().is_none_or(|(at, _)| now.duration_since(*at) >= Duration::from_millis(500)) {
        kept.push_back((now, current.clone()));
    }
    recent.as_ref().and_then(|h| LatencyQuantiles::of(h, unit_ns))
}

/// Exports checkpoint `record` through the `metrics` facade, labelled
/// `topology`: the `squall_checkpoints_total{status}` counter (`completed`
/// or `failed`: aborted or not completed); for a completed one, the
/// `squall_checkpoint_duration_seconds` and
/// `squall_checkpoint_alignment_seconds` histograms (its longest task
/// alignment) and the `squall_checkpoint_last_*` gauges (id, duration,
/// alignment, size, uploaded bytes).
fn export(topology: &str, record: &CheckpointRecord) {
    let t = topology.to_string();
    let status = match record.status {
        CheckpointStatus::Completed => "completed",
        CheckpointStatus::Failed => "failed",
    };
    metrics::counter!("squall_checkpoints_total", "topology" => t.clone(), "status" => status)
        .increment(1);
    if record.status == CheckpointStatus::Failed {
        return;
    }
    let seconds = record.duration_ms as f64 / 1e3;
    metrics::histogram!("squall_checkpoint_duration_seconds", "topology" => t.clone())
        .record(seconds);
    let alignment = record.alignment_us as f64 / 1e6;
    metrics::histogram!("squall_checkpoint_alignment_seconds", "topology" => t.clone())
        .record(alignment);
    metrics::gauge!("squall_checkpoint_last_alignment_seconds", "topology" => t.clone())
        .set(alignment);
    metrics::gauge!("squall_checkpoint_last_id", "topology" => t.clone()).set(record.id as f64);
    metrics::gauge!("squall_checkpoint_last_duration_seconds", "topology" => t.clone())
        .set(seconds);
    metrics::gauge!("squall_checkpoint_last_size_bytes", "topology" => t.clone())
        .set(record.state_bytes as f64);
    metrics::gauge!("squall_checkpoint_last_uploaded_bytes", "topology" => t)
        .set(record.uploaded_bytes as f64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::{CountBolt, GeneratorSpout, SplitWordsBolt};
    use crate::{Fields, LocalCluster, TopologyBuilder};

    #[test]
    fn graph_and_tasks_of_a_word_count() {
        let mut builder = TopologyBuilder::new("live");
        builder.set_spout("lines", GeneratorSpout::sentences(10).with_limit(100), 2);
        builder.set_bolt("split", SplitWordsBolt::new("line"), 3).shuffle_grouping("lines");
        builder
            .set_bolt("count", CountBolt::new(Fields::new(["word"])), 2)
            .fields_grouping("split", Fields::new(["word"]));
        let topology = builder.build().unwrap();
        let graph = TopologyGraph::of(&topology);
        let ids: Vec<_> = graph.components.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["lines", "split", "count"]);
        assert_eq!(graph.components[0].kind, "spout");
        assert_eq!(graph.edges.len(), 2);
        assert_eq!(graph.edges[1].grouping, "fields");
        assert_eq!(graph.edges[1].fields, ["word"]);
        let running = LocalCluster::submit(topology).unwrap();
        let mut live = LiveStats::new(&running.metrics_handle());
        running.join().unwrap();
        let tasks = live.tasks();
        assert_eq!(tasks.len(), 7);
        assert_eq!(
            tasks
                .iter()
                .filter(|t| t.snapshot.component == "lines")
                .map(|t| t.snapshot.counters.emitted)
                .sum::<u64>(),
            100
        );
        let count: Vec<_> = tasks.iter().filter(|t| t.snapshot.component == "count").collect();
        assert!(count.iter().all(|t| t.recent_complete_latency.is_none()));
        let timed: u64 =
            count.iter().filter_map(|t| t.recent_execute_latency).map(|l| l.count).sum();
        let sampled: u64 =
            count.iter().filter_map(|t| t.snapshot.execute_latency).map(|l| l.count).sum();
        assert!(timed > 0, "no execute time sampled of the count bolt");
        assert_eq!(timed, sampled, "the run was shorter than the window: every sample is in it");
        assert!(tasks.iter().all(|t| t.errors.is_empty()));
    }

    #[test]
    fn a_failing_task_shows_its_error() {
        use crate::builtins::test_support::PanicAfter;
        let mut builder = TopologyBuilder::new("failing");
        builder.set_spout("lines", GeneratorSpout::sentences(0).with_limit(1000), 1);
        let bomb = PanicAfter { fields: Fields::new(["seq", "line"]), panic_at: Some(10), seen: 0 };
        builder.set_bolt("bad", bomb, 2).shuffle_grouping("lines");
        let running = LocalCluster::submit(builder.build().unwrap()).unwrap();
        let mut live = LiveStats::new(&running.metrics_handle());
        assert!(running.join().is_err());
        let tasks = live.tasks();
        let errors: Vec<_> = tasks.iter().filter(|t| !t.errors.is_empty()).collect();
        assert!(!errors.is_empty(), "{tasks:?}");
        for t in errors {
            assert_eq!(t.snapshot.component, "bad");
            let e = &t.errors[0];
            assert!(e.message.contains("boom on purpose") && e.message.contains("bad"), "{e:?}");
            assert!(e.at_ms > 0);
        }
    }

    #[test]
    fn errors_are_kept_once_and_at_most_five() {
        let t = TaskLive::default();
        for i in 0..8 {
            let e = Error::Other(format!("boom {i}"));
            t.record_error(&e);
            t.record_error(&e);
        }
        let errors = t.errors();
        assert_eq!(errors.len(), ERRORS_KEPT);
        assert_eq!(errors.last().unwrap().message, Error::Other("boom 7".into()).to_string());
    }

    #[test]
    fn latency_window_forgets_old_values() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2).unwrap();
        let mut kept = VecDeque::new();
        let t0 = Instant::now();
        h.record(1000).unwrap();
        assert_eq!(window(&mut kept, &h, t0, 1000).unwrap().count, 1);
        for _ in 0..10 {
            h.record(50).unwrap();
        }
        let later = t0 + LATENCY_WINDOW + Duration::from_secs(1);
        assert_eq!(
            window(&mut kept, &h, later, 1000).unwrap().count,
            10,
            "the first value is older than the window"
        );
        let much_later = later + LATENCY_WINDOW + Duration::from_secs(1);
        assert!(window(&mut kept, &h, much_later, 1000).is_none(), "nothing new in the window");
    }
}
