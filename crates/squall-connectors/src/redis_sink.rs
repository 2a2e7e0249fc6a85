//! [`RedisSink`]: keyed upserts into Redis through the `redis` crate, as
//! `HSET <hash> <key> <value>` (one hash, a field per key: Flink's Redis
//! connector's `HSET` with an additional key) or `SET <prefix><key>
//! <value>` (a string per key). Each batch is one `MULTI`/`EXEC`
//! pipeline. Batching, flushing on barriers and retries are
//! [`UpsertBolt`]'s.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use squall::{Result, Value};

use crate::decode::{json_object, value_text};
use crate::retry::{Backoff, Failure};
use crate::upsert::{
    default_batch_size, default_flush_interval_ms, Batching, Columns, Row, UpsertBolt, UpsertStore,
};

/// Connect, read and write timeout of one attempt.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What a [`RedisSink`] writes; the settings of YAML bolt `redis`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSinkOptions {
    /// `redis://host:port/db`.
    pub url: String,
    /// The fields whose values (as text, joined by `:`) are the key.
    pub key_fields: Vec<String>,
    /// The field whose value (as text) is stored; none: a JSON object of
    /// every field that is not a key field.
    #[serde(default)]
    pub value_field: Option<String>,
    /// Write `HSET <hash> <key> <value>`; none: `SET <key_prefix><key>
    /// <value>`.
    #[serde(default)]
    pub hash: Option<String>,
    /// Prefix of the keys written with `SET`. Default empty.
    #[serde(default)]
    pub key_prefix: String,
    /// Keys per `MULTI`/`EXEC` batch. Default 500.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Longest time a row waits for its batch, ms. Default 1 000.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// The field holding each row's kind when the input is a changelog
    /// (`+I`, `-U`, `+U`, `-D`): `-D` deletes the key's record, `-U` is
    /// skipped. None: every row is an upsert.
    #[serde(default)]
    pub op_field: Option<String>,
    /// Retries while Redis is unreachable.
    #[serde(default)]
    pub retry: Backoff,
}

impl RedisSinkOptions {
    /// `SET <key> <value>` on `url`, keyed by `key_fields`, the other
    /// fields as a JSON object.
    pub fn new(url: impl Into<String>, key_fields: &[&str]) -> Self {
        RedisSinkOptions {
            url: url.into(),
            key_fields: key_fields.iter().map(|f| f.to_string()).collect(),
            value_field: None,
            hash: None,
            key_prefix: String::new(),
            batch_size: default_batch_size(),
            flush_interval_ms: default_flush_interval_ms(),
            op_field: None,
            retry: Backoff::default(),
        }
    }
}

/// The Redis side of the sink (see the module docs); build the bolt with
/// [`RedisSink::bolt`].
pub struct RedisSink {
    options: RedisSinkOptions,
    client: redis::Client,
    connection: Mutex<Option<redis::Connection>>,
}

impl Clone for RedisSink {
    /// A copy with no connection.
    fn clone(&self) -> Self {
        RedisSink {
            options: self.options.clone(),
            client: self.client.clone(),
            connection: Mutex::new(None),
        }
    }
}

impl RedisSink {
    /// The bolt writing to Redis as `options` say.
    ///
    /// # Errors
    /// [`squall::Error::Config`] for a malformed URL, no key field or a
    /// batch size of 0. An unreachable server is not an error here: the
    /// writes retry.
    pub fn bolt(options: RedisSinkOptions) -> Result<UpsertBolt<RedisSink>> {
        let client = redis::Client::open(options.url.as_str()).map_err(|e| {
            squall::Error::config(format!("redis sink: bad url '{}': {e}", options.url))
        })?;
        let batching = Batching {
            key_fields: options.key_fields.clone(),
            value_fields: options.value_field.clone().map(|f| vec![f]),
            batch_size: options.batch_size,
            flush_interval_ms: options.flush_interval_ms,
            op_field: options.op_field.clone(),
            retry: options.retry,
        };
        UpsertBolt::new(RedisSink { options, client, connection: Mutex::new(None) }, batching)
    }

    fn value(&self, columns: &Columns, row: &Row) -> Vec<u8> {
        match (&self.options.value_field, row.values.as_slice()) {
            (Some(_), [Value::Bytes(b)]) => b.clone(),
            (Some(_), [v]) => value_text(v).into_bytes(),
            _ => json_object(&columns.values, &row.values),
        }
    }
}

impl UpsertStore for RedisSink {
    fn describe(&self) -> String {
        format!("redis sink at {}", self.options.url)
    }

    fn upsert(&mut self, columns: &Columns, rows: &[Row]) -> std::result::Result<(), Failure> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for row in rows {
            let key: Vec<String> = row.key.iter().map(value_text).collect();
            let key = key.join(":");
            match (&self.options.hash, row.deleted) {
                (Some(hash), true) => pipe.hdel(hash, key).ignore(),
                (None, true) => pipe.del(format!("{}{key}", self.options.key_prefix)).ignore(),
                (Some(hash), false) => pipe.hset(hash, key, self.value(columns, row)).ignore(),
                (None, false) => pipe
                    .set(format!("{}{key}", self.options.key_prefix), self.value(columns, row))
                    .ignore(),
            };
        }
        let mut slot = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        let result = (|| {
            if slot.is_none() {
                let c = self.client.get_connection_with_timeout(TIMEOUT)?;
                c.set_read_timeout(Some(TIMEOUT))?;
                c.set_write_timeout(Some(TIMEOUT))?;
                *slot = Some(c);
            }
            pipe.query::<()>(slot.as_mut().expect("connected"))
        })();
        result.map_err(|e| {
            if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                *slot = None;
                Failure::Unreachable(e.to_string())
            } else {
                Failure::Refused(e.to_string())
            }
        })
    }
}
