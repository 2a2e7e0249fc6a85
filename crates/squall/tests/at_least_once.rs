//! At-least-once processing in the engine: tuple trees of several levels,
//! fan-out to every task, multi-anchored joins, fails, timeouts and replay,
//! `max_spout_pending`, and task restarts.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::RecordingBolt;
use squall::topology::{MessageId, OutputDeclarer};
use squall::{
    AckMode, Bolt, Error, Fields, Guarantee, LocalCluster, OutputCollector, Result, RunSummary,
    Spout, SpoutStatus, Topology, TopologyBuilder, TopologyConfig, Tuple, Value,
};

/// What the spout was told, shared by all its instances (restarts too).
#[derive(Default)]
struct Log {
    acked: Vec<MessageId>,
    failed: Vec<MessageId>,
    /// Most tuples in flight after an emit.
    max_in_flight: u64,
}

/// Emits `(id)` for ids 0..n, `per_call` per call, with the id as message
/// id; replays what fails. Panics once at call `panic_at` if set, and once
/// in the first `ack` after it has finished if `panic_in_ack` is set.
#[derive(Clone)]
struct IdSpout {
    n: u64,
    per_call: u64,
    log: Arc<Mutex<Log>>,
    panic_at: Option<Arc<AtomicU64>>,
    panic_in_ack: Option<Arc<AtomicU64>>,
    finished: bool,
    next: u64,
    in_flight: u64,
    replay: Vec<MessageId>,
}

impl IdSpout {
    fn new(n: u64, per_call: u64) -> Self {
        IdSpout {
            n,
            per_call,
            log: Arc::default(),
            panic_at: None,
            panic_in_ack: None,
            finished: false,
            next: 0,
            in_flight: 0,
            replay: vec![],
        }
    }
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }
}

impl Spout for IdSpout {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["id"]));
    }
    fn next_tuple(&mut self, c: &mut OutputCollector) -> Result<SpoutStatus> {
        if let Some(p) = &self.panic_at {
            if p.fetch_sub(1, Ordering::SeqCst) == 1 {
                panic!("spout panics once");
            }
        }
        for _ in 0..self.per_call {
            let id = match self.replay.pop() {
                Some(id) => id,
                None if self.next < self.n => {
                    self.next += 1;
                    self.next - 1
                }
                None => {
                    self.finished = true;
                    return Ok(SpoutStatus::Finished);
                }
            };
            c.emit_with_id("default", vec![Value::Int(id as i64)], id)?;
            self.in_flight += 1;
            let mut log = self.log();
            log.max_in_flight = log.max_in_flight.max(self.in_flight);
        }
        Ok(SpoutStatus::Active)
    }
    fn ack(&mut self, id: MessageId) {
        if let Some(p) = self.panic_in_ack.as_ref().filter(|_| self.finished) {
            if p.fetch_sub(1, Ordering::SeqCst) == 1 {
                panic!("spout panics in ack once");
            }
        }
        self.in_flight -= 1;
        self.log().acked.push(id);
    }
    fn fail(&mut self, id: MessageId) {
        self.in_flight -= 1;
        self.log().failed.push(id);
        self.replay.push(id);
    }
}

/// Emits `k` children per input, `(id, j)`: a basic bolt.
#[derive(Clone)]
struct FanOut(i64);

impl Bolt for FanOut {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["id", "j"]));
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        for j in 0..self.0 {
            c.emit(vec![t.values()[0].clone(), Value::Int(j)])?;
        }
        Ok(())
    }
}

fn tracked(max_spout_pending: Option<usize>, timeout_ms: u64) -> TopologyConfig {
    TopologyConfig {
        guarantee: Guarantee::AtLeastOnce,
        ackers: 2,
        message_timeout_ms: timeout_ms,
        max_spout_pending,
        buffer_timeout_ms: 5,
        ..TopologyConfig::default()
    }
}

fn run(b: TopologyBuilder) -> RunSummary {
    LocalCluster::run(b.build().unwrap()).unwrap()
}

fn ids(v: &[MessageId]) -> BTreeSet<MessageId> {
    v.iter().copied().collect()
}

