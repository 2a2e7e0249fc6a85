//! [`CheckpointStorage`]: checkpoints in an object store (`object_store`
//! crate): a local folder by default, an S3-compatible bucket by URL.
//!
//! Layout under `<checkpoint_dir>/<topology>/`:
//!
//! ```text
//! chk-00000000000000000007/
//!     count-0-5f3a9c1e.state   one file per task (postcard TaskSnapshot)
//!     count-1-0b7d24e8.state
//!     _metadata                JSON CheckpointMetadata, written last
//! ```
//!
//! A task's file name ends in a random suffix, new for every write, and
//! the metadata lists the names it completes with: a second copy of the
//! topology writing the same checkpoint id (a stale cluster worker, see
//! `runtime/checkpointing/fence.rs`) adds files beside them and never overwrites one
//! (Flink names its state handles at random for the same reason).
//!
//! A checkpoint exists once its `_metadata` does. Restoring reads the
//! metadata, then every state file in full, checking each size and CRC-32,
//! before handing anything to a task: a corrupt or truncated checkpoint is
//! skipped (with a warning naming the file) for the previous complete one,
//! and never half loaded.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

use crate::checkpoint::metadata::{CheckpointMetadata, TaskFile};
use crate::error::{Error, Result};
use crate::state::TaskSnapshot;

pub(super) const METADATA: &str = "_metadata";

/// A checkpoint read back in full and verified.
#[derive(Debug, Clone)]
pub struct RestoredCheckpoint {
    /// What it holds.
    pub metadata: CheckpointMetadata,
    /// The decoded snapshot of every task, by component.
    pub snapshots: BTreeMap<String, Vec<TaskSnapshot>>,
    /// The incremental RocksDB snapshots, downloaded and verified, by
    /// component.
    pub databases: BTreeMap<String, Vec<Arc<DownloadedDb>>>,
}

/// One task's incremental RocksDB snapshot, downloaded into a local folder
/// (deleted when the last reference is dropped) and verified. Open it with
/// a working copy (`checkpoint::incremental::working_copy`): the download
/// itself is never modified, so every restore attempt can use it.
#[derive(Debug)]
pub struct DownloadedDb {
    /// What the metadata says of it.
    pub files: crate::checkpoint::IncrementalTaskFiles,
    /// Where its files are.
    pub dir: tempfile::TempDir,
}

impl RestoredCheckpoint {
    /// The checkpoint's id.
    pub fn id(&self) -> u64 {
        self.metadata.checkpoint_id
    }

    /// The snapshots of `component`'s tasks.
    pub fn of(&self, component: &str) -> Vec<&TaskSnapshot> {
        self.snapshots.get(component).map(|v| v.iter().collect()).unwrap_or_default()
    }

    /// The downloaded incremental snapshots of `component`'s tasks.
    pub fn databases_of(&self, component: &str) -> &[Arc<DownloadedDb>] {
        self.databases.get(component).map_or(&[], Vec::as_slice)
    }
}

/// Where one topology's checkpoints live.
#[derive(Debug, Clone)]
pub struct CheckpointStorage {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) root: Path,
    location: String,
    /// The folder behind a local store.
    local_dir: Option<std::path::PathBuf>,
    /// Snapshot writes in flight each hold a read guard
    /// ([`CheckpointStorage::write_guard`]);
    /// [`CheckpointStorage::writes_done`] takes the write lock.
    writes: Arc<tokio::sync::RwLock<()>>,
}

pub(super) fn folder(id: u64) -> String {
    format!("chk-{id:020}")
}

pub(super) fn store_err(what: impl std::fmt::Display, e: object_store::Error) -> Error {
    Error::Checkpoint(format!("{what}: {e}"))
}

impl CheckpointStorage {
    /// Storage for `topology` under `location`: a folder path (created if
    /// missing), a `file://` URL, or an `s3://bucket/prefix` URL (with the
    /// `s3` cargo feature; credentials and endpoint from the usual `AWS_*`
    /// environment variables).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming `location` if it cannot be used.
    pub fn open(location: &str, topology: &str) -> Result<CheckpointStorage> {
        let bad = |e: String| Error::Checkpoint(format!("checkpoint_dir '{location}': {e}"));
        let local_dir = if !location.contains("://") {
            Some(std::path::PathBuf::from(location))
        } else {
            let url = url::Url::parse(location).map_err(|e| bad(e.to_string()))?;
            match url.scheme() {
                "file" => Some(url.to_file_path().map_err(|_| bad("not a local path".into()))?),
                _ => None,
            }
        };
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = match &local_dir {
            Some(dir) => (Arc::new(local(dir).map_err(bad)?), Path::default()),
            None => open_url(&url::Url::parse(location).map_err(|e| bad(e.to_string()))?)
                .map_err(bad)?,
        };
        let root = if topology.is_empty() { prefix } else { prefix.child(topology) };
        let writes = Arc::default();
        Ok(CheckpointStorage { store, root, location: location.to_string(), local_dir, writes })
    }

