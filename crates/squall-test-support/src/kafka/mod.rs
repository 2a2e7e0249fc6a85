//! Kafka test helpers shared by every suite that needs a broker: topic
//! creation, a plain producer, committed and end offsets, and a
//! read_committed reader. The broker itself is [`broker`].

pub mod broker;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

pub use broker::Broker;

fn client(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    c
}

/// Creates `topic` with `partitions` partitions.
pub fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = client(brokers).create().unwrap();
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let result = futures::executor::block_on(admin.create_topics([&new], &AdminOptions::new()));
    let result = result.unwrap();
    assert!(result.iter().all(|r| r.is_ok()), "creating {topic}: {result:?}");
}

/// Produces `values` (no key, round robin over partitions) and flushes.
pub fn produce(brokers: &str, topic: &str, values: &[Vec<u8>]) {
    let records = values.iter().map(|v| BaseRecord::to(topic).payload(v.as_slice()));
    send_all(client(brokers).set("partitioner", "random"), records);
}

/// Produces each `(partition, timestamp ms, value)` to that partition with
/// that record timestamp, in order, and flushes.
pub fn produce_at(brokers: &str, topic: &str, records: &[(i32, i64, Vec<u8>)]) {
    let records = records.iter().map(|(partition, ts, v)| {
        BaseRecord::to(topic).partition(*partition).timestamp(*ts).payload(v.as_slice())
    });
    send_all(&mut client(brokers), records);
}

/// Sends `records` one a batch (tansu's end offsets are right only then),
/// waiting while the queue is full, and flushes.
fn send_all<'a>(
    config: &mut ClientConfig,
    records: impl Iterator<Item = BaseRecord<'a, (), [u8]>>,
) {
    let producer: ThreadedProducer<DefaultProducerContext> =
        config.set("linger.ms", "5").set("batch.num.messages", "1").create().unwrap();
    for mut record in records {
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    producer.poll(Duration::from_millis(10));
                    record = r;
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// The offsets of `topic` that consumer group `group` has committed, per
/// partition (partitions without one are left out).
pub fn committed_offsets(brokers: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = client(brokers).set("group.id", group).create().unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30)).unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition(topic, p.id());
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(30)).unwrap();
    committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// The end offset (high watermark) of every partition of `topic`.
pub fn end_offsets(brokers: &str, topic: &str) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = client(brokers).create().unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30)).unwrap();
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            let (_, high) =
                consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(30)).unwrap();
            (p.id(), high)
        })
        .collect()
}

/// Reads the committed records (read_committed) of `topic` from the start
/// until it has `n` of them, while they are being written (the writer is an
/// unbounded topology, whose output commits as its checkpoints complete).
///
/// # Panics
/// When fewer than `n` are committed within `timeout`.
pub fn read_committed_until(
    brokers: &str,
    topic: &str,
    n: usize,
    timeout: Duration,
) -> Vec<Vec<u8>> {
    let consumer: BaseConsumer = client(brokers)
        .set("group.id", "squall-test-reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30)).unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(Instant::now() < deadline, "reading {topic}: {} of {n} committed", out.len());
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            out.push(m.unwrap().payload().unwrap_or_default().to_vec());
        }
    }
    out
}

/// The word-count records `values` (JSON objects `{"word": .., "count":
/// ..}`, as the Kafka sink writes them keyed by word) as sorted `(word,
/// count)` pairs, to compare with every `(word, 1..=n)` of a reference.
///
/// # Panics
/// On a record that is not such an object.
pub fn word_counts_of(values: &[Vec<u8>]) -> Vec<(String, i64)> {
    let mut pairs: Vec<(String, i64)> = values
        .iter()
        .map(|v| {
            let j: serde_json::Value = serde_json::from_slice(v).expect("a JSON record");
            (j["word"].as_str().expect("a word").to_string(), j["count"].as_i64().expect("a count"))
        })
        .collect();
    pairs.sort();
    pairs
}
