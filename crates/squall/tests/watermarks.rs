//! Watermarks through the runtime: the minimum over several inputs, passed
//! down chained operators, never ahead of what every producer has
//! promised, and an idle input that stops holding the others back.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use squall::topology::OutputDeclarer;
use squall::{
    Bolt, Fields, LocalCluster, OutputCollector, Result, Spout, SpoutStatus, TopologyBuilder,
    TopologyContext, Tuple,
};

/// Emits its watermarks one per call (with a tuple before each), then keeps
/// emitting tuples every call until `stop` is set, if it has one. Publishes
/// the last watermark it emitted (`i64::MAX` once finished) before the
/// runtime can send it.
#[derive(Clone)]
struct ScriptSpout {
    watermarks: Vec<i64>,
    next: usize,
    emitted: Arc<AtomicI64>,
    stop: Option<Arc<AtomicBool>>,
    chatty: bool,
}

impl ScriptSpout {
    fn new(watermarks: &[i64], emitted: &Arc<AtomicI64>) -> Self {
        ScriptSpout {
            watermarks: watermarks.to_vec(),
            next: 0,
            emitted: emitted.clone(),
            stop: None,
            chatty: false,
        }
    }
}

impl Spout for ScriptSpout {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["n"]));
    }
    fn next_tuple(&mut self, c: &mut OutputCollector) -> Result<SpoutStatus> {
        if let Some(&w) = self.watermarks.get(self.next) {
            self.next += 1;
            c.emit(vec![squall::Value::Int(w)])?;
            self.emitted.store(w, Ordering::SeqCst);
            c.emit_watermark(w);
            return Ok(SpoutStatus::Active);
        }
        match &self.stop {
            Some(stop) if !stop.load(Ordering::SeqCst) => {
                if self.chatty {
                    c.emit(vec![squall::Value::Int(0)])?;
                }
                Ok(SpoutStatus::Idle)
            }
            _ => {
                self.emitted.store(i64::MAX, Ordering::SeqCst);
                Ok(SpoutStatus::Finished)
            }
        }
    }
}

/// Records the watermarks it is given, checks each against what the
/// spouts have emitted, forwards its input, and sets `reached` once a
/// watermark reaches `target`.
#[derive(Clone)]
struct WatermarkRecorder {
    seen: Arc<Mutex<Vec<(usize, i64)>>>,
    producers: Vec<Arc<AtomicI64>>,
    ahead: Arc<Mutex<Vec<i64>>>,
    task: usize,
    target: Option<(i64, Arc<AtomicBool>)>,
}

impl WatermarkRecorder {
    fn new(producers: &[&Arc<AtomicI64>]) -> Self {
        WatermarkRecorder {
            seen: Default::default(),
            producers: producers.iter().map(|p| Arc::clone(p)).collect(),
            ahead: Default::default(),
            task: 0,
            target: None,
        }
    }
    fn seen_by(&self, task: usize) -> Vec<i64> {
        self.seen.lock().unwrap().iter().filter(|(t, _)| *t == task).map(|(_, w)| *w).collect()
    }
}

