//! How a DataStream record sits in a tuple: the fields `key` (the key's
//! hash as an int, or null), `event_time` (a timestamp, or null) and
//! `record` (a [`Native`]). Every DataStream edge carries this layout, so
//! every operator reads and writes it the same way.

use std::hash::{Hash, Hasher};

use crate::error::{Error, Result};
use crate::model::{Data, Fields, Native, Tuple, Value, Values};

/// The fields of every DataStream stream.
pub(crate) fn fields() -> Fields {
    Fields::new(["key", "event_time", "record"])
}

/// The hash a keyed record is partitioned by: xxh3 with a fixed seed over
/// the key's `Hash`, stable across processes of one build.
pub fn key_hash<K: Hash>(key: &K) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    key.hash(&mut h);
    h.finish()
}

/// The hash the runtime routes a keyed record by: [`crate::keys::key_hash`]
/// of its `key` field (`key_hash(key)` as an int), so that state an operator
/// checkpoints by key lands in the key group its records go to.
pub(crate) fn route_hash<K: Hash>(key: &K) -> u64 {
    crate::keys::key_hash([&Value::Int(key_hash(key) as i64)])
}

/// A record as it travels: its key hash, event time (ms) and value.
pub(crate) struct Record<T> {
    pub key: Option<u64>,
    pub ts: Option<i64>,
    pub value: T,
}

impl<T: Data> Record<T> {
    pub fn new(key: Option<u64>, ts: Option<i64>, value: T) -> Self {
        Record { key, ts, value }
    }

    /// The tuple values of the record.
    pub fn pack(self) -> Values {
        vec![
            self.key.map_or(Value::Null, |k| Value::Int(k as i64)),
            self.ts.map_or(Value::Null, Value::Timestamp),
            Value::Native(Native::new(self.value)),
        ]
    }

    /// The record in `tuple`.
    ///
    /// # Errors
    /// [`Error::Other`] naming the component if the tuple is not in the
    /// DataStream layout or holds another type.
    pub fn unpack(tuple: Tuple) -> Result<Self> {
        let from = tuple.source_component().to_string();
        let bad = |what: &str| {
            Error::Other(format!(
                "a DataStream operator received a tuple from '{from}' that is not a DataStream \
                 record ({what}); convert Storm tuples with StreamEnv::from_spout"
            ))
        };
        let mut values = tuple.into_values();
        if values.len() != 3 {
            return Err(bad("not 3 fields"));
        }
        let value = match std::mem::take(&mut values[2]) {
            Value::Native(n) => {
                n.take::<T>().map_err(|e| Error::Other(format!("from '{from}': {e}")))?
            }
            _ => return Err(bad("no native record")),
        };
        let key = match values[0] {
            Value::Int(k) => Some(k as u64),
            _ => None,
        };
        let ts = match values[1] {
            Value::Timestamp(t) => Some(t),
            _ => None,
        };
        Ok(Record { key, ts, value })
    }
}
