//! [`Batch`]: an Arrow `RecordBatch` as a DataStream record, and
//! [`Scalar`]: one cell as keyed state and keys hold it.
//!
//! Stateless operators (projection, filter, window TVFs) take and give whole
//! batches, so DataFusion's physical expressions run over columns. Keyed
//! operators take rows of [`Scalar`]s, which hash, compare and serialize.

use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringArray,
    TimestampMillisecondArray,
};
use datafusion_common::arrow::compute::cast;
use datafusion_common::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, SchemaRef,
    TimeUnit, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use datafusion_common::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{SqlError, SqlResult};

/// A batch of rows travelling between operators.
#[derive(Debug, Clone)]
pub struct Batch(pub RecordBatch);

impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use datafusion_common::arrow::ipc::writer::StreamWriter;
        let mut buf = Vec::new();
        {
            let mut w = StreamWriter::try_new(&mut buf, &self.0.schema())
                .map_err(serde::ser::Error::custom)?;
            w.write(&self.0).map_err(serde::ser::Error::custom)?;
            w.finish().map_err(serde::ser::Error::custom)?;
        }
        serde_bytes::Bytes::new(&buf).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use datafusion_common::arrow::ipc::reader::StreamReader;
        let buf: serde_bytes::ByteBuf = serde_bytes::ByteBuf::deserialize(d)?;
        let mut r = StreamReader::try_new(std::io::Cursor::new(buf.into_vec()), None)
            .map_err(serde::de::Error::custom)?;
        match r.next() {
            Some(Ok(b)) => Ok(Batch(b)),
            Some(Err(e)) => Err(serde::de::Error::custom(e)),
            None => Err(serde::de::Error::custom("empty batch stream")),
        }
    }
}

/// One value of a row in keyed state: what SQL's types become when a row is
/// taken apart (integers widen to i64, floats to f64, timestamps to ms).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Scalar {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// Any integer type.
    Int(i64),
    /// Any float type.
    Float(f64),
    /// Text.
    Str(String),
    /// A timestamp, ms since the epoch.
    Ts(i64),
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Scalar {}

impl std::hash::Hash for Scalar {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Scalar::Null => 0u8.hash(state),
            Scalar::Bool(b) => (1u8, b).hash(state),
            Scalar::Int(i) => (2u8, i).hash(state),
            Scalar::Float(f) => {
                (3u8, if *f == 0.0 { 0f64.to_bits() } else { f.to_bits() }).hash(state)
            }
            Scalar::Str(s) => (4u8, s).hash(state),
            Scalar::Ts(t) => (5u8, t).hash(state),
        }
    }
}

impl PartialOrd for Scalar {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scalar {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        use Scalar::*;
        fn rank(s: &Scalar) -> u8 {
            match s {
                Null => 0,
                Bool(_) => 1,
                Int(_) | Float(_) => 2,
                Str(_) => 3,
                Ts(_) => 4,
            }
        }
        match (self, other) {
            (Bool(a), Bool(b)) => a.cmp(b),
            (Int(a), Int(b)) => a.cmp(b),
            (Float(a), Float(b)) => a.total_cmp(b),
            (Int(a), Float(b)) => (*a as f64).total_cmp(b),
            (Float(a), Int(b)) => a.total_cmp(&(*b as f64)),
            (Str(a), Str(b)) => a.cmp(b),
            (Ts(a), Ts(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)).then(Ordering::Equal),
        }
    }
}

