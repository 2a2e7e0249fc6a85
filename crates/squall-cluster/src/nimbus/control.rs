//! Nimbus's operations on a running topology, as Storm's: `deactivate` /
//! `activate` (spouts paused and resumed), `kill --wait S` (deactivate,
//! wait, kill), `rebalance` (stop with a savepoint, change parallelism,
//! restart from it; over several workers, restart from the latest completed
//! checkpoint) and the metrics workers publish. Everything is a record
//! in etcd ([`crate::protocol::store`]), so a nimbus that takes over finishes what the
//! dead leader started, and a restarted worker finds its switch where it
//! was. Its records are [`crate::protocol::records`]'s (re-exported here).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::nimbus::{status, NimbusError};
pub use crate::protocol::records::*;
use crate::protocol::store::{Assignment, State, Store, TopologyRecord, TopologyStatus};
use crate::Result;

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
    let (status, active, reports) = published(store, name).await?;
    Ok(TopologyMetrics::of(status, active, &reports))
}

/// The status of `name`, its switch and its workers' latest reports at its
/// current epoch ([`reports`]).
///
/// # Errors
/// [`NimbusError::NotFound`], [`NimbusError::Cluster`].
pub async fn published(
    store: &Store,
    name: &str,
) -> Result<(TopologyStatus, bool, Vec<WorkerReport>), NimbusError> {
    let status = status(store, name).await?;
    let switch = activation(store, name).await?;
    let reports = reports(store, name, status.epoch).await?;
    Ok((status, switch.active, reports))
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
