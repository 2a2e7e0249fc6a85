//! Nimbus's operations on a running topology, as Storm's: `deactivate` /
//! `activate` (spouts paused and resumed), `kill --wait S` (deactivate,
//! wait, kill), `rebalance` (stop with a savepoint, change parallelism,
//! restart from it; over several workers, restart from the latest completed
//! checkpoint) and the metrics workers publish. Everything is a record
//! in etcd ([`crate::protocol::store`]), so a nimbus that takes over finishes what the
//! dead leader started, and a restarted worker finds its switch where it
//! was.
//!
//! Keys, under the namespace `NS` (see [`crate::protocol::store`] for the others):
//!
//! | key | value | written by |
//! |---|---|---|
//! | `NS/activation/{topology}` | [`ActivationRecord`] (absent = active) | nimbus |
//! | `NS/rebalance/{topology}` | [`RebalanceRecord`], a request to the worker | nimbus |
//! | `NS/savepoints/{topology}` | [`SavepointAnswer`] to that request | worker |
//! | `NS/rescale/{topology}` | [`Rescale`]: parallelisms and savepoint to start from | nimbus, worker (clears the savepoint once checkpointed past it) |
//! | `NS/metrics/{topology}/{supervisor}-{slot}` | [`WorkerReport`] | worker, when changed, at most every [`REPORT_WRITTEN_EVERY`] |

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use squall::runtime::{CheckpointStats, Counters, MetricsHandle, TaskSnapshot};

use crate::nimbus::{status, NimbusError};
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

/// A rebalance asked of the worker running `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebalanceRecord {
    /// The epoch of the assignment that must take the savepoint.
    pub epoch: u64,
    /// New parallelism per component (others keep theirs).
    pub parallelism: BTreeMap<String, usize>,
    /// New number of worker processes, if changed.
    pub workers: Option<usize>,
}

/// The worker's answer to a [`RebalanceRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavepointAnswer {
    /// The epoch that took it.
    pub epoch: u64,
    /// Where the savepoint is, or why none was taken.
    pub outcome: Result<String, String>,
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

/// `deactivate` (`active = false`) or `activate` a running topology.
///
/// # Errors
/// [`NimbusError::NotFound`]; [`NimbusError::BadTopology`] if it is over
/// or being killed; [`NimbusError::Cluster`].
pub async fn set_active(
    store: &Store,
    name: &str,
    active: bool,
) -> Result<TopologyStatus, NimbusError> {
    let current = live(store, name).await?;
    let record = activation(store, name).await?;
    if record.kill_at_ms.is_some() {
        return Err(NimbusError::BadTopology(format!("topology '{name}' is being killed")));
    }
    store
        .put(&format!("activation/{name}"), &ActivationRecord { active, kill_at_ms: None }, None)
        .await?;
    tracing::info!(topology = %name, active, "topology switched");
    Ok(current)
}

/// `kill --wait S` (Storm's): deactivates the spouts now and kills the
/// topology `wait` later (see [`kill_due`]); `wait` 0 kills at once.
///
/// # Errors
/// [`NimbusError::NotFound`], [`NimbusError::Cluster`].
pub async fn kill_after(
    store: &Store,
    name: &str,
    wait: Duration,
) -> Result<TopologyStatus, NimbusError> {
    let current = status(store, name).await?;
    if wait.is_zero() || current.state.is_over() {
        return crate::nimbus::kill(store, name).await;
    }
    let at = now_ms() + wait.as_millis() as u64;
    let record = ActivationRecord { active: false, kill_at_ms: Some(at) };
    store.put(&format!("activation/{name}"), &record, None).await?;
    tracing::info!(topology = %name, wait_ms = wait.as_millis() as u64, "topology deactivated; kill pending");
    Ok(current)
}

