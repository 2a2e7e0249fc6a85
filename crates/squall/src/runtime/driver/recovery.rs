//! Runs a checkpointed topology, and restarts it from its last completed
//! checkpoint when a task fails (Flink's full restart).
//!
//! Each attempt: load the newest complete checkpoint that reads back intact
//! (see [`CheckpointStorage::load_latest`]), build every task with its
//! state restored (spouts read their offsets back in `open`, transactional
//! sinks commit what the checkpoint lists and discard the rest), start the
//! coordinator with ids above any used before, run. A task failure cancels
//! the attempt; the restart strategy says whether and after what delay the
//! next one starts.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::checkpoint::protocol::{Coordinator, Timing};
use crate::checkpoint::{CheckpointStorage, END_OF_RUN};
use crate::error::Result;
use crate::runtime::coordinator::{CheckpointStats, CoordinatorTask, SavepointRequests};
use crate::runtime::local::drive;
use crate::runtime::metrics::Metrics;
use crate::runtime::part_checkpoint::attach;
use crate::runtime::plan;
use crate::runtime::restart_strategy::RestartTracker;
use crate::topology::{RestartStrategy, Topology};

/// Runs `topology` with checkpoints until it ends, is killed (`cancel`), or
/// fails beyond its restart strategy.
///
/// # Errors
/// The failure that exhausted the restart strategy, or a checkpoint storage
/// that cannot be opened or listed.
pub(crate) async fn run(
    topology: Topology,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
    stats: Arc<Mutex<Vec<CheckpointStats>>>,
    savepoints: SavepointRequests,
) -> Result<()> {
    let config = topology.config();
    let dir = config.checkpoint_dir.as_deref().expect("validated: checkpoints need a dir");
    let storage = Arc::new(CheckpointStorage::open(dir, topology.name())?);
    // A run started from a savepoint restores it, and after a failure its
    // own checkpoints (ids above the savepoint's and every existing one).
    let savepoint = match &config.restore_from {
        Some(location) => Some(CheckpointStorage::load_savepoint(location).await?),
        None => None,
    };
    let run_first_id = match &savepoint {
        Some(sp) => storage.list().await?.last().copied().unwrap_or(0).max(sp.id()) + 1,
        None => 0,
    };
    let mut restarts = RestartTracker::new(config.restart_strategy);
    loop {
        // Nothing is being written now (the previous attempt's writes are
        // awaited): drop what aborted checkpoints left, so that retention
        // holds even when no checkpoint completes after an abort.
        storage.writes_done().await;
        match storage.prune_unreferenced().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "deleted shared files of aborted checkpoints"),
            Err(e) => tracing::warn!(error = %e, "cannot delete incomplete checkpoints"),
        }
        // In a cluster, only checkpoints recorded through the fence count.
        let recorded = match &topology.fence {
            Some(fence) => Some(fence.completed().await?),
            None => None,
        };
        if recorded.as_ref().is_some_and(|ids| ids.last() == Some(&END_OF_RUN)) {
            tracing::info!(
                topology = topology.name(),
                "the run's end is already recorded: nothing to run"
            );
            return Ok(());
        }
        let restored = match storage.load_latest_of(run_first_id, recorded.as_deref()).await? {
            Some(r) => Some(r),
            None => savepoint.clone(),
        };
        if let Some(r) = &restored {
            tracing::info!(
                topology = topology.name(),
                checkpoint = r.id(),
                "restoring from checkpoint {}",
                r.id()
            );
        }
        let first_id = storage.list().await?.last().map_or(1, |last| last + 1).max(run_first_id);
        let attempt = cancel.child_token();
        let plan = plan::build(&topology, &attempt, &metrics, restored.as_ref())?;
        let mut executors = plan.executors;
        // `at_least_once` with checkpoints: ackers too, stopped with the
        // attempt (their trees do not outlive it).
        for acker in plan.ackers {
            tokio::spawn(acker.run());
        }

        let timing = Timing {
            interval_ms: config.checkpoint_interval_ms,
            timeout_ms: config.checkpoint_timeout_ms,
        };
        let attached = attach(&mut executors, &storage);
        let coordinator = CoordinatorTask {
            coordinator: Coordinator::new(timing, attached.tasks, first_id),
            timing,
            events: attached.events,
            triggers: attached.triggers,
            completed: attached.completed,
            storage: storage.clone(),
            retained: config.retained_checkpoints,
            topology: topology.name().to_string(),
            max_parallelism: config.max_parallelism,
            stats: stats.clone(),
            savepoints: savepoints.clone(),
            cancel: attempt.clone(),
            fence: topology.fence.clone(),
            tolerable: config.tolerable_failed_checkpoints,
            history: Some(metrics.clone()),
        };
        let coordinator = tokio::spawn(coordinator.run());
        restarts.started(Instant::now());
        let mut result = drive(executors, attempt.clone()).await;
        let cancelled_inside = attempt.is_cancelled() && !cancel.is_cancelled();
        attempt.cancel();
        // Too many checkpoints in a row failed: the attempt fails.
        let checkpoints_failed = coordinator.await.ok().flatten();
        // Tasks that all ended well in an attempt cancelled from inside:
        // otherwise the coordinator stopped it, which it does only to a
        // stale copy.
        let stopped = result.is_ok() && cancelled_inside && checkpoints_failed.is_none();
        if let Some(e) = checkpoints_failed {
            result = Err(e);
        }
        // A stale copy neither restarts nor reports a finished run. A fence
        // that cannot answer is not a new epoch: the restart rule below
        // decides.
        if let Some(fence) = &topology.fence {
            if stopped || (!cancel.is_cancelled() && matches!(fence.is_current().await, Ok(false)))
            {
                return Err(crate::Error::Checkpoint(format!(
                    "this copy of topology '{}' is stale (its assignment moved on): it commits \
                     nothing more",
                    topology.name()
                )));
            }
        }

        let error = match result {
            Ok(()) => return Ok(()),
            Err(e) if cancel.is_cancelled() => return Err(e),
            Err(e) => e,
        };
        match restarts.on_failure(Instant::now()) {
            Ok(delay) => {
                metrics.topology_restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    topology = topology.name(),
                    error = %error,
                    restart = restarts.restarts(),
                    "task failed; restarting from the last completed checkpoint in {} ms",
                    delay.as_millis()
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return Ok(()),
                }
            }
            Err(rule) => {
                if config.restart_strategy != RestartStrategy::None {
                    tracing::error!(
                        topology = topology.name(),
                        error = %error,
                        "giving up after {} restarts ({rule})",
                        restarts.restarts()
                    );
                }
                return Err(error);
            }
        }
    }
}
