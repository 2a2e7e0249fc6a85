//! The one job driver's rules, seen through a host whose attempts end as a
//! script says (`squall::runtime::drive_job` with an [`AttemptHost`]): how
//! often each cause ended an attempt is counted into the one "giving up"
//! error, the restart strategy is asked once per failure and counts the
//! attempt numbers the host agrees on, a copy the fence calls stale
//! neither restarts nor finishes, and a run whose end is recorded runs no
//! attempt. Then every guarantee with and without checkpoints through the
//! driver's local host, on a stateful word count over Shakespeare compared
//! with a count made here. The hosts that run tasks are tested further by
//! `exactly_once.rs`, `at_least_once_shakespeare.rs`, `fence.rs` and
//! `squall-cli`'s cluster tests (the same combinations on two workers).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use squall::builtins::{
    CountsCsvSink, FileSpout, GeneratorSpout, SplitWordsBolt, StatefulCountBolt,
};
use squall::checkpoint::END_OF_RUN;
use squall::runtime::{
    drive_job, Attempt, AttemptEnd, AttemptHost, CheckpointFence, Fence, FenceFuture,
};
use squall::topology::{Guarantee, RestartStrategy, TopologyConfig};
use squall::{Error, Fields, LocalCluster, Result, Topology, TopologyBuilder};
use tokio_util::sync::CancellationToken;

/// A fence with a fixed answer and record.
#[derive(Debug)]
struct FixedFence {
    current: bool,
    completed: Vec<u64>,
}

impl CheckpointFence for FixedFence {
    fn is_current(&self) -> FenceFuture<'_, Result<bool>> {
        Box::pin(async move { Ok(self.current) })
    }
    fn record_completed(&self, _id: u64) -> FenceFuture<'_, Result<bool>> {
        Box::pin(async move { Ok(self.current) })
    }
    fn completed(&self) -> FenceFuture<'_, Result<Vec<u64>>> {
        Box::pin(async move { Ok(self.completed.clone()) })
    }
}

/// Attempts that end as `script` says (its last entry repeats), on a host
/// that may lose workers (so `at_least_once` without checkpoints restarts).
struct Scripted {
    script: VecDeque<&'static str>,
    fence: Option<Fence>,
    next: u64,
    /// The attempt numbers run, and those reported as restarting.
    ran: Vec<u64>,
    restarting: Vec<u64>,
}

impl Scripted {
    fn new(script: &[&'static str], fence: Option<Fence>) -> Self {
        let script = script.iter().copied().collect();
        Scripted { script, fence, next: 0, ran: vec![], restarting: vec![] }
    }
}

impl AttemptHost for Scripted {
    fn fence(&self) -> Option<Fence> {
        self.fence.clone()
    }
    fn restarts_without_checkpoints(&self) -> bool {
        true
    }
    fn agree(&mut self) -> impl Future<Output = Result<u64>> + Send {
        std::future::ready(Ok(self.next))
    }
    fn run(&mut self, attempt: Attempt) -> impl Future<Output = Result<AttemptEnd>> + Send {
        self.ran.push(attempt.number);
        let step = match self.script.len() {
            1 => self.script[0],
            _ => self.script.pop_front().expect("a step"),
        };
        let end = match step {
            "finish" => AttemptEnd::Finished,
            "stale" => AttemptEnd::Stale,
            why => AttemptEnd::Failed(Error::Other(why.to_string())),
        };
        std::future::ready(Ok(end))
    }
    fn restarting(&mut self, number: u64) -> impl Future<Output = Result<()>> + Send {
        self.restarting.push(number);
        self.next = number + 1;
        std::future::ready(Ok(()))
    }
}

/// A tracked (`at_least_once`) topology restarted by `strategy`.
fn topology(strategy: RestartStrategy) -> Topology {
    let mut b = TopologyBuilder::new("scripted");
    let config = TopologyConfig {
        guarantee: Guarantee::AtLeastOnce,
        restart_strategy: strategy,
        ..TopologyConfig::default()
    };
    b.config(config);
    b.set_spout("lines", GeneratorSpout::sentences(1).with_limit(1), 1);
    b.build().unwrap()
}

fn drive(topology: &Topology, host: &mut Scripted) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(drive_job(topology, host, &CancellationToken::new()))
}

#[test]
fn restarts_until_an_attempt_finishes() {
    let fixed = RestartStrategy::FixedDelay { attempts: 3, delay_ms: 0 };
    let mut host = Scripted::new(&["lost a worker", "lost a worker", "finish"], None);
    drive(&topology(fixed), &mut host).unwrap();
    assert_eq!(host.ran, [0, 1, 2]);
    assert_eq!(host.restarting, [0, 1]);
}

