//! [`TwoPhaseCommitSink`]: exactly-once output, as Flink's
//! `TwoPhaseCommitSinkFunction`, and [`TwoPhaseCommitBolt`], the bolt that
//! drives one.
//!
//! The life of a transaction: begun after the previous barrier, written to
//! by every input, **pre-committed** when barrier n arrives (made durable,
//! still invisible), **committed** when the coordinator says checkpoint n
//! completed (made visible), or **aborted** if the task stops before. The
//! pre-committed transactions are union operator list state, as in Flink's
//! `TwoPhaseCommitSinkFunction`: a restore from checkpoint n commits those
//! it lists (their checkpoint completed even if the commit had not happened
//! yet) and discards every other leftover, so the output holds each input
//! exactly once. Every restored task sees the transactions of every old
//! task; new task i commits those of old task j when
//! `j % parallelism == i` ([`owner`]), so that after a rescale each one is
//! committed by exactly one task and none is left behind.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::Tuple;
use crate::runtime::OutputCollector;
use crate::state::OperatorListState;
use crate::topology::{Bolt, TopologyContext};

/// A sink whose writes become visible only through commits.
///
/// Implementations must make `commit` idempotent: after a failure it may be
/// called again for a transaction that was already committed.
pub trait TwoPhaseCommitSink: Send + 'static {
    /// What identifies a transaction (file names, a transaction id); stored
    /// in checkpoints, so it must survive a restart.
    type Transaction: Serialize + DeserializeOwned + Clone + Debug + Send;

    /// Called once on the task before anything else.
    ///
    /// # Errors
    /// An error stops the topology before data flows.
    fn open(&mut self, _context: &TopologyContext) -> Result<()> {
        Ok(())
    }

    /// Starts a new transaction.
    ///
    /// # Errors
    /// An error stops the topology with the task named.
    fn begin_transaction(&mut self) -> Result<Self::Transaction>;

    /// Writes `input` into `txn`.
    ///
    /// # Errors
    /// An error stops the topology with the task named.
    fn invoke(&mut self, txn: &mut Self::Transaction, input: Tuple) -> Result<()>;

    /// Makes `txn` durable (not yet visible) for checkpoint `checkpoint_id`.
    ///
    /// # Errors
    /// An error declines the checkpoint and stops the topology.
    fn pre_commit(&mut self, txn: &mut Self::Transaction, checkpoint_id: u64) -> Result<()>;

    /// Makes a pre-committed `txn` visible. Idempotent.
    ///
    /// # Errors
    /// An error stops the topology with the task named.
    fn commit(&mut self, txn: &Self::Transaction) -> Result<()>;

    /// Discards `txn`.
    fn abort(&mut self, txn: &Self::Transaction);

    /// After a restore (or a fresh start, with `keep` empty): discards every
    /// leftover transaction this task owns that `keep` does not list. The
    /// task of index i (of `parallelism`, both from the context given to
    /// `open`) owns the leftovers of every task index j, of this run or of
    /// an earlier one at another parallelism, with [`owner`]`(j,
    /// parallelism) == i`; at an unchanged parallelism, its own.
    ///
    /// # Errors
    /// An error stops the topology before data flows.
    fn discard_others(&mut self, keep: &[Self::Transaction]) -> Result<()>;
}

/// The new task (of `parallelism`) that commits or discards what old task
/// `task_index` left: `task_index % parallelism`.
pub fn owner(task_index: usize, parallelism: usize) -> usize {
    task_index % parallelism
}

/// A pre-committed transaction, as checkpointed: the task that wrote it and
/// the checkpoint it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending<T> {
    /// Index of the task that wrote it (in the parallelism of its run).
    task: usize,
    /// The checkpoint whose barrier pre-committed it.
    checkpoint: u64,
    txn: T,
}

