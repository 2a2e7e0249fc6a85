//! Backpressure, orderly drain, failures and kill: the runtime's promises.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    ints, CountingSpout, FailingBolt, IdentityBolt, PanickingBolt, RecordingBolt, SlowBolt,
    VecSpout,
};
use squall::{Error, Fields, LocalCluster, TopologyBuilder};

#[test]
fn slow_bolt_holds_the_spout_back_and_bounds_buffered_tuples() {
    let spout = CountingSpout::new();
    let slow = SlowBolt {
        delay: Duration::from_micros(200),
        spout_emitted: spout.emitted.clone(),
        executed: Arc::new(AtomicU64::new(0)),
        max_in_flight: Arc::new(AtomicU64::new(0)),
    };
    let mut b = TopologyBuilder::new("backpressure");
    let batch = 16;
    let capacity = 2;
    b.config_mut().batch_size = batch;
    b.config_mut().channel_capacity = capacity;
    b.config_mut().buffer_timeout_ms = 5;
    b.set_spout("numbers", spout.clone(), 1);
    // A fast middle stage so tuples pass two channels.
    b.set_bolt("pass", IdentityBolt(Fields::new(["n"])), 1).shuffle_grouping("numbers");
    b.set_bolt("slow", slow.clone(), 1).shuffle_grouping("pass");
    let running = LocalCluster::submit(b.build().unwrap()).unwrap();

    // Wait (by polling the bolt's own progress, not by sleeping a guess)
    // until the slow bolt has done 3000 tuples: ~0.6 s of work.
    let start = Instant::now();
    while slow.executed.load(Ordering::SeqCst) < 3000 {
        assert!(start.elapsed() < Duration::from_secs(60), "slow bolt made no progress");
        assert!(!running.is_finished(), "topology stopped early");
        std::thread::yield_now();
    }
    running.kill();
    let summary = running.join().unwrap();
    assert!(summary.killed);

    // Per channel: `capacity` batches queued, one being sent, one buffered
    // at the producer, one being executed. Two channels on the way.
    let bound = 2 * (capacity as u64 + 3) * batch as u64;
    let max = slow.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= bound, "{max} tuples were in flight, bound is {bound}");
    // The spout was held back: unthrottled it emits millions per second.
    let emitted = spout.emitted.load(Ordering::SeqCst);
    let executed = slow.executed.load(Ordering::SeqCst);
    assert!(emitted <= executed + bound + 1, "spout emitted {emitted}, bolt executed {executed}");
    let bp = summary.metrics.component("numbers").unwrap().backpressure;
    assert!(bp > Duration::ZERO, "the spout never waited on a full channel");
}

#[test]
fn bounded_spouts_drain_and_stop_with_nothing_lost() {
    let rec = RecordingBolt::new();
    let mut b = TopologyBuilder::new("drain");
    // A long buffer timeout: only the end-of-input flush can deliver the tail.
    b.config_mut().buffer_timeout_ms = 60_000;
    b.config_mut().batch_size = 100;
    b.set_spout("src", VecSpout::new(Fields::new(["n"]), ints(0..10_007)), 3);
    b.set_bolt("mid", IdentityBolt(Fields::new(["n"])), 2).shuffle_grouping("src");
    b.set_bolt("sink", rec.clone(), 2).fields_grouping("mid", Fields::new(["n"]));
    let start = Instant::now();
    let summary = LocalCluster::run(b.build().unwrap()).unwrap();
    assert!(start.elapsed() < Duration::from_secs(30), "drain waited on the buffer timeout");
    assert!(!summary.killed);
    let mut got: Vec<i64> = rec.seen().iter().map(|s| s.values[0].as_i64().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..10_007).collect::<Vec<_>>());
    let m = &summary.metrics;
    assert_eq!(m.component("src").unwrap().emitted, 10_007);
    assert_eq!(m.component("mid").unwrap().executed, 10_007);
    assert_eq!(m.component("sink").unwrap().executed, 10_007);
    assert_eq!(m.spout_emitted(), 10_007);
    assert_eq!(m.sink_executed(), 10_007);
}

#[test]
fn a_panicking_bolt_ends_the_run_with_an_error_naming_it() {
    for chained in [false, true] {
        let mut b = TopologyBuilder::new("panics");
        b.set_spout("src", CountingSpout::new(), 2);
        let d = b.set_bolt("fragile", PanickingBolt::new(500), 2);
        if chained {
            d.local_or_shuffle_grouping("src");
        } else {
            d.shuffle_grouping("src");
        }
        b.set_bolt("sink", RecordingBolt::new(), 1).shuffle_grouping("src");
        let err = LocalCluster::run(b.build().unwrap()).unwrap_err();
        match &err {
            Error::ComponentPanicked { component, message, .. } => {
                assert_eq!(component, "fragile");
                assert!(message.contains("boom at tuple 500"), "{message}");
            }
            other => panic!("expected a panic error, got {other}"),
        }
        let text = err.to_string();
        assert!(text.contains("'fragile' task"), "{text}");
    }
}

#[test]
fn an_error_in_a_bolt_ends_the_run_naming_component_task_and_field() {
    let mut b = TopologyBuilder::new("errors");
    b.set_spout("src", VecSpout::new(Fields::new(["n"]), ints(0..1000)), 1);
    b.set_bolt("picky", FailingBolt::new(10), 1).shuffle_grouping("src");
    let err = LocalCluster::run(b.build().unwrap()).unwrap_err().to_string();
    assert!(err.contains("'picky' task"), "{err}");
    assert!(err.contains("'no_such_field'"), "{err}");
    assert!(err.contains("'src'"), "the tuple's origin is named: {err}");
}

#[test]
fn a_running_topology_can_be_killed() {
    let rec = RecordingBolt::new();
    let mut b = TopologyBuilder::new("forever");
    b.set_spout("src", CountingSpout::new(), 2);
    b.set_bolt("sink", rec.clone(), 2).shuffle_grouping("src");
    let running = LocalCluster::submit(b.build().unwrap()).unwrap();
    let start = Instant::now();
    while running.metrics().sink_executed() < 10_000 {
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::yield_now();
    }
    assert!(!running.is_finished());
    running.kill();
    let summary = running.join().unwrap();
    assert!(summary.killed);
    assert!(summary.metrics.sink_executed() >= 10_000);
}
