//! [`KafkaSinkBolt`]: writes tuples to a Kafka topic, at-least-once (flush
//! on every barrier) or exactly-once (one Kafka transaction per checkpoint,
//! committed when the checkpoint completes).
//!
//! Owns the record layout (key and partition from tuple fields, value as a
//! JSON object of the tuple's fields or one field's bytes/text) and the
//! transaction life cycle. The protocol is Flink's `KafkaSink` with
//! `DeliveryGuarantee.EXACTLY_ONCE`: records between barrier n-1 and n go
//! into transaction n, flushed (pre-committed) on barrier n and committed
//! on the completion of checkpoint n. Each task has a stable
//! `transactional.id` (`<prefix>-<task index>`), so a restarted task's
//! `init_transactions` fences its predecessor and aborts its open
//! transaction.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, NoCustomPartitioner, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::{ClientConfig, ClientContext};
use serde::Deserialize;
use squall::checkpoint::END_OF_RUN;
use squall::{Bolt, Error, OutputCollector, Result, TopologyContext, Tuple, Value};

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
    /// `squall-<topology>-<component>`. Must be stable across restarts and
    /// unique per sink.
    #[serde(default)]
    pub transactional_id_prefix: Option<String>,
    /// Extra librdkafka properties.
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

/// Remembers the first failed delivery, so that a flush can report it.
#[derive(Clone, Default)]
struct DeliveryErrors(Arc<Mutex<Option<String>>>);

impl ClientContext for DeliveryErrors {}

impl ProducerContext for DeliveryErrors {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e.to_string());
        }
    }
}

/// Per task, once prepared.
struct Open {
    producer: ThreadedProducer<DeliveryErrors, NoCustomPartitioner>,
    errors: DeliveryErrors,
    /// Exactly-once: a transaction is open.
    in_transaction: bool,
    /// Exactly-once: transaction n is pre-committed and waits for the
    /// completion of checkpoint n.
    pre_committed: Option<u64>,
    /// Exactly-once: records that arrived while a transaction waited for
    /// its commit (librdkafka has one transaction per producer); written
    /// into the next transaction when it begins.
    held: Vec<Tuple>,
}

/// Writes every input tuple as one Kafka record. See the module docs for
/// the guarantees.
///
/// Exactly-once limit: librdkafka cannot resume a pre-committed transaction
/// in a new producer (Flink does it by reflection on the Java client), so a
/// failure after checkpoint n completes and before this task commits it
/// aborts transaction n on restart: its records are lost. The window is the
/// delivery of the completion notification.
pub struct KafkaSinkBolt {
    options: KafkaSinkOptions,
    open: Option<Open>,
}

impl Clone for KafkaSinkBolt {
    fn clone(&self) -> Self {
        KafkaSinkBolt { options: self.options.clone(), open: None }
    }
}

fn kafka_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::config(format!("kafka sink: {what}: {e}"))
}

impl KafkaSinkBolt {
    /// A sink writing as `options` say.
    pub fn new(options: KafkaSinkOptions) -> Self {
        KafkaSinkBolt { options, open: None }
    }

    fn exactly_once(&self) -> bool {
        self.options.delivery == Delivery::ExactlyOnce
    }

    fn send(&self, open: &Open, input: &Tuple) -> Result<()> {
        let key = match &self.options.key_field {
            Some(f) => Some(text(input.get_by_field(f)?)),
            None => None,
        };
        let value = match &self.options.value_field {
            Some(f) => match input.get_by_field(f)? {
                Value::Bytes(b) => b.clone(),
                v => text(v).into_bytes(),
            },
            None => json_object(input.fields().names(), input.values()),
        };
        let mut record = BaseRecord::to(&self.options.topic).payload(&value);
        if let Some(k) = &key {
            record = record.key(k.as_str());
        }
        if let Some(f) = &self.options.partition_field {
            record = record.partition(input.get_i64(f)? as i32);
        }
        let mut record = record;
        loop {
            match open.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    r,
                )) => {
                    // librdkafka's queue is full: wait for deliveries.
                    blocking(|| open.producer.flush(Duration::from_millis(100))).ok();
                    record = r;
                }
                Err((e, _)) => return Err(kafka_error("send", e)),
            }
        }
    }

    fn check_deliveries(open: &Open) -> Result<()> {
        match open.errors.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(kafka_error("delivery failed", e)),
            None => Ok(()),
        }
    }

    /// Flushes, and with exactly-once marks the transaction pre-committed.
    fn pre_commit(&mut self, checkpoint_id: u64) -> Result<()> {
        if self.open.as_ref().is_some_and(|o| o.pre_committed.is_some()) {
            return Ok(()); // nothing was written since: records are held
        }
        let exactly_once = self.exactly_once();
        let Some(open) = self.open.as_mut() else { return Ok(()) };
        blocking(|| open.producer.flush(TIMEOUT)).map_err(|e| kafka_error("flush", e))?;
        Self::check_deliveries(open)?;
        if exactly_once && open.in_transaction {
            open.in_transaction = false;
            open.pre_committed = Some(checkpoint_id);
        }
        Ok(())
    }

    /// Begins a transaction and writes the held records into it.
    fn begin(&mut self) -> Result<()> {
        let open = self.open.as_mut().expect("prepared");
        open.producer.begin_transaction().map_err(|e| kafka_error("begin transaction", e))?;
        open.in_transaction = true;
        let held = std::mem::take(&mut open.held);
        let open = self.open.as_ref().expect("prepared");
        for t in &held {
            self.send(open, t)?;
        }
        Ok(())
    }
}

