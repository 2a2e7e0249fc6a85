//! [`Publisher`]: reads the runtime's counters of a topology periodically
//! and hands them to the `metrics` facade. Nothing here runs per tuple: the
//! tasks keep counting into their atomics, and whatever exporter the
//! process installed (Prometheus, in `squall run --metrics` and on the
//! cluster) reads the facade.
//!
//! Families, each labelled `topology`, `component`, `task` (the global task
//! id) and, by the exporter, `worker`:
//!
//! | name | type | what |
//! |---|---|---|
//! | `squall_emitted_total` | counter | tuples emitted (before fan-out) |
//! | `squall_executed_total` | counter | tuples executed (bolts) |
//! | `squall_acked_total` | counter | with tracking: spout trees / bolt inputs acked |
//! | `squall_failed_total` | counter | with tracking: trees / inputs failed |
//! | `squall_replayed_total` | counter | with tracking: spout tuples emitted again |
//! | `squall_timed_out_total` | counter | with tracking: spout trees timed out |
//! | `squall_restarts_total` | counter | task restarts after a failure (`at_least_once`) |
//! | `squall_error_records_total` | counter | records sent to an error stream |
//! | `squall_backpressure_milliseconds_total` | counter | time blocked on full output channels |
//! | `squall_backpressure_ratio` | gauge | share of the last interval blocked so |
//! | `squall_input_queue_fill_ratio` | gauge | queued / capacity over the task's input channels (bolts) |
//! | `squall_input_queue_batches` | gauge | batches queued on them |
//! | `squall_watermark_milliseconds` | gauge | the task's event time (ms since the epoch), once it has one; the last one after its input ended |
//! | `squall_watermark_lag_seconds` | gauge | wall clock minus that |
//! | `squall_execute_latency_seconds` | histogram | time in the bolt per tuple, sampled batches |
//! | `squall_complete_latency_seconds` | histogram | spout emit to tree acked (tracking), sampled |
//!
//! and, labelled `topology` only, `squall_topology_restarts_total`
//! (restarts from the last checkpoint). Checkpoint families are recorded by
//! the coordinator itself (`runtime/checkpointing/coordinator.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use metrics::Label;

use crate::runtime::metrics::Metrics;
use crate::runtime::watermark::NO_WATERMARK;

/// At most this many samples of one histogram go to the facade per task and
/// call (an exporter stores each sample until its next upkeep): beyond,
/// the interval's distribution is scaled down to it, which keeps its
/// quantiles.
const MAX_SAMPLES: u64 = 1024;

/// What the previous call saw of one task.
#[derive(Default)]
struct Seen {
    complete: Option<Histogram<u64>>,
    execute: Option<Histogram<u64>>,
    backpressure_ns: u64,
}

/// Publishes a topology's counters through the `metrics` facade; call
/// [`Publisher::publish`] periodically (every second, or at each scrape).
pub struct Publisher {
    metrics: Arc<Metrics>,
    seen: HashMap<usize, Seen>,
    last: Option<Instant>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("topology", &self.metrics.topology).finish()
    }
}

impl Publisher {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        Publisher { metrics, seen: HashMap::new(), last: None }
    }

    /// The topology's name (its `topology` label).
    pub fn topology(&self) -> &str {
        &self.metrics.topology
    }

    /// Hands the current value of every counter of the tasks that run in
    /// this process to the facade, and what the latency histograms
    /// recorded since the last call.
    pub fn publish(&mut self) {
        let now = Instant::now();
        let interval_ns = self.last.map(|l| now.duration_since(l).as_nanos() as f64);
        self.last = Some(now);
        let wall_ms = crate::runtime::now_ms();
        let topology = self.metrics.topology.clone();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut task = 0;
        for c in &self.metrics.components {
            for t in &c.tasks {
                let id = task;
                task += 1;
                if !t.local.load(Ordering::Relaxed) {
                    continue;
                }
                let labels = vec![
                    Label::new("topology", topology.clone()),
                    Label::new("component", c.id.clone()),
                    Label::new("task", id.to_string()),
                ];
                let counter = |name: &'static str, value: u64| {
                    metrics::counter!(name, labels.clone()).absolute(value);
                };
                counter("squall_emitted_total", load(&t.emitted));
                counter("squall_restarts_total", load(&t.restarts));
                counter("squall_error_records_total", load(&t.error_records));
                if !c.spout {
                    counter("squall_executed_total", load(&t.executed));
                }
                counter("squall_acked_total", load(&t.acked));
                counter("squall_failed_total", load(&t.failed));
                if c.spout {
                    counter("squall_replayed_total", load(&t.replayed));
                    counter("squall_timed_out_total", load(&t.timed_out));
                }
                let gauge = |name: &'static str, value: f64| {
                    metrics::gauge!(name, labels.clone()).set(value);
                };
                let backpressure = load(&t.backpressure_ns);
                counter("squall_backpressure_milliseconds_total", backpressure / 1_000_000);
                let seen = self.seen.entry(id).or_default();
                if let Some(interval) = interval_ns.filter(|i| *i > 0.0) {
                    let blocked = backpressure.saturating_sub(seen.backpressure_ns) as f64;
                    gauge("squall_backpressure_ratio", (blocked / interval).min(1.0));
                }
                seen.backpressure_ns = backpressure;
                if !c.spout {
                    let (queued, capacity) = t.input_queue();
                    if capacity > 0 {
                        gauge("squall_input_queue_fill_ratio", queued as f64 / capacity as f64);
                        gauge("squall_input_queue_batches", queued as f64);
                    }
                }
                let w = t.watermark.load(Ordering::Relaxed);
                if w != NO_WATERMARK {
                    gauge("squall_watermark_milliseconds", w as f64);
                    gauge("squall_watermark_lag_seconds", (wall_ms - w) as f64 / 1e3);
                }
                if !c.spout {
                    let execute =
                        metrics::histogram!("squall_execute_latency_seconds", labels.clone());
                    publish_delta(&t.execute_latency, &mut seen.execute, 1e-9, &execute);
                } else {
                    let complete =
                        metrics::histogram!("squall_complete_latency_seconds", labels.clone());
                    publish_delta(&t.latency, &mut seen.complete, 1e-6, &complete);
                }
            }
        }
        metrics::counter!("squall_topology_restarts_total", "topology" => topology)
            .absolute(load(&self.metrics.topology_restarts));
    }
}

/// Records into `out` what `shared` (cumulative, in units of `scale`
/// seconds) gained since `seen`, scaled down to at most [`MAX_SAMPLES`]
/// samples; then `seen` is the current one.
fn publish_delta(
    shared: &std::sync::Mutex<Option<Histogram<u64>>>,
    seen: &mut Option<Histogram<u64>>,
    scale: f64,
    out: &metrics::Histogram,
) {
    let current = match shared.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        Some(h) => h.clone(),
        None => return,
    };
    let mut delta = current.clone();
    if let Some(before) = seen.as_ref() {
        if delta.subtract(before).is_err() {
            // Not cumulative after all (reset): take it whole.
            delta = current.clone();
        }
    }
    *seen = Some(current);
    let total = delta.len();
    if total == 0 {
        return;
    }
    let keep = MAX_SAMPLES.min(total) as f64 / total as f64;
    let mut carry = 0.0;
    for v in delta.iter_recorded() {
        carry += v.count_at_value() as f64 * keep;
        let n = carry.floor();
        carry -= n;
        if n >= 1.0 {
            out.record_many(v.value_iterated_to() as f64 * scale, n as usize);
        }
    }
}
