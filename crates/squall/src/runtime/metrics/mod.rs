//! Per-task counters and the snapshots the CLI and tests read.
//!
//! Executors count locally and publish to these atomics once per call into
//! the component, so the hot path pays no shared write per tuple. The
//! [`publish::Publisher`] reads them periodically and hands them to the
//! `metrics` facade (Prometheus, through the exporter the binaries install);
//! [`user::TaskMetricGroup`] is what components register their own metrics
//! with.

pub(crate) mod live;
pub(crate) mod publish;
pub(crate) mod task_metrics;
pub(crate) mod user;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::mpsc::{Sender, WeakSender};

use crate::runtime::message::Message;
use crate::runtime::watermark::NO_WATERMARK;

/// One batch in about this many executed tuples has its execute time
/// measured (a power of two: the test is a shift).
const EXECUTE_SAMPLE_SHIFT: u32 = 6;

/// Counters of one task.
#[derive(Debug)]
pub(crate) struct TaskMetrics {
    /// Tuples emitted (before fan-out to several consumers).
    pub emitted: AtomicU64,
    /// Tuples executed (bolts only).
    pub executed: AtomicU64,
    /// Time spent blocked on full output channels (ns).
    pub backpressure_ns: AtomicU64,
    /// Tracking only. Spouts: trees acked; bolts: inputs acked.
    pub acked: AtomicU64,
    /// Tracking only. Spouts: trees failed; bolts: inputs failed.
    pub failed: AtomicU64,
    /// Tracking only (spouts): trees that timed out.
    pub timed_out: AtomicU64,
    /// Tracking only (spouts): message ids emitted again after a fail.
    pub replayed: AtomicU64,
    /// Times the task was restarted after a failure (`at_least_once`).
    pub restarts: AtomicU64,
    /// Complete latency of acked trees (µs), spouts only; merged in once
    /// per call into the spout.
    pub latency: Mutex<Option<Histogram<u64>>>,
    /// Execute latency (ns per tuple) of sampled batches, bolts only: a
    /// batch's time in the bolt divided by its tuples, about one batch in
    /// 2^[`EXECUTE_SAMPLE_SHIFT`] tuples.
    pub execute_latency: Mutex<Option<Histogram<u64>>>,
    /// The task's current event time (ms): the input watermark of a bolt,
    /// the watermark a spout last sent; [`NO_WATERMARK`] before the first.
    pub watermark: AtomicI64,
    /// Records the task sent to an error stream (bad input it did not fail
    /// on), counted by the component through its context.
    pub error_records: AtomicU64,
    /// Whether the task runs in this process (a cluster worker builds only
    /// its part of the topology).
    pub local: AtomicBool,
    /// The task's input channels, to read their fill without holding them
    /// open.
    pub inputs: Mutex<Vec<WeakSender<Message>>>,
    /// What the web UI reads besides the counters: the output watermark,
    /// the last errors ([`live`]).
    pub live: live::TaskLive,
}

impl Default for TaskMetrics {
    fn default() -> Self {
        TaskMetrics {
            emitted: AtomicU64::new(0),
            executed: AtomicU64::new(0),
            backpressure_ns: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            latency: Mutex::new(None),
            execute_latency: Mutex::new(None),
            watermark: AtomicI64::new(NO_WATERMARK),
            error_records: AtomicU64::new(0),
            local: AtomicBool::new(false),
            inputs: Mutex::new(Vec::new()),
            live: Default::default(),
        }
    }
}

