//! [`RollingFileSink`]: CSV part files rolled by size and by time into a
//! local folder or an S3-compatible bucket (through `object_store`, each
//! part a multipart upload), exactly-once through the checkpoint's
//! two-phase commit: Flink's `FileSink` with its in-progress, pending and
//! finished part files.
//!
//! Owns part naming, rolling, uploads and the pending → finished renames;
//! the protocol (pre-commit on the barrier, commit when the checkpoint
//! completes, restore) is [`TwoPhaseCommitBolt`]'s, and [`RollingFileBolt`]
//! adds the processing-time tick that rolls idle parts.
//!
//! The life of a part: **in progress** while rows are written to it (an
//! open multipart upload under `_pending/`: invisible on S3, a temporary
//! file locally); **pending** once rolled (by size, age, or the barrier:
//! the upload is completed as `_pending/part-…`); **finished** when the
//! checkpoint covering it completes (renamed to `part-…` beside
//! `_pending/`). After a failure, pending parts that no completed
//! checkpoint lists are deleted, and open uploads are abandoned (never
//! completed; S3 drops them with a bucket lifecycle rule on incomplete
//! multipart uploads): the finished parts hold every input exactly once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};
use squall::checkpoint::two_phase::owner;
use squall::checkpoint::{TwoPhaseCommitBolt, TwoPhaseCommitSink};
use squall::{Bolt, Error, OutputCollector, Result, TopologyContext, Tuple};

use crate::blocking::off_runtime;
use crate::decode::value_text;

/// Smallest part of a multipart upload but the last (S3's limit), bytes.
const UPLOAD_CHUNK: usize = 5 * 1024 * 1024;

/// The folder of pending parts, under the output location.
const PENDING: &str = "_pending";

/// Where and how a [`RollingFileSink`] writes; the settings of YAML bolt
/// `rolling_file`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollingFileSinkOptions {
    /// A folder path (created when a task opens the sink, if missing), a
    /// `file://` URL, or
    /// `s3://bucket/prefix` (endpoint and credentials from the usual
    /// `AWS_*` environment variables, as `object_store`'s
    /// `AmazonS3Builder::from_env`).
    pub path: String,
    /// A part is rolled once it holds this many bytes. Default 128 MiB.
    #[serde(default = "default_max_part_bytes")]
    pub max_part_bytes: u64,
    /// A part is rolled once it has been open this long, ms (checked on
    /// every row and every second). Default 60 000.
    #[serde(default = "default_rollover_interval_ms")]
    pub rollover_interval_ms: u64,
    /// Suffix of the part names. Default `.csv`.
    #[serde(default = "default_suffix")]
    pub suffix: String,
}

fn default_max_part_bytes() -> u64 {
    128 * 1024 * 1024
}
fn default_rollover_interval_ms() -> u64 {
    60_000
}
fn default_suffix() -> String {
    ".csv".into()
}

impl RollingFileSinkOptions {
    /// Parts under `path` with the default rolling policy.
    pub fn new(path: impl Into<String>) -> Self {
        RollingFileSinkOptions {
            path: path.into(),
            max_part_bytes: default_max_part_bytes(),
            rollover_interval_ms: default_rollover_interval_ms(),
            suffix: default_suffix(),
        }
    }
}

/// A pending part: its name, under `_pending/` now and beside it once
/// finished. The sink's transaction is the list of parts a checkpoint
/// covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPart {
    /// `part-<task>-<attempt>-<n><suffix>`.
    pub name: String,
}

/// The part being written.
struct InProgress {
    upload: Box<dyn MultipartUpload>,
    name: String,
    /// Rows not yet sent as an upload part.
    buffer: Vec<u8>,
    bytes: u64,
    opened: Instant,
}

/// Per task, once opened.
struct Open {
    store: Arc<dyn ObjectStore>,
    root: Path,
    /// Always `Some` but in `drop`.
    runtime: Option<tokio::runtime::Runtime>,
    task: usize,
    /// The sink's parallelism: leftovers of task `j` are this task's when
    /// [`owner`]`(j, parallelism) == task` (after a rescale too).
    parallelism: usize,
    /// Random per task attempt: parts of different attempts never clash.
    attempt: String,
    next_part: u64,
    current: Option<InProgress>,
    /// Rolled since the last barrier.
    rolled: Vec<PendingPart>,
}

