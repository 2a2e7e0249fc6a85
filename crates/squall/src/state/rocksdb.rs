//! [`RocksDbBackend`]: keyed state in an embedded RocksDB per task (the
//! `rocksdb` cargo feature), for state larger than memory — Flink's
//! `EmbeddedRocksDBStateBackend`.
//!
//! Each task opens its own database in a temporary folder (deleted when the
//! task stops: the durable copy is the checkpoint). A row's key is
//! `state id (u16, big endian) | key group (u16, big endian) | key bytes`,
//! so one key group of one state is one contiguous range, and map state's
//! prefix scans are range scans. The write-ahead log is off: after a crash
//! the state comes back from the last checkpoint, never from the local
//! files.
//!
//! Full snapshots ([`StateBackend::snapshot`]) read a RocksDB snapshot (a
//! consistent view) and are copies per key group, written in the same
//! format as the memory backend's, so a checkpoint of one backend restores
//! into the other and rescales. Incremental snapshots
//! ([`RocksDbBackend::create_checkpoint`], stored by
//! `checkpoint::incremental`) are RocksDB checkpoints: hard links of the
//! live SST files, of which only new ones are uploaded.

use std::borrow::Cow;
use std::ops::Range;

use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde_bytes::ByteBuf;

use crate::checkpoint::IncrementalTaskFiles;
use crate::error::{Error, Result};
use crate::state::backend::{KeyGroupState, NamedEntries, StateBackend, StateId, StateKind};

/// Keyed state in an embedded RocksDB.
pub struct RocksDbBackend {
    key_groups: Range<usize>,
    states: Vec<(String, StateKind)>,
    db: DB,
    write: WriteOptions,
    /// Random id of this database instance (names its uploaded SST files).
    instance: u64,
    /// The instance whose checkpoint this database was restored from.
    parent: Option<u64>,
    /// What its incremental snapshots uploaded (see [`Uploads`]).
    uploads: Uploads,
    // Dropped after `db` (fields drop in order): the folder goes last.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for RocksDbBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbBackend")
            .field("key_groups", &self.key_groups)
            .field("path", &self._dir.path())
            .finish()
    }
}

/// Flink's `uploadedSstFiles` of `RocksIncrementalSnapshotStrategy`: the
/// files each incremental snapshot of this database stored, and those of
/// the last completed checkpoint, which the next snapshot references
/// instead of uploading again.
#[derive(Debug, Default)]
struct Uploads {
    /// (checkpoint id, files) of snapshots not known to be complete.
    pending: Vec<(u64, IncrementalTaskFiles)>,
    completed: Option<IncrementalTaskFiles>,
}

/// One row as RocksDB's iterators give it.
type Row = (Box<[u8]>, Box<[u8]>);

fn db_err(e: rocksdb::Error) -> Error {
    Error::State(format!("rocksdb: {e}"))
}

/// The prefix of every row of `state` in `key_group`.
fn prefix(state: StateId, key_group: usize) -> [u8; 4] {
    let s = (state as u16).to_be_bytes();
    let g = (key_group as u16).to_be_bytes();
    [s[0], s[1], g[0], g[1]]
}

fn row(state: StateId, key_group: usize, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + key.len());
    k.extend_from_slice(&prefix(state, key_group));
    k.extend_from_slice(key);
    k
}

impl RocksDbBackend {
    /// An empty database in a new temporary folder, for `key_groups`.
    ///
    /// # Errors
    /// [`Error::State`] if the folder or the database cannot be made.
    pub fn new(key_groups: Range<usize>) -> Result<RocksDbBackend> {
        Self::open(Self::folder()?, key_groups, Vec::new(), None)
    }

