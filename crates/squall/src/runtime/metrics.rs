//! Per-task counters and the snapshots the CLI and tests read.
//!
//! Executors count locally and publish to these atomics once per call into
//! the component, so the hot path pays no shared write per tuple.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counters of one task.
#[derive(Debug, Default)]
pub(crate) struct TaskMetrics {
    /// Tuples emitted (before fan-out to several consumers).
    pub emitted: AtomicU64,
    /// Tuples executed (bolts only).
    pub executed: AtomicU64,
    /// Time spent blocked on full output channels (ns).
    pub backpressure_ns: AtomicU64,
}

impl TaskMetrics {
    pub fn add_emitted(&self, n: u64) {
        if n > 0 {
            self.emitted.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn add_executed(&self, n: u64) {
        if n > 0 {
            self.executed.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn add_backpressure(&self, d: Duration) {
        self.backpressure_ns.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// The counters of every task, grouped by component.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub components: Vec<ComponentEntry>,
}

#[derive(Debug)]
pub(crate) struct ComponentEntry {
    pub id: String,
    pub spout: bool,
    pub sink: bool,
    pub tasks: Vec<Arc<TaskMetrics>>,
}

impl Metrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        let components = self
            .components
            .iter()
            .map(|c| {
                let sum = |f: fn(&TaskMetrics) -> &AtomicU64| {
                    c.tasks.iter().map(|t| f(t).load(Ordering::Relaxed)).sum::<u64>()
                };
                ComponentMetrics {
                    id: c.id.clone(),
                    tasks: c.tasks.len(),
                    spout: c.spout,
                    sink: c.sink,
                    emitted: sum(|t| &t.emitted),
                    executed: sum(|t| &t.executed),
                    backpressure: Duration::from_nanos(sum(|t| &t.backpressure_ns)),
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
