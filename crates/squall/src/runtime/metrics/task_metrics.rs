//! Per-task counters as the cluster publishes them: a [`MetricsHandle`]
//! that outlives the borrow of a running topology (another thread or task
//! reads it while the topology runs) and the [`TaskSnapshot`] of each task.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::runtime::metrics::Metrics;
use crate::runtime::MetricsSnapshot;

/// The counters of one task at one moment (Storm UI's executor table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSnapshot {
    /// Component id.
    pub component: String,
    /// Global task id (tasks are numbered per component, producers first).
    pub task: usize,
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

    /// Totals per component (as [`crate::RunningTopology::metrics`]).
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.0.snapshot()
    }

    /// One entry per task, in global task id order.
    pub fn tasks(&self) -> Vec<TaskSnapshot> {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let mut task = 0;
        let mut out = Vec::new();
        for c in &self.0.components {
            for t in &c.tasks {
                out.push(TaskSnapshot {
                    component: c.id.clone(),
                    task,
                    emitted: load(&t.emitted),
                    executed: load(&t.executed),
                    backpressure_ms: load(&t.backpressure_ns) / 1_000_000,
                    acked: load(&t.acked),
                    failed: load(&t.failed),
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
            assert_eq!(mine.iter().map(|t| t.emitted).sum::<u64>(), c.emitted, "{}", c.id);
            assert_eq!(mine.iter().map(|t| t.executed).sum::<u64>(), c.executed, "{}", c.id);
        }
        assert_eq!(
            tasks.iter().filter(|t| t.component == "lines").map(|t| t.emitted).sum::<u64>(),
            100,
            "with_limit is over all tasks"
        );
    }
}
