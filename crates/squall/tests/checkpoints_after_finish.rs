//! A bounded source that finishes while another still runs (what Flink's
//! FLIP-147 addresses): Squall does not checkpoint after a task finished.
//! The run must not hang, no checkpoint may complete after the finish
//! (beyond one already injected by the finishing spout), and the output
//! after the last checkpoint is committed when every task has finished:
//! the committed word count equals a reference computed by a plain loop.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use squall::builtins::{GeneratorSpout, SplitWordsBolt, StatefulCountBolt, TransactionalFileSink};
use squall::checkpoint::END_OF_RUN;
use squall::topology::{Guarantee, OutputDeclarer, Spout, SpoutStatus};
use squall::{Fields, LocalCluster, OutputCollector, TopologyBuilder, TopologyContext};

/// Passes its inner spout on, but finishes only once a checkpoint has
/// completed (idle until then), and records that checkpoint's id.
#[derive(Clone)]
struct FinishAfterCheckpoint<S> {
    inner: S,
    completed: Arc<AtomicU64>,
}

impl<S: Spout> Spout for FinishAfterCheckpoint<S> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        self.inner.declare_outputs(declarer);
    }
    fn open(&mut self, context: &TopologyContext) -> squall::Result<()> {
        self.inner.open(context)
    }
    fn next_tuple(&mut self, collector: &mut OutputCollector) -> squall::Result<SpoutStatus> {
        match self.inner.next_tuple(collector)? {
            SpoutStatus::Finished if self.completed.load(Ordering::SeqCst) == 0 => {
                Ok(SpoutStatus::Idle)
            }
            status => Ok(status),
        }
    }
    fn snapshot_state(&mut self, id: u64) -> squall::Result<()> {
        self.inner.snapshot_state(id)
    }
    fn on_checkpoint_complete(&mut self, id: u64) -> squall::Result<()> {
        if id != END_OF_RUN {
            let _ = self.completed.compare_exchange(0, id, Ordering::SeqCst, Ordering::SeqCst);
        }
        self.inner.on_checkpoint_complete(id)
    }
}

fn count_words(text: &str, counts: &mut HashMap<String, i64>) {
    for w in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        *counts.entry(w.to_lowercase()).or_insert(0) += 1;
    }
}

#[test]
fn a_finished_source_stops_checkpoints_without_hanging_and_the_rest_commits_at_the_end() {
    let text = std::fs::read_to_string(common::corpus().join("hamlet_gut.txt")).unwrap();
    let lines: Vec<String> =
        text.lines().filter(|l| !l.trim().is_empty()).take(1000).map(String::from).collect();
    let (short, long) = (2_000u64, 20_000u64);
    let out = tempfile::tempdir().unwrap();
    let checkpoints = tempfile::tempdir().unwrap();
    let completed = Arc::new(AtomicU64::new(0));

    let mut b = TopologyBuilder::new("finish-early");
    let first = GeneratorSpout::sentences(0).with_lines(lines.clone()).with_limit(short);
    b.set_spout("short", FinishAfterCheckpoint { inner: first, completed: completed.clone() }, 1);
    // 20 000 lines at 10 000 lines/s: about 2 s, some 40 intervals of 50 ms.
    let second = GeneratorSpout::sentences(10_000).with_lines(lines.clone()).with_limit(long);
    b.set_spout("long", second, 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 2)
        .shuffle_grouping("short")
        .shuffle_grouping("long");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", TransactionalFileSink::new(out.path()).unwrap().bolt(), 2)
        .shuffle_grouping("count");
    let c = b.config_mut();
    c.guarantee = Guarantee::ExactlyOnce;
    c.checkpoint_interval_ms = 50;
    c.checkpoint_dir = Some(checkpoints.path().display().to_string());
    let summary = LocalCluster::run(b.build().unwrap()).unwrap();

    let finished_after = completed.load(Ordering::SeqCst);
    assert!(finished_after > 0, "the short spout finished before any checkpoint");
    let ids: Vec<u64> = summary.checkpoints.iter().map(|s| s.id).collect();
    assert!(
        ids.iter().all(|id| *id <= finished_after + 1),
        "checkpoints {ids:?} completed after the short spout finished at {finished_after}"
    );

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
    let mut counts = HashMap::new();
    for seq in 0..short {
        count_words(&lines[(seq % lines.len() as u64) as usize], &mut counts);
    }
    for seq in 0..long {
        count_words(&lines[(seq % lines.len() as u64) as usize], &mut counts);
    }
    let mut expected: Vec<(String, i64)> =
        counts.iter().flat_map(|(w, &c)| (1..=c).map(move |k| (w.clone(), k))).collect();
    expected.sort();
    assert!(rows == expected, "{} rows committed, expected {}", rows.len(), expected.len());
}
