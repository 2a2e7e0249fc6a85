//! One Kafka transaction of an exactly-once [`super::KafkaSinkBolt`] task,
//! and what a restarted task does with the transactions of its
//! predecessor.
//!
//! Each transaction has a producer of its own, made for it and initialised
//! (`init_transactions`) under one of the task's [`SLOTS`] transactional ids
//! `<prefix>-<task>-<slot>`, so each has its own producer epoch. The
//! (transactional id, producer id, epoch) of a pre-committed transaction is
//! written into the checkpoint ([`PreCommitted`]) and names that one
//! transaction and no other: a restarted task commits it with `EndTxn`
//! ([`crate::kafka_txn`]) before anything initialises that id again, and an
//! answer of "stale epoch" means it was ended before (the id was initialised
//! again only after its commit). Then every slot that still has a
//! transaction open (a predecessor's, after the checkpoint) is initialised,
//! which fences the predecessor's producer and aborts it.
//!
//! The one loss left is Flink's too: a pre-committed transaction that the
//! broker aborts because it stayed open longer than `transaction.timeout.ms`
//! (15 min by default here, the broker's usual maximum) before a restart
//! committed it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::producer::{
    DeliveryResult, NoCustomPartitioner, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::{ClientConfig, ClientContext};
use serde::{Deserialize, Serialize};
use squall::Result;

use super::{kafka_error, TIMEOUT};
use crate::blocking::blocking;
use crate::kafka_txn;

/// Transactional ids per task: transactions at most pre-committed and
/// waiting for their checkpoint's completion at once, plus the open one.
pub(crate) const SLOTS: usize = 4;

/// The producer of one transaction (or of the whole run, at-least-once).
pub(crate) type KafkaProducer = ThreadedProducer<DeliveryErrors, NoCustomPartitioner>;

/// Remembers the first failed delivery, so that a flush can report it.
#[derive(Clone, Default)]
pub(crate) struct DeliveryErrors(Arc<Mutex<Option<String>>>);

impl ClientContext for DeliveryErrors {}

impl ProducerContext for DeliveryErrors {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e.to_string());
        }
    }
}

impl DeliveryErrors {
    /// The first failed delivery since the last call, as an error.
    pub(crate) fn check(&self) -> Result<()> {
        match self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(kafka_error("delivery failed", e)),
            None => Ok(()),
        }
    }
}

/// A producer and its delivery errors, made from `config`.
///
/// # Errors
/// [`squall::Error::Config`] when librdkafka refuses the configuration.
pub(crate) fn producer(config: &ClientConfig) -> Result<(KafkaProducer, DeliveryErrors)> {
    let errors = DeliveryErrors::default();
    let producer =
        config.create_with_context(errors.clone()).map_err(|e| kafka_error("producer", e))?;
    Ok((producer, errors))
}

/// A transaction written into a checkpoint: flushed, waiting for the
/// completion of `checkpoint` to be committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PreCommitted {
    /// The checkpoint whose barrier closed it.
    pub checkpoint: u64,
    /// Its slot among the task's transactional ids.
    pub slot: usize,
    /// Its transactional id.
    pub transactional_id: String,
    /// The producer id and epoch that ran it; `-1` when the broker could
    /// not say (no `DescribeTransactions`: tansu): then it cannot be
    /// resumed after a restart.
    pub producer_id: i64,
    /// See `producer_id`.
    pub epoch: i16,
}

/// An exactly-once task's transaction, open or pre-committed.
pub(crate) struct Txn {
    pub producer: KafkaProducer,
    pub errors: DeliveryErrors,
    pub id: PreCommitted,
}

/// The transactional id of `slot` of task `prefix`.
pub(crate) fn transactional_id(prefix: &str, slot: usize) -> String {
    format!("{prefix}-{slot}")
}

impl Txn {
    /// Makes a producer for `slot`, initialises it (fencing and aborting
    /// whatever the id had open), asks its producer id and epoch, and
    /// begins a transaction. A broker that cannot describe transactions is
    /// logged once per `warned` flag.
    ///
    /// # Errors
    /// [`squall::Error::Config`] when the broker does not answer within
    /// 60 s or refuses.
    pub fn begin(
        config: &ClientConfig,
        brokers: &str,
        prefix: &str,
        slot: usize,
        warned: &mut bool,
    ) -> Result<Txn> {
        let tid = transactional_id(prefix, slot);
        let mut config = config.clone();
        config.set("transactional.id", &tid);
        let (producer, errors) = producer(&config)?;
        blocking(|| producer.init_transactions(TIMEOUT))
            .map_err(|e| kafka_error(&format!("init transactions of {tid} on {brokers}"), e))?;
        let (producer_id, epoch) = match blocking(|| kafka_txn::describe(brokers, &tid, TIMEOUT)) {
            Ok(Some(s)) => (s.producer_id, s.epoch),
            Ok(None) => (-1, -1),
            Err(e) => {
                if !std::mem::replace(warned, true) {
                    tracing::warn!(
                    transactional_id = %tid,
                    "kafka sink: cannot describe the transaction ({e}): a failure after its \
                     checkpoint completes and before its commit would lose it"
                    );
                }
                (-1, -1)
            }
        };
        producer.begin_transaction().map_err(|e| kafka_error("begin transaction", e))?;
        Ok(Txn {
            producer,
            errors,
            id: PreCommitted { checkpoint: 0, slot, transactional_id: tid, producer_id, epoch },
        })
    }

