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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use squall::runtime::{
    CheckpointRecord, CheckpointStatus, Counters, LiveStats, MetricsHandle, TaskSnapshot,
    TaskStats, TopologyGraph,
};

use crate::protocol::metrics_read::{ProcessStats, UserMetric};
use crate::protocol::store::{Assignment, State, Store, TopologyRecord, TopologyStatus};
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

/// What one process publishes about itself and its tasks, for the REST
/// metrics route ([`TopologyMetrics`]) and the web UI
/// ([`crate::nimbus::ui_cluster`]); `squall run` builds the same of its run.
/// Fields an older worker does not write read as their defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerReport {
    /// The assignment's epoch (0 in local mode).
    pub epoch: u64,
    /// `{supervisor}-{slot}` (`local` in local mode).
    pub worker: String,
    /// Its supervisor.
    pub supervisor: Option<String>,
    /// Its slot.
    pub slot: Option<usize>,
    /// Its process id.
    pub pid: u32,
    /// When it started (ms since the Unix epoch).
    pub started_ms: u64,
    /// When it was written (ms since the Unix epoch).
    pub at_ms: u64,
    /// Whether its spouts are polled (the switch as this worker applied it).
    pub active: bool,
    /// The global task ids it runs.
    pub assigned: Vec<usize>,
    /// The topology as it runs (after rebalances).
    #[serde(flatten)]
    pub shape: Shape,
    /// Every task of the topology (those of other workers are 0).
    pub tasks: Vec<TaskStats>,
    /// The checkpoints it coordinated, completed or failed, oldest first.
    pub history: Vec<CheckpointRecord>,
    /// Where it serves Prometheus's `/metrics` (`host:port`).
    pub metrics_addr: Option<String>,
    /// Its process's RSS and CPU time.
    pub process: Option<ProcessStats>,
    /// The metrics its tasks registered.
    pub user_metrics: Vec<UserMetric>,
}

/// What a report says of the topology itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Shape {
    /// The logical graph.
    pub graph: TopologyGraph,
    /// The guarantee's YAML name.
    pub guarantee: String,
    /// Checkpoint interval (ms), 0 without.
    pub checkpoint_interval_ms: u64,
}

impl Shape {
    /// The shape of `topology`.
    pub fn of(topology: &squall::Topology) -> Self {
        let guarantee = serde_json::to_value(topology.config().guarantee)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let checkpoint_interval_ms = topology.config().checkpoint_interval_ms;
        Shape { graph: TopologyGraph::of(topology), guarantee, checkpoint_interval_ms }
    }
}

/// Makes the [`WorkerReport`]s of a running topology: reads its counters
/// (keeping what recent latencies need) and this process's exposition.
#[derive(Debug)]
pub struct Reporter {
    shape: Shape,
    started_ms: u64,
    live: LiveStats,
    handle: MetricsHandle,
}

impl Reporter {
    /// The reporter of the topology `shape` whose counters are `handle`'s.
    pub fn new(shape: Shape, handle: &MetricsHandle) -> Self {
        let live = LiveStats::new(handle);
        Reporter { shape, started_ms: now_ms(), live, handle: handle.clone() }
    }

    /// The report now, as worker `local` running every task; spouts
    /// polled if `active`.
    pub fn report(&mut self, active: bool) -> WorkerReport {
        let tasks = self.live.tasks();
        let exported = crate::protocol::metrics_read::read();
        WorkerReport {
            epoch: 0,
            worker: "local".into(),
            supervisor: None,
            slot: None,
            pid: std::process::id(),
            started_ms: self.started_ms,
            at_ms: now_ms(),
            active,
            assigned: tasks.iter().map(|t| t.snapshot.task).collect(),
            shape: self.shape.clone(),
            tasks,
            history: self.live.checkpoints(),
            metrics_addr: crate::protocol::metrics_api::address().map(|a| a.to_string()),
            process: exported.as_ref().and_then(crate::protocol::metrics_read::process_stats),
            user_metrics: exported
                .map(|e| crate::protocol::metrics_read::user_metrics(&e, self.handle.topology()))
                .unwrap_or_default(),
        }
    }
}

