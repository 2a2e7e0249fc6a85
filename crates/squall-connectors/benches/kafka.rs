//! Kafka connector throughput against a local broker (Apache Kafka with
//! `KAFKA_LIB` set, else tansu in-memory; same machine): records/s written by the Kafka sink bolt and
//! read by the Kafka spout, each next to a plain rdkafka loop doing the
//! same on the same broker (the reference), as a ratio.
//!
//! Modes, each a child process (so that its peak memory is its own),
//! median of `--runs` (default 3), alternating:
//! - `produce-plain`: a `ThreadedProducer` loop (idempotent, as the sink's
//!   at-least-once) sending N Shakespeare lines, then `flush`.
//! - `produce-squall`: a generator spout of the same lines -> Kafka sink
//!   bolt (`at_least_once`, value = the line), parallelism 1.
//! - `consume-plain`: a `BaseConsumer` assigned every partition from the
//!   beginning (read_committed and the fetch settings of the spout),
//!   polling until each partition reaches the end offset it had at start
//!   (as the bounded spout; on Apache Kafka all N records; on tansu that
//!   end is the last batch's base offset + 1, so both read somewhat fewer
//!   than N records, the same number).
//! - `consume-squall`: the Kafka spout (bounded, raw bytes, parallelism 1)
//!   -> a bolt that drops them.
//!
//! Run: `KAFKA_LIB=$(bash scripts/fetch-kafka.sh) cargo bench -p
//! squall-connectors --bench kafka -- [--records N] [--runs R]` (or
//! `TANSU_BIN=$(bash scripts/fetch-tansu.sh)` without `KAFKA_LIB`).
//! The plain and Squall runs of each mode alternate (plain first in odd
//! runs, Squall first in even ones); each side's median run is reported.
//! Latency is not measured here: the broker's request round trips, not
//! Squall, set it.

use squall_test_support::bench;
use squall_test_support::kafka as support;

use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use squall::builtins::GeneratorSpout;
use squall::{Bolt, LocalCluster, OutputCollector, TopologyBuilder, Tuple};
use squall_connectors::{Format, KafkaSinkBolt, KafkaSinkOptions, KafkaSpout, KafkaSpoutOptions};

const PARTITIONS: i32 = 4;

/// Drops its inputs.
#[derive(Clone)]
struct Drop;

impl Bolt for Drop {
    fn execute(&mut self, _: Tuple, _: &mut OutputCollector) -> squall::Result<()> {
        Ok(())
    }
}

/// The lines of the first 4 plays (non-empty), cycled to `n`.
fn lines(n: usize) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/shakespeare");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the corpus: run scripts/fetch-corpus.sh")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let all: Vec<String> = files
        .iter()
        .take(4)
        .flat_map(|f| {
            let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
            text.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect::<Vec<_>>()
        })
        .collect();
    all.iter().cycle().take(n).cloned().collect()
}

fn producer(brokers: &str) -> ThreadedProducer<rdkafka::producer::DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .create()
        .unwrap()
}

fn produce_plain(brokers: &str, topic: &str, n: usize) {
    let lines = lines(n);
    let start = Instant::now();
    let p = producer(brokers);
    for l in &lines {
        let mut record = BaseRecord::<(), str>::to(topic).payload(l.as_str());
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    p.flush(Duration::from_millis(100)).ok();
                    record = r;
                }
            }
        }
    }
    p.flush(Duration::from_secs(120)).unwrap();
    bench::child_report(n as u64, start.elapsed().as_secs_f64(), "");
}

fn produce_squall(brokers: &str, topic: &str, n: usize) {
    let lines = lines(n.min(50_000));
    let mut b = TopologyBuilder::new("bench-kafka-sink");
    b.set_spout("lines", GeneratorSpout::sentences(0).with_lines(lines).with_limit(n as u64), 1);
    let mut sink = KafkaSinkOptions::new(brokers, topic);
    sink.value_field = Some("line".into());
    b.set_bolt("sink", KafkaSinkBolt::new(sink), 1).shuffle_grouping("lines");
    let start = Instant::now();
    let summary = LocalCluster::run(b.build().unwrap()).unwrap();
    let secs = start.elapsed().as_secs_f64();
    bench::child_report(summary.metrics.sink_executed(), secs, "");
}

fn consume_plain(brokers: &str, topic: &str) {
    let start = Instant::now();
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-plain")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("session.timeout.ms", "6000")
        // The spout's fetch settings: with librdkafka's 1000 ms
        // `fetch.queue.backoff.ms` this loop too waited a second whenever a
        // partition's queue passed 100 000 records.
        .set("fetch.wait.max.ms", "50")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .unwrap();
    // As the bounded spout: each partition up to the end offset it has now.
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in 0..PARTITIONS {
        let (_, high) = c.fetch_watermarks(topic, p, Duration::from_secs(30)).unwrap();
        ends.push(high);
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut next = vec![0i64; PARTITIONS as usize];
    let (mut read, mut bytes) = (0u64, 0usize);
    let deadline = Instant::now() + Duration::from_secs(600);
    while next.iter().zip(&ends).any(|(n, e)| n < e) {
        assert!(Instant::now() < deadline, "read {read}, at {next:?} of {ends:?}");
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            let p = m.partition() as usize;
            if m.offset() >= ends[p] {
                continue; // past the end seen at start, as the spout
            }
            next[p] = m.offset() + 1;
            bytes += m.payload().map_or(0, <[u8]>::len);
            read += 1;
        }
    }
    bench::child_report(read, start.elapsed().as_secs_f64(), &bytes.to_string());
}

