//! [`KafkaSpout`]: reads Kafka topics, its partitions spread over the
//! spout's tasks, its offsets kept in Squall's checkpoints (exactly-once).
//!
//! Owns the start position, decoding into tuples (via [`Format`]), bad
//! records to the error stream, consumer lag and event time. As Flink's
//! `KafkaSource`, it assigns partitions itself (no group rebalance): the
//! topics named or matching a pattern are looked up again every
//! `partition_discovery_ms`, each partition read by the task
//! [`crate::kafka_partitions`] deals it to (new ones from their earliest
//! offset), and a restore seeks each partition to the offset the checkpoint
//! recorded. With a `watermark` strategy the records' Kafka timestamps are
//! their event time, with watermarks per partition
//! ([`crate::kafka_watermarks`]).
//!
//! Files: this one holds the options and the spout's hooks; [`open`] opens
//! a task, [`read`] reads records.

mod acks;
mod open;
mod read;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Deserialize;
use squall::state::OperatorListState;
use squall::time::WatermarkStrategy;
use squall::topology::{MessageId, OutputDeclarer};
use squall::{Error, OutputCollector, Result, Spout, SpoutStatus, TopologyContext};

use crate::blocking::blocking;
use crate::decode::Format;
use crate::kafka_partitions::{owner, Subscription};
use crate::kafka_watermarks::PartitionWatermarks;
use acks::Acks;

/// The stream undecodable records go to, with fields
/// `(topic, partition, offset, reason)`.
pub const ERRORS_STREAM: &str = "errors";

/// Records polled per `next_tuple` call at most.
const RECORDS_PER_CALL: usize = 64;
/// How long the client may take to answer metadata and offset requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an at-least-once task commits its acked offsets to the group.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// How often the lag gauge is refreshed (a broker round trip).
const LAG_EVERY: Duration = Duration::from_secs(1);
/// The consumer-lag gauge of each partition a task reads (records: the
/// partition's high watermark minus the next offset to read), registered
/// through the task's metrics: exported as
/// `squall_user_kafka_consumer_lag_records{topic, partition}`, as Flink's
/// `records-lag` per partition.
pub const LAG_GAUGE: &str = "kafka_consumer_lag_records";
/// The field that carries a record's Kafka timestamp (ms) when the spout
/// has a `watermark` strategy: the core's, which the `csv` spout and the
/// `window` bolt use.
pub use squall::builtins::EVENT_TIME_FIELD;

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
    #[serde(default)]
    pub topics: Vec<String>,
    /// Also every topic whose whole name matches this regular expression
    /// (`regex` crate syntax), as found at each discovery.
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// How often (ms) an unbounded spout looks for new partitions and, with
    /// a pattern, new topics; 0 turns discovery off (default 30 000; a
    /// bounded spout never looks again).
    #[serde(default = "discovery_ms")]
    pub partition_discovery_ms: u64,
    /// Event time from the records' Kafka timestamps, with watermarks per
    /// partition by this strategy; tuples get an `event_time` field.
    #[serde(default)]
    pub watermark: Option<WatermarkStrategy>,
    /// With `watermark`: a partition without a record for this long (ms)
    /// stops holding the task's watermark back.
    #[serde(default)]
    pub idle_partition_ms: Option<u64>,
    /// The consumer group (default `squall-<topology>-<component>`):
    /// exactly-once commits the checkpointed offsets to it on checkpoint
    /// completion, for monitoring (Squall's checkpoint is what restores);
    /// at-least-once commits the acked prefix of each partition.
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
fn discovery_ms() -> u64 {
    30_000
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
            topic_pattern: None,
            partition_discovery_ms: discovery_ms(),
            watermark: None,
            idle_partition_ms: None,
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

impl KafkaSpoutOptions {
    /// Checks the options without a broker: what the spout reads, the
    /// pattern, the format (an Avro schema), the idleness setting.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting.
    pub fn validate(&self) -> Result<()> {
        Subscription::new(&self.topics, self.topic_pattern.as_deref())?;
        self.format.validate().map_err(|e| Error::config(format!("kafka spout: format: {e}")))?;
        if self.idle_partition_ms.is_some() && self.watermark.is_none() {
            return Err(Error::config("kafka spout: idle_partition_ms needs a watermark strategy"));
        }
        Ok(())
    }

    /// The fields of the default stream.
    fn fields(&self) -> squall::Fields {
        let mut names = self.format.fields().names().to_vec();
        if self.watermark.is_some() {
            names.push(EVENT_TIME_FIELD.to_string());
        }
        squall::Fields::new(names)
    }
}

/// A partition's position as checkpointed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
struct PartitionPosition {
    topic: String,
    partition: i32,
    /// The next offset to read.
    next: i64,
    /// The highest record timestamp (ms) seen, with a watermark strategy:
    /// the partition's watermark generator starts from it after a restore.
    max_event_time: Option<i64>,
}

/// Per task, once open.
struct Open {
    consumer: BaseConsumer,
    subscription: Subscription,
    /// This task's index and the spout's parallelism.
    task: (usize, usize),
    /// When partitions were last looked for; `None` without discovery.
    discovered: Option<Instant>,
    watermarks: Option<PartitionWatermarks>,
    /// Next offset to read per (topic, partition) of this task.
    next: BTreeMap<(String, i32), i64>,
    /// End offsets when bounded.
    end: Option<BTreeMap<(String, i32), i64>>,
    /// Every partition's position, union state: after a rescale each task
    /// gets every position and keeps those of the partitions it owns.
    positions: OperatorListState<PartitionPosition>,
    /// The positions of the last snapshot, committed to the group when a
    /// checkpoint completes (exactly-once).
    snapshot: Vec<PartitionPosition>,
    last_lag: Instant,
    /// The task's metrics, where the lag of each partition is a gauge.
    metrics: squall::runtime::TaskMetricGroup,
    /// At-least-once (tuples tracked): message ids, replays, and the
    /// offsets that may be committed.
    acks: Option<Acks>,
    /// When acked offsets were last committed.
    last_commit: Instant,
}

impl Open {
    /// Commits to the consumer group, per partition, the offset before
    /// which every record is acked (at-least-once). A failure is logged:
    /// the next commit carries the offsets too.
    fn commit_acked(&self, mode: CommitMode) {
        let Some(acks) = &self.acks else { return };
        let mut tpl = TopicPartitionList::new();
        for (tp, next) in &self.next {
            tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(acks.committable(tp, *next))).ok();
        }
        if let Err(e) = self.consumer.commit(&tpl, mode) {
            tracing::warn!("kafka spout: committing acked offsets failed: {e}");
        }
    }
}

