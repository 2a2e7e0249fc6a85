//! [`TopologyContext`]: what a task knows about itself and its topology.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use crate::runtime::{Metrics, TaskMetricGroup};
use crate::state::TaskState;
use crate::topology::TopologyConfig;

/// Facts shared by every task of a running topology.
#[derive(Debug)]
pub(crate) struct TopologyInfo {
    pub name: String,
    pub config: TopologyConfig,
    /// Global task ids of each component, a contiguous range.
    pub tasks: BTreeMap<String, Range<usize>>,
    /// The counters of every task (a task marks itself local and counts
    /// its error records through them).
    pub metrics: Arc<Metrics>,
}

/// Given to `open`/`prepare`: the task's identity and the topology's layout,
/// as Storm's `TopologyContext`.
#[derive(Debug, Clone)]
pub struct TopologyContext {
    info: Arc<TopologyInfo>,
    component: String,
    task_id: usize,
    state: TaskState,
}

impl TopologyContext {
    pub(crate) fn new(
        info: Arc<TopologyInfo>,
        component: String,
        task_id: usize,
        state: TaskState,
    ) -> Self {
        if let Some(t) = info.metrics.task(task_id) {
            t.local.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        TopologyContext { info, component, task_id, state }
    }

    /// This task's metrics group (Storm's metrics v2, Flink's metric
    /// groups): counters, gauges and histograms of the component's own,
    /// labelled `topology`, `component` and `task` (and `worker`, by the
    /// process's exporter), exported with the runtime's metrics. Register
    /// them in `open`/`prepare` and keep the handles: updating a handle is
    /// one atomic operation. Without an exporter installed (`squall run`
    /// without `--metrics`, tests) the handles do nothing.
    ///
    /// # Examples
    /// ```
    /// # use squall::topology::TopologyContext;
    /// fn prepare(context: &TopologyContext) {
    ///     let group = context.metrics();
    ///     let seen = group.counter("lines_seen");
    ///     seen.increment(1);
    ///     group.gauge("buffer_len").set(3.0);
    ///     group.histogram("line_length").record(42.0);
    /// }
    /// ```
    pub fn metrics(&self) -> TaskMetricGroup {
        TaskMetricGroup::new(
            &self.info.name,
            &self.component,
            self.task_id,
            self.info.metrics.task(self.task_id).cloned(),
        )
    }

    /// The task's keyed and operator state (see [`crate::state`]).
    pub(crate) fn task_state(&self) -> &TaskState {
        &self.state
    }

    /// The topology's name.
    pub fn topology_name(&self) -> &str {
        &self.info.name
    }

    /// This task's component id.
    pub fn component_id(&self) -> &str {
        &self.component
    }

    /// This task's global id (unique in the topology).
    pub fn task_id(&self) -> usize {
        self.task_id
    }

    /// This task's index among its component's tasks, `0..parallelism`.
    pub fn task_index(&self) -> usize {
        self.task_id - self.component_tasks(&self.component).start
    }

    /// Number of tasks of this task's component.
    pub fn parallelism(&self) -> usize {
        self.component_tasks(&self.component).len()
    }

    /// Global task ids of `component`; empty if there is no such component.
    pub fn component_tasks(&self, component: &str) -> Range<usize> {
        self.info.tasks.get(component).cloned().unwrap_or(0..0)
    }

    /// Every component of the topology with its global task ids, by
    /// component id.
    pub fn components(&self) -> impl Iterator<Item = (&str, Range<usize>)> {
        self.info.tasks.iter().map(|(c, tasks)| (c.as_str(), tasks.clone()))
    }

    /// The topology's configuration.
    pub fn config(&self) -> &TopologyConfig {
        &self.info.config
    }
}
