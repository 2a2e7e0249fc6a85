//! [`LocalHost`]: the job driver's attempts in this process (local mode,
//! and a cluster topology on one worker): every task of the topology, with
//! in-process links, one checkpoint coordinator and, under
//! `at_least_once`, the ackers.
//!
//! Each attempt: drop what aborted checkpoints left, build every task
//! with the driver's restore (spouts read their offsets back in `open`,
//! transactional sinks commit what the checkpoint lists and discard the
//! rest), start the coordinator with ids above any used before, run. A
//! task failure cancels the attempt; the driver (`job.rs`) decides what
//! follows.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::runtime::coordinator::{CoordinatorTask, SavepointRequests};
use crate::runtime::driver::job::{Attempt, AttemptEnd, AttemptHost};
use crate::runtime::fence::Fence;
use crate::runtime::local::drive;
use crate::runtime::metrics::Metrics;
use crate::runtime::part_checkpoint::attach;
use crate::runtime::plan;
use crate::topology::Topology;

/// A topology's attempts in this process.
pub(crate) struct LocalHost {
    pub topology: Topology,
    pub metrics: Arc<Metrics>,
    /// Fires when the user kills the topology.
    pub cancel: CancellationToken,
    /// Users' savepoint requests, served by each attempt's coordinator.
    pub savepoints: SavepointRequests,
    /// The next attempt's number.
    pub next: u64,
}

impl AttemptHost for LocalHost {
    fn fence(&self) -> Option<Fence> {
        self.topology.fence.clone()
    }

    fn agree(&mut self) -> impl Future<Output = Result<u64>> + Send {
        std::future::ready(Ok(self.next))
    }

    fn run(&mut self, attempt: Attempt) -> impl Future<Output = Result<AttemptEnd>> + Send {
        self.attempt(attempt)
    }

    fn restarting(&mut self, number: u64) -> impl Future<Output = Result<()>> + Send {
        self.next = number + 1;
        self.metrics.topology_restarts.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

impl LocalHost {
    async fn attempt(&mut self, mut attempt: Attempt) -> Result<AttemptEnd> {
        let config = self.topology.config();
        let restored = match attempt.storage.clone() {
            Some(storage) => {
                // Nothing is being written now (the previous attempt's
                // writes are awaited): drop what aborted checkpoints left,
                // so that retention holds even when none completes after.
                storage.writes_done().await;
                match storage.prune_unreferenced().await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(files = n, "deleted shared files of aborted checkpoints")
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot delete incomplete checkpoints"),
                }
                let chosen = attempt.restore.clone();
                attempt.restored(&storage, chosen.as_ref()).await?
            }
            None => None,
        };
        let run = self.cancel.child_token();
        let plan = plan::build(&self.topology, &run, &self.metrics, restored.as_ref())?;
        let mut executors = plan.executors;
        // Under `at_least_once`: ackers, stopped with the attempt (their
        // trees do not outlive it).
        for acker in plan.ackers {
            tokio::spawn(acker.run());
        }
        let coordinator = match &attempt.storage {
            Some(storage) => {
                let first_id = attempt.first_checkpoint_id(storage).await?;
                let attached = attach(&mut executors, storage);
                let metrics = self.metrics.clone();
                let task = CoordinatorTask {
                    savepoints: self.savepoints.clone(),
                    fence: self.topology.fence.clone(),
                    tolerable: config.tolerable_failed_checkpoints,
                    ..CoordinatorTask::new(
                        &self.topology,
                        attached,
                        first_id,
                        storage.clone(),
                        metrics,
                        run.clone(),
                    )
                };
                Some(tokio::spawn(task.run()))
            }
            None => None,
        };
        let result = drive(executors, run.clone()).await;
        let cancelled_inside = run.is_cancelled() && !self.cancel.is_cancelled();
        run.cancel();
        // Too many checkpoints in a row failed: the attempt fails.
        let checkpoints_failed = match coordinator {
            Some(c) => c.await.ok().flatten(),
            None => None,
        };
        Ok(match (result, checkpoints_failed) {
            (_, Some(e)) | (Err(e), None) => AttemptEnd::Failed(e),
            // Tasks that all ended well in an attempt cancelled from
            // inside: the coordinator stopped it, which it does only to a
            // stale copy.
            (Ok(()), None) if cancelled_inside && self.topology.fence.is_some() => {
                AttemptEnd::Stale
            }
            (Ok(()), None) => AttemptEnd::Finished,
        })
    }
}
