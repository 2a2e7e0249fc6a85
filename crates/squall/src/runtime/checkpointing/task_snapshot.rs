//! One task's snapshot at a barrier, full or incremental, from the copy
//! taken on the task (synchronous part) to the acknowledgement (after the
//! asynchronous write).
//!
//! - Full: keyed and operator state copied per key group
//!   ([`TaskSnapshot`]), encoded and written as one file.
//! - Incremental (`state_backend: rocksdb` with `incremental_checkpoints`,
//!   Flink's `state.backend.incremental`): the operator state as above, and
//!   the keyed state as a RocksDB checkpoint (hard links, milliseconds)
//!   whose new SST files are uploaded while the task goes on; files of the
//!   last completed checkpoint are referenced, not uploaded again
//!   (`checkpoint::incremental`). The upload is recorded in the backend,
//!   and becomes reusable when the checkpoint completes.
//!
//! What this module does not own: barriers and alignment
//! (`runtime/checkpointing/mod.rs`), storage layout (`checkpoint`).

use crate::checkpoint::{CheckpointStorage, TaskAck};
use crate::error::Result;
use crate::state::{TaskSnapshot, TaskState};

/// A snapshot taken on the task, not written yet.
pub(crate) struct TakenSnapshot {
    full: TaskSnapshot,
    #[cfg(feature = "rocksdb")]
    database: Option<Database>,
}

/// The database part of an incremental snapshot.
#[cfg(feature = "rocksdb")]
struct Database {
    local: crate::checkpoint::incremental::LocalDbCheckpoint,
    previous: Option<crate::checkpoint::IncrementalTaskFiles>,
    /// Where the upload is recorded once written.
    state: TaskState,
}

/// The synchronous part of task `index`'s snapshot (of `parallelism` tasks
/// of `component`): incremental if `incremental` and the backend is a
/// RocksDB database with keyed state registered.
///
/// # Errors
/// An error of the backend.
pub(crate) fn take(
    state: &TaskState,
    component: &str,
    index: usize,
    parallelism: usize,
    incremental: bool,
) -> Result<TakenSnapshot> {
    #[cfg(feature = "rocksdb")]
    if incremental {
        use crate::checkpoint::incremental::LocalDbCheckpoint;
        let mut inner = state.lock();
        // A task without keyed state (a spout, a stateless bolt) has
        // nothing worth a database snapshot.
        if let Some(db) = inner.backend.as_rocksdb_mut().filter(|db| !db.states().is_empty()) {
            let local = LocalDbCheckpoint::take(db)?;
            let previous = db.last_completed_upload().cloned();
            drop(inner);
            let full = state.snapshot(component, index, parallelism, false)?;
            let database = Some(Database { local, previous, state: state.clone() });
            return Ok(TakenSnapshot { full, database });
        }
    }
    #[cfg(not(feature = "rocksdb"))]
    let _ = incremental;
    Ok(TakenSnapshot {
        full: state.snapshot(component, index, parallelism, true)?,
        #[cfg(feature = "rocksdb")]
        database: None,
    })
}

impl TakenSnapshot {
    /// The asynchronous part: writes it as part of checkpoint `id`.
    ///
    /// # Errors
    /// [`crate::Error::Checkpoint`] if a file cannot be written.
    pub(crate) async fn write(self, storage: &CheckpointStorage, id: u64) -> Result<TaskAck> {
        let file = storage.write_task(id, &self.full).await?;
        #[cfg_attr(not(feature = "rocksdb"), allow(unused_mut))]
        let mut ack =
            TaskAck { uploaded_bytes: file.size, file, incremental: None, alignment_us: 0 };
        #[cfg(feature = "rocksdb")]
        if let Some(db) = self.database {
            use crate::checkpoint::incremental::TaskId;
            let task = TaskId {
                component: self.full.component.clone(),
                task_index: self.full.task_index as usize,
                parallelism: self.full.parallelism as usize,
            };
            let (files, stats) =
                storage.upload_incremental(id, &db.local, &task, db.previous.as_ref()).await?;
            if let Some(backend) = db.state.lock().backend.as_rocksdb_mut() {
                backend.record_upload(id, files.clone());
            }
            ack.uploaded_bytes += stats.bytes_uploaded;
            ack.incremental = Some(files);
        }
        Ok(ack)
    }
}

/// Checkpoint `id` completed: what `state`'s incremental snapshots uploaded
/// up to it may be reused.
pub(crate) fn completed(state: &TaskState, id: u64) {
    #[cfg(feature = "rocksdb")]
    if let Some(backend) = state.lock().backend.as_rocksdb_mut() {
        backend.checkpoint_completed(id);
    }
    #[cfg(not(feature = "rocksdb"))]
    let _ = (state, id);
}
