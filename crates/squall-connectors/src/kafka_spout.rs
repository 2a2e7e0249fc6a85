//! [`KafkaSpout`]: reads Kafka topics, its partitions spread over the
//! spout's tasks, its offsets kept in Squall's checkpoints (exactly-once).
//!
//! Owns partition assignment, the start position, decoding into tuples (via
//! [`Format`]), bad records to the error stream and consumer lag. As Flink's
//! `KafkaSource`, it assigns partitions itself (no group rebalance): the
//! sorted (topic, partition) list is dealt round robin over the tasks, and a
//! restore seeks each partition to the offset the checkpoint recorded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::Deserialize;
use squall::state::OperatorState;
use squall::topology::{OutputDeclarer, DEFAULT_STREAM};
use squall::{Error, OutputCollector, Result, Spout, SpoutStatus, TopologyContext, Value};

use crate::decode::Format;

/// The stream undecodable records go to, with fields
/// `(topic, partition, offset, reason)`.
pub const ERRORS_STREAM: &str = "errors";

/// Records polled per `next_tuple` call at most.
const RECORDS_PER_CALL: usize = 64;
/// How long the client may take to answer metadata and offset requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the lag gauge is refreshed (a broker round trip).
const LAG_EVERY: Duration = Duration::from_secs(1);

/// Where a partition without a checkpointed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// The oldest retained record.
    Earliest,
    /// Only records produced after the spout opens.
    Latest,
    /// The consumer group's committed offsets (earliest where none).
    GroupOffsets,
    /// The first record with a timestamp at or after this (ms since the
    /// epoch).
    Timestamp(i64),
}

/// What a [`KafkaSpout`] reads and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSpoutOptions {
    /// `host:port,...` of the brokers.
    pub brokers: String,
    /// The topics read (every partition of each).
    pub topics: Vec<String>,
    /// The consumer group: offsets are committed to it on checkpoint
    /// completion, for monitoring (Squall's checkpoint is what restores).
    #[serde(default)]
    pub group_id: Option<String>,
    /// Where partitions start when no checkpoint says (default earliest).
    #[serde(default = "earliest")]
    pub start_from: StartFrom,
    /// How record values become tuples (default `{type: lines}`).
    #[serde(default = "lines")]
    pub format: Format,
    /// Bounded: each task finishes once its partitions reach the end
    /// offsets they had when it opened (Flink's `setBounded(latest)`).
    #[serde(default)]
    pub bounded: bool,
    /// Extra librdkafka properties (`session.timeout.ms`, security, ...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn earliest() -> StartFrom {
    StartFrom::Earliest
}
fn lines() -> Format {
    Format::Lines
}

impl KafkaSpoutOptions {
    /// Options reading `topics` from `brokers` from the earliest offsets, as
    /// UTF-8 lines, unbounded.
    pub fn new(brokers: impl Into<String>, topics: &[&str]) -> Self {
        KafkaSpoutOptions {
            brokers: brokers.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            group_id: None,
            start_from: StartFrom::Earliest,
            format: Format::Lines,
            bounded: false,
            properties: BTreeMap::new(),
        }
    }
}

/// Consumer lag of a spout component (records), summed over its tasks'
/// partitions: high watermark minus the next offset to read. Shared by every
/// clone of the spout, so the handle taken before the run sees all tasks.
#[derive(Debug, Clone, Default)]
pub struct ConsumerLag(Arc<Mutex<LagInner>>);

#[derive(Debug, Default)]
struct LagInner {
    by_partition: BTreeMap<(String, i32), i64>,
    peak: i64,
}

impl ConsumerLag {
    /// The total lag (records) over the partitions reported so far.
    pub fn total(&self) -> i64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).by_partition.values().sum()
    }

    /// The highest total lag seen (records).
    pub fn peak(&self) -> i64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).peak
    }

    /// The lag of each (topic, partition).
    pub fn by_partition(&self) -> BTreeMap<(String, i32), i64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).by_partition.clone()
    }

    fn set(&self, topic: &str, partition: i32, lag: i64) {
        let mut inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        inner.by_partition.insert((topic.to_string(), partition), lag);
        inner.peak = inner.peak.max(inner.by_partition.values().sum());
    }
}

/// Per task, once open.
struct Open {
    consumer: BaseConsumer,
    /// Next offset to read per (topic, partition) of this task.
    next: BTreeMap<(String, i32), i64>,
    /// End offsets when bounded.
    end: Option<BTreeMap<(String, i32), i64>>,
    offsets: OperatorState<Vec<(String, i32, i64)>>,
    last_lag: Instant,
}

