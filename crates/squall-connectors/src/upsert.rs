//! [`UpsertBolt`]: the bolt behind the Redis and PostgreSQL sinks. It turns
//! each input tuple into a keyed [`Row`], keeps the latest row per key in a
//! batch, and writes the batch to an [`UpsertStore`] when it is full, on
//! every checkpoint barrier, every `flush_interval_ms` and at the end;
//! writes are retried with [`Backoff`] while the server is unreachable.
//!
//! Why replays do not duplicate: a store applies rows as upserts (the
//! row's key decides where it goes, a later write overwrites), so writing
//! again after a restore what was written before the failure changes
//! nothing once the replay has caught up. With `guarantee: exactly_once`
//! the batch is flushed on every barrier, so when checkpoint n completes
//! the store holds everything before it, and a restore from n replays the
//! rest in order: the final contents are exactly those of a run without
//! failure. The input must be fields-grouped on the key fields (as Flink's
//! upsert sinks are keyed), so that one task writes each key in order.

use std::collections::HashMap;
use std::time::Duration;

use squall::{Bolt, Error, OutputCollector, Result, TopologyContext, Tuple, Value};

use crate::decode::value_text;
use crate::retry::{Backoff, ConnectorStats, Failure};

/// One record for the store: the key fields' values and the value fields'
/// values, in the order of [`Columns`].
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Values of the key fields.
    pub key: Vec<Value>,
    /// Values of the value fields.
    pub values: Vec<Value>,
    /// Whether the row deletes its key (a `-D` row of a changelog, see
    /// [`Batching::op_field`]) instead of writing it.
    pub deleted: bool,
}

/// The field names of every [`Row`] of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// Key field names (at least one).
    pub key: Vec<String>,
    /// Value field names.
    pub values: Vec<String>,
}

/// A server that applies rows as idempotent upserts.
pub trait UpsertStore: Clone + Send + Sync + 'static {
    /// `redis sink at redis://…`: for logs and errors.
    fn describe(&self) -> String;

    /// Writes `rows` (at most one per key) so that each key's record
    /// becomes the row's values; connects first if needed. On failure the
    /// store drops its connection, so that the next attempt reconnects.
    ///
    /// # Errors
    /// The server's message, for the log: [`Failure::Unreachable`] is
    /// retried, [`Failure::Refused`] fails the task.
    fn upsert(&mut self, columns: &Columns, rows: &[Row]) -> std::result::Result<(), Failure>;

    /// Checks rows that the server would refuse whatever its state (a
    /// value type it cannot hold), before anything is buffered.
    ///
    /// # Errors
    /// What is wrong with the row.
    fn check(&self, _columns: &Columns, _row: &Row) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// How an [`UpsertBolt`] batches and retries; part of each sink's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Batching {
    /// Key fields of the input tuples.
    pub key_fields: Vec<String>,
    /// Value fields; `None`: every field that is not a key field.
    pub value_fields: Option<Vec<String>>,
    /// Rows (distinct keys) per write. Default 500.
    pub batch_size: usize,
    /// Longest time rows wait in the batch, ms (also without checkpoints).
    /// Default 1 000.
    pub flush_interval_ms: u64,
    /// The field holding each row's kind in a changelog (Flink's row kinds,
    /// as a SQL updating result has them: `+I`, `+U` write the row, `-D`
    /// deletes its key, `-U` is skipped: the `+U` after it replaces it).
    /// `None`: every row is written.
    pub op_field: Option<String>,
    /// Retries while the server is unreachable.
    pub retry: Backoff,
}

/// Default batch size, rows.
pub(crate) fn default_batch_size() -> usize {
    500
}

/// Default flush interval, ms.
pub(crate) fn default_flush_interval_ms() -> u64 {
    1_000
}

/// Writes its inputs to an [`UpsertStore`]; see the module docs.
#[derive(Debug, Clone)]
pub struct UpsertBolt<S> {
    store: S,
    batching: Batching,
    stats: ConnectorStats,
    /// The first input's field names and the columns taken from them.
    columns: Option<(Vec<String>, Columns)>,
    /// Position in `rows` of each key's latest row, by key text.
    index: HashMap<String, usize>,
    rows: Vec<Row>,
    /// `<component>[<task>]`, for logs.
    name: String,
}

