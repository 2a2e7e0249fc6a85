//! The checkpoint coordinator task: the I/O edge around
//! [`crate::checkpoint::protocol::Coordinator`].
//!
//! It feeds the pure coordinator with clock ticks and the tasks' messages,
//! and carries out its decisions: sends barriers to the spout executors,
//! writes a completed checkpoint's metadata (which makes it complete on
//! storage), records it through the cluster's fence if there is one
//! ([`crate::runtime::CheckpointFence`]), tells every executor (sinks
//! commit), then prunes old checkpoints; deletes aborted checkpoints (both
//! in the background, so that a store that hangs holds no trigger back);
//! announces the end of the run (recorded through the fence too).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::checkpoint::metadata::FORMAT_VERSION;
use crate::checkpoint::protocol::{Coordinator, Decision, Input, Timing};
use crate::checkpoint::{CheckpointMetadata, CheckpointStorage, TaskAck, END_OF_RUN};
use crate::error::{Error, Result};
use crate::runtime::metrics::live::{epoch_ms, CheckpointRecord, CheckpointStatus};

/// A savepoint asked for: where to put it (`None`: beside the
/// checkpoints; see [`CheckpointStorage::save`]) and where its location
/// (or why there is none) is sent.
pub(crate) struct SavepointReply {
    pub(crate) target: Option<String>,
    pub(crate) reply: oneshot::Sender<Result<String>>,
}

impl SavepointReply {
    /// A request for a savepoint into `target`, and the receiver of its
    /// answer.
    pub(crate) fn new(target: Option<String>) -> (Self, oneshot::Receiver<Result<String>>) {
        let (reply, rx) = oneshot::channel();
        (SavepointReply { target, reply }, rx)
    }
}

/// The savepoint requests of a topology, shared by its attempts.
pub(crate) type SavepointRequests =
    Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<SavepointReply>>>;

/// Everything the coordinator task needs.
pub(crate) struct CoordinatorTask {
    pub coordinator: Coordinator<TaskAck>,
    pub timing: Timing,
    pub events: mpsc::UnboundedReceiver<Input<TaskAck>>,
    pub triggers: Vec<mpsc::UnboundedSender<crate::checkpoint::CheckpointBarrier>>,
    pub completed: watch::Sender<u64>,
    pub storage: Arc<CheckpointStorage>,
    pub retained: usize,
    pub topology: String,
    pub max_parallelism: usize,
    /// Where the completed checkpoints' figures (`metrics.checkpoints`)
    /// and the web UI's history (`runtime/metrics/live.rs`) are kept.
    pub metrics: Arc<crate::runtime::metrics::Metrics>,
    pub savepoints: SavepointRequests,
    pub cancel: CancellationToken,
    /// Cluster mode: where completed checkpoints and the end of the run are
    /// recorded, fenced against stale copies of the topology.
    pub fence: Option<crate::runtime::Fence>,
    /// Consecutive failed checkpoints tolerated before the attempt fails
    /// (`config.tolerable_failed_checkpoints`; `None`: no bound).
    pub tolerable: Option<u32>,
}

impl CoordinatorTask {
    /// A coordinator of `attached`'s tasks of `topology`, with checkpoint
    /// ids from `first_id` on, writing to `storage` and its figures to
    /// `metrics`; it stops when `cancel` fires. No fence, no savepoint
    /// requests and no bound on failed checkpoints: callers set those.
    pub(crate) fn new(
        topology: &crate::topology::Topology,
        attached: crate::runtime::part_checkpoint::Attached,
        first_id: u64,
        storage: Arc<CheckpointStorage>,
        metrics: Arc<crate::runtime::metrics::Metrics>,
        cancel: CancellationToken,
    ) -> Self {
        let config = topology.config();
        let timing = Timing {
            interval_ms: config.checkpoint_interval_ms,
            timeout_ms: config.checkpoint_timeout_ms,
        };
        CoordinatorTask {
            coordinator: Coordinator::new(timing, attached.tasks, first_id),
            timing,
            events: attached.events,
            triggers: attached.triggers,
            completed: attached.completed,
            storage,
            retained: config.retained_checkpoints,
            topology: topology.name().to_string(),
            max_parallelism: config.max_parallelism,
            metrics,
            savepoints: Arc::new(tokio::sync::Mutex::new(mpsc::unbounded_channel().1)),
            cancel,
            fence: None,
            tolerable: None,
        }
    }

