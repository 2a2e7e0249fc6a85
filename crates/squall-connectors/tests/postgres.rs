//! The PostgreSQL sink against a real server (a throwaway cluster made by
//! `initdb` and started by the test on a free loopback port): exactly-once
//! word count over Shakespeare with the counting task killed three times,
//! after which the table holds exactly the reference counts; a missing
//! table, which fails the run at once with the server's reason instead of
//! retrying; and a database nobody serves, retried with backoff (counted)
//! until the sink gives up naming it.
#![cfg(feature = "server-tests")]

mod support;

use std::collections::HashMap;

use squall::builtins::registry::bolt_factory;
use squall::builtins::{GeneratorSpout, SplitWordsBolt, StatefulCountBolt};
use squall::{Fields, LocalCluster, TopologyBuilder};
use squall_connectors::{PostgresSink, PostgresSinkOptions};

#[test]
fn killed_word_count_leaves_exactly_the_reference_counts_in_a_table() {
    let pg = support::postgres();
    let mut client = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    client
        .batch_execute(
            "CREATE SCHEMA wc; CREATE TABLE wc.counts (word text PRIMARY KEY, count int4 NOT NULL)",
        )
        .unwrap();
    let (input, counts) = support::plays(8);
    let total: i64 = counts.values().sum();
    let mut options = PostgresSinkOptions::new(pg.url(), "wc.counts", &["word"]);
    options.batch_size = 300;
    let sink = PostgresSink::bolt(options).unwrap();
    let stats = sink.stats();
    support::killed_word_count(input.path(), total, bolt_factory(sink));
    let got: HashMap<String, i64> = client
        .query("SELECT word, count FROM wc.counts", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i32>(1) as i64))
        .collect();
    assert_eq!(got.len(), counts.len(), "distinct words");
    assert!(got == counts, "the table differs from the reference counts");
    assert!(stats.flushes() > 1, "{} flushes", stats.flushes());
}

#[test]
fn a_missing_table_fails_the_run_with_the_server_reason() {
    let pg = support::postgres();
    let sink =
        PostgresSink::bolt(PostgresSinkOptions::new(pg.url(), "nowhere", &["word"])).unwrap();
    let stats = sink.stats();
    let mut b = TopologyBuilder::new("pg-missing-table");
    b.set_spout("lines", GeneratorSpout::sentences(0).with_limit(20), 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 1)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", sink, 1).fields_grouping("count", Fields::new(["word"]));
    let error = LocalCluster::run(b.build().unwrap()).unwrap_err().to_string();
    assert!(error.contains("postgres sink into nowhere") && error.contains("42P01"), "{error}");
    assert_eq!(stats.retries(), 0, "a refusal is not retried");
}

#[test]
fn an_unreachable_database_is_retried_then_the_run_fails_naming_it() {
    // Nothing listens on this port: every connect is refused.
    let url = format!("host=127.0.0.1 port={} user=postgres", support::free_port());
    let mut options = PostgresSinkOptions::new(url, "counts", &["word"]);
    options.retry.initial_ms = 10;
    options.retry.max_ms = 50;
    options.retry.give_up_after_ms = 1_000;
    let sink = PostgresSink::bolt(options).unwrap();
    let stats = sink.stats();
    let mut b = TopologyBuilder::new("pg-unreachable");
    b.set_spout("lines", GeneratorSpout::sentences(0).with_limit(20), 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 1)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", sink, 1).fields_grouping("count", Fields::new(["word"]));
    let error = LocalCluster::run(b.build().unwrap()).unwrap_err().to_string();
    assert!(error.contains("postgres sink into counts") && error.contains("gave up"), "{error}");
    assert!(stats.retries() >= 3, "{} retries", stats.retries());
    assert!(stats.last_error().is_some_and(|e| e.contains("connect")), "{:?}", stats.last_error());
}
