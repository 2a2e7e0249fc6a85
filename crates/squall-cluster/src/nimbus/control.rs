//! Nimbus's operations on a running topology, as Storm's: `deactivate` /
//! `activate` (spouts paused and resumed), `kill --wait S` (deactivate,
//! wait, kill), `rebalance` (take a savepoint, change parallelism, restart
//! from it; over several workers, restart from the latest completed
//! checkpoint) and the metrics workers publish. Everything is a record
//! in etcd ([`crate::protocol::store`]), so a nimbus that takes over finishes what the
//! dead leader started, and a restarted worker finds its switch where it
//! was. Its records are [`crate::protocol::records`]'s (re-exported here).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::nimbus::{savepoint, status, NimbusError};
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

/// Rebalances `name` to `parallelism` (and `workers`) as Flink rescales:
/// a topology on one worker takes a savepoint with its spouts paused
/// ([`savepoint::take`]) and restarts from it; one on
/// several workers, or going onto several, restarts from its latest
/// completed checkpoint. Either way its workers are stopped by a new epoch
/// (their assignments go, so they are fenced and commit nothing more), and
/// the next [`crate::nimbus::reconcile`] schedules it again with the new
/// parallelisms and `workers`; key groups spread over the new tasks, and a
/// checkpoint that completed but was not yet committed is committed by the
/// restored sinks. Work after that checkpoint is done again; its output was
/// never committed.
///
/// # Errors
/// [`NimbusError::BadTopology`] when the topology takes no checkpoints,
/// the new parallelism is refused (unknown component, 0) or the savepoint
/// is; [`NimbusError::Timeout`] if it was not taken in time;
/// [`NimbusError::NotFound`]; [`NimbusError::Cluster`].
pub async fn rebalance(
    store: &Store,
    name: &str,
    parallelism: BTreeMap<String, usize>,
    workers: Option<usize>,
) -> Result<TopologyStatus, NimbusError> {
    let current = live(store, name).await?;
    let mut record: TopologyRecord = store
        .get(&format!("topologies/{name}"))
        .await?
        .ok_or_else(|| NimbusError::NotFound(name.to_string()))?;
    let mut rescale: Rescale = store.get(&format!("rescale/{name}")).await?.unwrap_or_default();
    rescale.parallelism.extend(parallelism);
    let topology = build(&record, &rescale).map_err(|e| NimbusError::BadTopology(e.to_string()))?;
    if !topology.config().checkpointing() {
        return Err(NimbusError::BadTopology(format!(
            "topology '{name}': rebalance goes through a savepoint; set \
             config.checkpoint_interval_ms and checkpoint_dir"
        )));
    }
    let mut message = "rebalanced: restarting from the latest completed checkpoint".to_string();
    // Spouts paused for the savepoint, to run again in the new epoch.
    let mut paused = false;
    if record.workers == 1 && workers.is_none_or(|w| w == 1) {
        paused = activation(store, name).await?.active;
        let deadline = Instant::now() + savepoint::SAVEPOINT_TIMEOUT;
        let taken = match savepoint::pause(store, name, deadline).await {
            Ok(()) => savepoint::take(store, name, false, None).await,
            Err(e) => Err(e),
        };
        if taken.is_err() && paused {
            set_active(store, name, true).await?;
        }
        let location = taken?;
        message = format!("rebalanced from savepoint {location}");
        rescale.restore_from = Some(location);
    }
    record.tasks = topology.component_ids().filter_map(|c| topology.parallelism(c)).sum();
    record.workers = workers.unwrap_or(record.workers);
    store.put(&format!("topologies/{name}"), &record, None).await?;
    store.put(&format!("rescale/{name}"), &rescale, None).await?;
    store
        .update_status(name, |s| {
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
    // Only now: the old epoch's worker, fenced, commits nothing past it.
    if paused {
        set_active(store, name, true).await?;
    }
    tracing::info!(topology = %name, epoch = current.epoch, workers = record.workers, "{message}");
    status(store, name).await
}

async fn live(store: &Store, name: &str) -> Result<TopologyStatus, NimbusError> {
    let current = status(store, name).await?;
    if current.state.is_over() {
        return Err(NimbusError::BadTopology(format!("topology '{name}' is over")));
    }
    Ok(current)
}

/// Nimbus's part of every reconcile: kills topologies whose `kill --wait`
/// is due.
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
    for dir in ["activation", "rescale"].iter().chain(&savepoints) {
        store.delete(&format!("{dir}/{name}"), false).await?;
    }
    // A new submission starts from no checkpoint (or its savepoint), as a
    // new Flink job does: the previous run's record is not restored.
    store.delete(&crate::protocol::fence::record_key(name), false).await?;
    // The previous run's query addresses (crate::nimbus::query_route).
    store.delete(&format!("queries/{name}/"), true).await?;
    store.delete(&format!("metrics/{name}/"), true).await
}