impl<S: UpsertStore> UpsertBolt<S> {
    /// A sink writing to `store` as `batching` says.
    ///
    /// # Errors
    /// [`Error::Config`] when no key field is given, the batch size is 0,
    /// or a field is both key and value.
    pub fn new(store: S, batching: Batching) -> Result<Self> {
        let what = store.describe();
        if batching.key_fields.is_empty() {
            return Err(Error::config(format!("{what}: key_fields must name at least one field")));
        }
        if batching.batch_size == 0 {
            return Err(Error::config(format!("{what}: batch_size must be at least 1")));
        }
        if let Some(both) =
            batching.value_fields.iter().flatten().find(|f| batching.key_fields.contains(f))
        {
            return Err(Error::config(format!("{what}: field '{both}' is both key and value")));
        }
        Ok(UpsertBolt {
            store,
            batching,
            stats: ConnectorStats::default(),
            columns: None,
            index: HashMap::new(),
            rows: Vec::new(),
            name: String::new(),
        })
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The counters of rows written and retries, shared by every task.
    pub fn stats(&self) -> ConnectorStats {
        self.stats.clone()
    }

    /// The columns of `input`'s stream.
    fn columns_of(&self, input: &Tuple) -> Result<Columns> {
        let names = input.fields().names();
        let values = match &self.batching.value_fields {
            Some(v) => v.clone(),
            None => {
                let op = self.batching.op_field.as_ref();
                names
                    .iter()
                    .filter(|n| !self.batching.key_fields.contains(n) && Some(*n) != op)
                    .cloned()
                    .collect()
            }
        };
        let columns = Columns { key: self.batching.key_fields.clone(), values };
        for f in columns.key.iter().chain(&columns.values) {
            if !names.contains(f) {
                return Err(Error::config(format!(
                    "{}: input from '{}' has no field '{f}' (fields: {})",
                    self.store.describe(),
                    input.source_component(),
                    names.join(", ")
                )));
            }
        }
        Ok(columns)
    }

    fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let columns = self.columns.clone().expect("rows come with columns").1;
        let what = format!("{} ({})", self.store.describe(), self.name);
        let (store, rows) = (&mut self.store, &self.rows);
        self.batching.retry.run(&what, &self.stats, || store.upsert(&columns, rows))?;
        self.stats.add_written(self.rows.len() as u64);
        self.rows.clear();
        self.index.clear();
        Ok(())
    }
}

impl<S: UpsertStore> Bolt for UpsertBolt<S> {
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        self.name = format!("{}[{}]", context.component_id(), context.task_index());
        Ok(())
    }

    /// Adds the input's row to the batch (replacing an earlier row of the
    /// same key) and writes the batch when it is full.
    ///
    /// # Errors
    /// [`Error::Config`] when the input lacks a key or value field, or its
    /// stream's fields differ from the first input's; the store's refusal
    /// of the row; a write that failed for `give_up_after_ms`.
    fn execute(&mut self, input: Tuple, _collector: &mut OutputCollector) -> Result<()> {
        let columns = match &self.columns {
            Some((names, c)) if names == input.fields().names() => c.clone(),
            Some((_, c)) => {
                // Another input stream: it must give the same columns.
                let other = self.columns_of(&input)?;
                if &other != c {
                    return Err(Error::config(format!(
                        "{}: inputs with different fields (from '{}': {})",
                        self.store.describe(),
                        input.source_component(),
                        input.fields().names().join(", ")
                    )));
                }
                other
            }
            None => {
                let c = self.columns_of(&input)?;
                self.columns = Some((input.fields().names().to_vec(), c.clone()));
                c
            }
        };
        let pick = |names: &[String]| -> Result<Vec<Value>> {
            names.iter().map(|f| input.get_by_field(f).cloned()).collect()
        };
        let deleted = match &self.batching.op_field {
            None => false,
            Some(f) => match input.get_str(f)? {
                "+I" | "+U" => false,
                "-D" => true,
                "-U" => return Ok(()),
                other => {
                    return Err(Error::config(format!(
                        "{}: field '{f}' holds '{other}', not a row kind (+I, -U, +U, -D)",
                        self.store.describe()
                    )))
                }
            },
        };
        let row = Row { key: pick(&columns.key)?, values: pick(&columns.values)?, deleted };
        self.store
            .check(&columns, &row)
            .map_err(|e| Error::config(format!("{}: {e}", self.store.describe())))?;
        let key: Vec<String> = row.key.iter().map(value_text).collect();
        let key = serde_json::to_string(&key).expect("strings serialize");
        match self.index.get(&key) {
            Some(&i) => self.rows[i] = row,
            None => {
                self.index.insert(key, self.rows.len());
                self.rows.push(row);
            }
        }
        if self.rows.len() >= self.batching.batch_size {
            self.flush()?;
        }
        Ok(())
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.batching.flush_interval_ms.max(1)))
    }

    fn on_tick(&mut self, _now_ms: i64, _collector: &mut OutputCollector) -> Result<()> {
        self.flush()
    }

    /// Writes the batch: the store holds every input before the barrier.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        self.flush()
    }

    fn finish(&mut self, _collector: &mut OutputCollector) -> Result<()> {
        self.flush()
    }
}