/// Emits the decoded records of Kafka topics on the default stream (fields
/// of [`Format::fields`]), bad ones on [`ERRORS_STREAM`].
///
/// Offsets are operator state taken at each barrier and restored in `open`,
/// so with `guarantee: exactly_once` every record counts once in the state
/// and transactional sinks downstream.
///
/// With `guarantee: at_least_once` every tuple carries a message id (Storm's
/// `KafkaSpout`): a failed or timed-out tuple is emitted again (its values
/// kept in memory, so at most `max_spout_pending` per task), and every
/// second and when the task closes, each partition's offset is committed to
/// the consumer group only up to its oldest record with a tuple not yet
/// acked. Start from `group_offsets` to resume there after a restart.
///
/// Positions are union operator state, so a restore at another
/// parallelism (from a savepoint or checkpoint) gives each partition's
/// position to the task that owns it now; each partition's highest event
/// time is checkpointed too, so its watermark does not go back.
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
            .set("max.poll.interval.ms", "6000")
            // librdkafka's 500 ms default: a task reading several partitions
            // of Apache Kafka got ~40 records/s (3 partitions, 3000 records:
            // 75 s; 50 ms: 0.5 s).
            .set("fetch.wait.max.ms", "50")
            // librdkafka's 1000 ms default: once a partition's local queue
            // passed `queued.min.messages` (100 000), its next fetch waited
            // a second; a bounded read of 400 000 records (4 partitions) ran
            // at 0.09x a plain consumer loop, 0.38x with 10 ms.
            .set("fetch.queue.backoff.ms", "10");
        for (k, v) in &self.options.properties {
            config.set(k, v);
        }
        config
    }

    /// Reads each partition's high watermark: the lag (records) is kept in
    /// [`ConsumerLag`] and exported as the gauge [`LAG_GAUGE`] of the task's
    /// metrics, labelled `topic` and `partition` besides `topology`,
    /// `component` and `task`.
    fn refresh_lag(&self, open: &mut Open) {
        open.last_lag = Instant::now();
        for ((topic, partition), next) in &open.next {
            if let Ok((_, high)) =
                open.consumer.fetch_watermarks(topic, *partition, Duration::from_secs(5))
            {
                let lag = (high - next).max(0);
                self.lag.set(topic, *partition, lag);
                let labelled = open.metrics.clone().with_label("topic", topic);
                let labelled = labelled.with_label("partition", &partition.to_string());
                labelled.gauge(LAG_GAUGE).set(lag as f64);
            }
        }
    }
}

