//! Two copies of one exactly-once word count at once (split brain, as when
//! a cluster moves a topology away from a frozen worker): completions are
//! recorded through a [`CheckpointFence`], the stale copy is refused once
//! the record has moved to the new copy, and the folder of committed part
//! files still holds every word of the plays exactly once. A fence that
//! loses answers (its coordination service slow or away for a moment) is
//! not taken for a refusal: the current copy declines checkpoints and goes
//! on. The record here is in memory, as etcd holds it in a cluster
//! (`squall-cluster`'s `distributed.rs`).
//!
//! Needs the corpus in `data/shakespeare`.

mod wc_reference;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use squall::builtins::{FileSpout, SplitWordsBolt, StatefulCountBolt, TransactionalFileSink};
use squall::checkpoint::END_OF_RUN;
use squall::runtime::{CheckpointFence, Fence, FenceFuture};
use squall::topology::{
    Guarantee, OutputDeclarer, RestartStrategy, Spout, SpoutStatus, TopologyContext,
};
use squall::{Fields, LocalCluster, OutputCollector, Topology, TopologyBuilder};
use wc_reference::{committed_rows, expected_rows, plays, reference};

/// What both copies share: the epoch that may record, and the ids recorded.
#[derive(Debug, Default)]
struct Record {
    epoch: AtomicU64,
    ids: Mutex<Vec<u64>>,
}

impl Record {
    /// Moves the topology to `epoch`: from now on only its copy records.
    fn move_to(&self, epoch: u64) -> Vec<u64> {
        let ids = self.ids.lock().unwrap();
        self.epoch.store(epoch, Ordering::SeqCst);
        ids.clone()
    }

    fn ids(&self) -> Vec<u64> {
        self.ids.lock().unwrap().clone()
    }
}

/// The fence of the copy running `epoch`. A `blind` copy's checks pass
/// until the record first refuses it, as if every check had been made just
/// before the move: it then writes a checkpoint's metadata after the move,
/// and only the record stops it (check-then-act is not enough). A `flaky`
/// fence loses answers, as one over a slow or unreachable etcd does: its
/// first check has no answer, its first record is written but its answer
/// lost, its second is not written and has no answer.
#[derive(Debug)]
struct CopyFence {
    record: Arc<Record>,
    epoch: u64,
    blind: bool,
    flaky: bool,
    refused: AtomicBool,
    checks: AtomicU64,
    records: AtomicU64,
    /// Answers lost (flaky only).
    unknown: AtomicU64,
}

impl CopyFence {
    fn new(record: &Arc<Record>, epoch: u64, blind: bool) -> Arc<CopyFence> {
        Arc::new(CopyFence {
            record: record.clone(),
            epoch,
            blind,
            flaky: false,
            refused: AtomicBool::new(false),
            checks: AtomicU64::new(0),
            records: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
        })
    }

    fn flaky(record: &Arc<Record>, epoch: u64) -> Arc<CopyFence> {
        let mut fence = Arc::into_inner(CopyFence::new(record, epoch, false)).unwrap();
        fence.flaky = true;
        Arc::new(fence)
    }

    fn lost(&self) -> squall::Error {
        self.unknown.fetch_add(1, Ordering::SeqCst);
        squall::Error::Checkpoint("no answer from the record".into())
    }
}

impl CheckpointFence for CopyFence {
    fn is_current(&self) -> FenceFuture<'_, squall::Result<bool>> {
        Box::pin(async {
            if self.flaky && self.checks.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(self.lost());
            }
            let current = self.record.epoch.load(Ordering::SeqCst) == self.epoch;
            Ok(current || (self.blind && !self.refused.load(Ordering::SeqCst)))
        })
    }

    fn record_completed(&self, id: u64) -> FenceFuture<'_, squall::Result<bool>> {
        Box::pin(async move {
            let mut ids = self.record.ids.lock().unwrap();
            let current = self.record.epoch.load(Ordering::SeqCst) == self.epoch;
            if !current {
                self.refused.store(true, Ordering::SeqCst);
                return Ok(false);
            }
            // Recording twice records once (a retry after a lost answer).
            if ids.contains(&id) {
                return Ok(true);
            }
            match (self.flaky, self.records.fetch_add(1, Ordering::SeqCst)) {
                (true, 0) => {
                    ids.push(id);
                    Err(self.lost())
                }
                (true, 1) => Err(self.lost()),
                _ => {
                    ids.push(id);
                    Ok(true)
                }
            }
        })
    }

    fn completed(&self) -> FenceFuture<'_, squall::Result<Vec<u64>>> {
        Box::pin(async { Ok(self.record.ids()) })
    }
}

