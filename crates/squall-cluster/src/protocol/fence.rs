//! [`EtcdFence`]: the [`CheckpointFence`] of a worker, over etcd.
//!
//! The completed checkpoints of a topology are recorded under
//! `NS/checkpoints/{topology}` ([`CompletedCheckpoints`]). A worker may
//! record one only while its assignment is the one it started with: the
//! write is an etcd transaction that compares the assignment key's
//! `mod_revision` with the one the worker read at its start. Nimbus moves a
//! topology by deleting every assignment of its epoch before it writes
//! those of epoch + 1, so once a new copy can exist no stale copy's
//! transaction succeeds; and a new copy reads the record only after its
//! own assignment was written, so it sees every completion a stale copy
//! recorded. Sinks commit only recorded checkpoints, and a copy restores
//! only recorded ones: a topology moved while its old workers still run
//! (a frozen supervisor, a cut link) commits each input once.
//!
//! **Stale is a word etcd says, never a time-out.** Only an answer read
//! from etcd (the assignment is gone, or its `mod_revision` is not the
//! worker's) makes a copy stale. A call that fails or takes longer than
//! [`CALL_TIMEOUT`] is asked again, with a pause that doubles up to 1 s,
//! for [`PATIENCE`]; past that the fence answers "unknown" (`Err`), and the
//! coordinator declines the checkpoint instead of stopping the topology.
//! Taking a slow answer for a refusal once made the current copy of a
//! rebalanced topology stop and restart itself on a loaded machine until a
//! test timed out (issue 20). Recording is idempotent, so asking again
//! after a lost answer is safe: an id this epoch already recorded answers
//! "recorded".

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use serde::{Deserialize, Serialize};
use squall::runtime::{CheckpointFence, FenceFuture};

use crate::protocol::store::{Assignment, Store};
use crate::{Error, Result};

/// How many recorded ids are kept (newest last): more than any retention.
const KEPT: usize = 64;

/// One etcd call that takes longer is asked again.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a fence asks again before it answers "unknown".
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The record of a topology's completed checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedCheckpoints {
    /// Epoch of the copy that recorded the newest.
    pub epoch: u64,
    /// The newest recorded ids, oldest first; the last is
    /// [`squall::checkpoint::END_OF_RUN`] once the run ended.
    pub ids: Vec<u64>,
}

/// The key of `topology`'s record, under the namespace.
pub fn record_key(topology: &str) -> String {
    format!("checkpoints/{topology}")
}

/// The fence of one worker's copy of a topology.
pub struct EtcdFence {
    store: Store,
    /// Full key of the worker's assignment.
    assignment: String,
    /// Its `mod_revision` when the worker started.
    revision: i64,
    epoch: u64,
    /// Full key of the record.
    record: String,
    /// How long a question is asked again before the answer is "unknown".
    patience: Duration,
}

