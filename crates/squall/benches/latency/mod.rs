//! End-to-end latency (event creation to sink) of a keyed count: a
//! rate-limited spout stamps each tuple with the time it made it, a
//! fields-grouped count bolt carries the stamp on with the updated count,
//! and a global sink records `now - stamp` in a histogram. All three run in
//! one process, so one monotonic clock serves both ends.
//!
//! Built on the public API only (the runtime measures complete latency of
//! acked trees, not this).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use squall::topology::OutputDeclarer;
use squall::{
    Bolt, Fields, LocalCluster, OutputCollector, Spout, SpoutStatus, TopologyBuilder,
    TopologyContext, Tuple, Value,
};

/// Tuples emitted per `next_tuple` call at most.
const PER_CALL: u64 = 256;
/// Distinct keys the spout cycles through.
const KEYS: u64 = 10_000;

/// The process's clock origin: stamps are µs since it.
fn micros() -> i64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as i64
}

/// Emits `(key, created_us)` at `rate` tuples/s over all tasks (0: as fast
/// as taken) for `secs` seconds, then finishes.
#[derive(Clone)]
struct StampSpout {
    rate: u64,
    secs: f64,
    keys: Vec<String>,
    // Per task, set in `open`.
    task_rate: f64,
    started: Option<Instant>,
    sent: u64,
    seq: u64,
}

impl Spout for StampSpout {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(Fields::new(["key", "created_us"]));
    }

    fn open(&mut self, context: &TopologyContext) -> squall::Result<()> {
        self.task_rate = self.rate as f64 / context.parallelism().max(1) as f64;
        self.seq = context.task_index() as u64;
        Ok(())
    }

    fn next_tuple(&mut self, collector: &mut OutputCollector) -> squall::Result<SpoutStatus> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let elapsed = started.elapsed().as_secs_f64();
        if elapsed >= self.secs {
            return Ok(SpoutStatus::Finished);
        }
        // A schedule, not a bucket: behind it (backpressure), catch up.
        let due =
            if self.rate == 0 { PER_CALL } else { (elapsed * self.task_rate) as u64 - self.sent };
        let n = due.min(PER_CALL);
        if n == 0 {
            return Ok(SpoutStatus::Idle);
        }
        for _ in 0..n {
            let key = self.keys[(self.seq % KEYS) as usize].clone();
            self.seq = self.seq.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            collector.emit(vec![Value::String(key), Value::Int(micros())])?;
        }
        self.sent += n;
        Ok(SpoutStatus::Active)
    }
}

/// Counts per key; emits `(key, count, created_us)`.
#[derive(Clone, Default)]
struct StampCount(HashMap<String, i64>);

impl Bolt for StampCount {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(Fields::new(["key", "count", "created_us"]));
    }

    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> squall::Result<()> {
        let key = t.get_str_at(0)?;
        let count = match self.0.get_mut(key) {
            Some(n) => {
                *n += 1;
                *n
            }
            None => {
                self.0.insert(key.to_string(), 1);
                1
            }
        };
        let created = t.get_i64_at(1)?;
        c.emit(vec![Value::String(key.to_string()), Value::Int(count), Value::Int(created)])
    }
}

/// Records the latency of every tuple after `warmup_us` (µs since the
/// clock's origin), and counts all.
#[derive(Clone)]
struct LatencySink {
    warmup_us: i64,
    shared: Arc<Mutex<(Histogram<u64>, u64)>>,
}

impl Bolt for LatencySink {
    fn execute(&mut self, t: Tuple, _c: &mut OutputCollector) -> squall::Result<()> {
        let created = t.get_i64_at(2)?;
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.1 += 1;
        if created >= self.warmup_us {
            s.0.saturating_record((micros() - created).max(0) as u64);
        }
        Ok(())
    }
}

/// One run's outcome.
pub struct Outcome {
    /// Tuples through the sink per second of the run.
    pub rate: f64,
    /// Latency quantiles p50, p99, p99.9 (µs), after the first second.
    pub quantiles: [u64; 3],
}

/// Runs spout -> count (fields) -> sink (global) at `rate` tuples/s (0: as
/// fast as it goes) for `secs`, with `parallelism` spout and count tasks
/// and the given `buffer_timeout_ms`.
pub fn run(
    rate: u64,
    secs: f64,
    parallelism: usize,
    buffer_timeout_ms: u64,
) -> anyhow::Result<Outcome> {
    let keys = (0..KEYS).map(|k| format!("k{k:05}")).collect();
    let spout = StampSpout { rate, secs, keys, task_rate: 0.0, started: None, sent: 0, seq: 0 };
    let warmup_us = micros() + 1_000_000;
    let sink = LatencySink {
        warmup_us,
        shared: Arc::new(Mutex::new((Histogram::new_with_bounds(1, 60_000_000, 3)?, 0))),
    };
    let mut b = TopologyBuilder::new("latency-bench");
    b.config_mut().buffer_timeout_ms = buffer_timeout_ms;
    b.set_spout("stamps", spout, parallelism);
    b.set_bolt("count", StampCount::default(), parallelism)
        .fields_grouping("stamps", Fields::new(["key"]));
    b.set_bolt("sink", sink.clone(), 1).global_grouping("count");
    let start = Instant::now();
    LocalCluster::run(b.build()?)?;
    let elapsed = start.elapsed().max(Duration::from_millis(1)).as_secs_f64();
    let s = sink.shared.lock().unwrap_or_else(|e| e.into_inner());
    let q = |x: f64| s.0.value_at_quantile(x);
    Ok(Outcome { rate: s.1 as f64 / elapsed, quantiles: [q(0.5), q(0.99), q(0.999)] })
}
