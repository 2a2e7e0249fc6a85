//! The two-phase-commit sink across a rescale from a regular checkpoint
//! (not a stop-with-savepoint, which commits everything first): exactly-once
//! word count over Shakespeare into the transactional file sink at
//! parallelism 3; sink task 2 fails when the coordinator tells it that a
//! checkpoint completed, before it commits, so that checkpoint's
//! transactions of task 2 are pre-committed and not visible. The topology
//! is then started from that run's last completed checkpoint with 2 count
//! and 2 sink tasks: task 2 no longer exists, and its transactions must be
//! committed by another task (Flink's union list state of pending
//! transactions). The two runs' committed output together must equal a
//! reference computed by a plain loop, with no pending file left.

mod wc_reference;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use squall::builtins::{FileSpout, SplitWordsBolt, StatefulCountBolt, TransactionalFileSink};
use squall::checkpoint::{CheckpointStorage, END_OF_RUN};
use squall::topology::{Guarantee, OutputDeclarer, RestartStrategy};
use squall::{AckMode, Bolt, Fields, LocalCluster, OutputCollector, TopologyBuilder};
use squall::{Result, Topology, TopologyContext, Tuple};
use wc_reference::{expected_rows, plays, reference};

/// Wraps a bolt; on task `task`, panics at the `at`-th checkpoint
/// completion it is told of (before passing it on), and records that
/// checkpoint's id in `failed_at`.
#[derive(Clone)]
struct FailOnCommit<B> {
    inner: B,
    task: usize,
    index: usize,
    at: u64,
    seen: u64,
    failed_at: Arc<AtomicU64>,
}

impl<B: Bolt> Bolt for FailOnCommit<B> {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        self.inner.declare_outputs(d)
    }
    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.index = ctx.task_index();
        self.inner.prepare(ctx)
    }
    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        self.inner.execute(input, c)
    }
    fn finish(&mut self, c: &mut OutputCollector) -> Result<()> {
        self.inner.finish(c)
    }
    fn snapshot_state(&mut self, id: u64) -> Result<()> {
        self.inner.snapshot_state(id)
    }
    fn on_checkpoint_complete(&mut self, id: u64) -> Result<()> {
        if self.index == self.task && id != END_OF_RUN {
            self.seen += 1;
            if self.seen == self.at {
                self.failed_at.store(id, Ordering::SeqCst);
                panic!("injected: sink task {} fails before committing checkpoint {id}", self.task);
            }
        }
        self.inner.on_checkpoint_complete(id)
    }
    fn cleanup(&mut self) {
        self.inner.cleanup()
    }
    fn ack_mode(&self) -> AckMode {
        self.inner.ack_mode()
    }
}

struct Run<'a> {
    input: &'a Path,
    out: &'a Path,
    checkpoints: &'a Path,
}

impl Run<'_> {
    fn topology(
        &self,
        tasks: usize,
        sink_failure: Option<(u64, Arc<AtomicU64>)>,
        from: Option<&Path>,
    ) -> Topology {
        let mut b = TopologyBuilder::new("two-phase-rescale");
        b.set_spout("lines", FileSpout::new(self.input).unwrap(), 2);
        b.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
        b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), tasks)
            .fields_grouping("split", Fields::new(["word"]));
        let sink = TransactionalFileSink::new(self.out).unwrap().bolt();
        let (at, failed_at) = sink_failure.unwrap_or((0, Arc::default()));
        let sink = FailOnCommit { inner: sink, task: 2, index: 0, at, seen: 0, failed_at };
        b.set_bolt("sink", sink, tasks).shuffle_grouping("count");
        let c = b.config_mut();
        c.guarantee = Guarantee::ExactlyOnce;
        c.checkpoint_interval_ms = 100;
        c.checkpoint_dir = Some(self.checkpoints.display().to_string());
        c.restart_strategy = RestartStrategy::None;
        c.restore_from = from.map(|p| p.display().to_string());
        // Short queues keep the spouts close to the sinks, so that
        // checkpoints are taken all through the run.
        c.channel_capacity = 2;
        c.batch_size = 256;
        b.build().unwrap()
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn pending_transactions_of_a_vanished_sink_task_are_committed_once_after_rescaling_3_to_2() {
    let input = tempfile::tempdir().unwrap();
    plays(20, input.path());
    let expected = expected_rows(&reference(input.path()));
    let (out, checkpoints) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = Run { input: input.path(), out: out.path(), checkpoints: checkpoints.path() };

    // Run 1, parallelism 3: sink task 2 fails at its second completion.
    let failed_at = Arc::new(AtomicU64::new(0));
    let err = LocalCluster::run(run.topology(3, Some((2, failed_at.clone())), None))
        .expect_err("the run ended before sink task 2 heard of two completed checkpoints")
        .to_string();
    assert!(err.contains("'sink'") && err.contains("injected"), "{err}");
    let failed_at = failed_at.load(Ordering::SeqCst);
    let uncommitted = format!("part-2-{failed_at:020}.csv");
    assert!(!out.path().join(&uncommitted).exists(), "committed before the failure");
    assert!(
        names(out.path()).iter().any(|n| n.starts_with(".part-2-")),
        "task 2 left no pending file: {:?}",
        names(out.path())
    );

    // Run 2, parallelism 2, from run 1's last completed checkpoint.
    let storage =
        CheckpointStorage::open(checkpoints.path().to_str().unwrap(), "two-phase-rescale").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let last = *rt.block_on(storage.completed()).unwrap().last().unwrap();
    assert!(last >= failed_at);
    let from = checkpoints.path().join("two-phase-rescale").join(format!("chk-{last:020}"));
    LocalCluster::run(run.topology(2, None, Some(&from))).unwrap();

    let files = names(out.path());
    let left: Vec<&String> = files.iter().filter(|n| !n.starts_with("part-")).collect();
    assert!(left.is_empty(), "uncommitted files left behind: {left:?}");
    assert!(files.contains(&uncommitted), "{uncommitted} was never committed: {files:?}");
    let mut rows = Vec::new();
    for name in &files {
        let mut reader =
            csv::ReaderBuilder::new().has_headers(false).from_path(out.path().join(name)).unwrap();
        for r in reader.records() {
            let r = r.unwrap();
            rows.push((r[0].to_string(), r[1].parse::<i64>().unwrap()));
        }
    }
    rows.sort();
    if rows != expected {
        let missing = expected.iter().filter(|r| rows.binary_search(r).is_err()).count();
        let mut deduped = rows.clone();
        deduped.dedup();
        panic!(
            "{} rows committed, expected {}: {missing} missing, {} duplicated",
            rows.len(),
            expected.len(),
            rows.len() - deduped.len()
        );
    }
}