impl Drop for Open {
    fn drop(&mut self) {
        // Blocking in a drop on the engine's threads would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Writes each input tuple as a CSV row (strings as they are, other values
/// as JSON, no header) into rolling part files. See the module docs for
/// the life of a part; wrap it with [`RollingFileSink::bolt`].
pub struct RollingFileSink {
    options: RollingFileSinkOptions,
    /// In a mutex so that the sink is `Sync` and the tick can roll through
    /// a shared reference; never contended (one task, one thread).
    open: Mutex<Option<Open>>,
}

impl Clone for RollingFileSink {
    /// An unopened copy.
    fn clone(&self) -> Self {
        RollingFileSink { options: self.options.clone(), open: Mutex::new(None) }
    }
}

fn store_error(what: impl std::fmt::Display, e: object_store::Error) -> Error {
    Error::config(format!("rolling file sink: {what}: {e}"))
}

/// Where a [`RollingFileSinkOptions::path`] points, checked without
/// touching it.
enum Location {
    /// A local folder (created when the sink opens).
    Folder(std::path::PathBuf),
    /// A bucket's store (no request made yet) and the prefix in it.
    Bucket(Arc<dyn ObjectStore>, Path),
}

/// Reads `location` (see [`RollingFileSinkOptions::path`]): a malformed
/// URL, an unsupported scheme or a bad S3 configuration is an error; no
/// file, folder or request is made.
fn locate(location: &str) -> Result<Location> {
    let bad = |e: String| Error::config(format!("rolling file sink: path '{location}': {e}"));
    if !location.contains("://") {
        return Ok(Location::Folder(std::path::PathBuf::from(location)));
    }
    let url = url::Url::parse(location).map_err(|e| bad(e.to_string()))?;
    match url.scheme() {
        "file" => {
            Ok(Location::Folder(url.to_file_path().map_err(|_| bad("not a local path".into()))?))
        }
        "s3" => {
            let bucket = url.host_str().ok_or_else(|| bad("no bucket".into()))?;
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            Ok(Location::Bucket(Arc::new(store), Path::from(url.path().trim_start_matches('/'))))
        }
        s => Err(bad(format!("scheme '{s}' (a folder, file:// or s3://)"))),
    }
}

/// The store and root path of `location`, creating a local folder that
/// is missing.
fn open_store(location: &str) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let bad = |e: String| Error::config(format!("rolling file sink: path '{location}': {e}"));
    match locate(location)? {
        Location::Bucket(store, root) => Ok((store, root)),
        Location::Folder(local) => {
            std::fs::create_dir_all(&local).map_err(|e| bad(e.to_string()))?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&local)
                .map_err(|e| bad(e.to_string()))?;
            Ok((Arc::new(store), Path::default()))
        }
    }
}

impl RollingFileSink {
    /// A sink writing as `options` say.
    ///
    /// # Errors
    /// [`Error::Config`] for a zero size or interval, or a location that
    /// cannot be used (a malformed URL, an unsupported scheme). Nothing is
    /// created here: a missing folder is created when a task opens the
    /// sink, so loading or validating a topology touches no file.
    pub fn new(options: RollingFileSinkOptions) -> Result<Self> {
        if options.max_part_bytes == 0 || options.rollover_interval_ms == 0 {
            return Err(Error::config(
                "rolling file sink: max_part_bytes and rollover_interval_ms must be at least 1",
            ));
        }
        locate(&options.path)?; // a bad URL is refused before anything runs
        Ok(RollingFileSink { options, open: Mutex::new(None) })
    }

    /// The bolt: this sink under the two-phase-commit protocol, with a
    /// tick that rolls idle parts.
    pub fn bolt(self) -> RollingFileBolt {
        RollingFileBolt(TwoPhaseCommitBolt::new(self))
    }

    fn with_open<T>(&self, f: impl FnOnce(&mut Open) -> Result<T>) -> Result<T> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        f(open.as_mut().expect("opened"))
    }

    /// Rolls the part in progress if it is older than the interval.
    fn roll_if_due(&self) -> Result<()> {
        let interval = Duration::from_millis(self.options.rollover_interval_ms);
        self.with_open(|o| match &o.current {
            Some(c) if c.opened.elapsed() >= interval => o.roll(),
            _ => Ok(()),
        })
    }
}