/// A spout that, after every `calls` calls that emitted, emits nothing
/// until a checkpoint completes: a run then takes checkpoints all through
/// its input, however fast or loaded the machine.
#[derive(Clone)]
struct Paced<S> {
    inner: S,
    calls: usize,
    since: usize,
    waiting: bool,
}

impl<S: Spout> Spout for Paced<S> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        self.inner.declare_outputs(declarer);
    }

    fn open(&mut self, context: &TopologyContext) -> squall::Result<()> {
        self.inner.open(context)
    }

    fn next_tuple(&mut self, collector: &mut OutputCollector) -> squall::Result<SpoutStatus> {
        if self.waiting {
            return Ok(SpoutStatus::Idle);
        }
        let status = self.inner.next_tuple(collector)?;
        if status == SpoutStatus::Active {
            self.since += 1;
            self.waiting = self.since % self.calls == 0;
        }
        Ok(status)
    }

    fn snapshot_state(&mut self, checkpoint_id: u64) -> squall::Result<()> {
        self.inner.snapshot_state(checkpoint_id)
    }

    fn on_checkpoint_complete(&mut self, checkpoint_id: u64) -> squall::Result<()> {
        self.waiting = false;
        self.inner.on_checkpoint_complete(checkpoint_id)
    }

    fn close(&mut self) {
        self.inner.close();
    }
}

/// Exactly-once word count of the files in `input` into `out`, checkpoints
/// every `interval_ms` into `checkpoints`, restarted up to 10 times.
fn word_count(input: &Path, out: &Path, checkpoints: &Path, interval_ms: u64) -> Topology {
    let restarts = RestartStrategy::FixedDelay { attempts: 10, delay_ms: 0 };
    word_count_restarted(input, out, checkpoints, interval_ms, restarts, None)
}

