//! [`GeneratorSpout`]: sentences made up on the spot, Storm's
//! `RandomSentenceSpout`, optionally rate-limited and bounded.
//!
//! Owns the per-task share of the limit and the rate limiter. It is the
//! source of benchmarks and examples that need no input files.

use std::sync::Arc;
use std::time::Instant;

use crate::builtins::replay::Replay;
use crate::error::{Error, Result};
use crate::model::{Fields, Value};
use crate::runtime::OutputCollector;
use crate::state::OperatorState;
use crate::topology::{MessageId, OutputDeclarer, Spout, SpoutStatus, TopologyContext};

/// The sentences of Storm's `RandomSentenceSpout`, and a few more.
const SENTENCES: [&str; 8] = [
    "the cow jumped over the moon",
    "an apple a day keeps the doctor away",
    "four score and seven years ago",
    "snow white and the seven dwarfs",
    "i am at two with nature",
    "the quick brown fox jumps over the lazy dog",
    "to be or not to be that is the question",
    "all that glitters is not gold",
];

/// Tuples emitted per `next_tuple` call at most.
const TUPLES_PER_CALL: u64 = 256;

/// Emits `(seq, line)` tuples on the default stream: `seq` an int counting
/// from 0 in each task, `line` cycling through a fixed list of sentences
/// (`line = lines[seq % lines.len()]`).
///
/// - **Rate**: [`GeneratorSpout::sentences`] takes a rate in tuples per
///   second for the whole component, split evenly between its tasks
///   (`rate / N` each), enforced by a token bucket per task that holds at
///   most 10 ms of tokens (so a task that was held back by backpressure does
///   not burst to catch up). 0 means as fast as the topology takes them.
/// - **Limit**: [`GeneratorSpout::with_limit`] makes it bounded: exactly `n`
///   tuples over all tasks (task i emits `n / N`, plus one if `i < n % N`),
///   then it finishes. Without a limit it runs until killed.
///
/// Each tuple is emitted with its `seq` as message id. With tracking
/// (`at_least_once`) it is kept until acked, and emitted again (same `seq`
/// and line) if it fails or times out.
/// With checkpoints, each task's next `seq` is operator state: a restore
/// resumes from the checkpoint's `seq`, so the same tuples follow (a
/// replayable source).
///
/// Each task reports its progress as the gauge [`PASSES_GAUGE`] of its
/// metrics (`squall_user_generator_passes`): how many times it went through
/// the lines so far (fractional), set once per call.
///
/// # Examples
/// ```
/// use squall::builtins::GeneratorSpout;
/// use squall::TopologyBuilder;
///
/// let mut builder = TopologyBuilder::new("gen");
/// // 10 000 sentences at 5000 tuples/s over 2 tasks (2500/s each).
/// builder.set_spout("lines", GeneratorSpout::sentences(5000).with_limit(10_000), 2);
/// ```
#[derive(Debug, Clone)]
pub struct GeneratorSpout {
    lines: Arc<[String]>,
    rate_per_sec: u64,
    limit: Option<u64>,
    // Per task, set in `open`.
    seq: u64,
    quota: Option<u64>,
    task_rate: f64,
    tokens: f64,
    last_refill: Option<Instant>,
    /// Where `seq` is checkpointed.
    position: Option<OperatorState<u64>>,
    replay: Replay,
    /// The task's [`PASSES_GAUGE`].
    passes: Option<metrics::Gauge>,
}

/// The gauge each generator task sets to its passes through the lines.
pub const PASSES_GAUGE: &str = "generator_passes";

impl GeneratorSpout {
    /// A spout emitting the built-in sentences at `rate_per_sec` tuples per
    /// second over all its tasks (0 = unlimited), without end.
    pub fn sentences(rate_per_sec: u64) -> GeneratorSpout {
        GeneratorSpout {
            lines: SENTENCES.iter().map(|s| s.to_string()).collect(),
            rate_per_sec,
            limit: None,
            seq: 0,
            quota: None,
            task_rate: 0.0,
            tokens: 0.0,
            last_refill: None,
            position: None,
            replay: Replay::default(),
            passes: None,
        }
    }