impl Scalar {
    /// The value as a float (ints and timestamps widened).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(i) | Scalar::Ts(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// Row `row` of `array` as a [`Scalar`].
///
/// # Errors
/// A type Squall's keyed operators do not take (decimals, lists, ...).
pub fn scalar_at(array: &dyn Array, row: usize) -> SqlResult<Scalar> {
    if array.is_null(row) {
        return Ok(Scalar::Null);
    }
    Ok(match array.data_type() {
        DataType::Boolean => Scalar::Bool(array.as_boolean().value(row)),
        DataType::Int8 => Scalar::Int(array.as_primitive::<Int8Type>().value(row) as i64),
        DataType::Int16 => Scalar::Int(array.as_primitive::<Int16Type>().value(row) as i64),
        DataType::Int32 => Scalar::Int(array.as_primitive::<Int32Type>().value(row) as i64),
        DataType::Int64 => Scalar::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => Scalar::Int(array.as_primitive::<UInt8Type>().value(row) as i64),
        DataType::UInt16 => Scalar::Int(array.as_primitive::<UInt16Type>().value(row) as i64),
        DataType::UInt32 => Scalar::Int(array.as_primitive::<UInt32Type>().value(row) as i64),
        DataType::UInt64 => Scalar::Int(array.as_primitive::<UInt64Type>().value(row) as i64),
        DataType::Float32 => Scalar::Float(array.as_primitive::<Float32Type>().value(row) as f64),
        DataType::Float64 => Scalar::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Scalar::Str(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Scalar::Str(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Scalar::Str(array.as_string_view().value(row).to_string()),
        DataType::Timestamp(unit, _) => {
            use datafusion_common::arrow::datatypes as t;
            Scalar::Ts(match unit {
                TimeUnit::Millisecond => {
                    array.as_primitive::<t::TimestampMillisecondType>().value(row)
                }
                TimeUnit::Second => {
                    array.as_primitive::<t::TimestampSecondType>().value(row) * 1000
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<t::TimestampMicrosecondType>().value(row).div_euclid(1000)
                }
                TimeUnit::Nanosecond => array
                    .as_primitive::<t::TimestampNanosecondType>()
                    .value(row)
                    .div_euclid(1_000_000),
            })
        }
        other => {
            return Err(SqlError::unsupported(format!(
                "values of type {other} in a GROUP BY key or aggregate"
            )))
        }
    })
}

/// An array of `data_type` from scalars (cast from the widened type).
///
/// # Errors
/// A type that cannot be made from the scalars.
pub fn array_of(values: &[Scalar], data_type: &DataType) -> SqlResult<ArrayRef> {
    let wide: ArrayRef = match data_type {
        DataType::Boolean => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Scalar::Bool(b) => Some(*b),
                    _ => None,
                })
                .collect::<BooleanArray>(),
        ),
        DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) => {
            Arc::new(values.iter().map(|v| v.as_f64()).collect::<Float64Array>())
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Scalar::Str(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect::<StringArray>(),
        ),
        DataType::Timestamp(_, _) => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Scalar::Ts(t) | Scalar::Int(t) => Some(*t),
                    _ => None,
                })
                .collect::<TimestampMillisecondArray>(),
        ),
        DataType::Null => Arc::new(datafusion_common::arrow::array::NullArray::new(values.len())),
        _ => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Scalar::Int(i) | Scalar::Ts(i) => Some(*i),
                    Scalar::Float(f) => Some(*f as i64),
                    Scalar::Bool(b) => Some(*b as i64),
                    _ => None,
                })
                .collect::<Int64Array>(),
        ),
    };
    if wide.data_type() == data_type {
        return Ok(wide);
    }
    cast(&wide, data_type)
        .map_err(|e| SqlError::exec(format!("building a {data_type} column: {e}")))
}

/// A batch of `schema` from rows of scalars.
///
/// # Errors
/// As [`array_of`].
pub fn batch_of(schema: &SchemaRef, rows: &[Vec<Scalar>]) -> SqlResult<RecordBatch> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (i, f) in schema.fields().iter().enumerate() {
        let col: Vec<Scalar> = rows.iter().map(|r| r[i].clone()).collect();
        columns.push(array_of(&col, f.data_type())?);
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| SqlError::exec(e.to_string()))
}

/// Formats ms since the epoch as `YYYY-MM-DD HH:MM:SS.mmm` (UTC), the form
/// Squall's SQL sinks write and its sources read.
pub fn format_ts(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        None => ms.to_string(),
    }
}

/// Row `row` of `array` as a Squall [`squall::Value`] for a sink:
/// timestamps as text (`format_ts`), decimals as floats.
pub fn value_at(array: &dyn Array, row: usize) -> squall::Value {
    use squall::Value;
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Decimal128(_, _) => match cast(&array.slice(row, 1), &DataType::Float64) {
            Ok(a) => Value::Float(a.as_primitive::<Float64Type>().value(0)),
            Err(_) => Value::Null,
        },
        DataType::Date32 | DataType::Date64 => match cast(&array.slice(row, 1), &DataType::Utf8) {
            Ok(a) => Value::String(a.as_string::<i32>().value(0).to_string()),
            Err(_) => Value::Null,
        },
        _ => match scalar_at(array, row) {
            Ok(Scalar::Null) => Value::Null,
            Ok(Scalar::Bool(b)) => Value::Bool(b),
            Ok(Scalar::Int(i)) => Value::Int(i),
            Ok(Scalar::Float(f)) => Value::Float(f),
            Ok(Scalar::Str(s)) => Value::String(s),
            Ok(Scalar::Ts(t)) => Value::String(format_ts(t)),
            Err(_) => match cast(&array.slice(row, 1), &DataType::Utf8) {
                Ok(a) => Value::String(a.as_string::<i32>().value(0).to_string()),
                Err(_) => Value::Null,
            },
        },
    }
}
