//! Per-task counters as the cluster publishes them: a [`MetricsHandle`]
//! that outlives the borrow of a running topology (another thread or task
//! reads it while the topology runs) and the [`TaskSnapshot`] of each task.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::runtime::metrics::Metrics;
use crate::runtime::{LatencyQuantiles, MetricsSnapshot};

/// The counts of a task, or their sums over tasks (a component's): what
/// the per-task rows, the per-component totals of the REST API and the web
/// UI's views share (flattened into each: one JSON shape). Fields after
/// `failed` were added with Prometheus metrics and read as their defaults
/// from older workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counters {
    /// Tuples emitted (records, before fan-out).
    pub emitted: u64,
    /// Tuples executed (records; 0 for spouts).
    pub executed: u64,
    /// Time blocked on full output channels (ms): backpressure.
    pub backpressure_ms: u64,
    /// With tracking: spout trees acked / bolt inputs acked.
    pub acked: u64,
    /// With tracking: spout trees failed / bolt inputs failed.
    pub failed: u64,
    /// With tracking, spouts: tuples emitted again after a fail or timeout.
    #[serde(default)]
    pub replayed: u64,
    /// With tracking, spouts: trees that timed out.
    #[serde(default)]
    pub timed_out: u64,
    /// Restarts of the task after a failure (`at_least_once`).
    #[serde(default)]
    pub restarts: u64,
    /// Records the task sent to an error stream.
    #[serde(default)]
    pub error_records: u64,
}

impl std::ops::AddAssign<&Counters> for Counters {
    fn add_assign(&mut self, o: &Counters) {
        self.emitted += o.emitted;
        self.executed += o.executed;
        self.backpressure_ms += o.backpressure_ms;
        self.acked += o.acked;
        self.failed += o.failed;
        self.replayed += o.replayed;
        self.timed_out += o.timed_out;
        self.restarts += o.restarts;
        self.error_records += o.error_records;
    }
}

impl<'a> std::iter::Sum<&'a Counters> for Counters {
    fn sum<I: Iterator<Item = &'a Counters>>(iter: I) -> Counters {
        iter.fold(Counters::default(), |mut sum, c| {
            sum += c;
            sum
        })
    }
}

/// The counters of one task at one moment (Storm UI's executor table), as
/// the REST API's per-task rows (`GET /api/v1/topologies/{name}/metrics`,
/// see docs/metrics.md) and the web UI's ([`crate::runtime::TaskStats`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskSnapshot {
    /// Component id.
    pub component: String,
    /// Global task id (tasks are numbered per component, producers first).
    pub task: usize,
    /// Its counts.
    #[serde(flatten)]
    pub counters: Counters,
    /// Batches queued on its input channels over their capacity, 0 to 1
    /// (bolts; 0 for spouts).
    #[serde(default)]
    pub input_queue_fill: f64,
    /// The task's event time (ms since the epoch), once it has one; stays
    /// at the last value after its input ended.
    #[serde(default)]
    pub watermark_ms: Option<i64>,
    /// Execute latency since the start (bolts, sampled batches).
    #[serde(default)]
    pub execute_latency: Option<LatencyQuantiles>,
    /// Complete latency since the start (spouts with tracking).
    #[serde(default)]
    pub complete_latency: Option<LatencyQuantiles>,
    /// Whether the task runs in the process that reported it (a cluster
    /// worker reports every task, others' at 0).
    #[serde(default)]
    pub local: bool,
    /// The worker running it (`{supervisor}-{slot}`; `local` in local
    /// mode), set by whoever gathers the reports.
    #[serde(default)]
    pub worker: Option<String>,
}

/// The quantiles of `h` (values of `unit_ns` ns each); `None` when empty.
fn latency(h: &Mutex<Option<Histogram<u64>>>, unit_ns: u64) -> Option<LatencyQuantiles> {
    LatencyQuantiles::of(h.lock().unwrap_or_else(|e| e.into_inner()).as_ref()?, unit_ns)
}

