//! [`KafkaSinkBolt`]: writes tuples to a Kafka topic, at-least-once (flush
//! on every barrier) or exactly-once (one Kafka transaction per checkpoint,
//! committed when the checkpoint completes).
//!
//! Owns the record layout (key and partition from tuple fields, value as a
//! JSON object of the tuple's fields or one field's bytes/text) and the
//! transaction life cycle. The protocol is Flink's `KafkaSink` with
//! `DeliveryGuarantee.EXACTLY_ONCE`: records between barrier n-1 and n go
//! into transaction n, flushed (pre-committed) on barrier n, written into
//! checkpoint n with its producer id and epoch, and committed on the
//! completion of checkpoint n, or, if the task fails first, by the task
//! that restarts from checkpoint n ([`transaction`]).

mod transaction;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde::Deserialize;
use squall::checkpoint::END_OF_RUN;
use squall::state::OperatorState;
use squall::{Bolt, Error, OutputCollector, Result, TopologyContext, Tuple, Value};

use transaction::{DeliveryErrors, KafkaProducer, PreCommitted, Txn, SLOTS};

use crate::blocking::blocking;
use crate::decode::{json_object, value_text as text};

/// How long a flush, transaction call or broker request may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The sink's delivery guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Every record is flushed (acknowledged by the broker) at each barrier
    /// and at the end; a replay after a failure writes some records again.
    AtLeastOnce,
    /// A transaction per checkpoint: readers with `read_committed` see each
    /// record once.
    ExactlyOnce,
}

/// What a [`KafkaSinkBolt`] writes and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkOptions {
    /// `host:port,...` of the brokers.
    pub brokers: String,
    /// The topic written.
    pub topic: String,
    /// The field whose value (as text) is the record key; none: no key.
    #[serde(default)]
    pub key_field: Option<String>,
    /// The int field naming the partition; none: by key (or librdkafka's
    /// sticky partitioner without a key).
    #[serde(default)]
    pub partition_field: Option<String>,
    /// The field whose value is the record value (bytes as they are,
    /// anything else as text); none: the whole tuple as a JSON object.
    #[serde(default)]
    pub value_field: Option<String>,
    /// Default at-least-once.
    #[serde(default = "at_least_once")]
    pub delivery: Delivery,
    /// Prefix of the tasks' `transactional.id`s (exactly-once); default
    /// `squall-<topology>-<component>`; task i uses
    /// `<prefix>-<i>-<slot>` for slots 0 to 3. Must be stable across
    /// restarts and unique per sink.
    #[serde(default)]
    pub transactional_id_prefix: Option<String>,
    /// Extra librdkafka properties (exactly-once: `transaction.timeout.ms`
    /// is 900 000 unless set here; it must exceed the longest restart, or
    /// the broker aborts a pre-committed transaction before the restarted
    /// task commits it).
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, String>,
}

fn at_least_once() -> Delivery {
    Delivery::AtLeastOnce
}

impl KafkaSinkOptions {
    /// At-least-once to `topic`, no key, the tuple as JSON.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSinkOptions {
            brokers: brokers.into(),
            topic: topic.into(),
            key_field: None,
            partition_field: None,
            value_field: None,
            delivery: Delivery::AtLeastOnce,
            transactional_id_prefix: None,
            properties: Default::default(),
        }
    }
}

/// Per task, once prepared.
enum Open {
    /// At-least-once: one idempotent producer for the run.
    AtLeastOnce { producer: KafkaProducer, errors: DeliveryErrors },
    /// Exactly-once: a transaction per checkpoint.
    ExactlyOnce(Box<Transactions>),
}

/// An exactly-once task's transactions.
struct Transactions {
    /// The producer settings, without `transactional.id`.
    config: ClientConfig,
    /// `<transactional id prefix>-<task index>`.
    prefix: String,
    /// The transaction records go into; made at the first record after a
    /// barrier.
    current: Option<Txn>,
    /// Flushed on a barrier, waiting for that checkpoint's completion,
    /// oldest first.
    pre_committed: Vec<Txn>,
    /// The checkpointed list of `pre_committed`.
    state: OperatorState<Vec<PreCommitted>>,
    /// The slot the next transaction tries first (slots rotate).
    next_slot: usize,
    /// Whether the broker's failure to describe a transaction was logged.
    warned: bool,
}

