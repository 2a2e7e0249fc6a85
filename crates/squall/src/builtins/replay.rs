//! [`Replay`]: what a built-in spout emitted and not yet saw acked, so that
//! it can emit again what failed or timed out (`at_least_once`).
//!
//! One piece of code for every built-in spout. Without tracking it only
//! emits: nothing is kept, and the at-most-once path costs what it did.
//!
//! With tracking and checkpoints (`at_least_once` with
//! `checkpoint_interval_ms`), a checkpoint also holds the tuples in flight
//! at its barrier (operator list state `replay`), and a task restored from
//! it emits them again first: the spout's recorded position is past them,
//! and a tree that fails after the barrier would otherwise be lost with the
//! restore.

use std::collections::{HashMap, VecDeque};

use foldhash::fast::RandomState;

use crate::error::Result;
use crate::model::Values;
use crate::runtime::OutputCollector;
use crate::state::OperatorListState;
use crate::topology::{MessageId, TopologyContext, DEFAULT_STREAM};

/// A spout task's tuples in flight (by message id) and those to replay.
///
/// Memory is bounded by `max_spout_pending`: the engine does not ask the
/// spout for more while that many are in flight.
#[derive(Debug, Default)]
pub struct Replay {
    tracking: bool,
    pending: HashMap<MessageId, Values, RandomState>,
    failed: VecDeque<MessageId>,
    /// Where checkpoints keep `pending` (tracking with checkpoints only).
    saved: Option<OperatorListState<Values>>,
}

/// Message ids of tuples restored from a checkpoint start here, above any
/// id a built-in spout gives (line numbers, sequence numbers).
const RESTORED_IDS: MessageId = 1 << 63;

impl Clone for Replay {
    /// A copy that has not been opened: nothing pending, no state.
    fn clone(&self) -> Self {
        Replay::default()
    }
}

impl Replay {
    /// Resets for a task of a topology configured as in `context`.
    pub fn open(&mut self, context: &TopologyContext) {
        self.tracking = context.config().tracking();
        self.pending.clear();
        self.failed.clear();
        self.saved = None;
    }

    /// As [`Replay::open`], for a spout whose position is checkpointed:
    /// with tracking and checkpoints, the tuples a restored checkpoint held
    /// in flight are emitted again before anything else.
    ///
    /// # Errors
    /// [`crate::Error::State`] if the checkpoint's `replay` state does not
    /// decode.
    pub fn open_checkpointed(&mut self, context: &TopologyContext) -> Result<()> {
        self.open(context);
        if !(self.tracking && context.config().checkpointing()) {
            return Ok(());
        }
        let saved = context.operator_list_state::<Values>("replay")?;
        for (i, values) in saved.get()?.into_iter().enumerate() {
            let id = RESTORED_IDS + i as MessageId;
            self.pending.insert(id, values);
            self.failed.push_back(id);
        }
        self.saved = Some(saved);
        Ok(())
    }

    /// Records the tuples in flight in the next checkpoint (call it from
    /// `snapshot_state`); nothing without tracking and checkpoints.
    ///
    /// # Errors
    /// [`crate::Error::State`] if a tuple cannot be encoded.
    pub fn snapshot(&self) -> Result<()> {
        match &self.saved {
            Some(saved) => saved.update(&self.pending.values().cloned().collect::<Vec<_>>()),
            None => Ok(()),
        }
    }

    /// Emits `values` on the default stream with message id `id`, keeping
    /// them until acked when tracking.
    ///
    /// # Errors
    /// As [`OutputCollector::emit_with_id`].
    pub fn emit(
        &mut self,
        collector: &mut OutputCollector,
        id: MessageId,
        values: Values,
    ) -> Result<()> {
        if self.tracking {
            collector.emit_with_id(DEFAULT_STREAM, values.clone(), id)?;
            self.pending.insert(id, values);
            Ok(())
        } else {
            collector.emit(values)
        }
    }

    /// [`Replay::emit`] of a row the spout reuses: copied only when kept
    /// (tracking) or buffered (see [`OutputCollector::emit_ref`]).
    ///
    /// # Errors
    /// As [`OutputCollector::emit_with_id`].
    pub fn emit_ref(
        &mut self,
        collector: &mut OutputCollector,
        id: MessageId,
        values: &Values,
    ) -> Result<()> {
        if self.tracking {
            self.emit(collector, id, values.clone())
        } else {
            collector.emit_ref(values)
        }
    }

    /// Emits again up to `max` of the failed tuples; returns how many.
    ///
    /// # Errors
    /// As [`OutputCollector::emit_with_id`].
    pub fn replay(&mut self, collector: &mut OutputCollector, max: usize) -> Result<usize> {
        let mut n = 0;
        while n < max {
            let Some(id) = self.failed.pop_front() else { break };
            let Some(values) = self.pending.get(&id) else { continue };
            collector.emit_with_id(DEFAULT_STREAM, values.clone(), id)?;
            n += 1;
        }
        Ok(n)
    }

    /// The tree of `id` completed: forget it.
    pub fn ack(&mut self, id: MessageId) {
        self.pending.remove(&id);
    }

    /// The tree of `id` failed or timed out: replay it.
    pub fn fail(&mut self, id: MessageId) {
        if self.pending.contains_key(&id) {
            self.failed.push_back(id);
        }
    }
}