/// As [`word_count`], restarted as `restarts` says, its spout tasks
/// waiting for a checkpoint after every `pace` calls (256 lines each).
fn word_count_restarted(
    input: &Path,
    out: &Path,
    checkpoints: &Path,
    interval_ms: u64,
    restarts: RestartStrategy,
    pace: Option<usize>,
) -> Topology {
    let mut builder = TopologyBuilder::new("fenced");
    let lines = FileSpout::new(input).unwrap();
    match pace {
        Some(calls) => {
            builder.set_spout("lines", Paced { inner: lines, calls, since: 0, waiting: false }, 2)
        }
        None => builder.set_spout("lines", lines, 2),
    };
    builder.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
    builder
        .set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
        .fields_grouping("split", Fields::new(["word"]));
    builder
        .set_bolt("sink", TransactionalFileSink::new(out).unwrap().bolt(), 2)
        .shuffle_grouping("count");
    let config = builder.config_mut();
    config.guarantee = Guarantee::ExactlyOnce;
    config.checkpoint_interval_ms = interval_ms;
    config.checkpoint_dir = Some(checkpoints.display().to_string());
    config.restart_strategy = restarts;
    // Short queues: checkpoints are taken all through the run.
    config.channel_capacity = 2;
    config.batch_size = 256;
    builder.build().unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_fenced_run_records_its_checkpoints_and_its_end_and_is_not_run_again() {
    let (input, out, checkpoints) = (tempdir(), tempdir(), tempdir());
    plays(3, input.path());
    let expected = expected_rows(&reference(input.path()));
    let record = Arc::new(Record::default());
    let restarts = RestartStrategy::FixedDelay { attempts: 10, delay_ms: 0 };
    let paced = Some(5);
    let topology =
        word_count_restarted(input.path(), out.path(), checkpoints.path(), 20, restarts, paced);
    let fence: Fence = CopyFence::new(&record, 0, false);
    let summary = LocalCluster::run(topology.clone().with_fence(fence)).unwrap();
    let mut completed: Vec<u64> = summary.checkpoints.iter().map(|c| c.id).collect();
    assert!(!completed.is_empty(), "no checkpoint completed: use more input");
    completed.push(END_OF_RUN);
    assert_eq!(record.ids(), completed, "every completion and the end are recorded, in order");
    assert_eq!(committed_rows(out.path()), (expected.clone(), 0));

    // The same topology again, as a new copy: its end is recorded, so it
    // does not replay from its last checkpoint (which would commit the
    // rows after it twice).
    record.move_to(1);
    let again = LocalCluster::run(topology.with_fence(CopyFence::new(&record, 1, false))).unwrap();
    assert!(again.checkpoints.is_empty());
    assert_eq!(committed_rows(out.path()), (expected, 0), "nothing committed twice");
}

#[test]
fn a_stale_copy_commits_nothing_once_the_topology_moved_and_the_output_stays_exact() {
    let (input, out, checkpoints) = (tempdir(), tempdir(), tempdir());
    plays(12, input.path());
    let expected = expected_rows(&reference(input.path()));
    let record = Arc::new(Record::default());
    let topology = word_count(input.path(), out.path(), checkpoints.path(), 30);
    let old_fence = CopyFence::new(&record, 0, true);
    let old = LocalCluster::submit(topology.clone().with_fence(old_fence.clone())).unwrap();
    wait_until("two recorded checkpoints", || record.ids().len() >= 2);
    assert!(!old.is_finished(), "the first copy finished before the move: use more input");
    let at_move = record.move_to(1);
    let new = LocalCluster::submit(topology.with_fence(CopyFence::new(&record, 1, false))).unwrap();

    // The old copy goes on until it tries to complete a checkpoint (its
    // blind check lets it write the metadata), is refused, and stops.
    let stale = old.join().unwrap_err().to_string();
    assert!(stale.contains("stale"), "{stale}");
    assert!(old_fence.refused.load(Ordering::SeqCst), "the old copy tried to complete");
    let summary = new.join().unwrap();
    let ids = record.ids();
    assert_eq!(ids[..at_move.len()], at_move[..]);
    let after: Vec<u64> = summary.checkpoints.iter().map(|c| c.id).collect();
    assert_eq!(
        ids[at_move.len()..],
        [&after[..], &[END_OF_RUN]].concat(),
        "after the move only the new copy recorded"
    );
    let (rows, pending_left) = committed_rows(out.path());
    assert_eq!(pending_left, 0, "uncommitted files left behind");
    if rows != expected {
        let mut extra = rows.clone();
        extra.retain(|r| expected.binary_search(r).is_err());
        panic!(
            "{} rows committed, {} expected; first unexpected: {:?}",
            rows.len(),
            expected.len(),
            extra.first()
        );
    }
}

/// Issue 20: a coordination service that is slow or away for a moment
/// once made the current copy take "no answer" for "stale", stop and
/// restart, over and over. With no restart allowed, the run must still end
/// exactly: unanswered checks decline their checkpoint, a record whose
/// answer was lost is asked again (recording is idempotent) or left to the
/// next checkpoint, whose commit covers the transactions of both.
#[test]
fn a_fence_that_loses_answers_never_stops_the_current_copy_and_the_output_stays_exact() {
    let (input, out, checkpoints) = (tempdir(), tempdir(), tempdir());
    plays(3, input.path());
    let expected = expected_rows(&reference(input.path()));
    let record = Arc::new(Record::default());
    let (no_restart, paced) = (RestartStrategy::None, Some(5));
    let topology =
        word_count_restarted(input.path(), out.path(), checkpoints.path(), 10, no_restart, paced);
    let fence = CopyFence::flaky(&record, 0);
    let fenced: Fence = fence.clone();
    let summary = LocalCluster::run(topology.with_fence(fenced))
        .expect("a lost answer is not a refusal: the run goes on without a restart");
    eprintln!(
        "{} checkpoints completed, {} answers lost, recorded {:?}",
        summary.checkpoints.len(),
        fence.unknown.load(Ordering::SeqCst),
        record.ids()
    );
    assert_eq!(fence.unknown.load(Ordering::SeqCst), 3, "too few checkpoints: use more input");
    assert!(!fence.refused.load(Ordering::SeqCst));
    let ids = record.ids();
    assert_eq!(ids.last(), Some(&END_OF_RUN), "the end is recorded: {ids:?}");
    assert_ne!(ids[0], END_OF_RUN, "no checkpoint before the end: use more input");
    let completed: Vec<u64> = summary.checkpoints.iter().map(|c| c.id).collect();
    assert!(!completed.is_empty(), "no checkpoint completed after the lost answers");
    // The first was recorded with its answer lost: not completed then, its
    // transactions committed by a later one.
    assert!(!completed.contains(&ids[0]), "{completed:?} {ids:?}");
    assert_eq!(ids[1..], [&completed[..], &[END_OF_RUN]].concat(), "recorded {ids:?}");
    assert_eq!(committed_rows(out.path()), (expected, 0), "every word once, nothing pending");
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