#[test]
fn every_tuple_of_a_three_level_tree_with_fan_out_is_waited_for() {
    let n = 3000;
    let spout = IdSpout::new(n, 64);
    let sink = RecordingBolt::new();
    let mut b = TopologyBuilder::new("tree");
    b.config(tracked(Some(256), 30_000));
    b.set_spout("ids", spout.clone(), 2);
    b.set_bolt("fan", FanOut(3), 2).shuffle_grouping("ids");
    b.set_bolt("copy", common::IdentityBolt(Fields::new(["id", "j"])), 2).all_grouping("fan");
    b.set_bolt("sink", sink.clone(), 3).shuffle_grouping("copy");
    let summary = run(b);
    // Two spout tasks each emit ids 0..n.
    let log = spout.log();
    let mut expected: Vec<u64> = (0..n).chain(0..n).collect();
    expected.sort();
    let mut acked = log.acked.clone();
    acked.sort();
    assert_eq!(acked, expected);
    assert!(log.failed.is_empty());
    assert_eq!(sink.seen().len() as u64, 2 * n * 3 * 2, "3 children, each to both copy tasks");
    let m = &summary.metrics;
    assert_eq!(m.component("ids").unwrap().acked, 2 * n);
    assert_eq!(m.component("sink").unwrap().acked, 2 * n * 3 * 2);
    // Asked for 64 at a time while fewer than 256 are in flight.
    assert!(log.max_in_flight <= 255 + 64, "in flight {}", log.max_in_flight);
}

/// Joins tuples two by two (one task), emitting `(a, b)` anchored to both
/// inputs, then acking both: Storm's rich bolt.
#[derive(Clone, Default)]
struct Pairs {
    held: Option<Tuple>,
}

impl Bolt for Pairs {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["a", "b"]));
    }
    fn ack_mode(&self) -> AckMode {
        AckMode::Manual
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        let Some(first) = self.held.take() else {
            self.held = Some(t);
            return Ok(());
        };
        let values = vec![first.values()[0].clone(), t.values()[0].clone()];
        c.emit_anchored(&[&first, &t], values)?;
        c.ack(&first);
        c.ack(&t);
        Ok(())
    }
}

/// Fails the first pair it sees whose first id is a multiple of 10.
#[derive(Clone, Default)]
struct FailSomePairs {
    failed: Arc<Mutex<HashSet<i64>>>,
}

impl Bolt for FailSomePairs {
    fn ack_mode(&self) -> AckMode {
        AckMode::Manual
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        let a = t.get_i64("a")?;
        if a % 10 == 0 && self.failed.lock().unwrap().insert(a) {
            c.fail(&t);
        } else {
            c.ack(&t);
        }
        Ok(())
    }
}

#[test]
fn a_multi_anchored_tuple_holds_and_fails_both_of_its_trees() {
    let n = 2000; // even: every tuple finds a partner
    let spout = IdSpout::new(n, 16);
    let sink = FailSomePairs::default();
    let mut b = TopologyBuilder::new("join");
    b.config(tracked(None, 30_000));
    b.set_spout("ids", spout.clone(), 1);
    b.set_bolt("pairs", Pairs::default(), 1).global_grouping("ids");
    b.set_bolt("sink", sink.clone(), 1).global_grouping("pairs");
    let summary = run(b);
    let log = spout.log();
    assert_eq!(ids(&log.acked), (0..n).collect(), "every id acked in the end");
    assert_eq!(log.acked.len() as u64, n, "acked once each");
    // Each failed pair failed its two spout tuples, and only those.
    let sink_fails = sink.failed.lock().unwrap().len();
    assert!(sink_fails > 0);
    assert_eq!(log.failed.len(), 2 * sink_fails);
    let m = summary.metrics.component("ids").unwrap();
    assert_eq!((m.failed, m.replayed, m.timed_out), (2 * sink_fails as u64, m.failed, 0));
}

/// Drops (never acks) the first delivery of every id that is 7 mod 100.
#[derive(Clone, Default)]
struct DropSome {
    dropped: Arc<Mutex<HashSet<i64>>>,
}

