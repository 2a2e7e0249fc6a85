//! Incremental RocksDB checkpoints in a running topology: word count over
//! Shakespeare, first a bulk of plays (the state grows to every word), then
//! single lines, each in a checkpoint of its own (the state barely
//! changes). Those later checkpoints upload a small part of what the bulk's
//! did; retention keeps the SST files that retained checkpoints still
//! reference; a corrupt shared file makes restore fall back to the
//! previous complete checkpoint.
#![cfg(feature = "rocksdb")]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use squall::builtins::{SplitWordsBolt, StatefulCountBolt};
use squall::checkpoint::{CheckpointMetadata, CheckpointStorage};
use squall::state::StateBackendKind;
use squall::topology::{Guarantee, OutputDeclarer, Spout, SpoutStatus};
use squall::{Fields, LocalCluster, OutputCollector, TopologyBuilder, Value};

/// Emits `bulk` (256 lines a call), then each line of `trickle` alone,
/// each only once the previous emit is in a completed checkpoint; finishes
/// when the last one is.
#[derive(Clone)]
struct BulkThenTrickle {
    bulk: Vec<String>,
    trickle: Vec<String>,
    /// Something was emitted since the last barrier.
    dirty: bool,
    /// The checkpoint that holds the last emit, until it completes.
    pending: Option<u64>,
}

impl Spout for BulkThenTrickle {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(Fields::new(["line"]));
    }

    fn next_tuple(&mut self, collector: &mut OutputCollector) -> squall::Result<SpoutStatus> {
        if !self.bulk.is_empty() {
            let n = self.bulk.len().min(256);
            for line in self.bulk.drain(..n) {
                collector.emit(vec![Value::String(line)])?;
            }
            self.dirty = true;
            return Ok(SpoutStatus::Active);
        }
        if self.dirty || self.pending.is_some() {
            return Ok(SpoutStatus::Idle);
        }
        match self.trickle.pop() {
            Some(line) => {
                collector.emit(vec![Value::String(line)])?;
                self.dirty = true;
                Ok(SpoutStatus::Active)
            }
            None => Ok(SpoutStatus::Finished),
        }
    }

    fn snapshot_state(&mut self, id: u64) -> squall::Result<()> {
        if self.dirty {
            self.pending = Some(id);
            self.dirty = false;
        }
        Ok(())
    }

    fn on_checkpoint_complete(&mut self, id: u64) -> squall::Result<()> {
        if self.pending.is_some_and(|p| id >= p) {
            self.pending = None;
        }
        Ok(())
    }
}

fn lines_of(path: &Path) -> Vec<String> {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    text.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect()
}

fn metadata(root: &Path, id: u64) -> CheckpointMetadata {
    let path = root.join(format!("chk-{id:020}")).join("_metadata");
    CheckpointMetadata::from_json(&std::fs::read(path).unwrap()).unwrap()
}

fn shared_objects(meta: &CheckpointMetadata) -> BTreeSet<String> {
    meta.incremental.iter().flat_map(|t| t.shared.iter().map(|f| f.object.clone())).collect()
}

/// Every object under `shared/` of the topology folder `root`.
fn shared_on_disk(root: &Path) -> BTreeSet<String> {
    let mut objects = BTreeSet::new();
    let Ok(tasks) = std::fs::read_dir(root.join("shared")) else { return objects };
    for task in tasks {
        let task = task.unwrap();
        for file in std::fs::read_dir(task.path()).unwrap() {
            let (t, f) = (task.file_name(), file.unwrap().file_name());
            objects.insert(format!("shared/{}/{}", t.to_string_lossy(), f.to_string_lossy()));
        }
    }
    objects
}