impl TaskMetrics {
    pub fn add_emitted(&self, n: u64) {
        if n > 0 {
            self.emitted.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counts `n` executed tuples; whether this batch is one whose execute
    /// time is to be measured ([`TaskMetrics::record_execute`]).
    pub fn add_executed(&self, n: u64) -> bool {
        if n == 0 {
            return false;
        }
        let before = self.executed.fetch_add(n, Ordering::Relaxed);
        (before >> EXECUTE_SAMPLE_SHIFT) != ((before + n) >> EXECUTE_SAMPLE_SHIFT)
    }

    /// Records a sampled batch of `n` tuples that took `took` in the bolt.
    pub fn record_execute(&self, took: Duration, n: u64) {
        let per_tuple = (took.as_nanos() as u64 / n.max(1)).max(1);
        let mut h = self.execute_latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = h.get_or_insert_with(|| Histogram::new(2).expect("2 significant figures"));
        let _ = h.record(per_tuple);
    }

    /// Sets the task's current event time (only forward). The end of input
    /// (`i64::MAX`) is left out: the last event time stays.
    pub fn set_watermark(&self, w: i64) {
        if w != i64::MAX {
            self.watermark.fetch_max(w, Ordering::Relaxed);
        }
    }

    /// Queued messages and capacity over the task's open input channels.
    pub fn input_queue(&self) -> (usize, usize) {
        let mut inputs = self.inputs.lock().unwrap_or_else(|e| e.into_inner());
        let (mut queued, mut capacity) = (0, 0);
        inputs.retain(|weak| match weak.upgrade() {
            Some(tx) => {
                queued += tx.max_capacity() - tx.capacity();
                capacity += tx.max_capacity();
                true
            }
            None => false,
        });
        (queued, capacity)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Adds `h` to the task's complete-latency histogram and empties `h`.
    pub fn merge_latency(&self, h: &mut Histogram<u64>) {
        if h.is_empty() {
            return;
        }
        let mut shared = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        match shared.as_mut() {
            Some(s) => {
                let _ = s.add(&*h);
            }
            None => *shared = Some(h.clone()),
        }
        h.reset();
    }

    pub fn add_backpressure(&self, d: Duration) {
        self.backpressure_ns.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// The counters of every task, grouped by component.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// The topology's name (the `topology` label).
    pub topology: String,
    pub components: Vec<ComponentEntry>,
    /// Restarts of the whole topology from its last checkpoint (Flink's
    /// full restarts; per-task restarts are each task's `restarts`).
    pub topology_restarts: AtomicU64,
    /// The checkpoints completed in local mode, oldest first.
    pub checkpoints: Mutex<Vec<live::CheckpointRecord>>,
    /// Every local task's state, for queries (not a metric, but as
    /// long-lived and as shared).
    pub states: crate::state::LiveStates,
    /// Completed and failed checkpoints, newest last (the web UI's history,
    /// [`live`]), at most [`live::CHECKPOINTS_KEPT`].
    pub checkpoint_log: Mutex<std::collections::VecDeque<live::CheckpointRecord>>,
}

#[derive(Debug)]
pub(crate) struct ComponentEntry {
    pub id: String,
    pub spout: bool,
    pub sink: bool,
    pub tasks: Vec<Arc<TaskMetrics>>,
}

impl Metrics {
    /// The counters of global task `task` (tasks are numbered per
    /// component, in order).
    pub fn task(&self, mut task: usize) -> Option<&Arc<TaskMetrics>> {
        for c in &self.components {
            if task < c.tasks.len() {
                return Some(&c.tasks[task]);
            }
            task -= c.tasks.len();
        }
        None
    }

    /// Registers `tx` as an input channel of global task `task`, for its
    /// queue fill.
    pub fn add_input(&self, task: usize, tx: &Sender<Message>) {
        if let Some(t) = self.task(task) {
            t.inputs.lock().unwrap_or_else(|e| e.into_inner()).push(tx.downgrade());
        }
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let components = self
            .components
            .iter()
            .map(|c| {
                let sum = |f: fn(&TaskMetrics) -> &AtomicU64| {
                    c.tasks.iter().map(|t| f(t).load(Ordering::Relaxed)).sum::<u64>()
                };
                let mut latency: Option<Histogram<u64>> = None;
                for t in &c.tasks {
                    let h = t.latency.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(h) = h.as_ref() {
                        match latency.as_mut() {
                            Some(l) => {
                                let _ = l.add(h);
                            }
                            None => latency = Some(h.clone()),
                        }
                    }
                }
                let quantile = |q: f64| {
                    latency.as_ref().map(|h| Duration::from_micros(h.value_at_quantile(q)))
                };
                ComponentMetrics {
                    id: c.id.clone(),
                    tasks: c.tasks.len(),
                    spout: c.spout,
                    sink: c.sink,
                    emitted: sum(|t| &t.emitted),
                    executed: sum(|t| &t.executed),
                    backpressure: Duration::from_nanos(sum(|t| &t.backpressure_ns)),
                    acked: sum(|t| &t.acked),
                    failed: sum(|t| &t.failed),
                    timed_out: sum(|t| &t.timed_out),
                    replayed: sum(|t| &t.replayed),
                    restarts: sum(|t| &t.restarts),
                    complete_latency_p50: quantile(0.5),
                    complete_latency_p99: quantile(0.99),
                }
            })
            .collect();
        MetricsSnapshot { components }
    }
}

/// Totals of one component at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentMetrics {
    /// Component id.
    pub id: String,
    /// Number of tasks.
    pub tasks: usize,
    /// Whether it is a spout.
    pub spout: bool,
    /// Whether no bolt consumes it.
    pub sink: bool,
    /// Tuples emitted by its tasks (records).
    pub emitted: u64,
    /// Tuples executed by its tasks (records; 0 for spouts).
    pub executed: u64,
    /// Time its tasks spent blocked on full output channels, summed.
    pub backpressure: Duration,
    /// With tracking (`at_least_once`): for a spout, tuple trees fully
    /// processed; for a bolt, inputs acked. 0 without tracking.
    pub acked: u64,
    /// With tracking: for a spout, trees failed by a bolt; for a bolt,
    /// inputs it failed.
    pub failed: u64,
    /// With tracking, spouts only: trees not complete within
    /// `message_timeout_ms` (failed to the spout too).
    pub timed_out: u64,
    /// With tracking, spouts only: message ids emitted again after a fail
    /// or a timeout.
    pub replayed: u64,
    /// Restarts of its tasks after a panic or error (`at_least_once`).
    pub restarts: u64,
    /// Spouts with tracking: median time from a spout tuple's emit to its
    /// tree being acked (Storm's complete latency); `None` if none was.
    pub complete_latency_p50: Option<Duration>,
    /// Spouts with tracking: 99th percentile of the complete latency.
    pub complete_latency_p99: Option<Duration>,
}

/// Totals of every component at one moment, producers first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsSnapshot {
    /// One entry per component.
    pub components: Vec<ComponentMetrics>,
}

impl MetricsSnapshot {
    /// The entry of `id`.
    pub fn component(&self, id: &str) -> Option<&ComponentMetrics> {
        self.components.iter().find(|c| c.id == id)
    }

    /// Tuples emitted by all spouts: what entered the topology.
    pub fn spout_emitted(&self) -> u64 {
        self.components.iter().filter(|c| c.spout).map(|c| c.emitted).sum()
    }

    /// Tuples executed by all sinks: what left the topology.
    pub fn sink_executed(&self) -> u64 {
        self.components.iter().filter(|c| c.sink && !c.spout).map(|c| c.executed).sum()
    }
}
