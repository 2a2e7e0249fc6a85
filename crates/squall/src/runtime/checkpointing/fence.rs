//! [`CheckpointFence`]: where a cluster records which checkpoints completed,
//! atomically with the check that the copy of the topology recording them
//! is still the current one (no split brain).
//!
//! A cluster may briefly run two copies of a topology: a worker whose
//! supervisor froze or was cut off still runs while nimbus has moved its
//! tasks elsewhere (epoch + 1). Checking "am I current?" and then acting
//! leaves a window in which the stale copy completes a checkpoint, or the
//! end of the run, that the new copy does not see, and both commit the same
//! input. So completion is a single compare-and-set in the coordination
//! service: the coordinator writes the checkpoint's metadata, then records
//! its id through the fence, which succeeds only while the copy's
//! assignment is unchanged; sinks commit only what was recorded, and a new
//! copy restores only recorded checkpoints. This is Flink's
//! `CompletedCheckpointStore` in high-availability mode, whose writes are
//! fenced by the JobManager's leader session.
//!
//! Local mode has no fence: one process, one copy.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Result;

/// A boxed future, as the fence's methods return (object safety).
pub type FenceFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The completion record of a topology's checkpoints, fenced against stale
/// copies. Implemented by the cluster over etcd; see the module docs.
///
/// Every answer is one of three: `Ok(true)` (current; recorded), `Ok(false)`
/// (**stale**: the coordination service said, in so many words, that this
/// copy's assignment is gone or was replaced) and `Err` (**unknown**: no
/// answer could be had, after the implementation's own retries). The two
/// must never be confused: a slow or unreachable coordination service is not
/// a new epoch, and a copy that took "no answer" for "stale" would stop the
/// current topology and restart it, over and over on a loaded machine.
/// Callers treat unknown as "do nothing irreversible": decline the
/// checkpoint, keep its files, try again later.
pub trait CheckpointFence: Send + Sync + Debug {
    /// Whether this copy is still the current one: a read, for steps that
    /// commit nothing (writing metadata, deleting an aborted checkpoint's
    /// files, starting another attempt).
    ///
    /// # Errors
    /// When the answer cannot be had (unknown, not stale).
    fn is_current(&self) -> FenceFuture<'_, Result<bool>>;

    /// Records that checkpoint `id` completed
    /// ([`crate::checkpoint::END_OF_RUN`]: that the run ended), if and only
    /// if this copy is still the current one, in one atomic step.
    /// `Ok(true)`: recorded, and every later copy sees it; `Ok(false)`:
    /// stale, and the checkpoint must not complete. Recording an id twice
    /// records it once (a retry after a lost answer is safe).
    ///
    /// # Errors
    /// When the outcome cannot be learnt: the id may or may not be
    /// recorded, so the caller must neither commit it nor take it for
    /// refused; a restart that reads [`CheckpointFence::completed`] settles
    /// it.
    fn record_completed(&self, id: u64) -> FenceFuture<'_, Result<bool>>;

    /// The ids recorded as completed, oldest first (the newest few; the
    /// last is [`crate::checkpoint::END_OF_RUN`] once the run ended). Empty
    /// for a topology that has recorded nothing yet.
    ///
    /// # Errors
    /// When the record cannot be read: a copy that cannot learn what was
    /// completed must not start.
    fn completed(&self) -> FenceFuture<'_, Result<Vec<u64>>>;
}

/// A shared [`CheckpointFence`].
pub type Fence = Arc<dyn CheckpointFence>;
