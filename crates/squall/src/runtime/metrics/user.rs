//! [`TaskMetricGroup`]: the metrics a component registers itself, through
//! [`crate::topology::TopologyContext::metrics`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Label};

use crate::runtime::metrics::TaskMetrics;

/// Prefix of the names of metrics registered by components, so that they
/// cannot collide with the runtime's `squall_*` families.
pub const USER_PREFIX: &str = "squall_user_";

/// A task's metrics: every metric registered here is named
/// `squall_user_<name>` and labelled `topology`, `component` and `task` (and
/// whatever [`TaskMetricGroup::with_label`] added); the exporter adds
/// `worker`. Handles are cheap to keep and to update (an atomic operation);
/// registering looks the metric up, so do it once, in `open`/`prepare`.
#[derive(Debug, Clone)]
pub struct TaskMetricGroup {
    labels: Vec<Label>,
    task: Option<Arc<TaskMetrics>>,
}

impl TaskMetricGroup {
    pub(crate) fn new(
        topology: &str,
        component: &str,
        task: usize,
        metrics: Option<Arc<TaskMetrics>>,
    ) -> Self {
        let labels = vec![
            Label::new("topology", topology.to_string()),
            Label::new("component", component.to_string()),
            Label::new("task", task.to_string()),
        ];
        TaskMetricGroup { labels, task: metrics }
    }

    /// The same group with one more label on every metric registered
    /// through it (Flink's `addGroup(key, value)`).
    #[must_use]
    pub fn with_label(mut self, key: &str, value: &str) -> Self {
        self.labels.push(Label::new(key.to_string(), value.to_string()));
        self
    }

    /// The labels every metric of this group carries.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().map(|l| (l.key(), l.value()))
    }

    fn name(name: &str) -> String {
        format!("{USER_PREFIX}{name}")
    }

    /// A monotonic counter (`increment`, `absolute`), exported as
    /// `squall_user_<name>` (give counters a `_total` suffix, as Prometheus
    /// does).
    pub fn counter(&self, name: &str) -> Counter {
        metrics::counter!(Self::name(name), self.labels.clone())
    }

    /// A gauge (`set`, `increment`, `decrement`).
    pub fn gauge(&self, name: &str) -> Gauge {
        metrics::gauge!(Self::name(name), self.labels.clone())
    }

    /// A histogram (`record`), in the unit of your choice (put it in the
    /// name: `_seconds`, `_bytes`): exported as a Prometheus summary
    /// (quantiles 0, 0.5, 0.9, 0.95, 0.99, 0.999 and 1 over a sliding
    /// window, `_sum` and `_count`), as Storm's and Flink's reporters
    /// export theirs; names ending in `latency_seconds` get the runtime's
    /// latency buckets instead (a Prometheus histogram).
    pub fn histogram(&self, name: &str) -> Histogram {
        metrics::histogram!(Self::name(name), self.labels.clone())
    }

    /// Counts `n` records this task sent to an error stream instead of
    /// failing on them (a bad CSV line, a record a window could not place):
    /// exported by the runtime as `squall_error_records_total`, and in the
    /// REST API's per-task `error_records`.
    pub fn add_error_records(&self, n: u64) {
        if let Some(t) = &self.task {
            t.error_records.fetch_add(n, Ordering::Relaxed);
        }
    }
}
