//! Test components shared by the integration tests: the Shakespeare corpus,
//! a spout that emits a fixed list, an unbounded counting spout, and bolts
//! that record, fail, panic or work slowly.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use squall::topology::OutputDeclarer;
use squall::{
    Bolt, Fields, OutputCollector, Result, Spout, SpoutStatus, TopologyContext, Tuple, Value,
    Values,
};

/// The Shakespeare corpus (`data/shakespeare`, fetched by
/// `scripts/fetch-corpus.sh`).
#[allow(unused_imports)] // not every test reads the corpus
pub use squall_test_support::corpus::shakespeare as corpus;

/// Emits `rows` on the default stream, split over its tasks by index
/// (task i emits rows i, i+N, ...), then finishes.
#[derive(Clone)]
pub struct VecSpout {
    fields: Fields,
    rows: Arc<Vec<Values>>,
    next: usize,
    step: usize,
}

impl VecSpout {
    pub fn new(fields: Fields, rows: Vec<Values>) -> Self {
        VecSpout { fields, rows: Arc::new(rows), next: 0, step: 1 }
    }
}

impl Spout for VecSpout {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(self.fields.clone());
    }
    fn open(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.next = ctx.task_index();
        self.step = ctx.parallelism();
        Ok(())
    }
    fn next_tuple(&mut self, c: &mut OutputCollector) -> Result<SpoutStatus> {
        match self.rows.get(self.next) {
            Some(row) => {
                c.emit(row.clone())?;
                self.next += self.step;
                Ok(SpoutStatus::Active)
            }
            None => Ok(SpoutStatus::Finished),
        }
    }
}

/// Emits `(n)` for n = 0, 1, 2... forever, counting emits in `emitted`.
#[derive(Clone)]
pub struct CountingSpout {
    pub emitted: Arc<AtomicU64>,
    n: i64,
}

impl CountingSpout {
    pub fn new() -> Self {
        CountingSpout { emitted: Arc::new(AtomicU64::new(0)), n: 0 }
    }
}

impl Spout for CountingSpout {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["n"]));
    }
    fn next_tuple(&mut self, c: &mut OutputCollector) -> Result<SpoutStatus> {
        c.emit(vec![Value::Int(self.n)])?;
        self.n += 1;
        self.emitted.fetch_add(1, Ordering::SeqCst);
        Ok(SpoutStatus::Active)
    }
}

/// One tuple as a recording bolt saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub task: usize,
    pub task_index: usize,
    pub source_component: String,
    pub source_stream: String,
    pub values: Values,
}

/// Records every tuple it receives; re-emits nothing.
#[derive(Clone, Default)]
pub struct RecordingBolt {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: usize,
    task_index: usize,
}

impl RecordingBolt {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Bolt for RecordingBolt {
    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.task = ctx.task_id();
        self.task_index = ctx.task_index();
        Ok(())
    }
    fn execute(&mut self, t: Tuple, _c: &mut OutputCollector) -> Result<()> {
        self.seen.lock().unwrap().push(Seen {
            task: self.task,
            task_index: self.task_index,
            source_component: t.source_component().to_string(),
            source_stream: t.source_stream().to_string(),
            values: t.values().to_vec(),
        });
        Ok(())
    }
}

/// Passes tuples through unchanged on the default stream.
#[derive(Clone)]
pub struct IdentityBolt(pub Fields);

impl Bolt for IdentityBolt {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(self.0.clone());
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        c.emit(t.into_values())
    }
}

/// Panics on its `at`-th tuple (counted per task, from 1).
#[derive(Clone)]
pub struct PanickingBolt {
    pub at: u64,
    seen: u64,
}

impl PanickingBolt {
    pub fn new(at: u64) -> Self {
        PanickingBolt { at, seen: 0 }
    }
}

impl Bolt for PanickingBolt {
    fn execute(&mut self, _t: Tuple, _c: &mut OutputCollector) -> Result<()> {
        self.seen += 1;
        if self.seen == self.at {
            panic!("boom at tuple {}", self.at);
        }
        Ok(())
    }
}

/// Returns an error on its `at`-th tuple.
#[derive(Clone)]
pub struct FailingBolt {
    pub at: u64,
    seen: u64,
}

impl FailingBolt {
    pub fn new(at: u64) -> Self {
        FailingBolt { at, seen: 0 }
    }
}

impl Bolt for FailingBolt {
    fn execute(&mut self, t: Tuple, _c: &mut OutputCollector) -> Result<()> {
        self.seen += 1;
        if self.seen == self.at {
            // A real lookup that fails: the field does not exist.
            t.get_str("no_such_field")?;
        }
        Ok(())
    }
}

/// Works `delay` per tuple (a real sleep: it stands for slow work, not for
/// synchronisation) and records, for every tuple, how many tuples the spout
/// had emitted by then.
#[derive(Clone)]
pub struct SlowBolt {
    pub delay: Duration,
    pub spout_emitted: Arc<AtomicU64>,
    pub executed: Arc<AtomicU64>,
    pub max_in_flight: Arc<AtomicU64>,
}

impl Bolt for SlowBolt {
    fn execute(&mut self, _t: Tuple, _c: &mut OutputCollector) -> Result<()> {
        std::thread::sleep(self.delay);
        let done = self.executed.fetch_add(1, Ordering::SeqCst) + 1;
        let emitted = self.spout_emitted.load(Ordering::SeqCst);
        self.max_in_flight.fetch_max(emitted.saturating_sub(done), Ordering::SeqCst);
        Ok(())
    }
}

pub fn ints(range: std::ops::Range<i64>) -> Vec<Values> {
    range.map(|i| vec![Value::Int(i)]).collect()
}