    /// Emits exactly `n` tuples over all tasks, then finishes.
    pub fn with_limit(mut self, n: u64) -> GeneratorSpout {
        self.limit = Some(n);
        self
    }

    /// Cycles through `lines` instead of the built-in sentences. An empty
    /// list is refused when the spout opens.
    pub fn with_lines(mut self, lines: Vec<String>) -> GeneratorSpout {
        self.lines = lines.into();
        self
    }

    /// The rate over all tasks (tuples/s); 0 means unlimited.
    pub fn rate_per_sec(&self) -> u64 {
        self.rate_per_sec
    }

    /// The total number of tuples, if bounded.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// How many tuples the rate allows now, refilling the bucket.
    fn allowed(&mut self) -> u64 {
        if self.rate_per_sec == 0 {
            return TUPLES_PER_CALL;
        }
        let now = Instant::now();
        let last = self.last_refill.replace(now).unwrap_or(now);
        let capacity = (self.task_rate / 100.0).max(1.0);
        self.tokens =
            (self.tokens + now.duration_since(last).as_secs_f64() * self.task_rate).min(capacity);
        (self.tokens.floor() as u64).min(TUPLES_PER_CALL)
    }
}

impl Spout for GeneratorSpout {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(Fields::new(["seq", "line"]));
    }

    /// Computes this task's share of the limit and of the rate.
    ///
    /// # Errors
    /// [`Error::Config`] if the list of lines is empty.
    fn open(&mut self, context: &TopologyContext) -> Result<()> {
        if self.lines.is_empty() {
            return Err(Error::config("generator spout: the list of lines is empty"));
        }
        let (i, n) = (context.task_index() as u64, context.parallelism().max(1) as u64);
        self.quota = self.limit.map(|limit| limit / n + u64::from(i < limit % n));
        self.task_rate = self.rate_per_sec as f64 / n as f64;
        let position = context.operator_state::<u64>("seq");
        self.seq = position.get()?.unwrap_or(0);
        self.position = Some(position);
        self.tokens = 1.0; // the first tuple goes at once
        self.last_refill = None;
        self.replay.open_checkpointed(context)?;
        self.passes = Some(context.metrics().gauge(PASSES_GAUGE));
        Ok(())
    }

    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        if self.replay.replay(collector, TUPLES_PER_CALL as usize)? > 0 {
            return Ok(SpoutStatus::Active);
        }
        let left = self.quota.map_or(u64::MAX, |q| q - self.seq);
        if left == 0 {
            return Ok(SpoutStatus::Finished);
        }
        let count = self.allowed().min(left);
        if count == 0 {
            return Ok(SpoutStatus::Idle);
        }
        for _ in 0..count {
            let line = &self.lines[(self.seq % self.lines.len() as u64) as usize];
            let values = vec![Value::Int(self.seq as i64), Value::String(line.clone())];
            self.replay.emit(collector, self.seq, values)?;
            self.seq += 1;
        }
        if self.rate_per_sec > 0 {
            self.tokens -= count as f64;
        }
        if let Some(passes) = &self.passes {
            passes.set(self.seq as f64 / self.lines.len() as f64);
        }
        Ok(if self.quota == Some(self.seq) { SpoutStatus::Finished } else { SpoutStatus::Active })
    }

    /// Records `seq`, the next sequence number, so that a restore replays
    /// from it: the generator is a replayable source.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        self.replay.snapshot()?;
        match &self.position {
            Some(p) => p.set(&self.seq),
            None => Ok(()),
        }
    }

    fn ack(&mut self, msg_id: MessageId) {
        self.replay.ack(msg_id);
    }

    fn fail(&mut self, msg_id: MessageId) {
        self.replay.fail(msg_id);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;
    use crate::builtins::test_support::Collect;
    use crate::{LocalCluster, TopologyBuilder};

    fn run(spout: GeneratorSpout, parallelism: usize) -> (Vec<crate::Values>, Duration) {
        let sink = Collect::default();
        let mut builder = TopologyBuilder::new("gen-test");
        builder.set_spout("gen", spout, parallelism);
        builder.set_bolt("sink", sink.clone(), 1).shuffle_grouping("gen");
        let summary = LocalCluster::run(builder.build().unwrap()).unwrap();
        (sink.rows(), summary.elapsed)
    }

    #[test]
    fn limit_is_exact_over_all_tasks() {
        for n in 1..=4 {
            for limit in [0, 1, 7, 1000] {
                let (rows, _) = run(GeneratorSpout::sentences(0).with_limit(limit), n);
                assert_eq!(rows.len() as u64, limit, "parallelism {n}, limit {limit}");
                // Each task counts from 0 with no gaps: seq values are a
                // union of n prefixes of 0.., the longest ceil(limit / n).
                let max = rows.iter().map(|r| r[0].as_i64().unwrap()).max();
                if limit > 0 {
                    assert_eq!(max, Some((limit as i64 - 1) / n as i64), "parallelism {n}");
                }
                for r in &rows {
                    let seq = r[0].as_i64().unwrap() as usize;
                    assert_eq!(r[1].as_str().unwrap(), SENTENCES[seq % SENTENCES.len()]);
                }
            }
        }
    }

    #[test]
    fn custom_lines_cycle() {
        let lines = vec!["a b".to_string(), "c".to_string()];
        let (rows, _) = run(GeneratorSpout::sentences(0).with_limit(5).with_lines(lines), 1);
        let got: Vec<&str> = rows.iter().map(|r| r[1].as_str().unwrap()).collect();
        assert_eq!(got, ["a b", "c", "a b", "c", "a b"]);
        let seqs: HashSet<i64> = rows.iter().map(|r| r[0].as_i64().unwrap()).collect();
        assert_eq!(seqs, (0..5).collect());
    }

    #[test]
    fn rate_is_limited() {
        // 200 tuples at 1000/s need about 200 ms; the bucket allows a burst
        // of at most 10 ms worth.
        let start = Instant::now();
        let (rows, _) = run(GeneratorSpout::sentences(1000).with_limit(200), 2);
        let elapsed = start.elapsed();
        assert_eq!(rows.len(), 200);
        assert!(elapsed >= Duration::from_millis(150), "took only {elapsed:?}");
    }

    /// Fails the first delivery of every seq that is 3 mod 10, records
    /// every seq it acks.
    #[derive(Clone, Default)]
    struct FailFirst {
        failed: Arc<std::sync::Mutex<HashSet<i64>>>,
        acked: Arc<std::sync::Mutex<Vec<i64>>>,
    }

    impl crate::Bolt for FailFirst {
        fn execute(&mut self, t: crate::Tuple, _c: &mut OutputCollector) -> Result<()> {
            let seq = t.get_i64("seq")?;
            if seq % 10 == 3 && self.failed.lock().unwrap().insert(seq) {
                return Err(Error::Other(format!("fail seq {seq} once")));
            }
            self.acked.lock().unwrap().push(seq);
            Ok(())
        }
    }

    #[test]
    fn with_tracking_a_tuple_failed_by_a_basic_bolt_error_is_replayed() {
        let bolt = FailFirst::default();
        let mut builder = TopologyBuilder::new("gen-replay");
        builder.config_mut().guarantee = crate::Guarantee::AtLeastOnce;
        builder.config_mut().buffer_timeout_ms = 5;
        builder.set_spout("gen", GeneratorSpout::sentences(0).with_limit(500), 1);
        builder.set_bolt("sink", bolt.clone(), 2).shuffle_grouping("gen");
        let summary = LocalCluster::run(builder.build().unwrap()).unwrap();
        let mut acked = bolt.acked.lock().unwrap().clone();
        acked.sort();
        assert_eq!(acked, (0..500).collect::<Vec<i64>>(), "each seq processed once in the end");
        let gen = summary.metrics.component("gen").unwrap();
        assert_eq!((gen.emitted, gen.failed, gen.replayed, gen.acked), (550, 50, 50, 500));
    }

    #[test]
    fn empty_lines_refused_at_open() {
        let mut builder = TopologyBuilder::new("gen-empty");
        builder.set_spout("gen", GeneratorSpout::sentences(0).with_limit(3).with_lines(vec![]), 1);
        builder.set_bolt("sink", Collect::default(), 1).shuffle_grouping("gen");
        let err = LocalCluster::run(builder.build().unwrap()).unwrap_err().to_string();
        assert!(err.contains("lines") && err.contains("gen"), "{err}");
    }
}