/// The bolt that runs a [`TwoPhaseCommitSink`]: begins, pre-commits on the
/// barrier, commits on completion, keeps the pre-committed transactions in
/// union operator list state.
///
/// Without checkpoints (`checkpoint_interval_ms: 0`) everything is one
/// transaction, committed when the run ends.
#[derive(Debug, Clone)]
pub struct TwoPhaseCommitBolt<S: TwoPhaseCommitSink> {
    sink: S,
    current: Option<S::Transaction>,
    /// Pre-committed, not yet committed.
    pending: Vec<Pending<S::Transaction>>,
    context: Option<TopologyContext>,
}

/// Name of the operator state holding the pre-committed transactions.
const PENDING: &str = "two-phase-commit/pending";

impl<S: TwoPhaseCommitSink> TwoPhaseCommitBolt<S> {
    /// Drives `sink`.
    pub fn new(sink: S) -> Self {
        TwoPhaseCommitBolt { sink, current: None, pending: Vec::new(), context: None }
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    fn state(context: &TopologyContext) -> Result<OperatorListState<Pending<S::Transaction>>> {
        context.union_operator_list_state(PENDING)
    }
}

impl<S: TwoPhaseCommitSink> Bolt for TwoPhaseCommitBolt<S> {
    /// Opens the sink, commits the transactions of the restored checkpoint
    /// that this task owns ([`owner`]), discards every other leftover it
    /// owns, and begins a transaction.
    ///
    /// # Errors
    /// The sink's; [`crate::Error::State`] if the restored state does not
    /// decode.
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        self.sink.open(context)?;
        let (index, parallelism) = (context.task_index(), context.parallelism());
        let state = Self::state(context)?;
        let keep: Vec<S::Transaction> = state
            .get()?
            .into_iter()
            .filter(|p| owner(p.task, parallelism) == index)
            .map(|p| p.txn)
            .collect();
        self.sink.discard_others(&keep)?;
        for txn in &keep {
            self.sink.commit(txn)?;
        }
        self.pending.clear();
        state.update(&self.pending)?;
        self.context = Some(context.clone());
        self.current = Some(self.sink.begin_transaction()?);
        Ok(())
    }

    fn execute(&mut self, input: Tuple, _collector: &mut OutputCollector) -> Result<()> {
        let txn = self.current.as_mut().expect("a transaction is open between barriers");
        self.sink.invoke(txn, input)
    }

    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<()> {
        self.pre_commit_current(checkpoint_id)?;
        self.current = Some(self.sink.begin_transaction()?);
        Ok(())
    }

    fn on_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        let (done, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.checkpoint <= checkpoint_id);
        self.pending = later;
        for p in done {
            self.sink.commit(&p.txn)?;
        }
        Ok(())
    }

    /// Pre-commits the open transaction; it is committed when the run ends.
    fn finish(&mut self, _collector: &mut OutputCollector) -> Result<()> {
        self.pre_commit_current(crate::checkpoint::END_OF_RUN)
    }

    /// Aborts the open transaction (pre-committed ones wait for a restore).
    fn cleanup(&mut self) {
        if let Some(txn) = self.current.take() {
            self.sink.abort(&txn);
        }
    }
}

impl<S: TwoPhaseCommitSink> TwoPhaseCommitBolt<S> {
    fn pre_commit_current(&mut self, checkpoint_id: u64) -> Result<()> {
        if let Some(mut txn) = self.current.take() {
            if let Err(e) = self.sink.pre_commit(&mut txn, checkpoint_id) {
                // Never committed, and no longer open for `cleanup` to
                // abort: a half-written file (a full disk) goes now.
                self.sink.abort(&txn);
                return Err(e);
            }
            let task = self.context.as_ref().map_or(0, TopologyContext::task_index);
            self.pending.push(Pending { task, checkpoint: checkpoint_id, txn });
        }
        if let Some(context) = &self.context {
            Self::state(context)?.update(&self.pending)?;
        }
        Ok(())
    }
}