#[test]
fn small_changes_upload_little_retention_keeps_shared_files_and_corruption_falls_back() {
    let mut plays: Vec<PathBuf> = std::fs::read_dir(common::corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    plays.sort();
    let bulk: Vec<String> = plays.iter().take(20).flat_map(|p| lines_of(p)).collect();
    let trickle: Vec<String> =
        lines_of(&common::corpus().join("hamlet_gut.txt"))[1000..1006].to_vec();
    let checkpoints = tempfile::tempdir().unwrap();
    let mut b = TopologyBuilder::new("incremental");
    let spout = BulkThenTrickle { bulk, trickle, dirty: false, pending: None };
    b.set_spout("lines", spout, 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
        .fields_grouping("split", Fields::new(["word"]));
    let c = b.config_mut();
    c.guarantee = Guarantee::ExactlyOnce;
    c.checkpoint_interval_ms = 100;
    c.checkpoint_dir = Some(checkpoints.path().display().to_string());
    c.state_backend = StateBackendKind::Rocksdb;
    c.incremental_checkpoints = true;
    // Three: a checkpoint triggered while the one of a trickled line was
    // still completing holds no change, and may be the newest.
    c.retained_checkpoints = 3;
    let summary = LocalCluster::run(b.build().unwrap()).unwrap();

    // The bulk's checkpoint uploads the whole state; each line after it
    // changes a few keys, and at least one of those checkpoints uploads
    // under a quarter of it: a small SST file plus the database's
    // MANIFEST and OPTIONS files (RocksDB's compactions rewrite files now
    // and then, which a checkpoint must upload again).
    let stats = &summary.checkpoints;
    assert!(stats.len() >= 6, "one checkpoint per trickled line: {stats:?}");
    let biggest = stats.iter().map(|s| s.uploaded_bytes).max().unwrap();
    let last = stats.last().unwrap();
    assert!(last.state_bytes >= biggest / 2, "the state stays whole: {stats:?}");
    let smallest = stats.iter().rev().take(5).map(|s| s.uploaded_bytes).min().unwrap();
    assert!(
        smallest * 4 < biggest,
        "a checkpoint after a one-line change uploads {smallest} B, the bulk's {biggest} B"
    );

    // Retention: the 3 newest complete checkpoints are left, every shared
    // file they reference is there, including files they reuse (written by
    // an earlier checkpoint).
    let root = checkpoints.path().join("incremental");
    let storage =
        CheckpointStorage::open(checkpoints.path().to_str().unwrap(), "incremental").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let kept = rt.block_on(storage.completed()).unwrap();
    assert_eq!(kept.len(), 3, "{kept:?}");
    let held: Vec<BTreeSet<String>> =
        kept.iter().map(|&id| shared_objects(&metadata(&root, id))).collect();
    let referenced: BTreeSet<String> = held.iter().flatten().cloned().collect();
    for object in &referenced {
        assert!(root.join(object).is_file(), "{object} is referenced and was deleted");
    }
    assert_eq!(shared_on_disk(&root), referenced, "unreferenced shared files left at the end");
    let reusing = kept.iter().filter(|id| {
        let s = stats.iter().find(|s| s.id == **id).unwrap();
        s.uploaded_bytes < s.state_bytes
    });
    assert!(reusing.count() > 0, "no retained checkpoint reuses files: {stats:?}");

    // A corrupt SST file that a newer retained checkpoint flushed and the
    // oldest does not hold: restore skips every checkpoint that holds it,
    // for the newest that does not, in full.
    let victim = held[1..]
        .iter()
        .rev()
        .flatten()
        .find(|o| !held[0].contains(*o))
        .expect("a retained checkpoint flushed a new file")
        .clone();
    let intact = kept.iter().zip(&held).rev().find(|(_, h)| !h.contains(&victim)).unwrap().0;
    let victim = root.join(victim);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let restored = rt.block_on(storage.load_latest(0)).unwrap().expect("an intact checkpoint");
    assert_eq!(restored.id(), *intact, "fell back to the newest checkpoint without the file");
    let databases = restored.databases_of("count");
    assert_eq!(databases.len(), 2, "both count tasks' databases downloaded");
    for db in databases {
        let on_disk: usize = std::fs::read_dir(db.dir.path()).unwrap().count();
        assert_eq!(on_disk, db.files.shared.len() + db.files.private.len());
    }
}

/// What an aborted checkpoint left (an uploaded SST file, a folder without
/// metadata) is deleted by the next run of the topology, which restores
/// from the same folder, even though that run completes no checkpoint
/// (retention after a completion would otherwise be the only cleaner).
#[test]
fn leftovers_of_aborted_checkpoints_are_deleted_by_a_run_that_completes_no_checkpoint() {
    let input = tempfile::tempdir().unwrap();
    for play in ["macbeth_gut.txt", "othello_gut.txt"] {
        std::fs::copy(common::corpus().join(play), input.path().join(play)).unwrap();
    }
    let checkpoints = tempfile::tempdir().unwrap();
    let run = |interval_ms: u64| {
        let mut b = TopologyBuilder::new("leftovers");
        b.set_spout("lines", squall::builtins::FileSpout::new(input.path()).unwrap(), 1);
        b.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
        b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
            .fields_grouping("split", Fields::new(["word"]));
        let c = b.config_mut();
        c.guarantee = Guarantee::ExactlyOnce;
        c.checkpoint_interval_ms = interval_ms;
        c.checkpoint_dir = Some(checkpoints.path().display().to_string());
        c.state_backend = StateBackendKind::Rocksdb;
        c.incremental_checkpoints = true;
        c.channel_capacity = 2;
        c.batch_size = 64;
        LocalCluster::run(b.build().unwrap()).unwrap()
    };
    let first = run(20);
    assert!(!first.checkpoints.is_empty(), "the first run completed no checkpoint");
    let root = checkpoints.path().join("leftovers");
    let storage =
        CheckpointStorage::open(checkpoints.path().to_str().unwrap(), "leftovers").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let kept = rt.block_on(storage.completed()).unwrap();
    let referenced: BTreeSet<String> =
        kept.iter().flat_map(|id| shared_objects(&metadata(&root, *id))).collect();
    assert_eq!(shared_on_disk(&root), referenced, "the first run left unreferenced files");

    // An aborted checkpoint's leftovers, as a crash mid-upload leaves them.
    let orphan = root.join("shared/count-0/00000000deadbeef-000999.sst");
    std::fs::write(&orphan, b"an SST file no checkpoint references").unwrap();
    let incomplete = root.join(format!("chk-{:020}", kept.last().unwrap() + 10));
    std::fs::create_dir_all(&incomplete).unwrap();
    std::fs::write(incomplete.join("count-0.state"), b"never acknowledged").unwrap();

    let second = run(3_600_000);
    assert!(second.checkpoints.is_empty(), "an hour's interval: no checkpoint");
    assert!(!orphan.exists(), "the orphan SST file is still there");
    assert!(!incomplete.exists(), "the incomplete checkpoint is still there");
    assert_eq!(rt.block_on(storage.completed()).unwrap(), kept, "retained ones untouched");
    assert_eq!(shared_on_disk(&root), referenced);
}