impl Bolt for WatermarkRecorder {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["n"]));
    }
    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.task = ctx.task_index();
        Ok(())
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        c.emit(t.into_values())
    }
    fn on_watermark(&mut self, w: i64, _c: &mut OutputCollector) -> Result<()> {
        let promised = self.producers.iter().map(|p| p.load(Ordering::SeqCst)).min().unwrap();
        if w > promised {
            self.ahead.lock().unwrap().push(w);
        }
        self.seen.lock().unwrap().push((self.task, w));
        if let Some((target, reached)) = &self.target {
            if w >= *target {
                reached.store(true, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

/// Joins `running`, failing (after killing it) if it has not finished
/// within a generous limit: a watermark that never advances would hang.
fn join_within(running: squall::RunningTopology, limit: Duration) {
    let start = std::time::Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let r = running.join();
        let _ = tx.send(());
        r
    });
    if rx.recv_timeout(limit).is_err() {
        panic!("topology did not finish within {limit:?} (started {:?} ago)", start.elapsed());
    }
    handle.join().unwrap().unwrap();
}

#[test]
fn task_watermark_is_the_minimum_of_its_inputs_and_passes_down_the_chain() {
    let (a, b) = (Arc::new(AtomicI64::new(i64::MIN)), Arc::new(AtomicI64::new(i64::MIN)));
    let first = WatermarkRecorder::new(&[&a, &b]);
    let second = WatermarkRecorder::new(&[&a, &b]);
    let mut builder = TopologyBuilder::new("watermarks");
    builder.set_spout("a", ScriptSpout::new(&[100, 200, 300, 400], &a), 1);
    builder.set_spout("b", ScriptSpout::new(&[150, 250], &b), 1);
    builder.set_bolt("first", first.clone(), 2).shuffle_grouping("a").shuffle_grouping("b");
    builder.set_bolt("second", second.clone(), 2).forward_grouping("first");
    let running = LocalCluster::submit(builder.build().unwrap()).unwrap();
    join_within(running, Duration::from_secs(120));

    assert_eq!(*first.ahead.lock().unwrap(), Vec::<i64>::new(), "a watermark ran ahead of a spout");
    for task in 0..2 {
        let seen = first.seen_by(task);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "increasing: {seen:?}");
        assert_eq!(seen.last(), Some(&i64::MAX), "end of input is i64::MAX: {seen:?}");
        assert!(
            seen.iter().all(|w| [100, 150, 200, 250, 300, 400, i64::MAX].contains(w)),
            "{seen:?}"
        );
        // The chained task sees exactly what its producer forwarded.
        assert_eq!(second.seen_by(task), seen, "chained task {task}");
    }
}

#[test]
fn an_idle_input_stops_holding_the_watermark_back() {
    let (a, b) = (Arc::new(AtomicI64::new(i64::MIN)), Arc::new(AtomicI64::new(i64::MIN)));
    let stop = Arc::new(AtomicBool::new(false));
    let mut busy = ScriptSpout::new(&[1_000], &a);
    busy.stop = Some(stop.clone());
    busy.chatty = true;
    let mut silent = ScriptSpout::new(&[10], &b);
    silent.stop = Some(stop.clone());
    let mut recorder = WatermarkRecorder::new(&[&a]);
    recorder.target = Some((1_000, stop.clone()));

    let mut builder = TopologyBuilder::new("idleness");
    // The idle timeout must exceed the buffer timeout, or a busy input
    // whose batches wait in a buffer looks idle too.
    builder.config_mut().idle_timeout_ms = 50;
    builder.config_mut().buffer_timeout_ms = 1;
    builder.set_spout("busy", busy, 1);
    builder.set_spout("silent", silent, 1);
    builder
        .set_bolt("recorder", recorder.clone(), 1)
        .shuffle_grouping("busy")
        .shuffle_grouping("silent");
    let running = LocalCluster::submit(builder.build().unwrap()).unwrap();
    // Without idleness the silent input would hold the watermark at 10 and
    // the spouts would never be told to stop.
    join_within(running, Duration::from_secs(120));
    let seen = recorder.seen_by(0);
    assert!(seen.contains(&1_000), "{seen:?}");
    assert_eq!(seen.last(), Some(&i64::MAX));
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}

#[test]
fn an_idle_timeout_not_above_the_buffer_timeout_is_refused_before_running() {
    let a = Arc::new(AtomicI64::new(i64::MIN));
    let mut builder = TopologyBuilder::new("idleness-config");
    builder.config_mut().idle_timeout_ms = 100;
    builder.config_mut().buffer_timeout_ms = 100;
    builder.set_spout("a", ScriptSpout::new(&[1], &a), 1);
    builder.set_bolt("r", WatermarkRecorder::new(&[&a]), 1).shuffle_grouping("a");
    let Err(err) = builder.build() else { panic!("an idle timeout of 100 ms was accepted") };
    let err = err.to_string();
    assert!(
        err.contains("idle_timeout_ms (100)") && err.contains("buffer_timeout_ms (100)"),
        "{err}"
    );
}