    /// A new empty temporary folder for a database.
    ///
    /// # Errors
    /// [`Error::State`] if it cannot be made.
    pub fn folder() -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("squall-rocksdb-")
            .tempdir()
            .map_err(|e| Error::State(format!("rocksdb: cannot make a folder: {e}")))
    }

    /// Opens the database in `dir` (made by [`RocksDbBackend::folder`],
    /// empty or holding the files of a RocksDB checkpoint) with `states`
    /// registered; `parent` is the instance that wrote those files.
    ///
    /// # Errors
    /// [`Error::State`] if the database cannot be opened.
    pub fn open(
        dir: tempfile::TempDir,
        key_groups: Range<usize>,
        states: Vec<(String, StateKind)>,
        parent: Option<u64>,
    ) -> Result<RocksDbBackend> {
        let mut options = Options::default();
        options.create_if_missing(true);
        // Keyed state is mostly point reads and writes of hot keys: bloom
        // filters and a block cache (64 MB) keep reads off older files.
        options.optimize_for_point_lookup(64);
        let db = DB::open(&options, dir.path()).map_err(db_err)?;
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        let instance = rand::random();
        let uploads = Uploads::default();
        Ok(RocksDbBackend { key_groups, states, db, write, instance, parent, uploads, _dir: dir })
    }

    /// The files of the last completed checkpoint that stores this
    /// database's state: what its next incremental snapshot may reuse.
    pub fn last_completed_upload(&self) -> Option<&IncrementalTaskFiles> {
        self.uploads.completed.as_ref()
    }

    /// Records what the incremental snapshot of checkpoint `id` uploaded
    /// (it becomes reusable once `id` completes).
    pub fn record_upload(&mut self, id: u64, files: IncrementalTaskFiles) {
        self.uploads.pending.retain(|(p, _)| *p > id);
        self.uploads.pending.push((id, files));
    }

    /// Checkpoint `id` completed: the newest upload of a checkpoint up to
    /// `id` becomes the one that the next snapshot reuses. Uploads of
    /// checkpoints that never completed are dropped (their files may be
    /// deleted by retention).
    pub fn checkpoint_completed(&mut self, id: u64) {
        let pending = std::mem::take(&mut self.uploads.pending);
        let (done, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(p, _)| *p <= id);
        if let Some((_, files)) = done.into_iter().max_by_key(|(p, _)| *p) {
            self.uploads.completed = Some(files);
        }
        self.uploads.pending = later;
    }

    /// As [`RocksDbBackend::open`] for a database restored from `files`,
    /// whose SST files its next snapshot reuses.
    ///
    /// # Errors
    /// As [`RocksDbBackend::open`].
    pub fn open_restored(
        dir: tempfile::TempDir,
        files: &IncrementalTaskFiles,
    ) -> Result<RocksDbBackend> {
        let mut db =
            Self::open(dir, files.key_groups.clone(), files.states.clone(), Some(files.instance))?;
        db.uploads.completed = Some(files.clone());
        Ok(db)
    }

    /// The registered states in id order (name, kind).
    pub fn states(&self) -> &[(String, StateKind)] {
        &self.states
    }

    /// This database's instance id, and the instance it was restored from.
    pub fn lineage(&self) -> (u64, Option<u64>) {
        (self.instance, self.parent)
    }

    /// The synchronous part of an incremental snapshot: flushes the
    /// memtable (the write-ahead log is off) and writes a RocksDB
    /// checkpoint into `dir`, which must not exist yet: hard links of the
    /// live (immutable) SST files plus copies of `CURRENT`, `MANIFEST-*`
    /// and `OPTIONS-*`. Put `dir` on the same file system as the database
    /// (a sibling of [`RocksDbBackend::folder`]) so that links are possible.
    ///
    /// # Errors
    /// [`Error::State`] if RocksDB fails.
    pub fn create_checkpoint(&self, dir: &std::path::Path) -> Result<()> {
        self.db.flush().map_err(db_err)?;
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(dir))
            .map_err(db_err)
    }

    /// Every entry of `key_group` (of any key group, not only those this
    /// backend holds: a database restored for rescaling is read this way).
    ///
    /// # Errors
    /// [`Error::State`] if RocksDB fails.
    pub fn key_group(&self, key_group: usize) -> Result<Option<KeyGroupState>> {
        self.read_key_group(&self.db.snapshot(), key_group)
    }

    fn read_key_group(
        &self,
        view: &rocksdb::Snapshot<'_>,
        key_group: usize,
    ) -> Result<Option<KeyGroupState>> {
        let mut states = Vec::new();
        for (id, (name, kind)) in self.states.iter().enumerate() {
            let p = prefix(id, key_group);
            let iter = view.iterator(IteratorMode::From(&p, Direction::Forward));
            let entries = Self::scan(iter, &p)
                .map(|r| r.map(|(k, v)| (ByteBuf::from(&k[4..]), ByteBuf::from(v.to_vec()))))
                .collect::<Result<Vec<_>>>()?;
            if !entries.is_empty() {
                states.push(NamedEntries { name: name.clone(), kind: *kind, entries });
            }
        }
        Ok((!states.is_empty()).then_some(KeyGroupState { key_group: key_group as u32, states }))
    }

    /// The rows of `iter` (positioned at `prefix`) that start with `prefix`.
    fn scan<'a>(
        iter: impl Iterator<Item = std::result::Result<Row, rocksdb::Error>> + 'a,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = Result<Row>> + 'a {
        iter.map(|r| r.map_err(db_err))
            .take_while(move |r| r.as_ref().map_or(true, |(k, _)| k.starts_with(prefix)))
    }
}