impl Bolt for DropSome {
    fn ack_mode(&self) -> AckMode {
        AckMode::Manual
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        let id = t.get_i64("id")?;
        if id % 100 != 7 || !self.dropped.lock().unwrap().insert(id) {
            c.ack(&t);
        }
        Ok(())
    }
}

#[test]
fn a_tuple_never_acked_times_out_and_is_replayed() {
    let n = 1000;
    let spout = IdSpout::new(n, 8);
    let bolt = DropSome::default();
    let mut b = TopologyBuilder::new("timeouts");
    b.config(tracked(Some(100), 300));
    b.set_spout("ids", spout.clone(), 1);
    b.set_bolt("drop", bolt.clone(), 2).shuffle_grouping("ids");
    let summary = run(b);
    let log = spout.log();
    assert_eq!(ids(&log.acked), (0..n).collect());
    let dropped: BTreeSet<u64> = bolt.dropped.lock().unwrap().iter().map(|&i| i as u64).collect();
    assert_eq!(dropped, (0..n).filter(|i| i % 100 == 7).collect());
    // Only the dropped ones failed (a slow machine may time out more, but
    // never fewer).
    assert!(dropped.is_subset(&ids(&log.failed)), "failed: {:?}", log.failed);
    let m = summary.metrics.component("ids").unwrap();
    assert!(m.timed_out >= dropped.len() as u64, "{m:?}");
    assert_eq!(m.replayed, m.timed_out + m.failed);
}

/// Holds its inputs and acks them in groups of `k`: no ack reaches the
/// spout before it has `k` tuples in flight.
#[derive(Clone)]
struct AckInGroups {
    k: usize,
    held: Vec<Tuple>,
}

impl Bolt for AckInGroups {
    fn ack_mode(&self) -> AckMode {
        AckMode::Manual
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        self.held.push(t);
        if self.held.len() == self.k {
            self.held.drain(..).for_each(|t| c.ack(&t));
        }
        Ok(())
    }
}

#[test]
fn max_spout_pending_bounds_the_tuples_in_flight() {
    for bound in [1, 10] {
        let spout = IdSpout::new(200, 1);
        let mut b = TopologyBuilder::new("pending");
        // A long buffer timeout: only the bound makes the spout send.
        let mut config = tracked(Some(bound), 30_000);
        config.buffer_timeout_ms = 60_000;
        b.config(config);
        b.set_spout("ids", spout.clone(), 1);
        b.set_bolt("hold", AckInGroups { k: bound, held: vec![] }, 1).global_grouping("ids");
        let summary = run(b);
        let log = spout.log();
        assert_eq!(log.acked.len(), 200);
        assert_eq!(log.max_in_flight, bound as u64, "bound {bound}");
        assert_eq!(summary.metrics.component("ids").unwrap().timed_out, 0);
    }
}

/// Panics on every tuple.
#[derive(Clone)]
struct AlwaysPanics;

impl Bolt for AlwaysPanics {
    fn execute(&mut self, _t: Tuple, _c: &mut OutputCollector) -> Result<()> {
        panic!("always");
    }
}

fn restarts_topology(max_task_restarts: usize) -> Topology {
    let mut b = TopologyBuilder::new("restarts");
    // Lost tuples time out fast, so that the bolt fails again soon.
    let mut config = tracked(None, 200);
    config.max_task_restarts = max_task_restarts;
    b.config(config);
    b.set_spout("ids", IdSpout::new(100, 1), 1);
    b.set_bolt("bad", AlwaysPanics, 1).shuffle_grouping("ids");
    b.build().unwrap()
}

#[test]
fn a_task_that_keeps_panicking_ends_the_topology_naming_it() {
    let err = LocalCluster::run(restarts_topology(2)).unwrap_err();
    match &err {
        Error::TooManyRestarts { component, task, restarts, last } => {
            assert_eq!((component.as_str(), *task, *restarts), ("bad", 1, 2));
            assert!(last.to_string().contains("always"), "{last}");
        }
        other => panic!("expected TooManyRestarts, got {other}"),
    }
    let text = err.to_string();
    assert!(text.contains("'bad' task 1") && text.contains("max_task_restarts"), "{text}");
}

