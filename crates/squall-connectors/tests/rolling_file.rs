//! The rolling file sink: exactly-once word count over Shakespeare with the
//! counting task killed three times, whose finished part files (rolled by
//! size, several per checkpoint) hold every `(word, n)` update exactly once
//! (the union equals the reference) with no pending part left; in a local
//! folder, and (feature `server-tests`) in an S3 bucket served by moto.
//! A full output disk (a tmpfs with a few KB free; needs root, else
//! skipped) fails the sink's task naming the part and the full disk, with
//! nothing partial finished; the run resumed from its newest checkpoint
//! once space is freed finishes every update exactly once.

mod support;

use std::collections::HashMap;

use squall::builtins::registry::bolt_factory;
use squall::builtins::{FileSpout, SplitWordsBolt, StatefulCountBolt};
use squall::topology::{Guarantee, RestartStrategy};
use squall::{Fields, LocalCluster, TopologyBuilder};
use squall_connectors::{RollingFileSink, RollingFileSinkOptions};
use squall_test_support::full_disk::{newest_checkpoint, Tmpfs};

/// For every word seen c times: (w, 1) ... (w, c), sorted.
fn expected_rows(counts: &HashMap<String, i64>) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> =
        counts.iter().flat_map(|(w, &c)| (1..=c).map(move |k| (w.clone(), k))).collect();
    rows.sort();
    rows
}

/// The rows of CSV part files, sorted.
fn rows_of(parts: &[Vec<u8>]) -> Vec<(String, i64)> {
    let mut rows = Vec::new();
    for bytes in parts {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(&bytes[..]);
        for r in reader.records() {
            let r = r.unwrap();
            rows.push((r[0].to_string(), r[1].parse().unwrap()));
        }
    }
    rows.sort();
    rows
}

/// Runs the killed word count into `path` with 16 KB parts.
fn run_into(path: &str) -> HashMap<String, i64> {
    let (input, counts) = support::plays(8);
    let total: i64 = counts.values().sum();
    let mut options = RollingFileSinkOptions::new(path);
    options.max_part_bytes = 16 * 1024;
    let sink = RollingFileSink::new(options).unwrap().bolt();
    let summary = support::killed_word_count(input.path(), total, bolt_factory(sink));
    assert!(!summary.checkpoints.is_empty(), "no checkpoint completed");
    counts
}

#[test]
fn killed_word_count_parts_hold_every_update_exactly_once() {
    let out = tempfile::tempdir().unwrap();
    let counts = run_into(out.path().to_str().unwrap());
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "_pending" {
            let left: Vec<_> = std::fs::read_dir(&path).unwrap().collect();
            assert!(left.is_empty(), "pending parts left: {left:?}");
            continue;
        }
        assert!(name.starts_with("part-") && name.ends_with(".csv"), "{name}");
        let bytes = std::fs::read(&path).unwrap();
        // Rolled by size: a part ends with the row that reached 16 KB.
        assert!(bytes.len() < 16 * 1024 + 200, "{name}: {} bytes", bytes.len());
        parts.push(bytes);
    }
    let expected = expected_rows(&counts);
    assert!(parts.len() > 10, "{} parts", parts.len());
    let got = rows_of(&parts);
    assert_eq!(got.len(), expected.len(), "rows in the finished parts vs reference");
    assert!(got == expected, "the finished parts differ from the reference");
}

/// The finished parts in the folder `out` (asserting nothing else is
/// there but the `_pending` folder, whose files are returned apart).
fn finished_parts(out: &std::path::Path) -> (Vec<Vec<u8>>, Vec<String>) {
    let (mut parts, mut pending) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "_pending" {
            for p in std::fs::read_dir(&path).unwrap() {
                pending.push(p.unwrap().file_name().to_string_lossy().into_owned());
            }
            continue;
        }
        assert!(name.starts_with("part-") && name.ends_with(".csv"), "{name}");
        parts.push(std::fs::read(&path).unwrap());
    }
    (parts, pending)
}