impl Transactions {
    /// A slot that no pre-committed transaction holds, rotating.
    fn free_slot(&mut self) -> Result<usize> {
        for k in 0..SLOTS {
            let slot = (self.next_slot + k) % SLOTS;
            if !self.pre_committed.iter().any(|t| t.id.slot == slot) {
                self.next_slot = (slot + 1) % SLOTS;
                return Ok(slot);
            }
        }
        Err(kafka_error(
            "begin transaction",
            format!("{SLOTS} transactions wait for their checkpoints to complete"),
        ))
    }

    /// The open transaction, begun if there is none.
    fn current(&mut self, brokers: &str) -> Result<&Txn> {
        if self.current.is_none() {
            let slot = self.free_slot()?;
            self.current =
                Some(Txn::begin(&self.config, brokers, &self.prefix, slot, &mut self.warned)?);
        }
        Ok(self.current.as_ref().expect("just made"))
    }

    /// Commits every pre-committed transaction of a checkpoint up to `id`
    /// (a later checkpoint's completion covers an aborted earlier one).
    fn commit_up_to(&mut self, id: u64) -> Result<()> {
        while self.pre_committed.first().is_some_and(|t| t.id.checkpoint <= id) {
            let t = self.pre_committed.remove(0);
            t.commit()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let list: Vec<PreCommitted> = self.pre_committed.iter().map(|t| t.id.clone()).collect();
        self.state.set(&list)
    }
}

/// The transactions pre-committed in restored checkpoints, counted over
/// every task and restart of a sink (shared by its clones).
#[derive(Debug, Clone, Default)]
pub struct RecoveredTransactions(Arc<[AtomicU64; 2]>);

impl RecoveredTransactions {
    /// Those still open at the restart, which the restarted tasks committed
    /// (`EndTxn` with the checkpointed producer id and epoch).
    pub fn resumed(&self) -> u64 {
        self.0[0].load(Ordering::SeqCst)
    }

    /// Those the failed tasks had committed already.
    pub fn already_committed(&self) -> u64 {
        self.0[1].load(Ordering::SeqCst)
    }
}

/// Writes every input tuple as one Kafka record. See the module docs for
/// the guarantees.
///
/// # Examples
/// ```no_run
/// use squall_connectors::{Delivery, KafkaSinkBolt, KafkaSinkOptions};
/// let mut options = KafkaSinkOptions::new("127.0.0.1:9092", "counts");
/// options.delivery = Delivery::ExactlyOnce;
/// let sink = KafkaSinkBolt::new(options);
/// ```
pub struct KafkaSinkBolt {
    options: KafkaSinkOptions,
    recovered: RecoveredTransactions,
    open: Option<Open>,
}

impl Clone for KafkaSinkBolt {
    fn clone(&self) -> Self {
        KafkaSinkBolt {
            options: self.options.clone(),
            recovered: self.recovered.clone(),
            open: None,
        }
    }
}

fn kafka_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::config(format!("kafka sink: {what}: {e}"))
}

impl KafkaSinkBolt {
    /// A sink writing as `options` say.
    pub fn new(options: KafkaSinkOptions) -> Self {
        KafkaSinkBolt { options, recovered: RecoveredTransactions::default(), open: None }
    }

    /// The count of transactions restarted tasks committed for their
    /// predecessors.
    pub fn recovered(&self) -> RecoveredTransactions {
        self.recovered.clone()
    }

    /// Sends `input` as one record through `producer`.
    fn send(options: &KafkaSinkOptions, producer: &KafkaProducer, input: &Tuple) -> Result<()> {
        let key = match &options.key_field {
            Some(f) => Some(text(input.get_by_field(f)?)),
            None => None,
        };
        let value = match &options.value_field {
            Some(f) => match input.get_by_field(f)? {
                Value::Bytes(b) => b.clone(),
                v => text(v).into_bytes(),
            },
            None => json_object(input.fields().names(), input.values()),
        };
        let mut record = BaseRecord::to(&options.topic).payload(&value);
        if let Some(k) = &key {
            record = record.key(k.as_str());
        }
        if let Some(f) = &options.partition_field {
            record = record.partition(input.get_i64(f)? as i32);
        }
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    r,
                )) => {
                    // librdkafka's queue is full: wait for deliveries.
                    blocking(|| producer.flush(Duration::from_millis(100))).ok();
                    record = r;
                }
                Err((e, _)) => return Err(kafka_error("send", e)),
            }
        }
    }

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.options.brokers);
        if self.options.delivery == Delivery::ExactlyOnce {
            config.set("transaction.timeout.ms", "900000");
        } else {
            config.set("enable.idempotence", "true");
        }
        for (k, v) in &self.options.properties {
            config.set(k, v);
        }
        config
    }
}

