//! The Redis sink against a real `redis-server` started by the test on a
//! free loopback port: exactly-once word count over Shakespeare with the
//! counting task killed three times, after which the hash holds exactly
//! the reference counts; and a run that starts before the server, whose
//! writes are retried (counted) until it comes up.
#![cfg(feature = "server-tests")]

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use squall::builtins::registry::bolt_factory;
use squall::builtins::{GeneratorSpout, SplitWordsBolt, StatefulCountBolt};
use squall::{Fields, LocalCluster, TopologyBuilder};
use squall_connectors::{RedisSink, RedisSinkOptions};

fn hash(port: u16, name: &str) -> HashMap<String, i64> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).unwrap();
    let mut c = client.get_connection().unwrap();
    let all: HashMap<String, String> = redis::cmd("HGETALL").arg(name).query(&mut c).unwrap();
    all.into_iter().map(|(k, v)| (k, v.parse().unwrap())).collect()
}

fn options(port: u16) -> RedisSinkOptions {
    let mut o = RedisSinkOptions::new(format!("redis://127.0.0.1:{port}/0"), &["word"]);
    o.hash = Some("counts".into());
    o.value_field = Some("count".into());
    o.batch_size = 200;
    o
}

#[test]
fn killed_word_count_leaves_exactly_the_reference_counts_in_a_hash() {
    let server = support::redis_on(support::free_port());
    let (input, counts) = support::plays(8);
    let total: i64 = counts.values().sum();
    let sink = RedisSink::bolt(options(server.port)).unwrap();
    let stats = sink.stats();
    support::killed_word_count(input.path(), total, bolt_factory(sink));
    let got = hash(server.port, "counts");
    assert_eq!(got.len(), counts.len(), "distinct words");
    assert!(got == counts, "the hash differs from the reference counts");
    // Replays rewrite some keys: at least one write per word.
    assert!(stats.records() >= counts.len() as u64, "{} writes", stats.records());
}

#[test]
fn writes_retry_until_the_server_comes_up() {
    let port = support::free_port();
    let mut o = options(port);
    o.hash = None;
    o.key_prefix = "wc:".into();
    o.retry.max_ms = 200;
    let sink = RedisSink::bolt(o).unwrap();
    let stats = sink.stats();
    let lines: Vec<String> =
        ["to be or not to be", "that is the question", "to sleep perchance to dream"]
            .map(String::from)
            .to_vec();
    let mut reference = HashMap::new();
    for _ in 0..50 {
        for l in &lines {
            support::count_words(l, &mut reference);
        }
    }
    let mut b = TopologyBuilder::new("redis-retry");
    b.set_spout("lines", GeneratorSpout::sentences(0).with_lines(lines).with_limit(150), 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 1)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", sink, 1).fields_grouping("count", Fields::new(["word"]));
    let topology = b.build().unwrap();
    let run = std::thread::spawn(move || LocalCluster::run(topology));
    // The sink cannot write: wait until it has retried twice.
    let deadline = Instant::now() + Duration::from_secs(120);
    while stats.retries() < 2 {
        assert!(Instant::now() < deadline, "no retry within 120 s");
        assert!(!run.is_finished(), "the run ended without the server: {:?}", run.join());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(stats.last_error().is_some());
    let server = support::redis_on(port);
    run.join().unwrap().unwrap();
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/0", server.port)).unwrap();
    let mut c = client.get_connection().unwrap();
    let mut got = HashMap::new();
    for word in reference.keys() {
        let v: i64 = redis::cmd("GET").arg(format!("wc:{word}")).query(&mut c).unwrap();
        got.insert(word.clone(), v);
    }
    assert_eq!(got, reference);
}
