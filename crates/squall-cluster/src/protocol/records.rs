//! The records of a topology's controls in etcd, which nimbus writes and
//! workers read (and the reports workers write back). Nimbus's operations
//! on them are [`crate::nimbus::control`]'s; a worker's side is
//! [`crate::worker::worker_control`]'s.
//!
//! Keys, under the namespace `NS` (see [`crate::protocol::store`] for the others):
//!
//! | key | value | written by |
//! |---|---|---|
//! | `NS/activation/{topology}` | [`ActivationRecord`] (absent = active) | nimbus |
//! | `NS/rescale/{topology}` | [`Rescale`]: parallelisms and savepoint to start from | nimbus, worker (clears the savepoint once checkpointed past it) |
//! | `NS/metrics/{topology}/{supervisor}-{slot}` | [`WorkerReport`] | worker, when changed, at most every [`REPORT_WRITTEN_EVERY`] |

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use squall::runtime::{
    CheckpointRecord, CheckpointStats, Counters, MetricsHandle, TaskSnapshot, TaskStats,
    TopologyGraph,
};

use crate::protocol::metrics_read::{ProcessStats, UserMetric};
use crate::protocol::store::{Assignment, Store, TopologyRecord, TopologyStatus};
use crate::Result;

/// How often a worker publishes its [`WorkerReport`] and looks at its
/// switch and requests.
pub const REPORT_EVERY: Duration = Duration::from_millis(250);

/// How often a worker writes its [`WorkerReport`] at most, and only when
/// it changed ([`crate::protocol::throttle`]): every write is a revision etcd keeps
/// until compacted.
pub const REPORT_WRITTEN_EVERY: Duration = Duration::from_secs(1);

/// The reports this process wrote.
pub(crate) static REPORTS: crate::protocol::throttle::Throttle =
    crate::protocol::throttle::Throttle::new(REPORT_WRITTEN_EVERY, &["at_ms"]);

/// Whether a topology's spouts run, and when it is to be killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ActivationRecord {
    /// Whether spouts are polled.
    pub active: bool,
    /// `kill --wait`: kill the topology at this time (ms since the Unix
    /// epoch).
    pub kill_at_ms: Option<u64>,
}

/// How a worker changes the submitted topology before running it: the
/// parallelisms of past rebalances, and the savepoint of the last one (until
/// a checkpoint is taken after it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rescale {
    /// Parallelism per component.
    pub parallelism: BTreeMap<String, usize>,
    /// Savepoint to restore on start.
    pub restore_from: Option<String>,
}

/// What one worker publishes about its tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    /// The assignment's epoch.
    pub epoch: u64,
    /// `{supervisor}-{slot}`.
    pub worker: String,
    /// Whether its spouts are polled (the switch as this worker applied it).
    pub active: bool,
    /// When it was written (ms since the Unix epoch).
    pub at_ms: u64,
    /// Counters of its tasks (tasks of other workers are 0, not `local`).
    pub tasks: Vec<TaskSnapshot>,
    /// The checkpoints its coordinator completed, the last
    /// [`CHECKPOINTS_KEPT`] (empty on workers without the coordinator).
    #[serde(default)]
    pub checkpoints: Vec<CheckpointStats>,
    /// Where it serves Prometheus's `/metrics` (`host:port`).
    #[serde(default)]
    pub metrics_addr: Option<String>,
}

/// Completed checkpoints a report carries, newest last.
pub const CHECKPOINTS_KEPT: usize = 20;

/// Where a worker finds the checkpoints its coordinator completed.
pub type Checkpoints = Arc<Mutex<Vec<CheckpointStats>>>;

impl WorkerReport {
    /// The report of worker `worker` at `epoch` on the counters of
    /// `handle`, its `checkpoints`, served on `metrics_addr`.
    pub fn of(
        worker: &str,
        epoch: u64,
        active: bool,
        handle: &MetricsHandle,
        checkpoints: &Checkpoints,
        metrics_addr: Option<std::net::SocketAddr>,
    ) -> WorkerReport {
        let checkpoints = checkpoints.lock().unwrap_or_else(|p| p.into_inner());
        let first = checkpoints.len().saturating_sub(CHECKPOINTS_KEPT);
        WorkerReport {
            epoch,
            worker: worker.to_string(),
            active,
            at_ms: now_ms(),
            tasks: handle.tasks(),
            checkpoints: checkpoints[first..].to_vec(),
            metrics_addr: metrics_addr.map(|a| a.to_string()),
        }
    }
}

/// Totals of one component over every worker and task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ComponentTotals {
    /// Component id.
    pub component: String,
    /// Its tasks.
    pub tasks: usize,
    /// Its tasks' counts, summed.
    #[serde(flatten)]
    pub counters: Counters,
}

/// `GET /api/v1/topologies/{name}/metrics`: the latest reports of the
/// current epoch's workers, summed per task and per component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopologyMetrics {
    /// The topology's status.
    pub status: TopologyStatus,
    /// The switch nimbus set (deactivate/activate).
    pub active: bool,
    /// Whether every reporting worker has applied the switch.
    pub applied: bool,
    /// Workers that reported at the current epoch.
    pub workers: Vec<String>,
    /// Per component, producers first.
    pub components: Vec<ComponentTotals>,
    /// Per task, by global task id.
    #[schema(value_type = Vec<Object>)]
    pub tasks: Vec<TaskSnapshot>,
    /// Completed checkpoints, oldest first (the last [`CHECKPOINTS_KEPT`]).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub checkpoints: Vec<CheckpointStats>,
    /// The workers' Prometheus endpoints (`host:port`, `GET /metrics`).
    #[serde(default)]
    pub metrics_addrs: Vec<String>,
}