impl Bolt for KafkaSinkBolt {
    /// Makes the producer. With exactly-once, first finishes what the
    /// task's predecessor left: commits the transactions pre-committed in
    /// the restored checkpoint and aborts the ones opened after it.
    ///
    /// # Errors
    /// [`Error::Config`] naming the broker when the producer cannot be
    /// made, the broker does not answer within 60 s, or it refuses to
    /// commit a restored pre-committed transaction (aborted by its
    /// timeout: its records are lost).
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        let config = self.config();
        if self.options.delivery == Delivery::AtLeastOnce {
            let (producer, errors) = transaction::producer(&config)?;
            self.open = Some(Open::AtLeastOnce { producer, errors });
            return Ok(());
        }
        let prefix = self.options.transactional_id_prefix.clone().unwrap_or_else(|| {
            format!("squall-{}-{}", context.topology_name(), context.component_id())
        });
        let prefix = format!("{prefix}-{}", context.task_index());
        let state = context.operator_state::<Vec<PreCommitted>>("kafka-sink-transactions");
        let restored = state.get()?.unwrap_or_default();
        tracing::debug!(task = context.task_index(), restored = ?restored, "kafka sink: pre-committed transactions restored");
        let done = transaction::recover(&config, &self.options.brokers, &prefix, &restored)?;
        self.recovered.0[0].fetch_add(done.resumed, Ordering::SeqCst);
        self.recovered.0[1].fetch_add(done.already_ended, Ordering::SeqCst);
        state.set(&Vec::new())?;
        self.open = Some(Open::ExactlyOnce(Box::new(Transactions {
            config,
            prefix,
            current: None,
            pre_committed: Vec::new(),
            state,
            next_slot: 0,
            warned: false,
        })));
        Ok(())
    }

    fn execute(&mut self, input: Tuple, _collector: &mut OutputCollector) -> Result<()> {
        match self.open.as_mut().expect("prepared") {
            Open::AtLeastOnce { producer, .. } => Self::send(&self.options, producer, &input),
            Open::ExactlyOnce(t) => {
                let txn = t.current(&self.options.brokers)?;
                Self::send(&self.options, &txn.producer, &input)
            }
        }
    }

    /// Flushes; with exactly-once pre-commits the open transaction for
    /// `checkpoint_id` and writes the pre-committed ones into the
    /// checkpoint.
    ///
    /// # Errors
    /// A failed flush or delivery.
    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<()> {
        match self.open.as_mut() {
            None => Ok(()),
            Some(Open::AtLeastOnce { producer, errors }) => {
                blocking(|| producer.flush(TIMEOUT)).map_err(|e| kafka_error("flush", e))?;
                errors.check()
            }
            Some(Open::ExactlyOnce(t)) => {
                if let Some(mut txn) = t.current.take() {
                    txn.flush()?;
                    txn.id.checkpoint = checkpoint_id;
                    t.pre_committed.push(txn);
                }
                t.save()
            }
        }
    }

    /// Commits the transactions of `checkpoint_id` and earlier; at the end
    /// of the run also the open one.
    ///
    /// # Errors
    /// A failed commit.
    fn on_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        let Some(Open::ExactlyOnce(t)) = self.open.as_mut() else { return Ok(()) };
        t.commit_up_to(checkpoint_id)?;
        if checkpoint_id == END_OF_RUN {
            if let Some(txn) = t.current.take() {
                txn.commit()?;
            }
        }
        Ok(())
    }

    /// Flushes every record (at-least-once); with exactly-once the open
    /// transaction is committed by the end-of-run notification.
    fn finish(&mut self, _collector: &mut OutputCollector) -> Result<()> {
        match self.open.as_ref().expect("prepared") {
            Open::AtLeastOnce { producer, errors } => {
                blocking(|| producer.flush(TIMEOUT)).map_err(|e| kafka_error("flush", e))?;
                errors.check()
            }
            Open::ExactlyOnce(t) => match &t.current {
                Some(txn) => txn.flush(),
                None => Ok(()),
            },
        }
    }

    /// Aborts the open transaction. Pre-committed ones are left as they
    /// are: their checkpoint may have completed, and the restarted task
    /// commits them.
    fn cleanup(&mut self) {
        if let Some(Open::ExactlyOnce(t)) = self.open.take() {
            if let Some(txn) = t.current {
                blocking(|| txn.producer.abort_transaction(TIMEOUT)).ok();
            }
            for txn in t.pre_committed {
                // Dropping a producer sends no EndTxn: the transaction stays
                // open at the coordinator for the restarted task.
                drop(txn);
            }
        }
    }
}
