//! Each grouping routes as Storm's does.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use common::{ints, IdentityBolt, RecordingBolt, VecSpout};
use squall::topology::OutputDeclarer;
use squall::{
    Bolt, Fields, Grouping, LocalCluster, OutputCollector, Result, TopologyBuilder,
    TopologyContext, Tuple, Value,
};

fn run_one(
    grouping: Grouping,
    rows: Vec<Vec<Value>>,
    fields: Fields,
    consumers: usize,
) -> Vec<common::Seen> {
    let rec = RecordingBolt::new();
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", VecSpout::new(fields, rows), 2);
    b.set_bolt("sink", rec.clone(), consumers).grouping("src", grouping);
    let summary = LocalCluster::run(b.build().unwrap()).unwrap();
    assert!(!summary.killed);
    rec.seen()
}

#[test]
fn fields_grouping_sends_equal_keys_to_one_task() {
    let words = ["to", "be", "or", "not", "to", "be", "that", "is", "the", "question"];
    let rows: Vec<_> = (0..5000)
        .map(|i| vec![Value::from(words[i % words.len()]), Value::Int(i as i64)])
        .collect();
    let seen =
        run_one(Grouping::Fields(Fields::new(["word"])), rows, Fields::new(["word", "i"]), 4);
    assert_eq!(seen.len(), 5000);
    let mut task_of: HashMap<String, BTreeSet<usize>> = HashMap::new();
    for s in &seen {
        task_of.entry(s.values[0].as_str().unwrap().to_string()).or_default().insert(s.task);
    }
    assert_eq!(task_of.len(), 8);
    for (word, tasks) in &task_of {
        assert_eq!(tasks.len(), 1, "word '{word}' went to tasks {tasks:?}");
    }
    // Several tasks are used at all (8 keys over 4 tasks).
    let used: BTreeSet<usize> = task_of.values().flatten().copied().collect();
    assert!(used.len() >= 2, "all keys went to {used:?}");
}

#[test]
fn shuffle_grouping_is_balanced_within_a_few_percent() {
    let n = 40_000;
    let seen = run_one(Grouping::Shuffle, ints(0..n), Fields::new(["n"]), 4);
    assert_eq!(seen.len(), n as usize);
    let mut per_task: BTreeMap<usize, usize> = BTreeMap::new();
    for s in &seen {
        *per_task.entry(s.task).or_default() += 1;
    }
    assert_eq!(per_task.len(), 4);
    let fair = n as f64 / 4.0;
    for (task, count) in per_task {
        let off = (count as f64 - fair).abs() / fair;
        assert!(off < 0.03, "task {task} got {count}, {:.1}% off an even share", off * 100.0);
    }
    // Nothing lost or duplicated.
    let got: BTreeSet<i64> = seen.iter().map(|s| s.values[0].as_i64().unwrap()).collect();
    assert_eq!(got, (0..n).collect());
}

#[test]
fn all_grouping_copies_every_tuple_to_every_task() {
    let seen = run_one(Grouping::All, ints(0..300), Fields::new(["n"]), 3);
    assert_eq!(seen.len(), 900);
    let mut per_task: BTreeMap<usize, BTreeSet<i64>> = BTreeMap::new();
    for s in &seen {
        per_task.entry(s.task).or_default().insert(s.values[0].as_i64().unwrap());
    }
    assert_eq!(per_task.len(), 3);
    for set in per_task.values() {
        assert_eq!(*set, (0..300).collect::<BTreeSet<_>>());
    }
}

#[test]
fn global_grouping_sends_everything_to_the_lowest_task() {
    let seen = run_one(Grouping::Global, ints(0..500), Fields::new(["n"]), 3);
    assert_eq!(seen.len(), 500);
    assert!(seen.iter().all(|s| s.task_index == 0), "a tuple reached another task than index 0");
}

#[test]
fn none_grouping_delivers_everything_once() {
    let seen = run_one(Grouping::None, ints(0..1000), Fields::new(["n"]), 2);
    let got: BTreeSet<i64> = seen.iter().map(|s| s.values[0].as_i64().unwrap()).collect();
    assert_eq!(seen.len(), 1000);
    assert_eq!(got.len(), 1000);
}

/// Emits each number to the consumer task `n % tasks` chosen by id.
#[derive(Clone)]
struct DirectRouter {
    consumer_tasks: Vec<usize>,
}

impl Bolt for DirectRouter {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare_direct_stream("routed", Fields::new(["n"]));
    }
    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.consumer_tasks = ctx.component_tasks("sink").collect();
        Ok(())
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        let n = t.get_i64("n")?;
        let task = self.consumer_tasks[(n as usize) % self.consumer_tasks.len()];
        c.emit_direct(task, "routed", vec![Value::Int(n)])
    }
}

#[test]
fn direct_grouping_delivers_to_the_chosen_task() {
    let rec = RecordingBolt::new();
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", VecSpout::new(Fields::new(["n"]), ints(0..600)), 1);
    b.set_bolt("router", DirectRouter { consumer_tasks: vec![] }, 2).shuffle_grouping("src");
    b.set_bolt("sink", rec.clone(), 3).direct_grouping("router", "routed");
    LocalCluster::run(b.build().unwrap()).unwrap();
    let seen = rec.seen();
    assert_eq!(seen.len(), 600);
    for s in seen {
        assert_eq!(s.task_index, s.values[0].as_i64().unwrap() as usize % 3);
        assert_eq!(s.source_stream, "routed");
    }
}