    /// The location given to [`CheckpointStorage::open`].
    pub fn location(&self) -> &str {
        &self.location
    }

    fn path(&self, id: u64, file: &str) -> Path {
        self.root.child(folder(id)).child(file)
    }

    /// Encodes and writes one task's snapshot of checkpoint `id`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if it cannot be encoded or written.
    pub async fn write_task(&self, id: u64, snapshot: &TaskSnapshot) -> Result<TaskFile> {
        let bytes = snapshot.encode()?;
        let file = format!(
            "{}-{}-{:08x}.state",
            snapshot.component,
            snapshot.task_index,
            rand::random::<u32>()
        );
        let info = TaskFile {
            component: snapshot.component.clone(),
            task_index: snapshot.task_index as usize,
            parallelism: snapshot.parallelism as usize,
            key_groups: snapshot.key_groups.start as usize..snapshot.key_groups.end as usize,
            size: bytes.len() as u64,
            crc32: crc32fast::hash(&bytes),
            keyed_entries: snapshot.keyed_entries(),
            file,
        };
        let path = self.path(id, &info.file);
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| store_err(format!("writing {path}"), e))?;
        Ok(info)
    }

    /// Writes the metadata of checkpoint `id`, which makes it complete.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if it cannot be written.
    pub async fn write_metadata(&self, metadata: &CheckpointMetadata) -> Result<()> {
        let path = self.path(metadata.checkpoint_id, METADATA);
        self.store
            .put(&path, PutPayload::from(metadata.to_json()?))
            .await
            .map_err(|e| store_err(format!("writing {path}"), e))?;
        Ok(())
    }

    /// Ids of every checkpoint folder, complete or not, ascending.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the store cannot be listed.
    pub async fn list(&self) -> Result<Vec<u64>> {
        // Folders are listed through their files, so that an emptied folder
        // (object stores have no folders of their own) does not count.
        let files: Vec<_> = self
            .store
            .list(Some(&self.root))
            .try_collect()
            .await
            .map_err(|e| store_err(format!("listing {}", self.root), e))?;
        let depth = self.root.parts().count();
        let mut ids: Vec<u64> = files
            .iter()
            .filter_map(|m| {
                let part = m.location.parts().nth(depth)?;
                part.as_ref().strip_prefix("chk-")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Ids of the checkpoints that have metadata, ascending.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the store cannot be read.
    pub async fn completed(&self) -> Result<Vec<u64>> {
        let mut done = Vec::new();
        for id in self.list().await? {
            if self.store.head(&self.path(id, METADATA)).await.is_ok() {
                done.push(id);
            }
        }
        Ok(done)
    }

    pub(super) async fn read(&self, path: &Path) -> Result<bytes::Bytes> {
        let got =
            self.store.get(path).await.map_err(|e| store_err(format!("reading {path}"), e))?;
        got.bytes().await.map_err(|e| store_err(format!("reading {path}"), e))
    }

    /// Reads `path` in full and checks its size (bytes) and CRC-32 against
    /// what the metadata says.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file if it is missing, truncated or
    /// corrupt.
    pub(super) async fn read_verified(
        &self,
        path: &Path,
        size: u64,
        crc32: u32,
    ) -> Result<bytes::Bytes> {
        let bytes = self.read(path).await?;
        if bytes.len() as u64 != size {
            return Err(Error::Checkpoint(format!(
                "{path} is truncated: {} bytes, the metadata says {size}",
                bytes.len()
            )));
        }
        let crc = crc32fast::hash(&bytes);
        if crc != crc32 {
            return Err(Error::Checkpoint(format!(
                "{path} is corrupt: CRC-32 {crc:#010x}, the metadata says {crc32:#010x}"
            )));
        }
        Ok(bytes)
    }

    /// The metadata of checkpoint `id` alone (its id, trigger time, tasks
    /// and sizes), without reading any state.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if it is missing or does not decode.
    pub async fn read_metadata(&self, id: u64) -> Result<CheckpointMetadata> {
        CheckpointMetadata::from_json(&self.read(&self.path(id, METADATA)).await?)
    }

    /// Reads checkpoint `id` in full and verifies every file.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file that is missing, truncated,
    /// corrupt (checksum) or undecodable.
    pub async fn load(&self, id: u64) -> Result<RestoredCheckpoint> {
        self.load_folder(&self.root.child(folder(id))).await
    }

    /// Reads the checkpoint or savepoint in `dir` in full, verifying it.
    async fn load_folder(&self, dir: &Path) -> Result<RestoredCheckpoint> {
        let metadata = CheckpointMetadata::from_json(&self.read(&dir.child(METADATA)).await?)?;
        let mut snapshots: BTreeMap<String, Vec<TaskSnapshot>> = BTreeMap::new();
        for task in &metadata.tasks {
            let path = dir.child(task.file.as_str());
            let bytes = self.read_verified(&path, task.size, task.crc32).await?;
            let snap = TaskSnapshot::decode(&bytes)
                .map_err(|e| Error::Checkpoint(format!("{path}: {e}")))?;
            snapshots.entry(snap.component.clone()).or_default().push(snap);
        }
        let mut databases: BTreeMap<String, Vec<Arc<DownloadedDb>>> = BTreeMap::new();
        for files in &metadata.incremental {
            let db = self.download(files).await?;
            databases.entry(files.component.clone()).or_default().push(Arc::new(db));
        }
        Ok(RestoredCheckpoint { metadata, snapshots, databases })
    }

    #[cfg(feature = "rocksdb")]
    async fn download(
        &self,
        files: &crate::checkpoint::IncrementalTaskFiles,
    ) -> Result<DownloadedDb> {
        Ok(DownloadedDb { files: files.clone(), dir: self.download_incremental(files).await? })
    }

    #[cfg(not(feature = "rocksdb"))]
    async fn download(
        &self,
        files: &crate::checkpoint::IncrementalTaskFiles,
    ) -> Result<DownloadedDb> {
        Err(Error::Checkpoint(format!(
            "the state of '{}' task {} is an incremental RocksDB snapshot: squall was built \
             without the `rocksdb` feature",
            files.component, files.task_index
        )))
    }

    /// Reads the savepoint (or checkpoint folder) at `location` — a folder
    /// path or URL as [`CheckpointStorage::open`] takes, holding a
    /// `_metadata` file — in full, verifying it.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the location or the damaged file.
    pub async fn load_savepoint(location: &str) -> Result<RestoredCheckpoint> {
        if !location.contains("://") && !std::path::Path::new(location).is_dir() {
            return Err(Error::Checkpoint(format!("savepoint '{location}' is not a folder")));
        }
        let storage = CheckpointStorage::open(location, "")?;
        let dir = storage.root.clone();
        storage
            .load_folder(&dir)
            .await
            .map_err(|e| Error::Checkpoint(format!("cannot restore savepoint '{location}': {e}")))
    }

    /// Copies complete checkpoint `id` into a savepoint folder that
    /// retention does not reach, and returns its location (a path or URL
    /// for [`CheckpointStorage::load_savepoint`]):
    /// - `target` `None`: `savepoints/sp-<id>/` beside the checkpoints
    ///   (Flink's `state.savepoints.dir` default);
    /// - `target` `Some(dir)`: a new folder `savepoint-<topology>-<id>/`
    ///   inside `dir` (a folder path or URL as [`CheckpointStorage::open`]
    ///   takes; Flink's `savepoint JOB targetDirectory`). The copy reads
    ///   every file and writes it there, so `dir` may be on another store.
    ///
    /// The savepoint's `_metadata` is written last: a folder with one is
    /// complete.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if `target` cannot be opened, already holds
    /// this savepoint, or a file cannot be copied.
    pub async fn save(&self, id: u64, target: Option<&str>) -> Result<String> {
        let topology = self.root.filename().unwrap_or_default().to_string();
        let (store, to, location) = match target {
            None => {
                let name = format!("sp-{id:020}");
                let location =
                    format!("{}/{topology}/savepoints/{name}", self.location.trim_end_matches('/'));
                (self.store.clone(), self.root.child("savepoints").child(name.as_str()), location)
            }
            Some(dir) => {
                let name = format!("savepoint-{topology}-{id:020}");
                let target = CheckpointStorage::open(dir, &name)
                    .map_err(|e| Error::Checkpoint(format!("savepoint target '{dir}': {e}")))?;
                let location = format!("{}/{name}", dir.trim_end_matches('/'));
                (target.store, target.root, location)
            }
        };
        let metadata_at = to.child(METADATA);
        if store.head(&metadata_at).await.is_ok() {
            return Err(Error::Checkpoint(format!("savepoint {location} exists already")));
        }
        let copy = |from: Path, target: Path| {
            let store = store.clone();
            async move {
                let bytes = self.read(&from).await?;
                store
                    .put(&target, PutPayload::from(bytes))
                    .await
                    .map(|_| ())
                    .map_err(|e| store_err(format!("copying {from} to {target}"), e))
            }
        };
        let metadata_path = self.path(id, METADATA);
        let mut metadata = CheckpointMetadata::from_json(&self.read(&metadata_path).await?)?;
        for path in self.files_of(id, false).await? {
            if path != metadata_path {
                copy(path.clone(), to.child(path.filename().unwrap_or_default())).await?;
            }
        }
        // Incremental snapshots: their shared files are copied too, and
        // every object named relative to the savepoint, so that it stands
        // alone when retention deletes the files it was copied from.
        for task in &mut metadata.incremental {
            for file in task.shared.iter_mut().chain(&mut task.private) {
                let from = file.object.split('/').fold(self.root.clone(), |p, s| p.child(s));
                let relative = match file.object.rsplit_once('/') {
                    Some((dir, base)) if dir.starts_with("chk-") => base.to_string(),
                    _ => file.object.clone(),
                };
                let target = relative.split('/').fold(to.clone(), |p, s| p.child(s));
                copy(from, target).await?;
                file.object = relative;
            }
        }
        // Metadata last: a savepoint folder with metadata is complete.
        store
            .put(&metadata_at, PutPayload::from(metadata.to_json()?))
            .await
            .map_err(|e| store_err(format!("writing the metadata of {to}"), e))?;
        Ok(location)
    }

    /// The newest complete checkpoint with an id of at least `min_id` that
    /// reads back intact; corrupt ones are skipped with a warning. `None`
    /// if there is none.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the store cannot be listed.
    pub async fn load_latest(&self, min_id: u64) -> Result<Option<RestoredCheckpoint>> {
        self.load_latest_of(min_id, None).await
    }

    /// As [`CheckpointStorage::load_latest`], among the ids in `allowed`
    /// only when it is given (in cluster mode, the checkpoints recorded as
    /// completed through the [`crate::runtime::CheckpointFence`]: a
    /// checkpoint whose metadata a stale copy wrote but could not record
    /// is never restored).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the store cannot be listed.
    pub async fn load_latest_of(
        &self,
        min_id: u64,
        allowed: Option<&[u64]>,
    ) -> Result<Option<RestoredCheckpoint>> {
        let candidates = self
            .completed()
            .await?
            .into_iter()
            .rev()
            .filter(|id| *id >= min_id && allowed.is_none_or(|allowed| allowed.contains(id)));
        for id in candidates {
            match self.load(id).await {
                Ok(c) => return Ok(Some(c)),
                Err(e) => tracing::warn!(
                    checkpoint = id,
                    location = %self.location,
                    error = %e,
                    "skipping checkpoint {id}: it cannot be restored; trying the previous one"
                ),
            }
        }
        Ok(None)
    }

    /// The files of checkpoint `id`, its metadata first or last.
    async fn files_of(&self, id: u64, metadata_first: bool) -> Result<Vec<Path>> {
        let prefix = self.root.child(folder(id));
        let files: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| store_err(format!("listing {prefix}"), e))?;
        let mut paths: Vec<Path> = files.into_iter().map(|m| m.location).collect();
        paths.sort_by_key(|p| (p.filename() == Some(METADATA)) != metadata_first);
        Ok(paths)
    }

    /// Deletes checkpoint `id`'s folder.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if a file cannot be deleted.
    pub async fn delete(&self, id: u64) -> Result<()> {
        let prefix = self.root.child(folder(id));
        // Metadata first, so that a crash half way leaves an incomplete
        // checkpoint, never a complete one missing files.
        for path in self.files_of(id, true).await? {
            self.store.delete(&path).await.map_err(|e| store_err(format!("deleting {path}"), e))?;
        }
        if let Some(dir) = &self.local_dir {
            // A local folder outlives its files: remove it too (best effort).
            let _ = std::fs::remove_dir(dir.join(prefix.as_ref()));
        }
        Ok(())
    }

    /// Deletes every incomplete checkpoint folder (no metadata): call only
    /// when no snapshot is being written.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the store cannot be listed or a file deleted.
    pub async fn prune_incomplete(&self) -> Result<()> {
        let completed = self.completed().await?;
        for id in self.list().await? {
            if !completed.contains(&id) {
                self.delete(id).await?;
            }
        }
        Ok(())
    }

    /// Held by an asynchronous snapshot write until it is done, so that
    /// [`CheckpointStorage::writes_done`] can wait for it.
    pub(crate) async fn write_guard(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        self.writes.clone().read_owned().await
    }

    /// Waits until no snapshot write started through this storage (or a
    /// clone) is still running.
    pub(crate) async fn writes_done(&self) {
        drop(self.writes.write().await);
    }

    /// Deletes every incomplete checkpoint folder and every shared file
    /// that no complete checkpoint references (what aborted checkpoints
    /// left): call only when no snapshot is being written, i.e. when a run
    /// has ended or before a restore. Returns the number of shared files
    /// deleted.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the store cannot be listed or a file deleted.
    pub async fn prune_unreferenced(&self) -> Result<usize> {
        self.prune_incomplete().await?;
        #[cfg(feature = "rocksdb")]
        let deleted = self.prune_shared(true).await?;
        #[cfg(not(feature = "rocksdb"))]
        let deleted = 0;
        Ok(deleted)
    }

    /// Keeps the newest `retained` complete checkpoints and deletes the
    /// rest, and every incomplete folder older than the newest complete one.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the store cannot be listed or a file deleted.
    pub async fn prune(&self, retained: usize) -> Result<()> {
        let completed = self.completed().await?;
        let keep: Vec<u64> = completed.iter().rev().take(retained).copied().collect();
        let newest = keep.first().copied().unwrap_or(0);
        for id in self.list().await? {
            if id < newest && !keep.contains(&id) {
                self.delete(id).await?;
            }
        }
        #[cfg(feature = "rocksdb")]
        self.prune_shared(false).await?;
        Ok(())
    }
}

fn local(dir: &std::path::Path) -> std::result::Result<LocalFileSystem, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    LocalFileSystem::new_with_prefix(dir).map_err(|e| e.to_string())
}

