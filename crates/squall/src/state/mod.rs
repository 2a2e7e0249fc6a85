//! Keyed and operator state, Flink's way.
//!
//! - **Keyed state** ([`ValueState`], [`ListState`], [`MapState`],
//!   [`ReducingState`]) is scoped to the key of the tuple being processed:
//!   the fields of the fields grouping it arrived on. Keys hash into
//!   `max_parallelism` key groups ([`crate::keys`]) and a task holds a
//!   contiguous range of them, so state moves between tasks by whole key
//!   groups when parallelism changes.
//! - **Operator state** ([`OperatorState`]) is one value per task: a
//!   spout's offsets, a sink's pending transactions. Operator *list* state
//!   ([`OperatorListState`]) is a list per task, redistributed when the
//!   parallelism changes (split or union, as Flink's).
//! - **Backends** ([`StateBackend`]) store keyed state as bytes; the
//!   `memory` backend ([`MemoryBackend`]) is the default. The topology's
//!   `state_backend` setting chooses; user code does not change.
//! - **Snapshots** ([`TaskSnapshot`]) are cut per key group and encoded with
//!   postcard.
//!
//! What this module does not own: when snapshots are taken and where they
//! are written ([`crate::checkpoint`] and the runtime).

mod backend;
mod handles;
mod heap;
mod heap_view;
mod memory;
mod operator;
mod query;
mod raw;
#[cfg(feature = "rocksdb")]
mod rocksdb;
mod snapshot;
mod store;
#[cfg(test)]
mod tests;

use std::ops::Range;

use serde::{Deserialize, Serialize};

pub use backend::{KeyGroupState, NamedEntries, StateBackend, StateId, StateKind};
pub use handles::{ListState, MapState, OperatorState, ReducingState, ValueState};
pub(crate) use heap::{HeapCheckpoint, Restored};
pub use heap_view::{Answer, Ask, HeapView, Mailbox, ANSWER_WAIT, MAILBOX_TICK};
pub use memory::MemoryBackend;
pub use operator::{OperatorList, OperatorListState, Redistribution};
pub use query::{
    json_key, key_text, value_json, KeyAnswer, LiveStates, QueriedEntry, Scan, ScanAnswer,
};
pub(crate) use query::{json_of, Decoder};
#[cfg(feature = "rocksdb")]
pub use rocksdb::RocksDbBackend;
pub use snapshot::TaskSnapshot;
pub(crate) use store::KeySelector;
pub use store::TaskState;
pub(crate) use store::{decode, encode};

/// Which [`StateBackend`] holds keyed state (config key `state_backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateBackendKind {
    /// Hash maps on the heap ([`MemoryBackend`]).
    #[default]
    Memory,
    /// An embedded RocksDB per task (`RocksDbBackend`); needs the `rocksdb`
    /// cargo feature.
    Rocksdb,
}

impl StateBackendKind {
    /// Whether this build has the backend.
    pub fn available(self) -> bool {
        match self {
            StateBackendKind::Memory => true,
            StateBackendKind::Rocksdb => cfg!(feature = "rocksdb"),
        }
    }

    /// A new, empty backend of this kind holding `key_groups`.
    ///
    /// # Errors
    /// [`crate::Error::State`] if the backend cannot be opened, or is not
    /// in this build.
    pub fn create(self, key_groups: Range<usize>) -> crate::Result<Box<dyn StateBackend>> {
        match self {
            StateBackendKind::Memory => Ok(Box::new(MemoryBackend::new(key_groups))),
            #[cfg(feature = "rocksdb")]
            StateBackendKind::Rocksdb => Ok(Box::new(RocksDbBackend::new(key_groups)?)),
            #[cfg(not(feature = "rocksdb"))]
            StateBackendKind::Rocksdb => Err(crate::Error::State(
                "state_backend rocksdb: squall was built without the `rocksdb` feature".into(),
            )),
        }
    }
}
