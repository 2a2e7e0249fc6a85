//! [`Replay`]: what a built-in spout emitted and not yet saw acked, so that
//! it can emit again what failed or timed out (`at_least_once`).
//!
//! One piece of code for every built-in spout. Without tracking it only
//! emits: nothing is kept, and the at-most-once path costs what it did.

use std::collections::{HashMap, VecDeque};

use foldhash::fast::RandomState;

use crate::error::Result;
use crate::model::Values;
use crate::runtime::OutputCollector;
use crate::topology::{MessageId, TopologyContext, DEFAULT_STREAM};

/// A spout task's tuples in flight (by message id) and those to replay.
///
/// Memory is bounded by `max_spout_pending`: the engine does not ask the
/// spout for more while that many are in flight.
#[derive(Debug, Default, Clone)]
pub struct Replay {
    tracking: bool,
    pending: HashMap<MessageId, Values, RandomState>,
    failed: VecDeque<MessageId>,
}

impl Replay {
    /// Resets for a task of a topology configured as in `context`.
    pub fn open(&mut self, context: &TopologyContext) {
        self.tracking = context.config().tracking();
        self.pending.clear();
        self.failed.clear();
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
