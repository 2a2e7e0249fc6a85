//! [`StateBackend`]: where one task's keyed state lives, at the level of
//! bytes, and how it is cut into key groups for snapshots.
//!
//! The typed handles ([`super::ValueState`] and friends) encode keys and
//! values with `postcard` and call this trait; a backend only stores bytes.
//! This keeps the user's code independent of the backend chosen in the
//! topology's config (`state_backend`), as in Flink.

use std::borrow::Cow;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::Result;

/// Index of a registered state (the order of registration in one task).
pub type StateId = usize;

/// How a state's entries are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// One value per key (value, list and reducing state): point lookups.
    Value,
    /// Many entries per key (map state): the key bytes are a prefix of each
    /// entry's key, so the backend must support ordered prefix scans.
    Map,
}

/// The entries of one named state in one key group, as stored in a
/// checkpoint: (key bytes, value bytes) pairs in no particular order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedEntries {
    /// The state's name, as given when it was registered.
    pub name: String,
    /// How the state is stored.
    pub kind: StateKind,
    /// Its entries.
    pub entries: Vec<(ByteBuf, ByteBuf)>,
}

/// All keyed state of one key group: the unit that moves between tasks when
/// parallelism changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyGroupState {
    /// The key group, in `0..max_parallelism`.
    pub key_group: u32,
    /// Every non-empty state of the group.
    pub states: Vec<NamedEntries>,
}

/// Keyed state storage of one task: bytes per (state, key group, key).
///
/// A backend owns the key groups `key_groups()` of one task (Flink's
/// `KeyGroupRange`); every call names the key group of the key, computed by
/// the caller with [`crate::keys::key_group`]. Calls come from the task's
/// own executor, one at a time.
pub trait StateBackend: Send {
    /// The backend's name as written in the config (`memory`, `rocksdb`).
    fn name(&self) -> &'static str;

    /// The key groups this backend holds.
    fn key_groups(&self) -> Range<usize>;

    /// Declares state `id` (ids are given out in order from 0).
    fn register(&mut self, id: StateId, name: &str, kind: StateKind);

    /// The value stored under `key`, if any.
    ///
    /// # Errors
    /// An I/O error of a backend that stores on disk.
    fn get(&self, state: StateId, key_group: usize, key: &[u8]) -> Result<Option<Cow<'_, [u8]>>>;

    /// Stores `value` under `key`, replacing any value.
    ///
    /// # Errors
    /// An I/O error of a backend that stores on disk.
    fn put(&mut self, state: StateId, key_group: usize, key: &[u8], value: &[u8]) -> Result<()>;

    /// Removes `key`.
    ///
    /// # Errors
    /// An I/O error of a backend that stores on disk.
    fn remove(&mut self, state: StateId, key_group: usize, key: &[u8]) -> Result<()>;

    /// Every entry whose key starts with `prefix`, in key order (map state).
    ///
    /// # Errors
    /// An I/O error of a backend that stores on disk.
    fn scan_prefix(
        &self,
        state: StateId,
        key_group: usize,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// A copy of every entry of the key groups it holds: the synchronous
    /// part of a snapshot. Encoding and writing happen later, off the task.
    ///
    /// # Errors
    /// An I/O error of a backend that stores on disk.
    fn snapshot(&self) -> Result<Vec<KeyGroupState>>;

    /// Loads the entries of one key group (which must be one of
    /// `key_groups()`), adding to what is there.
    ///
    /// # Errors
    /// An I/O error of a backend that stores on disk.
    fn restore(&mut self, group: KeyGroupState) -> Result<()>;

    /// Number of entries over all states and key groups.
    fn len(&self) -> usize;

    /// Whether it holds no entry.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The RocksDB backend, for incremental snapshots of its files; `None`
    /// for every other backend.
    #[cfg(feature = "rocksdb")]
    fn as_rocksdb_mut(&mut self) -> Option<&mut super::RocksDbBackend> {
        None
    }
}