impl fmt::Debug for EtcdFence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdFence")
            .field("assignment", &self.assignment)
            .field("revision", &self.revision)
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl EtcdFence {
    /// The fence of assignment `a`, as etcd holds it now.
    ///
    /// # Errors
    /// [`Error::Etcd`]; [`Error::Config`] if the assignment is gone or
    /// holds another epoch (this copy is stale from the start).
    pub async fn new(store: &Store, a: &Assignment) -> Result<EtcdFence> {
        let assignment = store.key(&format!("assignments/{}/{}", a.supervisor, a.topology.name));
        let resp = store.client().get(assignment.clone(), None).await?;
        let kv = resp.kvs().first().ok_or_else(|| {
            Error::Config(format!("this copy is stale: {assignment} is gone (its epoch moved on)"))
        })?;
        let current: Assignment = serde_json::from_slice(kv.value())
            .map_err(|source| Error::record(assignment.clone(), source))?;
        if current.epoch != a.epoch {
            return Err(Error::Config(format!(
                "this copy is stale: {assignment} holds epoch {}, not {}",
                current.epoch, a.epoch
            )));
        }
        Ok(EtcdFence {
            store: store.clone(),
            revision: kv.mod_revision(),
            assignment,
            epoch: a.epoch,
            record: store.key(&record_key(&a.topology.name)),
            patience: PATIENCE,
        })
    }

    /// This fence, answering "unknown" after `patience` instead of
    /// [`PATIENCE`].
    pub fn with_patience(mut self, patience: Duration) -> EtcdFence {
        self.patience = patience;
        self
    }

    /// `ask()`'s answer, asked again while etcd fails or does not answer
    /// within [`CALL_TIMEOUT`], for `patience`.
    ///
    /// # Errors
    /// [`squall::Error::Checkpoint`] naming `what` and the last failure,
    /// once `patience` has passed: the answer is unknown.
    async fn patiently<T, F>(&self, what: &str, mut ask: impl FnMut() -> F) -> squall::Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + self.patience;
        let mut pause = Duration::from_millis(50);
        loop {
            let failure = match tokio::time::timeout(CALL_TIMEOUT, ask()).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer in {} ms", CALL_TIMEOUT.as_millis()),
            };
            if Instant::now() + pause >= deadline {
                return Err(squall::Error::Checkpoint(format!(
                    "{what} ({}): no answer from etcd in {} s, last: {failure}",
                    self.assignment,
                    self.patience.as_secs_f64()
                )));
            }
            tracing::warn!(assignment = %self.assignment, %failure, retry_ms = pause.as_millis() as u64, "{what}: asking etcd again");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    async fn current(&self) -> Result<bool> {
        let resp = self.store.client().get(self.assignment.clone(), None).await?;
        Ok(resp.kvs().first().is_some_and(|kv| kv.mod_revision() == self.revision))
    }

    /// The record and its `mod_revision` (0: none yet).
    async fn read(&self) -> Result<(CompletedCheckpoints, i64)> {
        let resp = self.store.client().get(self.record.clone(), None).await?;
        match resp.kvs().first() {
            None => Ok((CompletedCheckpoints::default(), 0)),
            Some(kv) => Ok((
                serde_json::from_slice(kv.value())
                    .map_err(|source| Error::record(self.record.clone(), source))?,
                kv.mod_revision(),
            )),
        }
    }

    /// Appends `id` to the record if the assignment is unchanged: `false`
    /// if it changed. A concurrent writer of the record (none while the
    /// assignment holds) makes it read and try again. An id this epoch
    /// already recorded (a retry after a lost answer) is `true` at once.
    async fn record(&self, id: u64) -> Result<bool> {
        loop {
            let (mut record, seen) = self.read().await?;
            if record.epoch == self.epoch && record.ids.contains(&id) {
                return Ok(true);
            }
            record.epoch = self.epoch;
            record.ids.push(id);
            let excess = record.ids.len().saturating_sub(KEPT);
            record.ids.drain(..excess);
            let value = serde_json::to_vec(&record)
                .map_err(|source| Error::record(self.record.clone(), source))?;
            let ours =
                Compare::mod_revision(self.assignment.clone(), CompareOp::Equal, self.revision);
            let unchanged = Compare::mod_revision(self.record.clone(), CompareOp::Equal, seen);
            let txn = Txn::new().when([ours, unchanged]).and_then([TxnOp::put(
                self.record.clone(),
                value,
                None,
            )]);
            if self.store.client().txn(txn).await?.succeeded() {
                return Ok(true);
            }
            if !self.current().await? {
                return Ok(false);
            }
        }
    }
}

impl CheckpointFence for EtcdFence {
    fn is_current(&self) -> FenceFuture<'_, squall::Result<bool>> {
        Box::pin(async {
            let current = self.patiently("is this copy current", || self.current()).await?;
            if !current {
                tracing::warn!(assignment = %self.assignment, revision = self.revision, "this copy is stale: its assignment is gone or was replaced");
            }
            Ok(current)
        })
    }

    fn record_completed(&self, id: u64) -> FenceFuture<'_, squall::Result<bool>> {
        Box::pin(async move {
            let what = format!("recording checkpoint {id}");
            let recorded = self.patiently(&what, || self.record(id)).await?;
            if !recorded {
                tracing::warn!(checkpoint = id, assignment = %self.assignment, "not recorded: this copy is stale");
            }
            Ok(recorded)
        })
    }

    fn completed(&self) -> FenceFuture<'_, squall::Result<Vec<u64>>> {
        Box::pin(async {
            let what = format!("reading {}", self.record);
            Ok(self.patiently(&what, || self.read()).await?.0.ids)
        })
    }
}