impl StateBackend for RocksDbBackend {
    fn name(&self) -> &'static str {
        "rocksdb"
    }

    fn key_groups(&self) -> Range<usize> {
        self.key_groups.clone()
    }

    fn register(&mut self, id: StateId, name: &str, kind: StateKind) {
        debug_assert_eq!(id, self.states.len(), "state ids are given out in order");
        self.states.push((name.to_string(), kind));
    }

    fn get(&self, state: StateId, key_group: usize, key: &[u8]) -> Result<Option<Cow<'_, [u8]>>> {
        let found = self.db.get_pinned(row(state, key_group, key)).map_err(db_err)?;
        Ok(found.map(|v| Cow::Owned(v.to_vec())))
    }

    fn put(&mut self, state: StateId, key_group: usize, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.put_opt(row(state, key_group, key), value, &self.write).map_err(db_err)
    }

    fn remove(&mut self, state: StateId, key_group: usize, key: &[u8]) -> Result<()> {
        self.db.delete_opt(row(state, key_group, key), &self.write).map_err(db_err)
    }

    fn scan_prefix(
        &self,
        state: StateId,
        key_group: usize,
        key_prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let start = row(state, key_group, key_prefix);
        let iter = self.db.iterator(IteratorMode::From(&start, Direction::Forward));
        Self::scan(iter, &start).map(|r| r.map(|(k, v)| (k[4..].to_vec(), v.to_vec()))).collect()
    }

    fn snapshot(&self) -> Result<Vec<KeyGroupState>> {
        let view = self.db.snapshot();
        let mut out = Vec::new();
        for key_group in self.key_groups.clone() {
            out.extend(self.read_key_group(&view, key_group)?);
        }
        Ok(out)
    }

    fn as_rocksdb_mut(&mut self) -> Option<&mut RocksDbBackend> {
        Some(self)
    }

    fn restore(&mut self, group: KeyGroupState) -> Result<()> {
        let kg = group.key_group as usize;
        assert!(self.key_groups.contains(&kg), "key group {kg} is not held by this task");
        let mut batch = WriteBatch::default();
        for named in group.states {
            let id = match self.states.iter().position(|(n, _)| *n == named.name) {
                Some(id) => id,
                None => {
                    self.states.push((named.name.clone(), named.kind));
                    self.states.len() - 1
                }
            };
            for (k, v) in named.entries {
                batch.put(row(id, kg, &k), &v);
            }
        }
        self.db.write_opt(batch, &self.write).map_err(db_err)
    }

    fn len(&self) -> usize {
        self.db.iterator(IteratorMode::Start).count()
    }
}
