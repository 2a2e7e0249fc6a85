//! [`TopologyContext`]: what a task knows about itself and its topology.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use crate::state::TaskState;
use crate::topology::TopologyConfig;

/// Facts shared by every task of a running topology.
#[derive(Debug)]
pub(crate) struct TopologyInfo {
    pub name: String,
    pub config: TopologyConfig,
    /// Global task ids of each component, a contiguous range.
    pub tasks: BTreeMap<String, Range<usize>>,
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
        TopologyContext { info, component, task_id, state }
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