/// Asks the worker of `name` for a savepoint, to restart it with
/// `parallelism` (and `workers`). Returns once the request is written;
/// [`reconcile`] finishes the rebalance when the worker answers. A topology
/// on several workers, or going onto several, restarts from its latest
/// completed checkpoint instead ([`restart_rescaled`]).
///
/// # Errors
/// [`NimbusError::BadTopology`] when the topology takes no checkpoints or
/// the new parallelism is refused (unknown component, 0);
/// [`NimbusError::NotFound`]; [`NimbusError::Cluster`].
pub async fn rebalance(
    store: &Store,
    name: &str,
    parallelism: BTreeMap<String, usize>,
    workers: Option<usize>,
) -> Result<TopologyStatus, NimbusError> {
    let current = live(store, name).await?;
    if current.state == State::Rebalancing {
        return Err(NimbusError::BadTopology(format!("topology '{name}' is already rebalancing")));
    }
    let record: TopologyRecord = store
        .get(&format!("topologies/{name}"))
        .await?
        .ok_or_else(|| NimbusError::NotFound(name.to_string()))?;
    let mut rescale: Rescale = store.get(&format!("rescale/{name}")).await?.unwrap_or_default();
    rescale.parallelism.extend(parallelism.clone());
    let topology = build(&record, &rescale).map_err(|e| NimbusError::BadTopology(e.to_string()))?;
    let bad = |why: &str| Err(NimbusError::BadTopology(format!("topology '{name}': {why}")));
    if !topology.config().checkpointing() {
        return bad("rebalance goes through a savepoint; set config.checkpoint_interval_ms and checkpoint_dir");
    }
    if record.workers > 1 || workers.is_some_and(|w| w != 1) {
        return restart_rescaled(store, current, record, &topology, rescale, workers).await;
    }
    let request = RebalanceRecord { epoch: current.epoch, parallelism, workers };
    store.update_status(name, |s| s.state = State::Rebalancing).await?;
    store.put(&format!("rebalance/{name}"), &request, None).await?;
    tracing::info!(topology = %name, epoch = current.epoch, "rebalance asked");
    status(store, name).await
}