    /// Runs until the end of the run or cancellation. Returns the error
    /// that fails the attempt when more consecutive checkpoints failed than
    /// `tolerable` allows (it then cancels the attempt).
    pub async fn run(mut self) -> Option<Error> {
        let origin = Instant::now();
        let now_ms = move || origin.elapsed().as_millis() as u64;
        self.coordinator.start(now_ms());
        for status in ["completed", "failed"] {
            let t = self.topology.clone();
            metrics::counter!("squall_checkpoints_total", "topology" => t, "status" => status)
                .increment(0);
        }
        let tick = Duration::from_millis((self.timing.interval_ms / 10).clamp(1, 50));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Epoch time of each trigger, for the metadata.
        let mut triggered_at = 0;
        let mut requests = self.savepoints.clone().lock_owned().await;
        let mut waiting: Vec<SavepointReply> = Vec::new();
        let mut finish_logged = false;
        let mut failed_in_a_row: u32 = 0;
        let mut cleanup: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let input = tokio::select! {
                _ = self.cancel.cancelled() => return None,
                _ = ticker.tick() => Input::Tick { now_ms: now_ms() },
                Some(reply) = requests.recv() => {
                    waiting.push(reply);
                    Input::Savepoint
                }
                ev = self.events.recv() => match ev {
                    Some(ev) => ev,
                    None => return None,
                },
            };
            let first_finish = matches!(input, Input::Finished { .. }) && !finish_logged;
            let decisions = self.coordinator.on(input);
            if first_finish && !decisions.iter().any(|d| matches!(d, Decision::EndOfRun)) {
                // Flink's FLIP-147 (checkpoints after tasks finished) is not
                // built: say so once, since the run may go on for long.
                finish_logged = true;
                tracing::info!(
                    topology = %self.topology,
                    "a task finished its input: no checkpoint is triggered from now on; the \
                     output after the last completed checkpoint is committed when every task \
                     has finished"
                );
            }
            for decision in decisions {
                match decision {
                    Decision::Trigger(barrier) => {
                        triggered_at = epoch_ms();
                        tracing::debug!(checkpoint = barrier.id, "triggering checkpoint");
                        for t in &self.triggers {
                            let _ = t.send(barrier);
                        }
                    }
                    Decision::Complete { id, triggered_ms, acks, savepoint } => {
                        let duration_ms = now_ms().saturating_sub(triggered_ms);
                        let tasks = acks.into_values().collect();
                        let done =
                            self.complete(id, triggered_at, duration_ms, tasks, savepoint).await;
                        match &done {
                            Ok(()) => {
                                failed_in_a_row = 0;
                                self.clean_up(&mut cleanup, None);
                            }
                            Err(e) => {
                                failed_in_a_row += 1;
                                let failed =
                                    CheckpointRecord::failed(id, savepoint, duration_ms, e);
                                self.metrics.record_checkpoint(failed);
                            }
                        }
                        if savepoint {
                            // One copy per folder asked for: requests that
                            // met at this checkpoint share it.
                            let mut taken: Vec<(Option<String>, Result<String>)> = Vec::new();
                            for ask in waiting.drain(..) {
                                let i = match taken.iter().position(|(t, _)| *t == ask.target) {
                                    Some(i) => i,
                                    None => {
                                        let saved = match &done {
                                            Ok(()) => {
                                                self.storage.save(id, ask.target.as_deref()).await
                                            }
                                            Err(e) => Err(clone_error(e)),
                                        };
                                        if let Ok(location) = &saved {
                                            tracing::info!(checkpoint = id, %location, "savepoint taken");
                                        }
                                        taken.push((ask.target.clone(), saved));
                                        taken.len() - 1
                                    }
                                };
                                let _ = ask.reply.send(match &taken[i].1 {
                                    Ok(location) => Ok(location.clone()),
                                    Err(e) => Err(clone_error(e)),
                                });
                            }
                        }
                    }
                    Decision::SavepointFailed { reason } => {
                        for ask in waiting.drain(..) {
                            let _ = ask.reply.send(Err(Error::Checkpoint(reason.clone())));
                        }
                    }
                    Decision::Abort { id, reason } => {
                        let failed = Error::Checkpoint(reason.clone());
                        self.metrics
                            .record_checkpoint(CheckpointRecord::failed(id, false, 0, &failed));
                        tracing::warn!(checkpoint = id, %reason, "checkpoint {id} aborted");
                        failed_in_a_row += 1;
                        if self.tolerable.is_some_and(|t| failed_in_a_row > t) {
                            self.cancel.cancel();
                            return Some(Error::Checkpoint(format!(
                                "{failed_in_a_row} checkpoints in a row failed \
                                 (tolerable_failed_checkpoints: {}); the last, {id}: {reason}",
                                self.tolerable.unwrap_or_default()
                            )));
                        }
                        // A stale copy deletes nothing: the current one may
                        // be writing a checkpoint of the same id. A copy
                        // that cannot tell keeps the files (restore reads
                        // only recorded checkpoints; a later prune drops
                        // them).
                        match self.check_current().await {
                            Ok(false) => return None,
                            Ok(true) => self.clean_up(&mut cleanup, Some(id)),
                            Err(e) => {
                                tracing::warn!(checkpoint = id, error = %e, "aborted checkpoint's files kept: cannot learn whether this copy is current");
                            }
                        }
                    }
                    Decision::EndOfRun => {
                        // No later checkpoint would settle an unknown
                        // answer (and a restart that found the end
                        // recorded would not commit this attempt's last
                        // transactions): ask until there is an answer.
                        let recorded = loop {
                            match self.record(END_OF_RUN).await {
                                Ok(recorded) => break recorded,
                                Err(e) => {
                                    tracing::warn!(topology = %self.topology, error = %e, "cannot learn whether the end of the run was recorded; asking again");
                                    tokio::select! {
                                        _ = self.cancel.cancelled() => return None,
                                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                                    }
                                }
                            }
                        };
                        if !recorded {
                            return None;
                        }
                        tracing::debug!("every task finished; committing the end of the run");
                        // The last clean-up runs to its end, and one more
                        // prunes what a skipped one left.
                        if let Some(running) = cleanup.take() {
                            let _ = running.await;
                        }
                        if let Err(e) = self.storage.prune(self.retained).await {
                            tracing::warn!(error = %e, "cannot delete old checkpoints");
                        }
                        // No write is in flight now: drop aborted leftovers
                        // (folders and the shared files they uploaded).
                        if let Err(e) = self.storage.prune_unreferenced().await {
                            tracing::warn!(error = %e, "cannot delete incomplete checkpoints");
                        }
                        let _ = self.completed.send(END_OF_RUN);
                        return None;
                    }
                }
            }
        }
    }

    async fn complete(
        &mut self,
        id: u64,
        triggered_at: u64,
        duration_ms: u64,
        acks: Vec<TaskAck>,
        savepoint: bool,
    ) -> Result<()> {
        let stale = || Err(Error::Checkpoint(format!("checkpoint {id}: this copy is stale")));
        match self.check_current().await {
            Ok(true) => {}
            Ok(false) => return stale(),
            Err(e) => {
                tracing::warn!(checkpoint = id, error = %e, "checkpoint {id} declined: cannot learn whether this copy is current");
                return Err(Error::Checkpoint(format!("checkpoint {id} declined: {e}")));
            }
        }
        let uploaded_bytes = acks.iter().map(|a| a.uploaded_bytes).sum();
        let alignment_us = acks.iter().map(|a| a.alignment_us).max().unwrap_or(0);
        let mut tasks = Vec::with_capacity(acks.len());
        let mut incremental = Vec::new();
        for ack in acks {
            tasks.push(ack.file);
            incremental.extend(ack.incremental);
        }
        let metadata = CheckpointMetadata {
            format_version: FORMAT_VERSION,
            topology: self.topology.clone(),
            checkpoint_id: id,
            max_parallelism: self.max_parallelism,
            triggered_at_ms: triggered_at,
            duration_ms,
            tasks,
            incremental,
        };
        // Bounded like the tasks' part: storage that stopped answering
        // fails the checkpoint rather than hold every later one back.
        let timeout = Duration::from_millis(self.timing.timeout_ms);
        let written = tokio::time::timeout(timeout, self.storage.write_metadata(&metadata)).await;
        let written = written.unwrap_or_else(|_| {
            Err(Error::Checkpoint(format!(
                "checkpoint {id}: metadata not written within checkpoint_timeout_ms ({} ms)",
                self.timing.timeout_ms
            )))
        });
        if let Err(e) = written {
            tracing::warn!(checkpoint = id, error = %e, "checkpoint {id} failed: metadata not written");
            return Err(e);
        }
        // Complete once recorded: metadata alone (a stale copy may have
        // written it after its check) is never restored in a cluster.
        match self.record(id).await {
            Ok(true) => {}
            Ok(false) => return stale(),
            Err(e) => {
                // Perhaps recorded, perhaps not: nothing commits it now. The
                // sinks' transactions wait for the next recorded checkpoint,
                // which commits every one up to it; a restart restores
                // whichever of the two the record holds.
                tracing::warn!(checkpoint = id, error = %e, "checkpoint {id} not completed: cannot learn whether it was recorded");
                return Err(e);
            }
        }
        let record = CheckpointRecord {
            id,
            status: CheckpointStatus::Completed,
            savepoint,
            at_ms: epoch_ms(),
            duration_ms,
            state_bytes: metadata.state_bytes(),
            uploaded_bytes,
            keyed_entries: metadata.keyed_entries(),
            alignment_us,
            reason: None,
        };
        tracing::info!(
            checkpoint = id,
            duration_ms,
            bytes = record.state_bytes,
            uploaded_bytes,
            keyed_entries = record.keyed_entries,
            alignment_us,
            "checkpoint {id} completed"
        );
        self.metrics.record_checkpoint(record);
        let _ = self.completed.send(id);
        Ok(())
    }
}

