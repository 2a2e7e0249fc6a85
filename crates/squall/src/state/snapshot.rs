//! [`TaskSnapshot`]: what one task writes into a checkpoint, and its
//! encoding (postcard, a maintained compact serde format).

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::{Error, Result};
use crate::state::backend::KeyGroupState;
use crate::state::operator::OperatorList;

/// The state of one task at one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSnapshot {
    /// The task's component.
    pub component: String,
    /// The task's index in its component, `0..parallelism`.
    pub task_index: u32,
    /// The component's parallelism when the snapshot was taken.
    pub parallelism: u32,
    /// The key groups the task held.
    pub key_groups: Range<u32>,
    /// Operator state: name to postcard-encoded value.
    pub operator: BTreeMap<String, ByteBuf>,
    /// Keyed state, per non-empty key group (empty when the keyed state is
    /// an incremental RocksDB snapshot, listed in the metadata instead).
    pub keyed: Vec<KeyGroupState>,
    /// Operator list state (Flink's `ListState` / `UnionListState` of
    /// operator state): name to elements, redistributed on rescale.
    pub operator_lists: BTreeMap<String, OperatorList>,
}

impl TaskSnapshot {
    /// Encodes the snapshot (postcard).
    ///
    /// # Errors
    /// [`Error::State`] if it cannot be encoded.
    pub fn encode(&self) -> Result<Vec<u8>> {
        postcard::to_allocvec(self).map_err(|e| {
            Error::State(format!("cannot encode the snapshot of '{}': {e}", self.component))
        })
    }

    /// Decodes bytes written by [`TaskSnapshot::encode`].
    ///
    /// # Errors
    /// [`Error::State`] if the bytes are not a snapshot.
    pub fn decode(bytes: &[u8]) -> Result<TaskSnapshot> {
        postcard::from_bytes(bytes).map_err(|e| Error::State(format!("not a task snapshot: {e}")))
    }

    /// Number of keyed entries.
    pub fn keyed_entries(&self) -> usize {
        self.keyed.iter().flat_map(|g| &g.states).map(|s| s.entries.len()).sum()
    }
}