/// Rebalances a topology spread over several workers (or onto several) as
/// Flink rescales from a retained checkpoint: the topology's workers are
/// stopped by a new epoch (their assignments go, so they are fenced and
/// commit nothing more), and the next [`crate::nimbus::reconcile`]
/// schedules it again with `rescale`'s parallelisms and `workers`; the new
/// workers restore the latest completed checkpoint, key groups spread over
/// the new tasks, and a checkpoint that completed but was not yet committed
/// is committed by the restored sinks. Work after that checkpoint is done
/// again; its output was never committed.
async fn restart_rescaled(
    store: &Store,
    current: TopologyStatus,
    mut record: TopologyRecord,
    topology: &squall::Topology,
    rescale: Rescale,
    workers: Option<usize>,
) -> Result<TopologyStatus, NimbusError> {
    let name = record.name.clone();
    record.tasks = topology.component_ids().filter_map(|c| topology.parallelism(c)).sum();
    record.workers = workers.unwrap_or(record.workers);
    store.put(&format!("topologies/{name}"), &record, None).await?;
    store.put(&format!("rescale/{name}"), &rescale, None).await?;
    let message = "rebalanced: restarting from the latest completed checkpoint".to_string();
    store
        .update_status(&name, |s| {
            if !s.state.is_over() {
                s.state = State::Pending;
                s.supervisor = None;
                s.message = Some(message.clone());
            }
        })
        .await?;
    // Only the assignments of the running epoch, each only while it still
    // holds that epoch: a reconcile may already have scheduled the next
    // one under the same keys.
    for (key, a) in store.list::<Assignment>("assignments").await? {
        if a.topology.name == name && a.epoch == current.epoch {
            store.delete_assignment(&key, current.epoch).await?;
        }
    }
    tracing::info!(topology = %name, epoch = current.epoch, workers = record.workers, "rebalance: restarting from the latest checkpoint");
    status(store, &name).await
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

async fn live(store: &Store, name: &str) -> Result<TopologyStatus, NimbusError> {
    let current = status(store, name).await?;
    if current.state.is_over() {
        return Err(NimbusError::BadTopology(format!("topology '{name}' is over")));
    }
    Ok(current)
}

/// Nimbus's part of every reconcile: kills topologies whose `kill --wait`
/// is due, and finishes rebalances whose worker answered (the topology goes
/// back to `pending` with its new parallelism and savepoint, to be
/// scheduled again; a refused savepoint puts it back to `running`).
///
/// # Errors
/// [`crate::Error::Etcd`] or [`crate::Error::Record`].
pub async fn reconcile(store: &Store) -> Result<()> {
    let now = now_ms();
    for (name, a) in store.list::<ActivationRecord>("activation").await? {
        if a.kill_at_ms.is_some_and(|at| at <= now) {
            match crate::nimbus::kill(store, &name).await {
                Ok(_) => tracing::info!(topology = %name, "kill --wait: killed"),
                Err(e) => tracing::warn!(topology = %name, error = %e, "kill --wait failed"),
            }
            store.delete(&format!("activation/{name}"), false).await?;
        }
    }
    for (name, request) in store.list::<RebalanceRecord>("rebalance").await? {
        let Some(answer) = store.get::<SavepointAnswer>(&format!("savepoints/{name}")).await?
        else {
            continue;
        };
        if answer.epoch != request.epoch {
            continue;
        }
        match answer.outcome {
            Ok(location) => {
                let mut rescale: Rescale =
                    store.get(&format!("rescale/{name}")).await?.unwrap_or_default();
                rescale.parallelism.extend(request.parallelism.clone());
                rescale.restore_from = Some(location.clone());
                if let Some(mut record) =
                    store.get::<TopologyRecord>(&format!("topologies/{name}")).await?
                {
                    if let Ok(t) = build(&record, &rescale) {
                        record.tasks = t.component_ids().filter_map(|c| t.parallelism(c)).sum();
                    }
                    record.workers = request.workers.unwrap_or(record.workers);
                    store.put(&format!("topologies/{name}"), &record, None).await?;
                }
                store.put(&format!("rescale/{name}"), &rescale, None).await?;
                store
                    .update_status(&name, |s| {
                        if s.state == State::Rebalancing {
                            s.state = State::Pending;
                            s.message = Some(format!("rebalanced from savepoint {location}"));
                        }
                    })
                    .await?;
                tracing::info!(topology = %name, %location, "rebalance: savepoint taken");
            }
            Err(why) => {
                store
                    .update_status(&name, |s| {
                        if s.state == State::Rebalancing {
                            s.state = State::Running;
                            s.message = Some(format!("rebalance refused: {why}"));
                        }
                    })
                    .await?;
                tracing::warn!(topology = %name, %why, "rebalance: no savepoint");
            }
        }
        store.delete(&format!("rebalance/{name}"), false).await?;
        store.delete(&format!("savepoints/{name}"), false).await?;
    }
    Ok(())
}

/// The latest worker reports of `name` at its current epoch, summed.
///
/// # Errors
/// [`NimbusError::NotFound`], [`NimbusError::Cluster`].
pub async fn metrics(store: &Store, name: &str) -> Result<TopologyMetrics, NimbusError> {
    let status = status(store, name).await?;
    let switch = activation(store, name).await?;
    let reports: Vec<WorkerReport> = store
        .list::<WorkerReport>(&format!("metrics/{name}"))
        .await?
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.epoch == status.epoch)
        .collect();
    Ok(TopologyMetrics::of(status, switch.active, reports))
}

/// Removes what this module keeps of `name`, when it is submitted anew.
///
/// # Errors
/// [`crate::Error::Etcd`].
pub async fn forget(store: &Store, name: &str) -> Result<()> {
    let savepoints = crate::nimbus::savepoint::FOLDERS;
    for dir in ["activation", "rebalance", "savepoints", "rescale"].iter().chain(&savepoints) {
        store.delete(&format!("{dir}/{name}"), false).await?;
    }
    // A new submission starts from no checkpoint (or its savepoint), as a
    // new Flink job does: the previous run's record is not restored.
    store.delete(&crate::protocol::fence::record_key(name), false).await?;
    // The previous run's query addresses (crate::nimbus::query_route).
    store.delete(&format!("queries/{name}/"), true).await?;
    // What its workers published for the web UI (crate::nimbus::ui_cluster).
    store.delete(&format!("ui/{name}/"), true).await?;
    store.delete(&format!("metrics/{name}/"), true).await
}

/// The key a worker's report goes under.
pub fn report_key(a: &Assignment) -> String {
    format!("metrics/{}/{}-{}", a.topology.name, a.supervisor, a.slot)
}