impl TopologyMetrics {
    /// The reports of one epoch's workers, merged: each task as the worker
    /// that runs it reported it (summed over the reports of workers that
    /// predate `local`), totals per component, the checkpoints.
    pub fn of(status: TopologyStatus, active: bool, reports: Vec<WorkerReport>) -> Self {
        let mut tasks: BTreeMap<usize, TaskSnapshot> = BTreeMap::new();
        let mut owned: BTreeMap<usize, TaskSnapshot> = BTreeMap::new();
        for r in &reports {
            for t in &r.tasks {
                if t.local {
                    let worker = Some(r.worker.clone());
                    owned.insert(t.task, TaskSnapshot { worker, ..t.clone() });
                    continue;
                }
                let sum = tasks.entry(t.task).or_insert_with(|| TaskSnapshot {
                    component: t.component.clone(),
                    task: t.task,
                    ..TaskSnapshot::default()
                });
                sum.counters += &t.counters;
            }
        }
        tasks.extend(owned);
        let mut components: Vec<ComponentTotals> = Vec::new();
        for t in tasks.values() {
            if components.last().is_none_or(|c| c.component != t.component) {
                components
                    .push(ComponentTotals { component: t.component.clone(), ..Default::default() });
            }
            let c = components.last_mut().expect("just pushed");
            c.tasks += 1;
            c.counters += &t.counters;
        }
        let mut checkpoints: Vec<CheckpointStats> =
            reports.iter().flat_map(|r| r.checkpoints.iter().cloned()).collect();
        checkpoints.sort_by_key(|c| c.id);
        checkpoints.dedup_by_key(|c| c.id);
        TopologyMetrics {
            status,
            active,
            applied: !reports.is_empty() && reports.iter().all(|r| r.active == active),
            workers: reports.iter().map(|r| r.worker.clone()).collect(),
            components,
            tasks: tasks.into_values().collect(),
            checkpoints,
            metrics_addrs: reports.iter().filter_map(|r| r.metrics_addr.clone()).collect(),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The switch of `name` (active when never set).
///
/// # Errors
/// [`crate::Error::Etcd`] or [`crate::Error::Record`].
pub async fn activation(store: &Store, name: &str) -> Result<ActivationRecord> {
    Ok(store
        .get(&format!("activation/{name}"))
        .await?
        .unwrap_or(ActivationRecord { active: true, kill_at_ms: None }))
}

/// The submitted topology of `record`, with `rescale`'s parallelisms.
///
/// # Errors
/// [`squall::Error::Config`] for a binary's topology; the loader's or
/// [`squall::Topology::with_parallelism`]'s error.
pub fn build(record: &TopologyRecord, rescale: &Rescale) -> squall::Result<squall::Topology> {
    if record.binary.is_some() {
        return Err(squall::Error::config(format!(
            "topology '{}' is a binary: nimbus cannot rebuild it to rescale it",
            record.name
        )));
    }
    let mut topology = squall::yaml::parse(&record.yaml, &record.overrides)?.topology;
    for (component, &n) in &rescale.parallelism {
        topology = topology.with_parallelism(component, n)?;
    }
    Ok(topology)
}

/// The key a worker's report goes under.
pub fn report_key(a: &Assignment) -> String {
    format!("metrics/{}/{}-{}", a.topology.name, a.supervisor, a.slot)
}

/// How often a worker publishes its [`WorkerView`].
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// What one worker publishes for the web UI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerView {
    /// The assignment's epoch.
    pub epoch: u64,
    /// `{supervisor}-{slot}`.
    pub worker: String,
    /// Its supervisor.
    pub supervisor: String,
    /// Its slot.
    pub slot: usize,
    /// Its process id.
    pub pid: u32,
    /// When it started (ms since the Unix epoch).
    pub started_ms: u64,
    /// When this was written.
    pub at_ms: u64,
    /// Whether its spouts are polled.
    pub active: bool,
    /// The global task ids assigned to it.
    pub assigned: Vec<usize>,
    /// The logical graph (as it runs: after rebalances).
    pub graph: TopologyGraph,
    /// The guarantee's YAML name.
    pub guarantee: String,
    /// Checkpoint interval (ms), 0 without.
    pub checkpoint_interval_ms: u64,
    /// Every task of the topology (those of other workers are 0).
    pub tasks: Vec<TaskStats>,
    /// The checkpoints it coordinated, oldest first.
    pub checkpoints: Vec<CheckpointRecord>,
    /// Its process's RSS and CPU time.
    #[serde(default)]
    pub process: Option<ProcessStats>,
    /// The metrics its tasks registered.
    #[serde(default)]
    pub user_metrics: Vec<UserMetric>,
}

/// The YAML name of `topology`'s guarantee.
pub(crate) fn guarantee_of(topology: &squall::Topology) -> String {
    serde_json::to_value(topology.config().guarantee)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