#[test]
fn a_restarted_spout_starts_over_and_everything_is_acked() {
    let mut spout = IdSpout::new(400, 4);
    spout.panic_at = Some(Arc::new(AtomicU64::new(30)));
    let mut b = TopologyBuilder::new("spout-restart");
    b.config(tracked(Some(50), 30_000));
    b.set_spout("ids", spout.clone(), 1);
    b.set_bolt("sink", RecordingBolt::new(), 1).shuffle_grouping("ids");
    let summary = run(b);
    assert_eq!(summary.metrics.component("ids").unwrap().restarts, 1);
    let log = spout.log();
    // The new instance emits every id again: each acked at least once.
    assert_eq!(ids(&log.acked), (0..400).collect());
    let mut times: BTreeMap<u64, usize> = BTreeMap::new();
    log.acked.iter().for_each(|&i| *times.entry(i).or_default() += 1);
    assert!(times.values().all(|&t| t <= 2));
}

#[test]
fn a_spout_restarted_after_it_finished_emits_again() {
    let mut spout = IdSpout::new(50, 50);
    spout.panic_in_ack = Some(Arc::new(AtomicU64::new(1)));
    let mut b = TopologyBuilder::new("restart-after-finish");
    // Nothing is sent before the spout has finished and waits for acks.
    let mut config = tracked(None, 30_000);
    config.buffer_timeout_ms = 60_000;
    b.config(config);
    b.set_spout("ids", spout.clone(), 1);
    b.set_bolt("sink", RecordingBolt::new(), 1).shuffle_grouping("ids");
    let summary = run(b);
    assert_eq!(summary.metrics.component("ids").unwrap().restarts, 1);
    // The ack that panicked was lost with the old instance; the new one
    // emitted everything again.
    assert_eq!(ids(&spout.log().acked), (0..50).collect());
}

#[test]
fn without_ackers_tracking_is_off() {
    let spout = IdSpout::new(100, 10);
    let mut b = TopologyBuilder::new("no-ackers");
    let mut config = tracked(Some(1), 30_000);
    config.ackers = 0;
    b.config(config);
    b.set_spout("ids", spout.clone(), 1);
    b.set_bolt("sink", RecordingBolt::new(), 1).shuffle_grouping("ids");
    let summary = run(b);
    // Acked right after each emit (Storm without ackers); no bound applies.
    assert_eq!(spout.log().acked.len(), 100);
    assert_eq!(summary.metrics.component("ids").unwrap().acked, 0, "not tracked");
}

/// Fails the first delivery of every record whose `id` is 0 mod 7 (a basic
/// bolt's error), records the ids it passes.
#[derive(Clone, Default)]
struct FailSevens {
    failed: Arc<Mutex<HashSet<i64>>>,
    passed: Arc<Mutex<Vec<i64>>>,
}

impl Bolt for FailSevens {
    fn execute(&mut self, t: Tuple, _c: &mut OutputCollector) -> Result<()> {
        let id = t.get_i64("id")?;
        if id % 7 == 0 && self.failed.lock().unwrap().insert(id) {
            return Err(Error::Other(format!("record {id} fails once")));
        }
        self.passed.lock().unwrap().push(id);
        Ok(())
    }
}

