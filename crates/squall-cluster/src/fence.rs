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

use std::fmt;
use std::time::Duration;

use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use serde::{Deserialize, Serialize};
use squall::runtime::{CheckpointFence, FenceFuture};

use crate::store::{Assignment, Store};
use crate::{Error, Result};

/// How many recorded ids are kept (newest last): more than any retention.
const KEPT: usize = 64;

/// A fence read or write that takes longer answers "stale".
const TIMEOUT: Duration = Duration::from_secs(2);

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
        })
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
    /// assignment holds) makes it read and try again.
    async fn record(&self, id: u64) -> Result<bool> {
        loop {
            let (mut record, seen) = self.read().await?;
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

/// `answer` within [`TIMEOUT`], else (or on an etcd error) `false`.
async fn in_time(answer: impl std::future::Future<Output = Result<bool>>) -> bool {
    matches!(tokio::time::timeout(TIMEOUT, answer).await, Ok(Ok(true)))
}

impl CheckpointFence for EtcdFence {
    fn is_current(&self) -> FenceFuture<'_, bool> {
        Box::pin(in_time(self.current()))
    }

    fn record_completed(&self, id: u64) -> FenceFuture<'_, bool> {
        Box::pin(async move {
            let recorded = in_time(self.record(id)).await;
            if !recorded {
                tracing::warn!(checkpoint = id, assignment = %self.assignment, "not recorded: this copy is stale");
            }
            recorded
        })
    }

    fn completed(&self) -> FenceFuture<'_, squall::Result<Vec<u64>>> {
        Box::pin(async {
            let read = tokio::time::timeout(TIMEOUT, self.read()).await;
            match read {
                Ok(Ok((record, _))) => Ok(record.ids),
                Ok(Err(e)) => {
                    Err(squall::Error::Checkpoint(format!("reading {}: {e}", self.record)))
                }
                Err(_) => Err(squall::Error::Checkpoint(format!(
                    "reading {}: no answer from etcd in {} s",
                    self.record,
                    TIMEOUT.as_secs()
                ))),
            }
        })
    }
}