/// Emits the decoded records of Kafka topics on the default stream (fields
/// of [`Format::fields`]), bad ones on [`ERRORS_STREAM`].
///
/// Offsets are operator state taken at each barrier and restored in `open`,
/// so with `guarantee: exactly_once` every record counts once in the state
/// and transactional sinks downstream. Restores need the same parallelism
/// (partitions are dealt by task index).
///
/// # Examples
/// ```no_run
/// use squall_connectors::{KafkaSpout, KafkaSpoutOptions};
/// let spout = KafkaSpout::new(KafkaSpoutOptions::new("127.0.0.1:9092", &["lines"]));
/// ```
pub struct KafkaSpout {
    options: KafkaSpoutOptions,
    lag: ConsumerLag,
    open: Option<Open>,
}

impl Clone for KafkaSpout {
    fn clone(&self) -> Self {
        KafkaSpout { options: self.options.clone(), lag: self.lag.clone(), open: None }
    }
}

impl KafkaSpout {
    /// A spout reading as `options` say.
    pub fn new(options: KafkaSpoutOptions) -> Self {
        KafkaSpout { options, lag: ConsumerLag::default(), open: None }
    }

    /// The consumer-lag gauge of this spout's tasks.
    pub fn lag(&self) -> ConsumerLag {
        self.lag.clone()
    }

    fn client_config(&self, task: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        let group = self.options.group_id.clone().unwrap_or_else(|| format!("squall-{task}"));
        config
            .set("bootstrap.servers", &self.options.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("session.timeout.ms", "6000")
            .set("max.poll.interval.ms", "6000");
        for (k, v) in &self.options.properties {
            config.set(k, v);
        }
        config
    }

    fn refresh_lag(&self, open: &mut Open) {
        open.last_lag = Instant::now();
        for ((topic, partition), next) in &open.next {
            if let Ok((_, high)) =
                open.consumer.fetch_watermarks(topic, *partition, Duration::from_secs(5))
            {
                self.lag.set(topic, *partition, (high - next).max(0));
            }
        }
    }
}

fn kafka_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::config(format!("kafka spout: {what}: {e}"))
}