impl KafkaSpout {
    /// Reads the partitions dealt to this task that it does not read yet,
    /// from their earliest offset (as Flink reads partitions it discovers).
    /// A failed look is logged and tried again at the next interval.
    ///
    /// # Errors
    /// [`Error::Config`] if the consumer cannot be assigned the partitions.
    fn discover(&self, open: &mut Open) -> Result<()> {
        open.discovered = Some(Instant::now());
        let (i, n) = open.task;
        let found = match open.subscription.discover(
            &open.consumer,
            &self.options.brokers,
            REQUEST_TIMEOUT,
        ) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!("kafka spout: partition discovery failed, trying later: {e}");
                return Ok(());
            }
        };
        let new: Vec<(String, i32)> = found
            .into_iter()
            .filter(|(t, p)| owner(t, *p, n) == i && !open.next.contains_key(&(t.clone(), *p)))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        for (topic, partition) in &new {
            let (low, _) = open
                .consumer
                .fetch_watermarks(topic, *partition, REQUEST_TIMEOUT)
                .map_err(|e| kafka_error(&format!("offsets of {topic}/{partition}"), e))?;
            open.next.insert((topic.clone(), *partition), low);
            if let Some(w) = open.watermarks.as_mut() {
                w.add(topic, *partition);
            }
        }
        // A new assignment: every partition from the next offset to emit.
        let mut all = TopicPartitionList::new();
        for ((topic, partition), at) in &open.next {
            all.add_partition_offset(topic, *partition, Offset::Offset(*at))
                .map_err(|e| kafka_error("assignment", e))?;
        }
        open.consumer.assign(&all).map_err(|e| kafka_error("assign", e))?;
        tracing::info!(task = i, partitions = ?new, "kafka spout: reading newly found partitions");
        Ok(())
    }
}

fn kafka_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::config(format!("kafka spout: {what}: {e}"))
}

impl Spout for KafkaSpout {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(self.options.fields());
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
        blocking(|| self.open_blocking(context))
    }

    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        self.next_tuple_blocking(collector)
    }

    /// At-least-once: the tuple's record may count as done.
    fn ack(&mut self, msg_id: MessageId) {
        if let Some(acks) = self.open.as_mut().and_then(|o| o.acks.as_mut()) {
            acks.ack(msg_id);
        }
    }

    /// At-least-once: the tuple is emitted again.
    fn fail(&mut self, msg_id: MessageId) {
        if let Some(acks) = self.open.as_mut().and_then(|o| o.acks.as_mut()) {
            acks.fail(msg_id);
        }
    }

    /// At-least-once: commits the acked offsets (waiting for the broker).
    fn close(&mut self) {
        if let Some(open) = &self.open {
            let t = Instant::now();
            blocking(|| open.commit_acked(CommitMode::Sync));
            tracing::debug!(took = ?t.elapsed(), "kafka spout: acked offsets committed at close");
        }
    }

    /// Records the position of each partition of this task (and its
    /// highest event time, with a watermark strategy).
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        let Some(open) = self.open.as_mut() else { return Ok(()) };
        open.snapshot = open
            .next
            .iter()
            .map(|((topic, partition), next)| PartitionPosition {
                topic: topic.clone(),
                partition: *partition,
                next: *next,
                max_event_time: open
                    .watermarks
                    .as_ref()
                    .and_then(|w| w.max_event_time(&(topic.clone(), *partition))),
            })
            .collect();
        open.positions.update(&open.snapshot)
    }

    /// Commits the checkpointed offsets to the consumer group (monitoring
    /// only; a failure is logged, not fatal).
    fn on_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        let (Some(open), Some(_)) = (&self.open, &self.options.group_id) else { return Ok(()) };
        let mut tpl = TopicPartitionList::new();
        for p in &open.snapshot {
            tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.next)).ok();
        }
        if let Err(e) = open.consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!("kafka spout: committing group offsets failed: {e}");
        }
        Ok(())
    }
}
