//! Keyed state written and read by explicit key, for operators that keep
//! their working state elsewhere and move it into the backend only at a
//! barrier (the window operator): [`TaskState::put_keyed`],
//! [`TaskState::entries_of`], [`TaskState::clear_state`].
//!
//! The key is encoded and hashed into its key group exactly as the runtime
//! does for the current key of a fields-grouped tuple, so these entries
//! redistribute by key group on restore like any other keyed state.

use crate::error::{Error, Result};
use crate::keys;
use crate::model::Value;
use crate::state::backend::StateId;
use crate::state::store::{encode, TaskState};

impl TaskState {
    /// Stores `value` (already encoded) under the key made of `key`'s
    /// values in state `state`.
    ///
    /// # Errors
    /// [`Error::State`] if the key cannot be encoded, or the backend's.
    pub(crate) fn put_keyed(&self, state: StateId, key: &[Value], value: &[u8]) -> Result<()> {
        let mut inner = self.lock();
        let group = keys::key_group(keys::key_hash(key), inner.max_parallelism);
        let bytes = encode(key, "a key")?;
        inner.backend.put(state, group, &bytes, value)
    }

    /// Every entry of state `state` in the key groups this task holds, as
    /// (encoded key, encoded value).
    ///
    /// # Errors
    /// The backend's.
    pub(crate) fn entries_of(&self, state: StateId) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let inner = self.lock();
        let mut all = Vec::new();
        for group in inner.backend.key_groups() {
            all.extend(inner.backend.scan_prefix(state, group, &[])?);
        }
        Ok(all)
    }

    /// Removes every entry of state `state`.
    ///
    /// # Errors
    /// The backend's.
    pub(crate) fn clear_state(&self, state: StateId) -> Result<()> {
        let mut inner = self.lock();
        for group in inner.backend.key_groups() {
            for (k, _) in inner.backend.scan_prefix(state, group, &[])? {
                inner.backend.remove(state, group, &k)?;
            }
        }
        Ok(())
    }
}

/// The key values of an entry key written by [`TaskState::put_keyed`].
///
/// # Errors
/// [`Error::State`] if the bytes are not such a key.
pub(crate) fn decode_key(bytes: &[u8]) -> Result<Vec<Value>> {
    postcard::from_bytes(bytes).map_err(|e| Error::State(format!("cannot decode a key: {e}")))
}
