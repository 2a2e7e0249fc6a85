//! Incremental checkpoints of the `rocksdb` backend, Flink's way
//! (`RocksIncrementalSnapshotStrategy`): a RocksDB checkpoint of the task's
//! database is taken (hard links of the live SST files), and only the SST
//! files not already stored by the previous checkpoint of the same database
//! are uploaded. SST files are immutable, so a file is identified by its
//! name and size within one database lineage.
//!
//! Layout under `<checkpoint_dir>/<topology>/`:
//!
//! ```text
//! shared/count-0/<instance>-000012.sst   SST files, shared by checkpoints
//! chk-00000000000000000007/
//!     count-0.db.CURRENT                 the database's other files
//!     count-0.db.MANIFEST-000005
//!     _metadata                          lists every file (`incremental`)
//! ```
//!
//! Retention ([`CheckpointStorage::prune_shared`]) deletes a shared file
//! only when no retained checkpoint references it; at the end of a run and
//! before a restore it also deletes what aborted checkpoints uploaded. Restore
//! ([`CheckpointStorage::download_incremental`]) downloads every referenced
//! file and checks its size and CRC-32 before the database is opened.
//!
//! The runtime takes the snapshot in two parts ([`LocalDbCheckpoint::take`]
//! on the task, [`CheckpointStorage::upload_incremental`] in the
//! asynchronous write; `runtime/checkpointing/task_snapshot.rs`). An incremental snapshot
//! holds whole SST files, which mix key groups: at the parallelism that
//! wrote it a task reopens it as its database; at another one each task
//! copies its key groups out of the old databases (`checkpoint/restore.rs`).

use std::collections::{BTreeSet, HashMap};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::PutPayload;

use crate::checkpoint::metadata::{CheckpointMetadata, DbFile, IncrementalTaskFiles};
use crate::checkpoint::storage::{folder, store_err, CheckpointStorage, METADATA};
use crate::error::{Error, Result};
use crate::state::RocksDbBackend;

/// Which task an incremental snapshot belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskId {
    /// The task's component.
    pub component: String,
    /// Its index in the component.
    pub task_index: usize,
    /// The component's parallelism.
    pub parallelism: usize,
}

/// What writing one incremental snapshot cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadStats {
    /// Files written to the store.
    pub files_uploaded: usize,
    /// Bytes written to the store.
    pub bytes_uploaded: u64,
    /// SST files referenced from an earlier checkpoint, not written.
    pub files_reused: usize,
    /// Their bytes.
    pub bytes_reused: u64,
}

const SHARED: &str = "shared";

fn io_err(what: impl std::fmt::Display, e: std::io::Error) -> Error {
    Error::Checkpoint(format!("{what}: {e}"))
}

impl CheckpointStorage {
    fn object(&self, relative: &str) -> Path {
        relative.split('/').fold(self.root.clone(), |p, part| p.child(part))
    }

