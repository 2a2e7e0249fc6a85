//! What the web UI shows of a running topology, read from the runtime's
//! own counters (Storm UI's executor table, Flink's dashboard): per task
//! the counters, the output watermark, the complete latency over the last
//! seconds and the last errors; the checkpoint history; the logical graph.
//!
//! [`LiveStats`] reads a [`MetricsHandle`] while the topology runs (in
//! `squall run --ui`, and in each cluster worker, which publishes what it
//! reads for nimbus). Nothing here is on the hot path: tasks write their
//! atomics as before, plus their watermark once per call and an error when
//! one happens.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::runtime::metrics::Metrics;
use crate::runtime::MetricsHandle;
use crate::topology::{ComponentKind, Grouping, Topology};

/// Errors kept per task.
pub const ERRORS_KEPT: usize = 5;
/// Checkpoints kept in the history.
pub const CHECKPOINTS_KEPT: usize = 50;
/// The latency quantiles cover the tuples acked in about this much time.
pub const LATENCY_WINDOW: Duration = Duration::from_secs(10);

fn epoch_ms() -> u64 {
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
    /// Largest (µs).
    pub max_us: u64,
}

impl LatencyQuantiles {
    fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| LatencyQuantiles {
            count: h.len(),
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        })
    }
}

/// One task at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskStats {
    /// Component id.
    pub component: String,
    /// Global task id.
    pub task: usize,
    /// Tuples emitted (before fan-out).
    pub emitted: u64,
    /// Tuples executed (bolts).
    pub executed: u64,
    /// With tracking: spout trees acked / bolt inputs acked.
    pub acked: u64,
    /// With tracking: spout trees failed / bolt inputs failed.
    pub failed: u64,
    /// With tracking, spouts: trees that timed out.
    pub timed_out: u64,
    /// With tracking, spouts: tuples emitted again.
    pub replayed: u64,
    /// Restarts after a failure.
    pub restarts: u64,
    /// Time blocked on full output channels (ms): backpressure.
    pub backpressure_ms: u64,
    /// The task's output watermark (event time, ms since the Unix epoch);
    /// `i64::MAX` once its input ended; absent without event time.
    pub watermark_ms: Option<i64>,
    /// Spouts with tracking: complete latency of the trees acked in the
    /// last [`LATENCY_WINDOW`].
    pub complete_latency: Option<LatencyQuantiles>,
    /// Its last errors, newest last.
    pub errors: Vec<TaskError>,
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
    /// Why it failed.
    pub reason: Option<String>,
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
    /// The task's output watermark (event time ms) as of its last call;
    /// 0 before it has one.
    watermark: AtomicI64,
    /// Its last errors (a failure that restarted it or ended the
    /// topology), newest last, at most [`ERRORS_KEPT`].
    errors: Mutex<VecDeque<TaskError>>,
}

impl TaskLive {
    /// Keeps the task's output watermark (`NO_WATERMARK` is not kept).
    pub(crate) fn set_watermark(&self, w: i64) {
        if w != crate::runtime::NO_WATERMARK {
            self.watermark.store(w, Ordering::Relaxed);
        }
    }

    fn watermark(&self) -> Option<i64> {
        let w = self.watermark.load(Ordering::Relaxed);
        (w != 0).then_some(w)
    }

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
    /// Adds a checkpoint to the history.
    pub(crate) fn record_checkpoint(&self, record: CheckpointRecord) {
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
    /// Per task, earlier copies of its cumulative latency histogram.
    history: Vec<VecDeque<(Instant, Histogram<u64>)>>,
}

impl std::fmt::Debug for LiveStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveStats").finish_non_exhaustive()
    }
}

impl LiveStats {
    /// A reader of `handle`'s counters.
    pub fn new(handle: &MetricsHandle) -> Self {
        LiveStats { metrics: handle.0.clone(), history: Vec::new() }
    }

    /// Every task now, in global task id order.
    pub fn tasks(&mut self) -> Vec<TaskStats> {
        let now = Instant::now();
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let mut out = Vec::new();
        let mut task = 0;
        for c in &self.metrics.components {
            for t in &c.tasks {
                if self.history.len() <= task {
                    self.history.push(VecDeque::new());
                }
                let latency = {
                    let h = t.latency.lock().unwrap_or_else(|e| e.into_inner());
                    h.as_ref().and_then(|h| window(&mut self.history[task], h, now))
                };
                out.push(TaskStats {
                    component: c.id.clone(),
                    task,
                    emitted: load(&t.emitted),
                    executed: load(&t.executed),
                    acked: load(&t.acked),
                    failed: load(&t.failed),
                    timed_out: load(&t.timed_out),
                    replayed: load(&t.replayed),
                    restarts: load(&t.restarts),
                    backpressure_ms: load(&t.backpressure_ns) / 1_000_000,
                    watermark_ms: t.live.watermark(),
                    complete_latency: latency,
                    errors: t.live.errors(),
                });
                task += 1;
            }
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
    recent.as_ref().and_then(LatencyQuantiles::of)
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
            tasks.iter().filter(|t| t.component == "lines").map(|t| t.emitted).sum::<u64>(),
            100
        );
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
            assert_eq!(t.component, "bad");
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
        assert_eq!(window(&mut kept, &h, t0).unwrap().count, 1);
        for _ in 0..10 {
            h.record(50).unwrap();
        }
        let later = t0 + LATENCY_WINDOW + Duration::from_secs(1);
        assert_eq!(
            window(&mut kept, &h, later).unwrap().count,
            10,
            "the first value is older than the window"
        );
        let much_later = later + LATENCY_WINDOW + Duration::from_secs(1);
        assert!(window(&mut kept, &h, much_later).is_none(), "nothing new in the window");
    }
}