impl Bolt for KafkaSinkBolt {
    /// Makes the producer; with exactly-once, `init_transactions` fences
    /// the task's predecessor and aborts its open transaction.
    ///
    /// # Errors
    /// [`Error::Config`] naming the broker when the producer cannot be made
    /// or transactions cannot be initialised within 60 s.
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.options.brokers);
        if self.exactly_once() {
            let prefix = self.options.transactional_id_prefix.clone().unwrap_or_else(|| {
                format!("squall-{}-{}", context.topology_name(), context.component_id())
            });
            config
                .set("transactional.id", format!("{prefix}-{}", context.task_index()))
                .set("transaction.timeout.ms", "60000");
        } else {
            config.set("enable.idempotence", "true");
        }
        for (k, v) in &self.options.properties {
            config.set(k, v);
        }
        let errors = DeliveryErrors::default();
        let producer: ThreadedProducer<DeliveryErrors, NoCustomPartitioner> = config
            .create_with_context(errors.clone())
            .map_err(|e| kafka_error(&format!("producer for {}", self.options.brokers), e))?;
        if self.exactly_once() {
            blocking(|| producer.init_transactions(TIMEOUT)).map_err(|e| {
                kafka_error(&format!("init transactions on {}", self.options.brokers), e)
            })?;
        }
        self.open = Some(Open {
            producer,
            errors,
            in_transaction: false,
            pre_committed: None,
            held: Vec::new(),
        });
        if self.exactly_once() {
            self.begin()?;
        }
        Ok(())
    }

    fn execute(&mut self, input: Tuple, _collector: &mut OutputCollector) -> Result<()> {
        let open = self.open.as_mut().expect("prepared");
        if self.options.delivery == Delivery::ExactlyOnce && !open.in_transaction {
            open.held.push(input);
            return Ok(());
        }
        let open = self.open.as_ref().expect("prepared");
        self.send(open, &input)
    }

    /// Pre-commits the open transaction for `checkpoint_id`.
    ///
    /// # Errors
    /// A failed flush or delivery; with exactly-once also when the previous
    /// checkpoint never completed (aborted) and records wait for its
    /// commit: they cannot be made part of this checkpoint, so it is
    /// declined and the topology restarts from the last completed one.
    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<()> {
        if let Some(open) = &self.open {
            if let Some(n) = open.pre_committed.filter(|_| !open.held.is_empty()) {
                return Err(kafka_error(
                    &format!("checkpoint {checkpoint_id}"),
                    format!("the transaction of checkpoint {n} is still uncommitted"),
                ));
            }
        }
        self.pre_commit(checkpoint_id)
    }

    /// Commits the transaction of `checkpoint_id` (or an earlier one) and
    /// begins the next; at the end of the run also writes and commits what
    /// is left.
    fn on_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        let Some(open) = self.open.as_mut() else { return Ok(()) };
        if open.pre_committed.is_some_and(|n| n <= checkpoint_id) {
            blocking(|| open.producer.commit_transaction(TIMEOUT))
                .map_err(|e| kafka_error(&format!("commit of checkpoint {checkpoint_id}"), e))?;
            open.pre_committed = None;
            self.begin()?;
        }
        if checkpoint_id == END_OF_RUN && self.exactly_once() {
            let open = self.open.as_mut().expect("prepared");
            if open.pre_committed.is_none() {
                blocking(|| open.producer.flush(TIMEOUT)).map_err(|e| kafka_error("flush", e))?;
                Self::check_deliveries(open)?;
                blocking(|| open.producer.commit_transaction(TIMEOUT))
                    .map_err(|e| kafka_error("commit at the end of the run", e))?;
                open.in_transaction = false;
            }
        }
        Ok(())
    }

    /// Flushes every record (at-least-once); with exactly-once the open
    /// transaction is committed by the end-of-run notification.
    fn finish(&mut self, _collector: &mut OutputCollector) -> Result<()> {
        let open = self.open.as_ref().expect("prepared");
        blocking(|| open.producer.flush(TIMEOUT)).map_err(|e| kafka_error("flush", e))?;
        Self::check_deliveries(open)
    }

    /// Aborts the open transaction.
    fn cleanup(&mut self) {
        if let Some(open) = self.open.take() {
            if open.in_transaction {
                blocking(|| open.producer.abort_transaction(TIMEOUT)).ok();
            }
        }
    }
}