/// An exactly-once word count of the files in `input` into a rolling file
/// sink at `out` (4 KB parts), checkpointing into `checkpoints` every
/// 20 ms; no restart.
fn word_count_into(input: &std::path::Path, out: &str, checkpoints: &str) -> TopologyBuilder {
    let mut options = RollingFileSinkOptions::new(out);
    options.max_part_bytes = 4 * 1024;
    let mut b = TopologyBuilder::new("rolling-full-disk");
    b.set_spout("lines", FileSpout::new(input).unwrap(), 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt_factory("sink", bolt_factory(RollingFileSink::new(options).unwrap().bolt()), 1)
        .shuffle_grouping("count");
    let c = b.config_mut();
    c.guarantee = Guarantee::ExactlyOnce;
    c.checkpoint_interval_ms = 20;
    c.checkpoint_dir = Some(checkpoints.to_string());
    c.restart_strategy = RestartStrategy::None;
    // Barriers overtake little: checkpoints complete while the disk fills.
    c.channel_capacity = 2;
    c.batch_size = 256;
    b
}

#[test]
fn a_full_disk_fails_the_sink_naming_the_part_and_the_resumed_run_finishes_every_update_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), 8192) else { return };
    let out = disk.path().join("out");
    let checkpoints = dir.path().join("checkpoints");
    let (input, counts) = support::plays(8);
    // Room for a tenth of the rows, several checkpoints' worth.
    let filler = disk.fill_leaving(1 << 20);
    let (out_url, chk) = (out.to_str().unwrap(), checkpoints.to_str().unwrap());
    let first = word_count_into(input.path(), out_url, chk).build().unwrap();
    let err = LocalCluster::run(first).unwrap_err().to_string();
    assert!(err.contains("component 'sink'"), "the sink's task failed: {err}");
    assert!(err.contains("rolling file sink") && err.contains("part-0-"), "names the part: {err}");
    assert!(err.contains("No space left on device"), "names the full disk: {err}");
    // Nothing partial is finished: each (word, n) at most once, and for
    // each word 1..=n with no gap (a checkpoint's state).
    let (parts, _) = finished_parts(&out);
    let rows = rows_of(&parts);
    let mut max: HashMap<String, i64> = HashMap::new();
    for (w, n) in &rows {
        let m = max.entry(w.clone()).or_insert(0);
        *m = (*m).max(*n);
    }
    assert!(rows == expected_rows(&max), "finished parts hold a partial or repeated update");
    assert!(rows.len() < expected_rows(&counts).len(), "the disk filled before the end");
    // Room again: resumed from the newest checkpoint, every update once
    // and nothing left pending.
    std::fs::remove_file(&filler).unwrap();
    let newest = newest_checkpoint(&checkpoints.join("rolling-full-disk")).expect("a checkpoint");
    let second = word_count_into(input.path(), out_url, chk).build().unwrap();
    LocalCluster::run(second.restore_from(newest.to_str().unwrap()).unwrap()).unwrap();
    let (parts, pending) = finished_parts(&out);
    assert!(pending.is_empty(), "pending parts left: {pending:?}");
    assert!(
        rows_of(&parts) == expected_rows(&counts),
        "the finished parts differ from the reference"
    );
}

#[cfg(feature = "server-tests")]
#[test]
fn killed_word_count_parts_in_s3_hold_every_update_exactly_once() {
    use futures::TryStreamExt;
    use object_store::ObjectStore;

    let _moto = support::moto("squall-out");
    let counts = run_into("s3://squall-out/wc");
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name("squall-out")
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listed: Vec<object_store::ObjectMeta> =
        rt.block_on(store.list(Some(&"wc".into())).try_collect()).unwrap();
    let mut parts = Vec::new();
    for meta in listed {
        let name = meta.location.to_string();
        assert!(!name.contains("_pending"), "pending part left: {name}");
        let bytes = rt.block_on(async { store.get(&meta.location).await?.bytes().await }).unwrap();
        parts.push(bytes.to_vec());
    }
    assert!(parts.len() > 10, "{} parts", parts.len());
    assert!(rows_of(&parts) == expected_rows(&counts), "the S3 parts differ from the reference");
}
