//! Incremental checkpoints on real text: word counts of Shakespeare in a
//! RocksDB backend, checked against an independent map.

use std::collections::BTreeMap;

use super::*;
use crate::checkpoint::metadata::FORMAT_VERSION;
use crate::state::{StateBackend, StateKind};

const GROUPS: usize = 128;

/// Words of one play, lower-cased.
fn words(play: &str) -> Vec<String> {
    let path = format!("{}/../../data/shakespeare/{play}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Adds `words` to the counts in `backend` and in `reference`.
fn count(backend: &mut RocksDbBackend, reference: &mut BTreeMap<String, u64>, words: &[String]) {
    for w in words {
        let n = reference.entry(w.clone()).or_default();
        *n += 1;
        let kg = group(w);
        backend.put(0, kg, w.as_bytes(), &n.to_le_bytes()).unwrap();
    }
}

fn assert_equal(backend: &RocksDbBackend, reference: &BTreeMap<String, u64>) {
    assert_eq!(backend.len(), reference.len());
    for (w, n) in reference {
        let kg = group(w);
        let got = backend.get(0, kg, w.as_bytes()).unwrap().expect(w);
        assert_eq!(u64::from_le_bytes(got.as_ref().try_into().unwrap()), *n, "{w}");
    }
}

/// The key group of word `w`, as the runtime computes it for a string key.
fn group(w: &str) -> usize {
    let value = crate::Value::from(w);
    crate::keys::key_group(crate::keys::key_hash([&value]), GROUPS)
}

fn task() -> TaskId {
    TaskId { component: "count".into(), task_index: 0, parallelism: 1 }
}

async fn complete(storage: &CheckpointStorage, id: u64, files: &IncrementalTaskFiles) {
    let meta = CheckpointMetadata {
        format_version: FORMAT_VERSION,
        topology: "t".into(),
        checkpoint_id: id,
        max_parallelism: GROUPS,
        triggered_at_ms: 0,
        duration_ms: 1,
        tasks: Vec::new(),
        incremental: vec![files.clone()],
    };
    storage.write_metadata(&meta).await.unwrap();
}

/// Every file under `shared/` in the store (object paths).
fn shared_on_disk(dir: &std::path::Path) -> BTreeSet<String> {
    let shared = dir.join("t").join(SHARED).join("count-0");
    match std::fs::read_dir(&shared) {
        Ok(entries) => entries
            .map(|e| format!("{SHARED}/count-0/{}", e.unwrap().file_name().to_string_lossy()))
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

fn objects(files: &IncrementalTaskFiles) -> BTreeSet<String> {
    files.shared.iter().map(|f| f.object.clone()).collect()
}

#[tokio::test]
async fn second_checkpoint_uploads_only_new_sst_files_and_restores_equal_state() {
    let dir = tempfile::tempdir().unwrap();
    let storage = CheckpointStorage::open(dir.path().to_str().unwrap(), "t").unwrap();
    let mut backend = RocksDbBackend::new(0..GROUPS).unwrap();
    backend.register(0, "count", StateKind::Value);
    let mut reference = BTreeMap::new();

    let hamlet = words("hamlet_gut.txt");
    count(&mut backend, &mut reference, &hamlet);
    let (first, s1) = storage.write_incremental(1, &backend, &task(), None).await.unwrap();
    complete(&storage, 1, &first).await;
    assert!(!first.shared.is_empty() && s1.files_reused == 0);
    let full_sst: u64 = first.shared.iter().map(|f| f.size).sum();

    // A small change: 200 words of another play.
    let macbeth = words("macbeth_gut.txt");
    count(&mut backend, &mut reference, &macbeth[..200]);
    let (second, s2) = storage.write_incremental(2, &backend, &task(), Some(&first)).await.unwrap();
    complete(&storage, 2, &second).await;
    // Every SST file of checkpoint 1 is reused; only the flushed change is new.
    let new: BTreeSet<_> = objects(&second).difference(&objects(&first)).cloned().collect();
    assert_eq!(s2.files_reused, first.shared.len(), "{s2:?}");
    assert_eq!(new.len(), 1, "one new SST file: {new:?}");
    let new_bytes: u64 =
        second.shared.iter().filter(|f| new.contains(&f.object)).map(|f| f.size).sum();
    let private_bytes: u64 = second.private.iter().map(|f| f.size).sum();
    assert_eq!(s2.bytes_uploaded, new_bytes + private_bytes);
    assert_eq!(s2.files_uploaded, 1 + second.private.len());
    assert!(
        new_bytes < full_sst,
        "the change ({new_bytes} B) is smaller than the state ({full_sst} B)"
    );
    // What is on disk is exactly the union of both checkpoints' SST files.
    let union: BTreeSet<_> = objects(&first).union(&objects(&second)).cloned().collect();
    assert_eq!(shared_on_disk(dir.path()), union);

    let restored = storage.restore_incremental(&second).await.unwrap();
    assert_equal(&restored, &reference);
    assert_equal(&backend, &reference);
}

#[tokio::test]
async fn retention_keeps_referenced_shared_files_and_deletes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let storage = CheckpointStorage::open(dir.path().to_str().unwrap(), "t").unwrap();
    let mut backend = RocksDbBackend::new(0..GROUPS).unwrap();
    backend.register(0, "count", StateKind::Value);
    let mut reference = BTreeMap::new();
    let othello = words("othello_gut.txt");
    count(&mut backend, &mut reference, &othello[..5000]);
    let (first, _) = storage.write_incremental(1, &backend, &task(), None).await.unwrap();
    complete(&storage, 1, &first).await;
    count(&mut backend, &mut reference, &othello[5000..5100]);
    let (second, _) = storage.write_incremental(2, &backend, &task(), Some(&first)).await.unwrap();
    complete(&storage, 2, &second).await;

    // Keep 1: checkpoint 1 goes, but its SST files are still referenced by 2.
    storage.prune(1).await.unwrap();
    assert_eq!(storage.completed().await.unwrap(), [2]);
    assert_eq!(shared_on_disk(dir.path()), objects(&second));
    assert_equal(&storage.restore_incremental(&second).await.unwrap(), &reference);

    // Restore, keep counting in the restored database: its first checkpoint
    // reuses the restored files (same lineage).
    let mut restored = storage.restore_incremental(&second).await.unwrap();
    count(&mut restored, &mut reference, &othello[5100..5200]);
    let (third, s3) =
        storage.write_incremental(3, &restored, &task(), Some(&second)).await.unwrap();
    complete(&storage, 3, &third).await;
    assert_eq!(s3.files_reused, second.shared.len());

    // A fresh database (another lineage) shares nothing: after pruning to
    // the newest, every file of the old lineage is unreferenced and deleted.
    let mut fresh = RocksDbBackend::new(0..GROUPS).unwrap();
    fresh.register(0, "count", StateKind::Value);
    let mut fresh_reference = BTreeMap::new();
    count(&mut fresh, &mut fresh_reference, &othello[..300]);
    let (fourth, s4) = storage.write_incremental(4, &fresh, &task(), Some(&third)).await.unwrap();
    assert_eq!(s4.files_reused, 0, "another database's files are never reused");
    complete(&storage, 4, &fourth).await;
    storage.prune(1).await.unwrap();
    assert_eq!(storage.completed().await.unwrap(), [4]);
    assert_eq!(shared_on_disk(dir.path()), objects(&fourth));
    assert_equal(&storage.restore_incremental(&fourth).await.unwrap(), &fresh_reference);
}

#[tokio::test]
async fn a_corrupt_shared_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let storage = CheckpointStorage::open(dir.path().to_str().unwrap(), "t").unwrap();
    let mut backend = RocksDbBackend::new(0..GROUPS).unwrap();
    backend.register(0, "count", StateKind::Value);
    count(&mut backend, &mut BTreeMap::new(), &words("macbeth_gut.txt")[..1000]);
    let (files, _) = storage.write_incremental(1, &backend, &task(), None).await.unwrap();
    let object = &files.shared[0].object;
    let path = dir.path().join("t").join(object);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let err = storage.restore_incremental(&files).await.unwrap_err().to_string();
    assert!(err.contains(object.as_str()) && err.contains("corrupt"), "{err}");
}

#[tokio::test]
async fn files_of_an_aborted_checkpoint_are_deleted_once_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let storage = CheckpointStorage::open(dir.path().to_str().unwrap(), "t").unwrap();
    let mut backend = RocksDbBackend::new(0..GROUPS).unwrap();
    backend.register(0, "count", StateKind::Value);
    let mut reference = BTreeMap::new();
    let lear = words("lear_gut.txt");
    count(&mut backend, &mut reference, &lear[..4000]);
    let (first, _) = storage.write_incremental(1, &backend, &task(), None).await.unwrap();
    complete(&storage, 1, &first).await;

    // Checkpoint 2 uploads a new SST file, then is aborted: its folder is
    // deleted as the coordinator does, its shared file stays behind.
    let mut later = reference.clone();
    count(&mut backend, &mut later, &lear[4000..4100]);
    let (second, _) = storage.write_incremental(2, &backend, &task(), Some(&first)).await.unwrap();
    storage.delete(2).await.unwrap();
    let orphans: BTreeSet<_> = objects(&second).difference(&objects(&first)).cloned().collect();
    assert!(!orphans.is_empty());
    assert!(shared_on_disk(dir.path()).is_superset(&orphans));
    // An incomplete folder of a third one (no metadata).
    storage.write_incremental(3, &backend, &task(), Some(&first)).await.unwrap();

    // The end of a run (or a restore): only checkpoint 1 and its files stay.
    let deleted = storage.prune_unreferenced().await.unwrap();
    assert_eq!(deleted, orphans.len());
    assert_eq!(storage.list().await.unwrap(), [1]);
    assert_eq!(shared_on_disk(dir.path()), objects(&first));
    assert_equal(&storage.restore_incremental(&first).await.unwrap(), &reference);
}