fn open_url(url: &url::Url) -> std::result::Result<(Arc<dyn ObjectStore>, Path), String> {
    #[cfg(feature = "s3")]
    if url.scheme() == "s3" {
        let bucket = url.host_str().ok_or("no bucket in the URL")?;
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| e.to_string())?;
        let prefix = Path::from(url.path().trim_start_matches('/'));
        return Ok((Arc::new(store), prefix));
    }
    Err(format!(
        "scheme '{}' is not supported (a folder path, file://, or s3:// with the `s3` feature)",
        url.scheme()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::metadata::FORMAT_VERSION;
    use crate::state::{KeyGroupState, NamedEntries, StateKind};
    use serde_bytes::ByteBuf;

    fn snapshot(task_index: u32, value: u8) -> TaskSnapshot {
        let entries = vec![(ByteBuf::from(vec![1, 2]), ByteBuf::from(vec![value; 100]))];
        TaskSnapshot {
            component: "count".into(),
            task_index,
            parallelism: 2,
            key_groups: task_index * 64..(task_index + 1) * 64,
            operator: BTreeMap::new(),
            keyed: vec![KeyGroupState {
                key_group: task_index * 64,
                states: vec![NamedEntries { name: "n".into(), kind: StateKind::Value, entries }],
            }],
            operator_lists: BTreeMap::new(),
        }
    }

    async fn checkpoint(storage: &CheckpointStorage, id: u64, complete: bool) {
        let mut tasks = Vec::new();
        for t in 0..2 {
            tasks.push(storage.write_task(id, &snapshot(t, id as u8)).await.unwrap());
        }
        if complete {
            let meta = CheckpointMetadata {
                format_version: FORMAT_VERSION,
                topology: "t".into(),
                checkpoint_id: id,
                max_parallelism: 128,
                triggered_at_ms: 0,
                duration_ms: 1,
                tasks,
                incremental: Vec::new(),
            };
            storage.write_metadata(&meta).await.unwrap();
        }
    }

    fn file(dir: &std::path::Path, id: u64, name: &str) -> std::path::PathBuf {
        dir.join("t").join(folder(id)).join(name)
    }

    /// The state file of `task` in checkpoint `id` (its name ends in a
    /// random suffix).
    fn state_file(dir: &std::path::Path, id: u64, task: u32) -> std::path::PathBuf {
        let prefix = format!("count-{task}-");
        let found: Vec<_> = std::fs::read_dir(dir.join("t").join(folder(id)))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&prefix))
            .collect();
        assert_eq!(found.len(), 1, "one state file of task {task} in checkpoint {id}: {found:?}");
        found.into_iter().next().unwrap()
    }

    #[tokio::test]
    async fn corrupt_and_truncated_checkpoints_are_skipped_for_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let storage = CheckpointStorage::open(dir.path().to_str().unwrap(), "t").unwrap();
        for id in 1..=3 {
            checkpoint(&storage, id, true).await;
        }
        checkpoint(&storage, 4, false).await; // no metadata: incomplete
        assert_eq!(storage.list().await.unwrap(), [1, 2, 3, 4]);
        assert_eq!(storage.completed().await.unwrap(), [1, 2, 3]);
        let latest = storage.load_latest(0).await.unwrap().unwrap();
        assert_eq!(latest.id(), 3, "the incomplete checkpoint 4 is never restored");
        assert_eq!(latest.of("count").len(), 2);
        assert_eq!(latest.of("count")[1], &snapshot(1, 3));

        // Flip one byte of a state file of 3: the checksum catches it.
        let path = state_file(dir.path(), 3, 1);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = storage.load(3).await.unwrap_err().to_string();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(err.contains(&name) && err.contains("corrupt"), "{err}");
        // Cut a file of 2 short.
        let path = state_file(dir.path(), 2, 0);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = storage.load(2).await.unwrap_err().to_string();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(err.contains(&name) && err.contains("truncated"), "{err}");

        let latest = storage.load_latest(0).await.unwrap().unwrap();
        assert_eq!(latest.id(), 1, "3 and 2 are damaged: back to 1, in full");
        assert_eq!(latest.of("count"), [&snapshot(0, 1), &snapshot(1, 1)]);

        // Garbage metadata is refused with a clear error, too.
        std::fs::write(file(dir.path(), 1, "_metadata"), b"{ not json").unwrap();
        let err = storage.load(1).await.unwrap_err().to_string();
        assert!(err.contains("metadata"), "{err}");
        assert!(storage.load_latest(0).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn two_writers_of_one_checkpoint_id_never_overwrite_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let storage = CheckpointStorage::open(dir.path().to_str().unwrap(), "t").unwrap();
        checkpoint(&storage, 5, true).await;
        // A stale copy writes task files of the same id afterwards.
        for t in 0..2 {
            storage.write_task(5, &snapshot(t, 99)).await.unwrap();
        }
        let restored = storage.load(5).await.unwrap();
        assert_eq!(restored.of("count"), [&snapshot(0, 5), &snapshot(1, 5)]);
    }

    #[tokio::test]
    async fn restore_is_limited_to_the_allowed_ids() {
        let dir = tempfile::tempdir().unwrap();
        let storage = CheckpointStorage::open(dir.path().to_str().unwrap(), "t").unwrap();
        for id in 1..=4 {
            checkpoint(&storage, id, true).await;
        }
        // 4 has metadata but was never recorded as completed.
        let latest = storage.load_latest_of(0, Some(&[1, 3])).await.unwrap().unwrap();
        assert_eq!(latest.id(), 3);
        assert!(storage.load_latest_of(2, Some(&[1])).await.unwrap().is_none());
        assert!(storage.load_latest_of(0, Some(&[])).await.unwrap().is_none());
        assert_eq!(storage.load_latest_of(0, None).await.unwrap().unwrap().id(), 4);
    }

    #[tokio::test]
    async fn prune_keeps_the_newest_completed() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let storage = CheckpointStorage::open(&url, "t").unwrap();
        checkpoint(&storage, 1, true).await;
        checkpoint(&storage, 2, false).await; // aborted, older than the newest
        for id in 3..=6 {
            checkpoint(&storage, id, true).await;
        }
        checkpoint(&storage, 7, false).await; // in progress: kept
        storage.prune(2).await.unwrap();
        assert_eq!(storage.list().await.unwrap(), [5, 6, 7]);
        assert_eq!(storage.completed().await.unwrap(), [5, 6]);
    }

    #[test]
    fn unsupported_location_is_refused_naming_it() {
        let err = CheckpointStorage::open("ftp://host/x", "t").unwrap_err().to_string();
        assert!(err.contains("ftp://host/x") && err.contains("ftp"), "{err}");
    }
}