    async fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.object(relative);
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| store_err(format!("writing {path}"), e))?;
        Ok(())
    }

    /// Writes an incremental snapshot of `backend` for checkpoint `id`:
    /// [`LocalDbCheckpoint::take`] then
    /// [`CheckpointStorage::upload_incremental`].
    ///
    /// # Errors
    /// As those two.
    pub async fn write_incremental(
        &self,
        id: u64,
        backend: &RocksDbBackend,
        task: &TaskId,
        previous: Option<&IncrementalTaskFiles>,
    ) -> Result<(IncrementalTaskFiles, UploadStats)> {
        let local = LocalDbCheckpoint::take(backend)?;
        self.upload_incremental(id, &local, task, previous).await
    }

    /// The asynchronous part of an incremental snapshot: uploads the SST
    /// files of `local` that `previous` (this task's entry in the last
    /// completed checkpoint, if any) does not already store, and its other
    /// files. The result goes into the checkpoint's metadata
    /// (`incremental`).
    ///
    /// `previous` is reused only if it was written by this database or the
    /// one it was restored from (see [`RocksDbBackend::lineage`]).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if a file cannot be read or written.
    pub async fn upload_incremental(
        &self,
        id: u64,
        local: &LocalDbCheckpoint,
        task: &TaskId,
        previous: Option<&IncrementalTaskFiles>,
    ) -> Result<(IncrementalTaskFiles, UploadStats)> {
        let (instance, parent) = (local.instance, local.parent);
        let reusable: HashMap<(&str, u64), &DbFile> = previous
            .filter(|p| p.instance == instance || Some(p.instance) == parent)
            .map(|p| p.shared.iter().map(|f| ((f.name.as_str(), f.size), f)).collect())
            .unwrap_or_default();
        let dir = local.dir();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| io_err(format!("listing {}", dir.display()), e))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| io_err(format!("listing {}", dir.display()), e))?;
        names.sort();
        let owner = format!("{}-{}", task.component, task.task_index);
        let mut stats = UploadStats::default();
        let mut shared = Vec::new();
        let mut private = Vec::new();
        for name in names {
            let local = dir.join(&name);
            let size = std::fs::metadata(&local)
                .map_err(|e| io_err(format!("reading {}", local.display()), e))?
                .len();
            let is_sst = name.ends_with(".sst");
            if is_sst {
                if let Some(known) = reusable.get(&(name.as_str(), size)) {
                    stats.files_reused += 1;
                    stats.bytes_reused += size;
                    shared.push((*known).clone());
                    continue;
                }
            }
            let bytes = std::fs::read(&local)
                .map_err(|e| io_err(format!("reading {}", local.display()), e))?;
            let object = if is_sst {
                format!("{SHARED}/{owner}/{instance:016x}-{name}")
            } else {
                format!("{}/{owner}.db.{name}", folder(id))
            };
            let file = DbFile { name, object, size, crc32: crc32fast::hash(&bytes) };
            self.put(&file.object, bytes).await?;
            stats.files_uploaded += 1;
            stats.bytes_uploaded += size;
            if is_sst {
                shared.push(file);
            } else {
                private.push(file);
            }
        }
        let files = IncrementalTaskFiles {
            component: task.component.clone(),
            task_index: task.task_index,
            parallelism: task.parallelism,
            key_groups: local.key_groups.clone(),
            instance,
            states: local.states.clone(),
            shared,
            private,
        };
        Ok((files, stats))
    }

    /// Downloads every file of an incremental snapshot into a new folder,
    /// checking each size and CRC-32, so that a damaged snapshot is never
    /// half opened.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming a missing, truncated or corrupt file.
    pub async fn download_incremental(
        &self,
        files: &IncrementalTaskFiles,
    ) -> Result<tempfile::TempDir> {
        let dir = RocksDbBackend::folder()?;
        for file in files.shared.iter().chain(&files.private) {
            let path = self.object(&file.object);
            let bytes = self.read_verified(&path, file.size, file.crc32).await?;
            let local = dir.path().join(&file.name);
            std::fs::write(&local, &bytes)
                .map_err(|e| io_err(format!("writing {}", local.display()), e))?;
        }
        Ok(dir)
    }

    /// Opens a new database from an incremental snapshot
    /// ([`CheckpointStorage::download_incremental`], then open).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming a missing, truncated or corrupt file;
    /// [`Error::State`] if RocksDB cannot open the files.
    pub async fn restore_incremental(
        &self,
        files: &IncrementalTaskFiles,
    ) -> Result<RocksDbBackend> {
        RocksDbBackend::open_restored(self.download_incremental(files).await?, files)
    }

    /// Deletes every shared file that no complete checkpoint still in the
    /// store references. With `quiescent` false (a checkpoint may be being
    /// written: [`CheckpointStorage::prune`]) only those older than the
    /// newest complete checkpoint's metadata, since newer files may belong
    /// to the checkpoint in flight; with `quiescent` true (no snapshot is
    /// being written: [`CheckpointStorage::prune_unreferenced`], at the end
    /// of a run and before a restore) every one, which removes what
    /// aborted checkpoints uploaded. Returns the number of files deleted.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the store cannot be listed or a file deleted.
    pub async fn prune_shared(&self, quiescent: bool) -> Result<usize> {
        let mut referenced = BTreeSet::new();
        let mut newest = None;
        for id in self.completed().await? {
            let path = self.root.child(folder(id)).child(METADATA);
            let Ok(meta) = self.store.head(&path).await else { continue };
            newest = Some(meta.last_modified);
            // An unreadable metadata file is never restored: it keeps nothing.
            let Ok(bytes) = self.read(&path).await else { continue };
            let Ok(metadata) = CheckpointMetadata::from_json(&bytes) else { continue };
            for task in &metadata.incremental {
                referenced.extend(task.shared.iter().map(|f| self.object(&f.object)));
            }
        }
        if newest.is_none() && !quiescent {
            return Ok(0);
        }
        let prefix = self.root.child(SHARED);
        let files: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| store_err(format!("listing {prefix}"), e))?;
        let mut deleted = 0;
        for file in files {
            let settled = quiescent || newest.is_some_and(|n| file.last_modified <= n);
            if !referenced.contains(&file.location) && settled {
                self.store
                    .delete(&file.location)
                    .await
                    .map_err(|e| store_err(format!("deleting {}", file.location), e))?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

/// The synchronous part of an incremental snapshot: a RocksDB checkpoint
/// of a task's database (hard links of its immutable SST files plus copies
/// of `CURRENT`, `MANIFEST-*`, `OPTIONS-*`) in a scratch folder, deleted
/// when this is dropped. Taking it flushes the memtable; it costs
/// milliseconds, whatever the state's size.
#[derive(Debug)]
pub struct LocalDbCheckpoint {
    scratch: tempfile::TempDir,
    instance: u64,
    parent: Option<u64>,
    key_groups: std::ops::Range<usize>,
    states: Vec<(String, crate::state::StateKind)>,
}

impl LocalDbCheckpoint {
    /// Takes one of `backend`.
    ///
    /// # Errors
    /// [`Error::State`] if RocksDB fails or the folder cannot be made.
    pub fn take(backend: &RocksDbBackend) -> Result<LocalDbCheckpoint> {
        // A sibling of the database's folder: the same file system, so that
        // RocksDB can hard-link the SST files.
        let scratch = RocksDbBackend::folder()?;
        let local = LocalDbCheckpoint {
            instance: backend.lineage().0,
            parent: backend.lineage().1,
            key_groups: crate::state::StateBackend::key_groups(backend),
            states: backend.states().to_vec(),
            scratch,
        };
        backend.create_checkpoint(&local.dir())?;
        Ok(local)
    }

    fn dir(&self) -> std::path::PathBuf {
        self.scratch.path().join("checkpoint")
    }
}

/// A copy of the database files in `from` (downloaded, never opened) to
/// open: SST files (immutable) hard-linked, the others (RocksDB appends to
/// its `MANIFEST`) copied, so that `from` stays as downloaded and can be
/// opened again (by another task when rescaling, or by a later attempt).
///
/// # Errors
/// [`Error::Checkpoint`] if a file cannot be linked or copied.
pub fn working_copy(from: &std::path::Path) -> Result<tempfile::TempDir> {
    let dir = RocksDbBackend::folder()?;
    let entries =
        std::fs::read_dir(from).map_err(|e| io_err(format!("listing {}", from.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_err(format!("listing {}", from.display()), e))?;
        let (src, dst) = (entry.path(), dir.path().join(entry.file_name()));
        let linked =
            src.extension().is_some_and(|e| e == "sst") && std::fs::hard_link(&src, &dst).is_ok();
        if !linked {
            std::fs::copy(&src, &dst)
                .map_err(|e| io_err(format!("copying {}", src.display()), e))?;
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests;
