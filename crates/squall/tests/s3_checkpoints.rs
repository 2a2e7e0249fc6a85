//! Checkpoints in an S3-compatible store (the `s3` feature), against a
//! local `moto_server` (PyPI `moto[server]`, started by the test on a free
//! loopback port, `squall-test-support`): storage round trip with a savepoint copy, and an
//! exactly-once word count whose checkpoints live in the bucket.
#![cfg(feature = "s3")]

use std::collections::HashMap;

use squall::builtins::{GeneratorSpout, SplitWordsBolt, StatefulCountBolt, TransactionalFileSink};
use squall::checkpoint::CheckpointStorage;
use squall::topology::Guarantee;
use squall::{Fields, LocalCluster, TopologyBuilder};
use squall_test_support::moto::Moto;

#[test]
fn exactly_once_word_count_checkpoints_to_s3() {
    let moto = Moto::start();
    moto.set_env();
    let out = tempfile::tempdir().unwrap();
    let lines = vec!["to be or not to be".to_string(), "that is the question".to_string()];
    let mut b = TopologyBuilder::new("s3-word-count");
    b.set_spout("lines", GeneratorSpout::sentences(20_000).with_lines(lines).with_limit(10_000), 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", TransactionalFileSink::new(out.path()).unwrap().bolt(), 1)
        .shuffle_grouping("count");
    let c = b.config_mut();
    c.guarantee = Guarantee::ExactlyOnce;
    c.checkpoint_interval_ms = 50;
    c.checkpoint_dir = Some("s3://squall/checkpoints".into());
    let running = LocalCluster::submit(b.build().unwrap()).unwrap();
    let savepoint = running.savepoint().unwrap();
    assert_eq!(
        savepoint.split("/savepoints/").next(),
        Some("s3://squall/checkpoints/s3-word-count"),
        "{savepoint} (endpoint {})",
        moto.endpoint
    );
    let summary = running.join().unwrap();
    assert!(!summary.checkpoints.is_empty());

    // The checkpoints and the savepoint read back from the bucket, verified.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let storage = CheckpointStorage::open("s3://squall/checkpoints", "s3-word-count").unwrap();
    let latest = rt.block_on(storage.load_latest(0)).unwrap().expect("a complete checkpoint");
    assert_eq!(latest.of("count").len(), 2);
    let saved = rt.block_on(CheckpointStorage::load_savepoint(&savepoint)).unwrap();
    assert_eq!(saved.metadata.topology, "s3-word-count");
    assert!(rt.block_on(storage.completed()).unwrap().len() <= 3, "retention");

    // And the output is exact: 5000 of each line.
    let mut max: HashMap<String, i64> = HashMap::new();
    for entry in std::fs::read_dir(out.path()).unwrap() {
        for line in std::fs::read_to_string(entry.unwrap().path()).unwrap().lines() {
            let (w, n) = line.split_once(',').unwrap();
            let e = max.entry(w.to_string()).or_insert(0);
            *e = (*e).max(n.parse().unwrap());
        }
    }
    let expected: HashMap<String, i64> = [
        ("to", 10_000),
        ("be", 10_000),
        ("or", 5000),
        ("not", 5000),
        ("that", 5000),
        ("is", 5000),
        ("the", 5000),
        ("question", 5000),
    ]
    .into_iter()
    .map(|(w, n)| (w.to_string(), n))
    .collect();
    assert_eq!(max, expected);
}
