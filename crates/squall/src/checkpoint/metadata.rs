//! [`CheckpointMetadata`]: the `_metadata` file of a checkpoint, written last,
//! that says what the checkpoint holds. A checkpoint folder without it is
//! incomplete and never restored.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::state::StateKind;

/// Version of the metadata and snapshot format.
pub const FORMAT_VERSION: u32 = 2;

/// One task's state file in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFile {
    /// The task's component.
    pub component: String,
    /// The task's index in its component.
    pub task_index: usize,
    /// The component's parallelism.
    pub parallelism: usize,
    /// The key groups the task held.
    pub key_groups: Range<usize>,
    /// The file's name inside the checkpoint folder.
    pub file: String,
    /// Its size (bytes).
    pub size: u64,
    /// CRC-32 (IEEE) of its bytes.
    pub crc32: u32,
    /// Keyed entries in it.
    pub keyed_entries: usize,
}

/// What a task acknowledges for a checkpoint, once its snapshot is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAck {
    /// Its state file (operator state, and keyed state unless incremental).
    pub file: TaskFile,
    /// Its keyed state as an incremental RocksDB snapshot, if it is one.
    pub incremental: Option<IncrementalTaskFiles>,
    /// Bytes written to the store for it by this checkpoint (the state
    /// file plus new database files; reused SST files not counted).
    pub uploaded_bytes: u64,
    /// How long the task's barrier took to align over its inputs (µs): from
    /// the first input's barrier to the last one's; 0 for spouts and tasks
    /// with one input.
    #[serde(default)]
    pub alignment_us: u64,
}

/// One file of a task's RocksDB checkpoint, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbFile {
    /// Its name in the database folder (`000012.sst`, `MANIFEST-000005`).
    pub name: String,
    /// Where it is stored, relative to the topology's checkpoint root
    /// (`shared/...` for SST files, `chk-.../...` for the others).
    pub object: String,
    /// Its size (bytes).
    pub size: u64,
    /// CRC-32 (IEEE) of its bytes.
    pub crc32: u32,
}

/// One task's incremental RocksDB snapshot (Flink's
/// `IncrementalRemoteKeyedStateHandle`): the files of a RocksDB checkpoint,
/// SST files shared with earlier checkpoints of the same database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementalTaskFiles {
    /// The task's component.
    pub component: String,
    /// The task's index in its component.
    pub task_index: usize,
    /// The component's parallelism when it was taken.
    pub parallelism: usize,
    /// The key groups the task held.
    pub key_groups: Range<usize>,
    /// Random id of the database instance that wrote it; its new SST
    /// files are stored under names carrying this id, so that two
    /// databases never write the same shared object.
    pub instance: u64,
    /// The registered states, in id order (name, kind).
    pub states: Vec<(String, StateKind)>,
    /// SST files (immutable), stored once under `shared/` and referenced by
    /// every checkpoint that holds them.
    pub shared: Vec<DbFile>,
    /// The other files (`CURRENT`, `MANIFEST-*`, `OPTIONS-*`), stored in the
    /// checkpoint's own folder.
    pub private: Vec<DbFile>,
}

/// What a completed checkpoint holds (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The topology's name.
    pub topology: String,
    /// The checkpoint's id.
    pub checkpoint_id: u64,
    /// `max_parallelism` (number of key groups) of the topology.
    pub max_parallelism: usize,
    /// When it was triggered (ms since the Unix epoch).
    pub triggered_at_ms: u64,
    /// Time from trigger to the last acknowledgement (ms).
    pub duration_ms: u64,
    /// Every task's file.
    pub tasks: Vec<TaskFile>,
    /// Tasks whose keyed state is an incremental RocksDB snapshot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incremental: Vec<IncrementalTaskFiles>,
}

impl CheckpointMetadata {
    /// Total size of the state (bytes): the state files and every
    /// database file that incremental snapshots reference, reused or not.
    pub fn state_bytes(&self) -> u64 {
        let db: u64 = self
            .incremental
            .iter()
            .flat_map(|t| t.shared.iter().chain(&t.private))
            .map(|f| f.size)
            .sum();
        self.tasks.iter().map(|t| t.size).sum::<u64>() + db
    }

    /// Total keyed entries.
    pub fn keyed_entries(&self) -> usize {
        self.tasks.iter().map(|t| t.keyed_entries).sum()
    }

    /// Encodes as pretty JSON.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if encoding fails.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Checkpoint(format!("cannot encode metadata: {e}")))
    }

    /// Decodes JSON written by [`CheckpointMetadata::to_json`].
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the bytes are not metadata of this format.
    pub fn from_json(bytes: &[u8]) -> Result<CheckpointMetadata> {
        let meta: CheckpointMetadata = serde_json::from_slice(bytes)
            .map_err(|e| Error::Checkpoint(format!("unreadable metadata: {e}")))?;
        if meta.format_version != FORMAT_VERSION {
            return Err(Error::Checkpoint(format!(
                "metadata format version {} is not {FORMAT_VERSION}",
                meta.format_version
            )));
        }
        Ok(meta)
    }
}
