//! [`Value`]: the dynamically typed cell of a tuple.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use super::Native;

/// One dynamically typed value of a tuple, as Storm's tuples hold any object.
///
/// `Timestamp` is milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum Value {
    /// No value.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// UTF-8 text.
    String(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// Milliseconds since the Unix epoch (UTC).
    Timestamp(i64),
    /// An ordered list of values.
    List(Vec<Value>),
    /// A map from text keys to values, ordered by key.
    Map(BTreeMap<String, Value>),
    /// A typed Rust record of the DataStream API (see [`Native`]).
    Native(Native),
}

impl Value {
    /// The name of this value's type, as used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Timestamp(_) => "timestamp",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Native(_) => "native",
        }
    }

    /// The text, if this is a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an `Int`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The float, if this is a `Float` (or an `Int`, widened).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The boolean, if this is a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The bytes, if this is `Bytes`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Milliseconds since the epoch, if this is a `Timestamp`.
    pub fn as_timestamp_ms(&self) -> Option<i64> {
        match self {
            Value::Timestamp(t) => Some(*t),
            _ => None,
        }
    }
}

/// Hashing is stable across processes and runs (fields grouping depends on
/// it): floats hash by their bits, with `-0.0` hashed as `0.0`.
impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::Float(f) => {
                let f = if *f == 0.0 { 0.0 } else { *f };
                f.to_bits().hash(state)
            }
            Value::String(s) => s.hash(state),
            Value::Bytes(b) => b.hash(state),
            Value::Timestamp(t) => t.hash(state),
            Value::List(l) => l.hash(state),
            Value::Map(m) => m.hash(state),
            Value::Native(n) => n.encode().hash(state),
        }
    }
}

/// Text form used by sinks: strings bare, lists and maps in brackets.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => f.write_str(s),
            Value::Bytes(b) => {
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            Value::Timestamp(t) => write!(f, "{t}"),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Native(n) => write!(f, "{n:?}"),
        }
    }
}

macro_rules! from_impl {
    ($t:ty, $v:ident, $e:expr) => {
        impl From<$t> for Value {
            fn from($v: $t) -> Self {
                $e
            }
        }
    };
}
from_impl!(bool, v, Value::Bool(v));
from_impl!(i64, v, Value::Int(v));
from_impl!(i32, v, Value::Int(v as i64));
from_impl!(u32, v, Value::Int(v as i64));
from_impl!(usize, v, Value::Int(v as i64));
from_impl!(f64, v, Value::Float(v));
from_impl!(String, v, Value::String(v));
from_impl!(&str, v, Value::String(v.to_string()));
from_impl!(Vec<u8>, v, Value::Bytes(v));
from_impl!(Vec<Value>, v, Value::List(v));
from_impl!(BTreeMap<String, Value>, v, Value::Map(v));

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::DefaultHasher;

    fn h(v: &Value) -> u64 {
        let mut s = DefaultHasher::new();
        v.hash(&mut s);
        s.finish()
    }

    #[test]
    fn negative_zero_hashes_like_zero() {
        assert_eq!(h(&Value::Float(-0.0)), h(&Value::Float(0.0)));
    }

    #[test]
    fn int_and_timestamp_hash_differently() {
        assert_ne!(h(&Value::Int(5)), h(&Value::Timestamp(5)));
    }

    #[test]
    fn serde_round_trip_keeps_every_variant() {
        let mut m = BTreeMap::new();
        m.insert("k".to_string(), Value::Int(1));
        let v = Value::List(vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-3),
            Value::Float(2.5),
            Value::from("x"),
            Value::Bytes(vec![0, 255]),
            Value::Timestamp(1_700_000_000_000),
            Value::Map(m),
        ]);
        let yaml = serde_yaml_ng::to_string(&v).unwrap();
        let back: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(back, v);
    }
}