    /// Flushes every record and reports failed deliveries.
    ///
    /// # Errors
    /// A flush that times out (60 s) or a failed delivery.
    pub fn flush(&self) -> Result<()> {
        blocking(|| self.producer.flush(TIMEOUT)).map_err(|e| kafka_error("flush", e))?;
        self.errors.check()
    }

    /// Commits (flushing first).
    ///
    /// # Errors
    /// A failed flush or commit, the transactional id named.
    pub fn commit(self) -> Result<()> {
        self.flush()?;
        blocking(|| self.producer.commit_transaction(TIMEOUT)).map_err(|e| {
            kafka_error(
                &format!(
                    "commit of {} (checkpoint {})",
                    self.id.transactional_id, self.id.checkpoint
                ),
                e,
            )
        })
    }
}

/// What a restarted task did with its predecessor's transactions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Pre-committed transactions of the restored checkpoint that were
    /// still open, committed now.
    pub resumed: u64,
    /// Pre-committed transactions of the restored checkpoint that the
    /// predecessor had committed already.
    pub already_ended: u64,
    /// Open transactions after the checkpoint, aborted.
    pub aborted: u64,
}

/// Commits every transaction `restored` lists (pre-committed in the
/// checkpoint the task restarts from), then initialises every slot of the
/// task that still has a transaction open, aborting it.
///
/// # Errors
/// A transaction the broker refuses to commit (aborted by its timeout), or
/// a broker that does not answer within 60 s.
pub(crate) fn recover(
    config: &ClientConfig,
    brokers: &str,
    prefix: &str,
    restored: &[PreCommitted],
) -> Result<Recovered> {
    let mut done = Recovered::default();
    for t in restored {
        if t.producer_id < 0 {
            tracing::warn!(
                transactional_id = %t.transactional_id,
                checkpoint = t.checkpoint,
                "kafka sink: a pre-committed transaction without a producer id cannot be resumed"
            );
            continue;
        }
        // Describe first, only to tell the two cases apart in the counts:
        // EndTxn alone is correct either way.
        let open = match blocking(|| kafka_txn::describe(brokers, &t.transactional_id, TIMEOUT)) {
            Ok(Some(s)) => {
                s.producer_id == t.producer_id
                    && s.epoch == t.epoch
                    && matches!(s.state.as_str(), "Ongoing" | "PrepareCommit")
            }
            _ => false,
        };
        let ended = blocking(|| {
            kafka_txn::end_txn(brokers, &t.transactional_id, t.producer_id, t.epoch, true, TIMEOUT)
        })
        .map_err(|e| {
            kafka_error(
                &format!(
                    "committing the pre-committed transaction of checkpoint {} after a restart",
                    t.checkpoint
                ),
                e,
            )
        })?;
        if open {
            done.resumed += 1;
        } else {
            done.already_ended += 1;
        }
        tracing::info!(
            transactional_id = %t.transactional_id,
            checkpoint = t.checkpoint,
            ?ended,
            was_open = open,
            "kafka sink: committed a transaction pre-committed before the restart"
        );
    }
    for slot in 0..SLOTS {
        let tid = transactional_id(prefix, slot);
        let open = match blocking(|| kafka_txn::describe(brokers, &tid, Duration::from_secs(10))) {
            Ok(Some(s)) => {
                !matches!(s.state.as_str(), "Empty" | "CompleteCommit" | "CompleteAbort" | "Dead")
            }
            Ok(None) => false, // never used
            // No DescribeTransactions (tansu): initialise it to be sure.
            Err(_) => true,
        };
        if open {
            let mut config = config.clone();
            config.set("transactional.id", &tid);
            let (producer, _) = producer(&config)?;
            blocking(|| producer.init_transactions(TIMEOUT))
                .map_err(|e| kafka_error(&format!("init transactions of {tid} on {brokers}"), e))?;
            done.aborted += 1;
        }
    }
    Ok(done)
}