impl Open {
    fn pending_path(&self, name: &str) -> Path {
        self.root.child(PENDING).child(name)
    }

    /// Runs `f` on this task's I/O runtime, off the engine's threads.
    fn block_on<F: std::future::Future + Send>(&self, f: F) -> F::Output
    where
        F::Output: Send,
    {
        let runtime = self.runtime.as_ref().expect("open");
        off_runtime(move || runtime.block_on(f))
    }

    /// Sends the buffered rows as one upload part.
    fn send_buffer(&mut self) -> Result<()> {
        let Some(current) = self.current.as_mut() else { return Ok(()) };
        if current.buffer.is_empty() {
            return Ok(());
        }
        let payload = PutPayload::from(std::mem::take(&mut current.buffer));
        let part = current.upload.put_part(payload);
        let name = current.name.clone();
        self.block_on(part).map_err(|e| store_error(format!("upload of {name}"), e))
    }

    /// Completes the part in progress: it becomes pending.
    fn roll(&mut self) -> Result<()> {
        self.send_buffer()?;
        let Some(mut current) = self.current.take() else { return Ok(()) };
        let name = current.name.clone();
        self.block_on(current.upload.complete())
            .map_err(|e| store_error(format!("completing {name}"), e))?;
        self.rolled.push(PendingPart { name });
        Ok(())
    }
}

impl TwoPhaseCommitSink for RollingFileSink {
    type Transaction = Vec<PendingPart>;