#[test]
fn the_csv_spout_replays_failed_records() {
    use squall::builtins::{CsvSpout, CsvSpoutOptions};
    use squall::time::TimestampFormat;
    let dir = tempfile::tempdir().unwrap();
    for (f, range) in [(0, 0..300), (1, 300..700)] {
        let mut text = String::from("id,at\n");
        for id in range {
            text.push_str(&format!("{id},{}\n", 1_700_000_000_000i64 + id * 1000));
        }
        std::fs::write(dir.path().join(format!("part-{f}.csv")), text).unwrap();
    }
    let mut options = CsvSpoutOptions::new("at");
    options.time_format = TimestampFormat::UnixMillis;
    let bolt = FailSevens::default();
    let mut b = TopologyBuilder::new("csv-replay");
    b.config(tracked(Some(64), 30_000));
    b.set_spout("csv", CsvSpout::new(dir.path(), options).unwrap(), 2);
    b.set_bolt("check", bolt.clone(), 2).shuffle_grouping("csv");
    let summary = run(b);
    let mut passed = bolt.passed.lock().unwrap().clone();
    passed.sort();
    assert_eq!(passed, (0..700).collect::<Vec<i64>>(), "every record once, in the end");
    let csv = summary.metrics.component("csv").unwrap();
    assert_eq!((csv.failed, csv.replayed, csv.acked), (100, 100, 700));
}

/// Holds its inputs and acks them on each tick; the first tick of all
/// instances panics (once), losing what the instance held.
#[derive(Clone, Default)]
struct AckOnTick {
    held: Vec<Tuple>,
    panicked: Arc<AtomicU64>,
}

impl Bolt for AckOnTick {
    fn ack_mode(&self) -> AckMode {
        AckMode::Manual
    }
    fn tick_interval(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_millis(5))
    }
    fn execute(&mut self, t: Tuple, _c: &mut OutputCollector) -> Result<()> {
        self.held.push(t);
        Ok(())
    }
    fn on_tick(&mut self, _now_ms: i64, c: &mut OutputCollector) -> Result<()> {
        if !self.held.is_empty() && self.panicked.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("the first tick panics");
        }
        self.held.drain(..).for_each(|t| c.ack(&t));
        Ok(())
    }
}

#[test]
fn a_task_that_panics_in_on_tick_is_restarted_and_its_tuples_replayed() {
    let spout = IdSpout::new(200, 10);
    let bolt = AckOnTick::default();
    let mut b = TopologyBuilder::new("tick-restart");
    b.config(tracked(Some(50), 300));
    b.set_spout("ids", spout.clone(), 1);
    b.set_bolt("hold", bolt, 1).shuffle_grouping("ids");
    let summary = run(b);
    assert_eq!(summary.metrics.component("hold").unwrap().restarts, 1);
    let log = spout.log();
    assert_eq!(ids(&log.acked), (0..200).collect());
    assert!(!log.failed.is_empty(), "what the failed instance held timed out");
}

/// A basic bolt passing ids on that gives up its task
/// ([`Error::TaskFailed`]) once, at id `at`.
#[derive(Clone)]
struct FailsItsTaskOnce {
    at: i64,
    failed: Arc<AtomicU64>,
}

impl Bolt for FailsItsTaskOnce {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["id"]));
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        let id = t.get_i64("id")?;
        if id == self.at && self.failed.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(Error::TaskFailed("its child died".into()));
        }
        c.emit(vec![Value::Int(id)])
    }
}

#[test]
fn a_task_failed_error_restarts_the_task_and_replays_its_batch_at_once() {
    let n = 2000;
    let spout = IdSpout::new(n, 64);
    let bolt = FailsItsTaskOnce { at: 700, failed: Arc::default() };
    let mut b = TopologyBuilder::new("task-failed");
    // A timeout far beyond the test's length: only an immediate fail of
    // the lost batch lets it finish quickly, and none times out.
    b.config(tracked(Some(1000), 600_000));
    b.set_spout("ids", spout.clone(), 1);
    b.set_bolt("bolt", bolt.clone(), 1).shuffle_grouping("ids");
    b.set_bolt("sink", RecordingBolt::new(), 1).shuffle_grouping("bolt");
    let summary = run(b);
    assert_eq!(ids(&spout.log().acked), (0..n).collect());
    assert_eq!(bolt.failed.load(Ordering::SeqCst), 2, "id 700 came back after the restart");
    assert_eq!(summary.metrics.component("bolt").unwrap().restarts, 1);
    let ids_metrics = summary.metrics.component("ids").unwrap();
    assert_eq!(ids_metrics.timed_out, 0);
    assert!(ids_metrics.failed >= 1, "{ids_metrics:?}");
}