/// Emits on an undeclared stream, or with the wrong arity.
#[derive(Clone)]
struct BadEmitter(&'static str);

impl Bolt for BadEmitter {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["n"]));
        d.declare_direct_stream("routed", Fields::new(["n"]));
    }
    fn execute(&mut self, _t: Tuple, c: &mut OutputCollector) -> Result<()> {
        match self.0 {
            "stream" => c.emit_to("nope", vec![Value::Int(1)]),
            "arity" => c.emit(vec![Value::Int(1), Value::Int(2)]),
            "direct-task" => c.emit_direct(999, "routed", vec![Value::Int(1)]),
            _ => c.emit_to("routed", vec![Value::Int(1)]),
        }
    }
}

#[test]
fn bad_emits_are_errors_naming_the_component() {
    for (kind, needle) in [
        ("stream", "'nope' is not declared"),
        ("arity", "2 values"),
        ("direct-task", "task 999"),
        ("plain-on-direct", "use emit_direct"),
    ] {
        let mut b = TopologyBuilder::new("t");
        b.set_spout("src", VecSpout::new(Fields::new(["n"]), ints(0..10)), 1);
        b.set_bolt("emitter", BadEmitter(kind), 1).shuffle_grouping("src");
        b.set_bolt("sink", RecordingBolt::new(), 1).shuffle_grouping("emitter");
        b.set_bolt("dsink", RecordingBolt::new(), 1).direct_grouping("emitter", "routed");
        let err = LocalCluster::run(b.build().unwrap()).unwrap_err().to_string();
        assert!(err.contains("'emitter'") && err.contains(needle), "{kind}: {err}");
    }
}

#[test]
fn local_or_shuffle_of_equal_parallelism_is_chained_task_to_task() {
    let rec = RecordingBolt::new();
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", VecSpout::new(Fields::new(["n"]), ints(0..1000)), 3);
    b.set_bolt("id", IdentityBolt(Fields::new(["n"])), 3).local_or_shuffle_grouping("src");
    b.set_bolt("sink", rec.clone(), 3).forward_grouping("id");
    LocalCluster::run(b.build().unwrap()).unwrap();
    let seen = rec.seen();
    assert_eq!(seen.len(), 1000);
    // VecSpout task i emits the numbers n with n % 3 == i; chaining keeps
    // them on task index i all the way.
    for s in seen {
        assert_eq!(s.task_index, s.values[0].as_i64().unwrap() as usize % 3);
    }
}

#[test]
fn several_streams_to_one_consumer_share_a_channel_and_drain() {
    #[derive(Clone)]
    struct TwoStreams;
    impl Bolt for TwoStreams {
        fn declare_outputs(&self, d: &mut OutputDeclarer) {
            d.declare_stream("even", Fields::new(["n"]));
            d.declare_stream("odd", Fields::new(["n"]));
        }
        fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
            let n = t.get_i64("n")?;
            c.emit_to(if n % 2 == 0 { "even" } else { "odd" }, vec![Value::Int(n)])
        }
    }
    let rec = RecordingBolt::new();
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", VecSpout::new(Fields::new(["n"]), ints(0..1000)), 1);
    b.set_bolt("split", TwoStreams, 2).shuffle_grouping("src");
    b.set_bolt("sink", rec.clone(), 2)
        .grouping_stream("split", "even", Grouping::Shuffle)
        .grouping_stream("split", "odd", Grouping::Fields(Fields::new(["n"])));
    LocalCluster::run(b.build().unwrap()).unwrap();
    let seen = rec.seen();
    assert_eq!(seen.len(), 1000);
    for s in seen {
        let n = s.values[0].as_i64().unwrap();
        assert_eq!(s.source_stream, if n % 2 == 0 { "even" } else { "odd" });
        assert_eq!(s.source_component, "split");
    }
}

/// `n` and the global tasks `delivered_to` said it went to.
type Delivered = (i64, Vec<usize>);

/// Passes `n` on, recording where `delivered_to` said each went.
#[derive(Clone, Default)]
struct ReportingRelay(Arc<Mutex<Vec<Delivered>>>);

impl Bolt for ReportingRelay {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["n"]));
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        let n = t.get_i64("n")?;
        let tasks = c.delivered_to(|c| c.emit(vec![Value::Int(n)]))?;
        self.0.lock().unwrap().push((n, tasks));
        Ok(())
    }
}

#[test]
fn delivered_to_names_the_global_tasks_each_tuple_went_to() {
    for grouping in ["shuffle", "fields", "all", "chained"] {
        let relay = ReportingRelay::default();
        let rec = RecordingBolt::new();
        let mut b = TopologyBuilder::new("t");
        b.set_spout("src", VecSpout::new(Fields::new(["n"]), ints(0..300)), 3);
        b.set_bolt("relay", relay.clone(), 3).local_or_shuffle_grouping("src");
        let sink = b.set_bolt("sink", rec.clone(), 3);
        match grouping {
            "shuffle" => sink.shuffle_grouping("relay"),
            "fields" => sink.fields_grouping("relay", Fields::new(["n"])),
            "all" => sink.all_grouping("relay"),
            _ => sink.forward_grouping("relay"),
        };
        LocalCluster::run(b.build().unwrap()).unwrap();
        let mut reported: BTreeMap<i64, BTreeSet<usize>> = BTreeMap::new();
        for (n, tasks) in relay.0.lock().unwrap().iter() {
            reported.entry(*n).or_default().extend(tasks);
        }
        let mut seen: BTreeMap<i64, BTreeSet<usize>> = BTreeMap::new();
        for s in rec.seen() {
            seen.entry(s.values[0].as_i64().unwrap()).or_default().insert(s.task);
        }
        assert_eq!(reported, seen, "{grouping}");
        let copies = if grouping == "all" { 3 } else { 1 };
        assert!(seen.values().all(|t| t.len() == copies), "{grouping}");
    }
}
