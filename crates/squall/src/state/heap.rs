//! [`HeapCheckpoint`]: the checkpointed copy of per-key state that an
//! operator keeps on the heap — the window operators' open windows, a
//! process function's state and timers, the join buffers, a rolling reduce.
//!
//! The operator works on its own hash maps (one lookup per record, nothing
//! encoded). At a barrier (`snapshot_state`) it hands every key with its
//! state to [`HeapCheckpoint::snapshot`], which writes one keyed-state
//! entry per key, in the key group the key's records are routed to, plus
//! the operator's watermark in operator state; the engine's snapshot then
//! copies them like any other keyed state, so they redistribute by key
//! group when the parallelism changes. On restore
//! [`HeapCheckpoint::restore`] gives the entries back. Timers are stored in
//! the key's entry (Flink keeps its timers in keyed state too) or derived
//! from it (a window's timers follow from its bounds).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode, encode, OperatorState, StateId, StateKind, TaskState};
use crate::error::Result;
use crate::topology::TopologyContext;

/// A restored watermark (ms) and the state of every key.
pub(crate) type Restored<K, V> = (i64, Vec<(K, V)>);

/// The checkpointed copy of one task's heap state, named `name`.
#[derive(Clone)]
pub(crate) struct HeapCheckpoint {
    state: TaskState,
    name: String,
    entries: StateId,
    watermark: OperatorState<i64>,
}

impl std::fmt::Debug for HeapCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeapCheckpoint").field("name", &self.name).finish()
    }
}

impl HeapCheckpoint {
    /// The checkpointed state `name` of the task of `context` (keyed state
    /// `name`, operator state `name.watermark`); `None` unless the topology
    /// takes checkpoints (`checkpoint_interval_ms` above 0, any guarantee).
    ///
    /// # Errors
    /// [`crate::Error::State`] if `name` is already another kind of state.
    pub fn open(context: &TopologyContext, name: &str) -> Result<Option<Self>> {
        if !context.config().checkpointing() {
            return Ok(None);
        }
        let state = context.state().clone();
        let entries = state.register_unscoped(name, StateKind::Value)?;
        let watermark = context.operator_state::<i64>(&format!("{name}.watermark"));
        Ok(Some(HeapCheckpoint { state, name: name.to_string(), entries, watermark }))
    }

    /// What the last checkpoint held for this task's key groups, if the
    /// task was restored: the watermark (`NO_WATERMARK` if none was stored)
    /// and every key with its state.
    ///
    /// # Errors
    /// [`crate::Error::State`] if an entry does not decode as `(K, V)`.
    pub fn restore<K: DeserializeOwned, V: DeserializeOwned>(
        &self,
    ) -> Result<Option<Restored<K, V>>> {
        if self.state.restored_from().is_none() {
            return Ok(None);
        }
        let wm = self.watermark.get()?.unwrap_or(crate::runtime::NO_WATERMARK);
        let mut keys = Vec::new();
        for (k, v) in self.state.entries_of(self.entries)? {
            keys.push((decode(&k, &self.name)?, decode(&v, &self.name)?));
        }
        Ok(Some((wm, keys)))
    }

    /// Replaces the stored state by `entries` — (the key's routing hash,
    /// as [`crate::keys::key_hash`] computes it for the values the input is
    /// grouped by; the key; its state) — and `watermark` (ms).
    ///
    /// # Errors
    /// [`crate::Error::State`] if a key or a state cannot be encoded.
    pub fn snapshot<K: Serialize, V: Serialize>(
        &self,
        entries: impl IntoIterator<Item = (u64, K, V)>,
        watermark: i64,
    ) -> Result<()> {
        self.state.clear_state(self.entries)?;
        for (hash, key, value) in entries {
            let (k, v) = (encode(&key, &self.name)?, encode(&value, &self.name)?);
            self.state.put_keyed(self.entries, hash, &k, &v)?;
        }
        self.watermark.set(&watermark)
    }
}