fn consume_squall(brokers: &str, topic: &str) {
    let mut o = KafkaSpoutOptions::new(brokers, &[topic]);
    o.bounded = true;
    o.format = Format::Raw;
    // Extra librdkafka properties for the spout, `k=v,k=v` (experiments).
    for kv in std::env::var("KAFKA_SPOUT_PROPERTIES").unwrap_or_default().split(',') {
        if let Some((k, v)) = kv.split_once('=') {
            o.properties.insert(k.into(), v.into());
        }
    }
    let spout = KafkaSpout::new(o);
    let lag = spout.lag();
    let mut b = TopologyBuilder::new("bench-kafka-spout");
    b.set_spout("in", spout, 1);
    b.set_bolt("drop", Drop, 1).shuffle_grouping("in");
    let start = Instant::now();
    let running = LocalCluster::submit(b.build().unwrap()).unwrap();
    // A watchdog: a spout that never reaches its end offsets says where it is.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(120));
        eprintln!("kafka spout stuck after 120 s; lag by partition: {:?}", lag.by_partition());
        std::process::exit(2);
    });
    let summary = running.join().unwrap();
    let secs = start.elapsed().as_secs_f64();
    bench::child_report(summary.metrics.spout_emitted(), secs, "");
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode, brokers, topic, n] if mode.ends_with("-plain") || mode.ends_with("-squall") => {
            let n: usize = n.parse()?;
            match mode.as_str() {
                "produce-plain" => produce_plain(brokers, topic, n),
                "produce-squall" => produce_squall(brokers, topic, n),
                "consume-plain" => consume_plain(brokers, topic),
                _ => consume_squall(brokers, topic),
            }
            Ok(())
        }
        _ => parent(&args),
    }
}

/// Starts the broker and runs every mode as a child.
fn parent(args: &[String]) -> anyhow::Result<()> {
    let n = arg(args, "--records", 200_000);
    let runs = arg(args, "--runs", 3);
    let b = support::broker::start();
    for t in ["source", "plain-out", "squall-out"] {
        support::create_topic(&b.brokers, t, PARTITIONS);
    }
    let child = |mode: &str, topic: &str| -> anyhow::Result<bench::Measurement> {
        let a = [mode, &b.brokers, topic, &n.to_string()].map(String::from);
        bench::measure(&a, 1)
    };
    // `runs` alternating runs of the plain loop and Squall; the median of each.
    let alternate = |plain: (&str, &str), squall: (&str, &str)| -> anyhow::Result<_> {
        let (mut p, mut q) = (Vec::new(), Vec::new());
        for i in 0..runs.max(1) {
            if i % 2 == 0 {
                p.push(child(plain.0, plain.1)?);
                q.push(child(squall.0, squall.1)?);
            } else {
                q.push(child(squall.0, squall.1)?);
                p.push(child(plain.0, plain.1)?);
            }
        }
        let median = |mut v: Vec<bench::Measurement>| {
            v.sort_by(|a, b| a.secs.total_cmp(&b.secs));
            v.swap_remove(v.len() / 2)
        };
        Ok((median(p), median(q)))
    };
    // The source topic the consumers read: written once by a plain producer.
    let filled = bench::measure(
        &["produce-plain", &b.brokers, "source", &n.to_string()].map(String::from),
        1,
    )?;
    anyhow::ensure!(filled.records == n as u64);
    let broker = match b.kind {
        support::broker::Kind::Apache => "Apache Kafka (one KRaft node)",
        support::broker::Kind::Tansu => "tansu (in-memory)",
    };
    println!("{broker} on 127.0.0.1, {n} records of Shakespeare lines, {PARTITIONS} partitions, median of {runs}");
    println!(
        "{:<26} {:>10} {:>12} {:>10} {:>10}",
        "mode", "records", "records/s", "vs plain", "peak MB"
    );
    for (what, plain, squall) in [
        ("write", ("produce-plain", "plain-out"), ("produce-squall", "squall-out")),
        ("read", ("consume-plain", "source"), ("consume-squall", "source")),
    ] {
        let (plain, squall) = alternate(plain, squall)?;
        let plain_rate = plain.records as f64 / plain.secs;
        for (name, m) in [("rdkafka loop", &plain), ("squall", &squall)] {
            let rate = m.records as f64 / m.secs;
            println!(
                "{:<26} {:>10} {:>12.0} {:>9.2}x {:>10.1}",
                format!("{what}: {name}"),
                m.records,
                rate,
                rate / plain_rate,
                m.peak_rss as f64 / 1e6
            );
        }
    }
    Ok(())
}
