//! Keyed state written and read by explicit key, for operators that keep
//! their working state elsewhere and move it into the backend only at a
//! barrier (`super::heap`): [`TaskState::put_keyed`],
//! [`TaskState::entries_of`], [`TaskState::clear_state`].
//!
//! The caller gives the key's hash as the runtime computes it for the
//! current key of a fields-grouped tuple ([`keys::key_hash`] of the
//! grouping's values), so these entries sit in the key group the key's
//! records are routed to and redistribute by key group on restore like any
//! other keyed state.

use crate::error::Result;
use crate::keys;
use crate::state::backend::StateId;
use crate::state::store::TaskState;

impl TaskState {
    /// Stores `value` under `key` (both already encoded) in state `state`,
    /// in the key group of `hash` (the key's [`keys::key_hash`]).
    ///
    /// # Errors
    /// The backend's.
    pub(crate) fn put_keyed(
        &self,
        state: StateId,
        hash: u64,
        key: &[u8],
        value: &[u8],
    ) -> Result<()> {
        let mut inner = self.lock();
        let group = keys::key_group(hash, inner.max_parallelism);
        inner.backend.put(state, group, key, value)
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
