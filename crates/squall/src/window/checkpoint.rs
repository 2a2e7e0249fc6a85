//! [`WindowCheckpoint`]: the window bolt's state in the checkpointed state
//! API (issue 4's keyed and operator state), in `exactly_once`.
//!
//! At a barrier the heap [`super::state::WindowStore`] is copied into keyed
//! state `windows`: one entry per window key, holding its open windows with
//! their accumulators (merged session windows included), in the key group
//! of that key, so that it redistributes by key group when parallelism
//! changes. The watermark goes into operator state `window.watermark`.
//! Timers are not stored: [`WindowOperator::restore_panes`] derives them
//! from the windows and the watermark. Between barriers nothing is written,
//! so the per-record path is the same as without checkpoints.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::state::Panes;
use super::{AggregateFunction, WindowOperator};
use crate::error::Result;
use crate::model::Key;
use crate::state::{decode, decode_key, encode, OperatorState, StateId, StateKind, TaskState};
use crate::topology::{Guarantee, TopologyContext};

/// Name of the keyed state holding the open windows.
const WINDOWS: &str = "windows";

/// A restored watermark (ms) and the open windows of every key.
type Restored<A> = (i64, Vec<(Key, Panes<A>)>);

/// The checkpointed copy of one window bolt task's state.
#[derive(Clone)]
pub(crate) struct WindowCheckpoint<A> {
    state: TaskState,
    windows: StateId,
    watermark: OperatorState<i64>,
    /// What was restored and not yet handed to an operator (the operator is
    /// made from the first record's schema).
    pending: Option<Restored<A>>,
}

impl<A> std::fmt::Debug for WindowCheckpoint<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowCheckpoint").field("pending", &self.pending.is_some()).finish()
    }
}

impl<A: Serialize + DeserializeOwned + Clone> WindowCheckpoint<A> {
    /// The checkpointed state of the task of `context`, restored from the
    /// last checkpoint if there is one; `None` unless the topology runs
    /// `exactly_once`.
    ///
    /// # Errors
    /// [`crate::Error::State`] if the restored state does not decode.
    pub fn open(context: &TopologyContext) -> Result<Option<Self>> {
        if context.config().guarantee != Guarantee::ExactlyOnce {
            return Ok(None);
        }
        let state = context.state().clone();
        let windows = state.register_unscoped(WINDOWS, StateKind::Value)?;
        let watermark = context.operator_state::<i64>("window.watermark");
        let mut pending = None;
        if state.restored_from().is_some() {
            let wm = watermark.get()?.unwrap_or(crate::runtime::NO_WATERMARK);
            let mut keys = Vec::new();
            for (k, v) in state.entries_of(windows)? {
                keys.push((Key(decode_key(&k)?), decode(&v, WINDOWS)?));
            }
            pending = Some((wm, keys));
        }
        Ok(Some(WindowCheckpoint { state, windows, watermark, pending }))
    }

    /// The restored watermark, if a restore is pending.
    pub fn restored_watermark(&self) -> Option<i64> {
        self.pending.as_ref().map(|(wm, _)| *wm)
    }

    /// Hands the restored windows to `op` (once).
    pub fn restore_into<F: AggregateFunction<Acc = A>>(&mut self, op: &mut WindowOperator<Key, F>) {
        if let Some((wm, keys)) = self.pending.take() {
            op.restore_watermark(wm);
            for (key, panes) in keys {
                op.restore_panes(&key, panes);
            }
        }
    }

    /// Copies the open windows of `op` (or, without an operator yet, what
    /// was restored) and `watermark` into the state the engine snapshots.
    ///
    /// # Errors
    /// [`crate::Error::State`] if a key or an accumulator cannot be encoded.
    pub fn snapshot<F: AggregateFunction<Acc = A>>(
        &self,
        op: Option<&WindowOperator<Key, F>>,
        watermark: i64,
    ) -> Result<()> {
        self.state.clear_state(self.windows)?;
        let put = |key: &Key, panes: &Panes<A>| {
            self.state.put_keyed(self.windows, &key.0, &encode(panes, WINDOWS)?)
        };
        match (op, &self.pending) {
            (Some(op), _) => op.panes().try_for_each(|(k, p)| put(k, p))?,
            (None, Some((_, keys))) => keys.iter().try_for_each(|(k, p)| put(k, p))?,
            (None, None) => {}
        }
        self.watermark.set(&watermark)
    }
}