impl Spout for KafkaSpout {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(self.options.format.fields());
        declarer.declare_stream(
            ERRORS_STREAM,
            squall::Fields::new(["topic", "partition", "offset", "reason"]),
        );
    }

    /// Finds this task's partitions, seeks them to the checkpointed offsets
    /// or the start position, and reads the end offsets when bounded.
    ///
    /// # Errors
    /// [`Error::Config`] naming the broker or topic when metadata cannot be
    /// read within 30 s, a topic does not exist, or the consumer cannot be
    /// made.
    fn open(&mut self, context: &TopologyContext) -> Result<()> {
        let task = format!("{}-{}", context.topology_name(), context.component_id());
        let consumer: BaseConsumer =
            self.client_config(&task).create().map_err(|e| kafka_error("consumer", e))?;
        let mut all = Vec::new();
        for topic in &self.options.topics {
            let metadata = consumer.fetch_metadata(Some(topic), REQUEST_TIMEOUT).map_err(|e| {
                kafka_error(&format!("metadata of {topic} from {}", self.options.brokers), e)
            })?;
            let t = &metadata.topics()[0];
            if t.error().is_some() || t.partitions().is_empty() {
                return Err(kafka_error(&format!("topic {topic}"), "does not exist"));
            }
            all.extend(t.partitions().iter().map(|p| (topic.clone(), p.id())));
        }
        all.sort();
        let (i, n) = (context.task_index(), context.parallelism());
        let mine: Vec<(String, i32)> =
            all.into_iter().enumerate().filter(|(k, _)| k % n == i).map(|(_, p)| p).collect();

        let offsets = context.operator_state::<Vec<(String, i32, i64)>>("kafka-offsets");
        let restored: BTreeMap<(String, i32), i64> =
            offsets.get()?.unwrap_or_default().into_iter().map(|(t, p, o)| ((t, p), o)).collect();
        let mut assignment = TopicPartitionList::new();
        for (topic, partition) in &mine {
            let offset = match (restored.get(&(topic.clone(), *partition)), self.options.start_from)
            {
                (Some(&o), _) => Offset::Offset(o),
                (None, StartFrom::Earliest) => Offset::Beginning,
                (None, StartFrom::Latest) => Offset::End,
                (None, StartFrom::GroupOffsets) => Offset::Stored,
                (None, StartFrom::Timestamp(_)) => Offset::Beginning,
            };
            assignment
                .add_partition_offset(topic, *partition, offset)
                .map_err(|e| kafka_error("assignment", e))?;
        }
        if let (StartFrom::Timestamp(ts), true) = (self.options.start_from, restored.is_empty()) {
            let mut query = TopicPartitionList::new();
            for (topic, partition) in &mine {
                query.add_partition_offset(topic, *partition, Offset::Offset(ts)).ok();
            }
            assignment = consumer
                .offsets_for_times(query, REQUEST_TIMEOUT)
                .map_err(|e| kafka_error("offsets for timestamp", e))?;
        }
        // Resolve every start position to a number, so that positions and
        // lag are known before the first record.
        let mut next = BTreeMap::new();
        for elem in assignment.elements() {
            let (low, high) = consumer
                .fetch_watermarks(elem.topic(), elem.partition(), REQUEST_TIMEOUT)
                .map_err(|e| {
                    kafka_error(&format!("offsets of {}/{}", elem.topic(), elem.partition()), e)
                })?;
            let at = match elem.offset() {
                Offset::Offset(o) => o,
                Offset::End => high,
                Offset::Stored => {
                    let committed = consumer
                        .committed_offsets(
                            {
                                let mut l = TopicPartitionList::new();
                                l.add_partition(elem.topic(), elem.partition());
                                l
                            },
                            REQUEST_TIMEOUT,
                        )
                        .map_err(|e| kafka_error("group offsets", e))?;
                    match committed.elements().first().map(|e| e.offset()) {
                        Some(Offset::Offset(o)) => o,
                        _ => low,
                    }
                }
                _ => low,
            };
            next.insert((elem.topic().to_string(), elem.partition()), at);
        }
        let mut seek = TopicPartitionList::new();
        for ((topic, partition), at) in &next {
            seek.add_partition_offset(topic, *partition, Offset::Offset(*at))
                .map_err(|e| kafka_error("assignment", e))?;
        }
        consumer.assign(&seek).map_err(|e| kafka_error("assign", e))?;
        let end = if self.options.bounded {
            let mut end = BTreeMap::new();
            for (topic, partition) in next.keys() {
                let (_, high) = consumer
                    .fetch_watermarks(topic, *partition, REQUEST_TIMEOUT)
                    .map_err(|e| kafka_error("end offsets", e))?;
                end.insert((topic.clone(), *partition), high);
            }
            Some(end)
        } else {
            None
        };
        let mut open = Open { consumer, next, end, offsets, last_lag: Instant::now() };
        self.refresh_lag(&mut open);
        self.open = Some(open);
        Ok(())
    }

    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        let format = self.options.format.clone();
        let mut open = self.open.take().expect("opened");
        let result = (|| {
            if let Some(end) = &open.end {
                if end.iter().all(|(tp, e)| open.next.get(tp).is_some_and(|n| n >= e)) {
                    self.refresh_lag(&mut open);
                    return Ok(SpoutStatus::Finished);
                }
            }
            let mut read = 0;
            while read < RECORDS_PER_CALL {
                let timeout = if read == 0 { Duration::from_millis(10) } else { Duration::ZERO };
                let Some(message) = open.consumer.poll(timeout) else { break };
                let message = message.map_err(|e| kafka_error("poll", e))?;
                read += 1;
                let (topic, partition, offset) =
                    (message.topic().to_string(), message.partition(), message.offset());
                if open.end.as_ref().is_some_and(|end| {
                    end.get(&(topic.clone(), partition)).is_some_and(|e| offset >= *e)
                }) {
                    continue; // past the bound: left for a later run
                }
                match format.decode(message.payload()) {
                    Ok(rows) => {
                        for row in rows {
                            collector.emit_to(DEFAULT_STREAM, row)?;
                        }
                    }
                    Err(reason) => collector.emit_to(
                        ERRORS_STREAM,
                        vec![
                            Value::String(topic.clone()),
                            Value::Int(partition.into()),
                            Value::Int(offset),
                            Value::String(reason),
                        ],
                    )?,
                }
                open.next.insert((topic, partition), offset + 1);
            }
            if open.last_lag.elapsed() >= LAG_EVERY {
                self.refresh_lag(&mut open);
            }
            Ok(if read == 0 { SpoutStatus::Idle } else { SpoutStatus::Active })
        })();
        self.open = Some(open);
        result
    }

    /// Records the next offset of each partition of this task.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        let Some(open) = &self.open else { return Ok(()) };
        let list: Vec<_> = open.next.iter().map(|((t, p), o)| (t.clone(), *p, *o)).collect();
        open.offsets.set(&list)
    }

    /// Commits the checkpointed offsets to the consumer group (monitoring
    /// only; a failure is logged, not fatal).
    fn on_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        let (Some(open), Some(_)) = (&self.open, &self.options.group_id) else { return Ok(()) };
        let list: Vec<(String, i32, i64)> = open.offsets.get()?.unwrap_or_default();
        let mut tpl = TopicPartitionList::new();
        for (t, p, o) in &list {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o)).ok();
        }
        if let Err(e) = open.consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!("kafka spout: committing group offsets failed: {e}");
        }
        Ok(())
    }
}