impl CoordinatorTask {
    /// Deletes the aborted checkpoint `aborted`, if any, then prunes the
    /// completed ones to `retained`, in the background (Flink's
    /// `CheckpointsCleaner`): a store that stopped answering (an S3
    /// endpoint gone mid-upload) then holds no trigger back, and the
    /// checkpoints meanwhile fail by their timeout and count against
    /// `tolerable_failed_checkpoints`. One clean-up at a time: while one
    /// runs the next is skipped, and a later prune deletes what it would
    /// have (every incomplete folder older than the newest complete one).
    /// The non-quiescent prune may run beside a checkpoint being written
    /// ([`CheckpointStorage::prune`]).
    fn clean_up(&self, running: &mut Option<tokio::task::JoinHandle<()>>, aborted: Option<u64>) {
        if running.as_ref().is_some_and(|r| !r.is_finished()) {
            return;
        }
        let (storage, retained) = (self.storage.clone(), self.retained);
        *running = Some(tokio::spawn(async move {
            if let Some(id) = aborted {
                if let Err(e) = storage.delete(id).await {
                    tracing::warn!(checkpoint = id, error = %e, "cannot delete aborted checkpoint");
                }
            }
            if let Err(e) = storage.prune(retained).await {
                tracing::warn!(error = %e, "cannot delete old checkpoints");
            }
        }));
    }

    /// Whether this copy is still the current one (always, without a
    /// fence). Stale: stops it.
    ///
    /// # Errors
    /// The fence's, when it cannot tell (nothing is stopped).
    async fn check_current(&self) -> Result<bool> {
        let Some(fence) = &self.fence else { return Ok(true) };
        let current = fence.is_current().await?;
        Ok(self.stop_unless(current))
    }

    /// Records checkpoint `id` (or the end of the run) through the fence,
    /// if any: whether it completes. If refused, this copy is stale: stops
    /// it.
    ///
    /// # Errors
    /// The fence's, when the outcome cannot be learnt (nothing is stopped).
    async fn record(&self, id: u64) -> Result<bool> {
        let Some(fence) = &self.fence else { return Ok(true) };
        let recorded = fence.record_completed(id).await?;
        Ok(self.stop_unless(recorded))
    }

    fn stop_unless(&self, current: bool) -> bool {
        if !current {
            tracing::warn!(topology = %self.topology, "stale copy of the topology: nothing completes; stopping");
            self.cancel.cancel();
        }
        current
    }
}

/// `Error` is not `Clone`: a savepoint's outcome for each of its requesters.
fn clone_error(e: &Error) -> Error {
    Error::Checkpoint(e.to_string())
}
