//! Checkpoints: Flink's asynchronous barrier snapshots (Carbone et al.,
//! "Lightweight Asynchronous Snapshots for Distributed Dataflows", 2015).
//!
//! - [`protocol`]: the coordinator as pure decision functions (trigger,
//!   complete, abort), I/O at the edges.
//! - [`storage`]: checkpoint files in an object store, the metadata file
//!   ([`metadata`]) with checksums, retention, verified restore.
//! - `incremental` (the `rocksdb` feature): incremental RocksDB
//!   checkpoints that upload only new SST files and share the rest.
//! - [`two_phase`]: the two-phase-commit sink interface (pre-commit on the
//!   barrier, commit when the checkpoint completes, abort on failure).
//!
//! What this module does not own: barriers on channels, alignment, the
//! coordinator task and recovery, which are the runtime's
//! (`runtime/checkpointing/barrier.rs`, `runtime/checkpointing/mod.rs`,
//! `runtime/checkpointing/coordinator.rs`, `runtime/driver/recovery.rs`); the state itself
//! ([`crate::state`]).

#[cfg(feature = "rocksdb")]
pub mod incremental;
pub mod metadata;
pub mod protocol;
pub(crate) mod restore;
pub mod storage;
pub mod two_phase;

use serde::{Deserialize, Serialize};

pub use metadata::{CheckpointMetadata, DbFile, IncrementalTaskFiles, TaskAck, TaskFile};
pub use storage::{CheckpointStorage, RestoredCheckpoint};
pub use two_phase::{TwoPhaseCommitBolt, TwoPhaseCommitSink};

/// The id that `on_checkpoint_complete` receives when a run ends because
/// all its input was processed and every task finished: everything still
/// pending may be committed.
pub const END_OF_RUN: u64 = u64::MAX;

/// Barrier n: flows with the data from the sources; everything before it
/// on a channel belongs to checkpoint n, everything after to n + 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointBarrier {
    /// The checkpoint's id (grows by one per checkpoint).
    pub id: u64,
    /// When the coordinator triggered it (ms, the coordinator's clock).
    pub timestamp_ms: u64,
}