#[test]
fn past_the_strategy_one_error_counts_each_cause() {
    let fixed = RestartStrategy::FixedDelay { attempts: 2, delay_ms: 0 };
    let mut host = Scripted::new(&["a", "b", "a"], None);
    let err = drive(&topology(fixed), &mut host).unwrap_err();
    match &err {
        Error::GaveUp { restarts, rule, .. } => {
            assert_eq!((*restarts, rule.as_str()), (2, "restart_strategy allows 2"));
        }
        other => panic!("expected GaveUp, got {other}"),
    }
    assert_eq!(
        err.to_string(),
        "giving up after 2 restarts (restart_strategy allows 2): 2 x \"a\", 1 x \"b\""
    );
    assert_eq!(host.ran, [0, 1, 2]);

    // Under `none` the attempt's own error, after one attempt.
    let mut host = Scripted::new(&["only once"], None);
    let err = drive(&topology(RestartStrategy::None), &mut host).unwrap_err();
    assert_eq!(err.to_string(), "only once");
    assert_eq!(host.ran, [0]);
}

#[test]
fn an_attempt_number_past_the_strategy_starts_nothing() {
    // Another worker raised the shared number past what is allowed.
    let fixed = RestartStrategy::FixedDelay { attempts: 1, delay_ms: 0 };
    let mut host = Scripted::new(&["finish"], None);
    host.next = 2;
    let err = drive(&topology(fixed), &mut host).unwrap_err().to_string();
    assert_eq!(
        err,
        "giving up after 1 restarts (restart_strategy allows 1): restarted by other workers"
    );
    assert!(host.ran.is_empty());
}

#[test]
fn a_stale_copy_neither_restarts_nor_finishes_and_a_recorded_end_runs_nothing() {
    let fixed = RestartStrategy::FixedDelay { attempts: 5, delay_ms: 0 };
    let stale: Fence = Arc::new(FixedFence { current: false, completed: vec![1] });
    let mut host = Scripted::new(&["lost a worker"], Some(stale));
    let err = drive(&topology(fixed), &mut host).unwrap_err().to_string();
    assert!(err.contains("is stale"), "{err}");
    assert_eq!(host.ran, [0]);
    assert!(host.restarting.is_empty());

    let ended: Fence = Arc::new(FixedFence { current: true, completed: vec![3, END_OF_RUN] });
    let mut host = Scripted::new(&["lost a worker"], Some(ended));
    drive(&topology(fixed), &mut host).unwrap();
    assert!(host.ran.is_empty());
}

/// Every `guarantee`, with checkpoints and without, runs the word count
/// (keyed state in `StatefulCountBolt`) through the driver's local host to
/// the reference counts, or is refused before anything starts, naming the
/// keys (`exactly_once` without checkpoints). With checkpoints on, some
/// complete; `at_least_once` with them runs the ackers and the checkpoints
/// at once (it used to hang, issue 14).
#[test]
fn every_guarantee_and_checkpoint_combination_runs_the_word_count_or_is_refused() {
    let corpus = squall_test_support::corpus::shakespeare();
    let reference = squall_test_support::corpus::word_counts(&corpus);
    for guarantee in [Guarantee::AtMostOnce, Guarantee::AtLeastOnce, Guarantee::ExactlyOnce] {
        for checkpoints in [false, true] {
            let what = format!("{guarantee:?}, checkpoints {checkpoints}");
            let dir = tempfile::tempdir().unwrap();
            let csv = dir.path().join("counts.csv");
            let mut config = TopologyConfig { guarantee, ..TopologyConfig::default() };
            if checkpoints {
                config.checkpoint_interval_ms = 50;
                config.checkpoint_dir = Some(dir.path().join("checkpoints").display().to_string());
            }
            let mut b = TopologyBuilder::new("word-count-combination");
            b.config(config);
            b.set_spout("lines", FileSpout::new(&corpus).unwrap(), 2);
            b.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
            b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
                .fields_grouping("split", Fields::new(["word"]));
            b.set_bolt("sink", CountsCsvSink::new(&csv, "word", "count").unwrap(), 1)
                .global_grouping("count");
            let summary = b.build().and_then(LocalCluster::run);
            if guarantee == Guarantee::ExactlyOnce && !checkpoints {
                let refused = summary.err().map(|e| e.to_string()).unwrap_or_default();
                assert!(
                    refused.contains("checkpoint_interval_ms") && refused.contains("exactly_once"),
                    "{what}: refused naming the keys, not {refused:?}"
                );
                assert!(!csv.exists(), "{what}: nothing ran");
                continue;
            }
            let summary = summary.unwrap_or_else(|e| panic!("{what}: {e}"));
            let mut reader = csv::Reader::from_path(&csv).expect("the CSV was written");
            let counts: std::collections::BTreeMap<String, i64> = reader
                .records()
                .map(|r| {
                    let r = r.unwrap();
                    (r[0].to_string(), r[1].parse().unwrap())
                })
                .collect();
            assert!(counts == reference, "{what}: counts differ from the reference");
            assert_eq!(!summary.checkpoints.is_empty(), checkpoints, "{what}: checkpoints");
            let spout = summary.metrics.component("lines").unwrap();
            let tracked = guarantee == Guarantee::AtLeastOnce;
            assert_eq!(spout.acked > 0, tracked, "{what}: tuples acked only when tracked");
        }
    }
}
