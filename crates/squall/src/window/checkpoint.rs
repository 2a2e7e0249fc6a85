//! [`WindowCheckpoint`]: a window operator's state in the checkpointed
//! state API (issue 4's keyed and operator state), with checkpoints; used
//! by the YAML window bolt and the DataStream window operator.
//!
//! At a barrier the heap [`super::state::WindowStore`] is copied through a
//! [`HeapCheckpoint`] into keyed state `windows`: one entry per window key,
//! holding its open windows with their accumulators (merged session windows
//! included), in the key group of that key, so that it redistributes by key
//! group when parallelism changes. The watermark goes into operator state
//! `windows.watermark`. Timers are not stored:
//! [`WindowOperator::restore_panes`] derives them from the windows and the
//! watermark. Between barriers nothing is written, so the per-record path
//! is the same as without checkpoints.

use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::state::Panes;
use super::{AggregateFunction, WindowOperator};
use crate::error::Result;
use crate::state::{HeapCheckpoint, Restored};
use crate::topology::TopologyContext;

/// Name of the keyed state holding the open windows.
const WINDOWS: &str = "windows";

/// The routing hash of a window key (see [`HeapCheckpoint::snapshot`]).
pub(crate) type RouteFn<K> = fn(&K) -> u64;

/// The checkpointed copy of one window task's state.
pub(crate) struct WindowCheckpoint<K, A> {
    heap: HeapCheckpoint,
    route: RouteFn<K>,
    /// What was restored and not yet handed to an operator (the YAML bolt
    /// makes its operator from the first record's schema).
    pending: Option<Restored<K, Panes<A>>>,
}

impl<K: Clone, A: Clone> Clone for WindowCheckpoint<K, A> {
    fn clone(&self) -> Self {
        WindowCheckpoint {
            heap: self.heap.clone(),
            route: self.route,
            pending: self.pending.clone(),
        }
    }
}

impl<K, A> std::fmt::Debug for WindowCheckpoint<K, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowCheckpoint").field("pending", &self.pending.is_some()).finish()
    }
}

impl<K, A> WindowCheckpoint<K, A>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Clone,
    A: Serialize + DeserializeOwned + Clone,
{
    /// The checkpointed state of the task of `context`, restored from the
    /// last checkpoint if there is one; `None` unless the topology takes
    /// checkpoints. `route` gives a key's routing hash.
    ///
    /// # Errors
    /// [`crate::Error::State`] if the restored state does not decode.
    pub fn open(context: &TopologyContext, route: RouteFn<K>) -> Result<Option<Self>> {
        let Some(heap) = HeapCheckpoint::open(context, WINDOWS)? else { return Ok(None) };
        let pending = heap.restore()?;
        Ok(Some(WindowCheckpoint { heap, route, pending }))
    }

    /// The restored watermark, if a restore is pending.
    pub fn restored_watermark(&self) -> Option<i64> {
        self.pending.as_ref().map(|(wm, _)| *wm)
    }

    /// Hands the restored windows to `op` (once).
    pub fn restore_into<F: AggregateFunction<Acc = A>>(&mut self, op: &mut WindowOperator<K, F>) {
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
        op: Option<&WindowOperator<K, F>>,
        watermark: i64,
    ) -> Result<()> {
        let route = self.route;
        match (op, &self.pending) {
            (Some(op), _) => {
                self.heap.snapshot(op.panes().map(|(k, p)| (route(k), k, p)), watermark)
            }
            (None, Some((_, keys))) => {
                self.heap.snapshot(keys.iter().map(|(k, p)| (route(k), k, p)), watermark)
            }
            (None, None) => {
                self.heap.snapshot(std::iter::empty::<(u64, &K, &Panes<A>)>(), watermark)
            }
        }
    }
}