/// A shared view of a running topology's counters.
#[derive(Debug, Clone)]
pub struct MetricsHandle(pub(crate) Arc<Metrics>);

impl MetricsHandle {
    /// The keyed state of this process's tasks, for queries (as
    /// [`crate::RunningTopology::states`]).
    pub fn states(&self) -> crate::state::LiveStates {
        self.0.states.clone()
    }

    /// A [`Publisher`](crate::runtime::Publisher) of these counters
    /// through the `metrics` facade (for Prometheus).
    pub fn publisher(&self) -> crate::runtime::Publisher {
        crate::runtime::Publisher::new(self.0.clone())
    }

    /// The topology's name.
    pub fn topology(&self) -> &str {
        &self.0.topology
    }

    /// Totals per component (as [`crate::RunningTopology::metrics`]).
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.0.snapshot()
    }

    /// One entry per task, in global task id order.
    pub fn tasks(&self) -> Vec<TaskSnapshot> {
        self.0.task_snapshots()
    }
}

impl Metrics {
    /// One [`TaskSnapshot`] per task, in global task id order.
    pub(crate) fn task_snapshots(&self) -> Vec<TaskSnapshot> {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let mut task = 0;
        let mut out = Vec::new();
        for c in &self.components {
            for t in &c.tasks {
                let (queued, capacity) = t.input_queue();
                let watermark = t.watermark.load(Ordering::Relaxed);
                out.push(TaskSnapshot {
                    component: c.id.clone(),
                    task,
                    counters: Counters {
                        emitted: load(&t.emitted),
                        executed: load(&t.executed),
                        backpressure_ms: load(&t.backpressure_ns) / 1_000_000,
                        acked: load(&t.acked),
                        failed: load(&t.failed),
                        replayed: load(&t.replayed),
                        timed_out: load(&t.timed_out),
                        restarts: load(&t.restarts),
                        error_records: load(&t.error_records),
                    },
                    input_queue_fill: match capacity {
                        0 => 0.0,
                        c => queued as f64 / c as f64,
                    },
                    watermark_ms: (watermark != crate::runtime::NO_WATERMARK).then_some(watermark),
                    execute_latency: latency(&t.execute_latency, 1),
                    complete_latency: latency(&t.latency, 1000),
                    local: t.local.load(Ordering::Relaxed),
                    worker: None,
                });
                task += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::builtins::{CountBolt, GeneratorSpout, SplitWordsBolt};
    use crate::{Fields, LocalCluster, TopologyBuilder};

    #[test]
    fn task_counters_add_up_to_the_component_totals() {
        let mut builder = TopologyBuilder::new("per-task");
        builder.set_spout("lines", GeneratorSpout::sentences(10).with_limit(100), 2);
        builder.set_bolt("split", SplitWordsBolt::new("line"), 3).shuffle_grouping("lines");
        builder
            .set_bolt("count", CountBolt::new(Fields::new(["word"])), 2)
            .fields_grouping("split", Fields::new(["word"]));
        let running = LocalCluster::submit(builder.build().unwrap()).unwrap();
        let handle = running.metrics_handle();
        running.join().unwrap();
        let tasks = handle.tasks();
        assert_eq!(tasks.iter().map(|t| t.task).collect::<Vec<_>>(), (0..7).collect::<Vec<_>>());
        let totals = handle.snapshot();
        for c in &totals.components {
            let mine: Vec<_> = tasks.iter().filter(|t| t.component == c.id).collect();
            assert_eq!(mine.len(), c.tasks);
            let sum: super::Counters = mine.iter().map(|t| &t.counters).sum();
            assert_eq!(sum.emitted, c.emitted, "{}", c.id);
            assert_eq!(sum.executed, c.executed, "{}", c.id);
        }
        assert_eq!(
            tasks
                .iter()
                .filter(|t| t.component == "lines")
                .map(|t| t.counters.emitted)
                .sum::<u64>(),
            100,
            "with_limit is over all tasks"
        );
    }
}