/// Every task of one epoch's `reports`: as the worker that runs it
/// reported it (that worker named; an older worker's report tells by
/// `local`), or, when none does, its counts summed over the reports.
pub fn tasks_of(reports: &[WorkerReport]) -> Vec<TaskStats> {
    let mut tasks: BTreeMap<usize, TaskStats> = BTreeMap::new();
    for r in reports {
        for t in &r.tasks {
            let id = t.snapshot.task;
            if t.snapshot.local || r.assigned.contains(&id) {
                let mut owned = t.clone();
                owned.snapshot.worker = Some(r.worker.clone());
                tasks.insert(id, owned);
            } else if tasks.get(&id).is_none_or(|t| t.snapshot.worker.is_none()) {
                let sum =
                    tasks.entry(id).or_insert_with(|| TaskStats::empty(&t.snapshot.component, id));
                sum.snapshot.counters += &t.snapshot.counters;
            }
        }
    }
    tasks.into_values().collect()
}

/// The latest reports of `name`'s workers at `epoch`, by worker.
///
/// # Errors
/// [`crate::Error::Etcd`] or [`crate::Error::Record`].
pub async fn reports(store: &Store, name: &str, epoch: u64) -> Result<Vec<WorkerReport>> {
    let all = store.list::<WorkerReport>(&format!("metrics/{name}")).await?;
    Ok(all.into_iter().map(|(_, r)| r).filter(|r| r.epoch == epoch).collect())
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
    /// The completed checkpoints of the workers' histories, oldest first.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub checkpoints: Vec<CheckpointRecord>,
    /// The workers' Prometheus endpoints (`host:port`, `GET /metrics`).
    #[serde(default)]
    pub metrics_addrs: Vec<String>,
}

impl TopologyMetrics {
    /// The reports of one epoch's workers, merged ([`tasks_of`]): the
    /// tasks, totals per component, the checkpoints.
    pub fn of(status: TopologyStatus, active: bool, reports: &[WorkerReport]) -> Self {
        let tasks: Vec<TaskSnapshot> = tasks_of(reports).into_iter().map(|t| t.snapshot).collect();
        let mut components: Vec<ComponentTotals> = Vec::new();
        for t in &tasks {
            if components.last().is_none_or(|c| c.component != t.component) {
                components
                    .push(ComponentTotals { component: t.component.clone(), ..Default::default() });
            }
            let c = components.last_mut().expect("just pushed");
            c.tasks += 1;
            c.counters += &t.counters;
        }
        let completed = |c: &&CheckpointRecord| c.status == CheckpointStatus::Completed;
        let mut checkpoints: Vec<CheckpointRecord> =
            reports.iter().flat_map(|r| r.history.iter().filter(completed).cloned()).collect();
        checkpoints.sort_by_key(|c| c.id);
        checkpoints.dedup_by_key(|c| c.id);
        TopologyMetrics {
            status,
            active,
            applied: applied(reports, active),
            workers: reports.iter().map(|r| r.worker.clone()).collect(),
            components,
            tasks,
            checkpoints,
            metrics_addrs: reports.iter().filter_map(|r| r.metrics_addr.clone()).collect(),
        }
    }
}

/// Whether every one of `reports` (at least one) has applied the switch
/// `active`.
pub fn applied(reports: &[WorkerReport], active: bool) -> bool {
    !reports.is_empty() && reports.iter().all(|r| r.active == active)
}

/// The status of the topology `name` that this process runs (`squall run`).
pub fn local_status(name: String, state: State, message: Option<String>) -> TopologyStatus {
    let worker_pid = Some(std::process::id());
    TopologyStatus { name, state, supervisor: None, epoch: 0, restarts: 0, message, worker_pid }
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

/// The key a worker's [`WorkerReport`] goes under.
pub fn report_key(a: &Assignment) -> String {
    format!("metrics/{}/{}-{}", a.topology.name, a.supervisor, a.slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_workers_report_still_reads_and_names_the_worker_of_its_tasks() {
        let older = r#"{"epoch": 3, "worker": "sup-a-0", "active": true, "at_ms": 1,
            "tasks": [{"component": "lines", "task": 0, "emitted": 7, "executed": 0,
                "backpressure_ms": 0, "acked": 0, "failed": 0, "local": true}],
            "checkpoints": [], "metrics_addr": "127.0.0.1:9"}"#;
        let report: WorkerReport = serde_json::from_str(older).unwrap();
        let status = local_status("wc".into(), State::Running, None);
        let m = TopologyMetrics::of(status, true, &[report]);
        assert_eq!(m.tasks[0].worker.as_deref(), Some("sup-a-0"));
        assert_eq!((m.components[0].counters.emitted, m.applied), (7, true));
        assert_eq!(m.metrics_addrs, ["127.0.0.1:9"]);
    }
}