    /// Opens the store and an I/O runtime for the task.
    ///
    /// # Errors
    /// [`Error::Config`] naming the path if the store cannot be opened.
    fn open(&mut self, context: &TopologyContext) -> Result<()> {
        let (store, root) = open_store(&self.options.path)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("rolling file sink runtime", e))?;
        let attempt = format!("{:08x}", fastrand::u32(..));
        *self.open.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(Open {
            store,
            root,
            runtime: Some(runtime),
            task: context.task_index(),
            parallelism: context.parallelism(),
            attempt,
            next_part: 0,
            current: None,
            rolled: Vec::new(),
        });
        Ok(())
    }

    fn begin_transaction(&mut self) -> Result<Vec<PendingPart>> {
        Ok(Vec::new())
    }

    /// Appends the row to the part in progress (starting one if none),
    /// rolling it when it is big or old enough.
    ///
    /// # Errors
    /// [`Error::Config`] naming the part when an upload fails.
    fn invoke(&mut self, _txn: &mut Vec<PendingPart>, input: Tuple) -> Result<()> {
        let (max_bytes, suffix) = (self.options.max_part_bytes, self.options.suffix.clone());
        let interval = Duration::from_millis(self.options.rollover_interval_ms);
        let open = self.open.get_mut().unwrap_or_else(|p| p.into_inner()).as_mut().expect("opened");
        if open.current.is_none() {
            let name = format!("part-{}-{}-{:05}{suffix}", open.task, open.attempt, open.next_part);
            open.next_part += 1;
            let path = open.pending_path(&name);
            let store = open.store.clone();
            let upload = open
                .block_on(async move { store.put_multipart(&path).await })
                .map_err(|e| store_error(format!("starting {name}"), e))?;
            let buffer = Vec::new();
            open.current =
                Some(InProgress { upload, name, buffer, bytes: 0, opened: Instant::now() });
        }
        let current = open.current.as_mut().expect("a part in progress");
        let before = current.buffer.len();
        {
            let mut writer =
                csv::WriterBuilder::new().has_headers(false).from_writer(&mut current.buffer);
            writer
                .write_record(input.values().iter().map(value_text))
                .and_then(|()| writer.flush().map_err(csv::Error::from))
                .map_err(|e| Error::config(format!("rolling file sink: row: {e}")))?;
        }
        current.bytes += (current.buffer.len() - before) as u64;
        let (full, old) = (current.bytes >= max_bytes, current.opened.elapsed() >= interval);
        if full || old {
            open.roll()?;
        } else if current.buffer.len() >= UPLOAD_CHUNK {
            open.send_buffer()?;
        }
        Ok(())
    }

    /// Rolls the part in progress; the transaction lists every part rolled
    /// since the last barrier, pending until the checkpoint completes.
    fn pre_commit(&mut self, txn: &mut Vec<PendingPart>, _checkpoint_id: u64) -> Result<()> {
        self.with_open(|open| {
            open.roll()?;
            txn.append(&mut open.rolled);
            Ok(())
        })
    }

    /// Renames each pending part to its finished name; a part already
    /// renamed (a commit repeated after a restore) is skipped.
    fn commit(&mut self, txn: &Vec<PendingPart>) -> Result<()> {
        self.with_open(|open| {
            for part in txn {
                let (from, to) =
                    (open.pending_path(&part.name), open.root.child(part.name.as_str()));
                let store = open.store.clone();
                let renamed = open.block_on(async move {
                    match store.rename(&from, &to).await {
                        Err(object_store::Error::NotFound { .. }) => {
                            store.head(&to).await.map(|_| ())
                        }
                        r => r,
                    }
                });
                renamed.map_err(|e| store_error(format!("committing {}", part.name), e))?;
            }
            Ok(())
        })
    }

    /// Abandons the part in progress and deletes the pending ones.
    fn abort(&mut self, txn: &Vec<PendingPart>) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let Some(open) = open.as_mut() else { return };
        if let Some(mut current) = open.current.take() {
            let _ = open.block_on(current.upload.abort());
        }
        let names: Vec<String> = txn.iter().chain(&open.rolled).map(|p| p.name.clone()).collect();
        open.rolled.clear();
        for name in names {
            let (store, path) = (open.store.clone(), open.pending_path(&name));
            let _ = open.block_on(async move { store.delete(&path).await });
        }
    }

    /// Deletes the pending parts this task owns (its own, and after a
    /// rescale those of vanished tasks it [`owner`]s) that `keep` does not
    /// list.
    fn discard_others(&mut self, keep: &[Vec<PendingPart>]) -> Result<()> {
        self.with_open(|open| {
            let writer = |name: &str| {
                let rest = name.strip_prefix("part-")?;
                rest.split_once('-')?.0.parse::<usize>().ok()
            };
            let (store, dir) = (open.store.clone(), open.root.child(PENDING));
            let listed: Vec<object_store::ObjectMeta> = open
                .block_on(async move { store.list(Some(&dir)).try_collect().await })
                .map_err(|e| store_error("listing pending parts", e))?;
            for meta in listed {
                let Some(name) = meta.location.filename().map(str::to_string) else { continue };
                let kept = keep.iter().flatten().any(|p| p.name == name);
                let mine = writer(&name).is_some_and(|j| owner(j, open.parallelism) == open.task);
                if mine && !kept {
                    let (store, path) = (open.store.clone(), meta.location);
                    open.block_on(async move { store.delete(&path).await })
                        .map_err(|e| store_error(format!("deleting {name}"), e))?;
                }
            }
            Ok(())
        })
    }
}

/// [`RollingFileSink`] as a bolt: [`TwoPhaseCommitBolt`] plus a tick
/// every second that rolls a part older than `rollover_interval_ms`.
#[derive(Clone)]
pub struct RollingFileBolt(TwoPhaseCommitBolt<RollingFileSink>);

impl Bolt for RollingFileBolt {
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        self.0.prepare(context)
    }
    fn execute(&mut self, input: Tuple, collector: &mut OutputCollector) -> Result<()> {
        self.0.execute(input, collector)
    }
    fn tick_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.0.sink().options.rollover_interval_ms.clamp(1, 1_000)))
    }
    fn on_tick(&mut self, _now_ms: i64, _collector: &mut OutputCollector) -> Result<()> {
        self.0.sink().roll_if_due()
    }
    fn finish(&mut self, collector: &mut OutputCollector) -> Result<()> {
        self.0.finish(collector)
    }
    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<()> {
        self.0.snapshot_state(checkpoint_id)
    }
    fn on_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        self.0.on_checkpoint_complete(checkpoint_id)
    }
    fn cleanup(&mut self) {
        self.0.cleanup()
    }
}
