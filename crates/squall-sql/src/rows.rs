//! [`Rows`]: a source's rows of a table's schema being built into an
//! Arrow batch, cell by cell ([`Cell`]), each cell parsed by its column's
//! type; a row that does not fit is rolled back whole, with the reason.

use std::sync::Arc;

use datafusion_common::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, Int8Builder, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion_common::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion_common::arrow::record_batch::RecordBatch;

use crate::error::{SqlError, SqlResult};

/// One column being filled.
enum Builder {
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Str(StringBuilder),
    Ts(TimestampMillisecondBuilder),
    Date(Date32Builder),
}

/// A value as a source reads it.
pub enum Cell<'a> {
    /// Missing.
    Null,
    /// Text (parsed by the column's type).
    Text(&'a str),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

/// Parses a timestamp: `YYYY-MM-DD HH:MM:SS[.fff]` (or with `T`, or
/// without seconds) as UTC, RFC 3339, or ms since the epoch.
pub fn parse_ts(s: &str) -> Option<i64> {
    use chrono::format::{parse, Item, Parsed, StrftimeItems};
    use std::sync::OnceLock;
    // The formats' items, parsed once (chrono's `parse_from_str` parses its
    // format string on every call).
    static FORMATS: OnceLock<Vec<Vec<Item<'static>>>> = OnceLock::new();
    let s = s.trim();
    if s.as_bytes().get(4).is_none_or(|b| *b != b'-') {
        return s.parse::<i64>().ok();
    }
    let formats = FORMATS.get_or_init(|| {
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"]
            .iter()
            .map(|f| StrftimeItems::new(f).collect())
            .collect()
    });
    for items in formats {
        let mut p = Parsed::new();
        if parse(&mut p, s, items.iter()).is_ok() {
            if let Ok(t) = p.to_naive_datetime_with_offset(0) {
                return Some(t.and_utc().timestamp_millis());
            }
        }
    }
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}

impl Builder {
    fn new(t: &DataType) -> SqlResult<Builder> {
        Ok(match t {
            DataType::Int8 => Builder::I8(Int8Builder::new()),
            DataType::Int16 => Builder::I16(Int16Builder::new()),
            DataType::Int32 => Builder::I32(Int32Builder::new()),
            DataType::Int64 => Builder::I64(Int64Builder::new()),
            DataType::Float32 => Builder::F32(Float32Builder::new()),
            DataType::Float64 => Builder::F64(Float64Builder::new()),
            DataType::Boolean => Builder::Bool(BooleanBuilder::new()),
            DataType::Utf8 => Builder::Str(StringBuilder::new()),
            DataType::Timestamp(TimeUnit::Millisecond, None) => {
                Builder::Ts(TimestampMillisecondBuilder::new())
            }
            DataType::Date32 => Builder::Date(Date32Builder::new()),
            other => return Err(SqlError::unsupported(format!("source columns of type {other}"))),
        })
    }

    /// Appends `cell`; `Err` with the reason if it does not fit. A
    /// timestamp column returns the time appended (ms).
    fn push(&mut self, cell: Cell<'_>) -> Result<Option<i64>, String> {
        fn int(c: &Cell<'_>) -> Result<Option<i64>, String> {
            match c {
                Cell::Null => Ok(None),
                Cell::Int(i) => Ok(Some(*i)),
                Cell::Float(f) if f.fract() == 0.0 => Ok(Some(*f as i64)),
                Cell::Text(s) if s.trim().is_empty() => Ok(None),
                Cell::Text(s) => {
                    s.trim().parse().map(Some).map_err(|_| format!("'{s}' is not an integer"))
                }
                _ => Err("not an integer".into()),
            }
        }
        fn float(c: &Cell<'_>) -> Result<Option<f64>, String> {
            match c {
                Cell::Null => Ok(None),
                Cell::Int(i) => Ok(Some(*i as f64)),
                Cell::Float(f) => Ok(Some(*f)),
                Cell::Text(s) if s.trim().is_empty() => Ok(None),
                Cell::Text(s) => {
                    s.trim().parse().map(Some).map_err(|_| format!("'{s}' is not a number"))
                }
                _ => Err("not a number".into()),
            }
        }
        let narrow = |v: Option<i64>, min: i64, max: i64| -> Result<Option<i64>, String> {
            match v {
                Some(i) if i < min || i > max => Err(format!("{i} is out of range")),
                v => Ok(v),
            }
        };
        match self {
            Builder::I8(b) => b.append_option(
                narrow(int(&cell)?, i8::MIN as i64, i8::MAX as i64)?.map(|i| i as i8),
            ),
            Builder::I16(b) => b.append_option(
                narrow(int(&cell)?, i16::MIN as i64, i16::MAX as i64)?.map(|i| i as i16),
            ),
            Builder::I32(b) => b.append_option(
                narrow(int(&cell)?, i32::MIN as i64, i32::MAX as i64)?.map(|i| i as i32),
            ),
            Builder::I64(b) => {
                let v = int(&cell)?;
                b.append_option(v);
                return Ok(v);
            }
            Builder::F32(b) => b.append_option(float(&cell)?.map(|f| f as f32)),
            Builder::F64(b) => b.append_option(float(&cell)?),
            Builder::Bool(b) => b.append_option(match cell {
                Cell::Null => None,
                Cell::Bool(v) => Some(v),
                Cell::Text(s) if s.trim().is_empty() => None,
                Cell::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => Some(true),
                    "false" | "0" => Some(false),
                    _ => return Err(format!("'{s}' is not a boolean")),
                },
                _ => return Err("not a boolean".into()),
            }),
            Builder::Str(b) => match cell {
                Cell::Null => b.append_null(),
                Cell::Text(s) => b.append_value(s),
                Cell::Int(i) => b.append_value(i.to_string()),
                Cell::Float(f) => b.append_value(f.to_string()),
                Cell::Bool(v) => b.append_value(v.to_string()),
            },
            Builder::Ts(b) => {
                let t = match cell {
                    Cell::Null => None,
                    Cell::Int(i) => Some(i),
                    Cell::Text(s) if s.trim().is_empty() => None,
                    Cell::Text(s) => {
                        Some(parse_ts(s).ok_or_else(|| format!("'{s}' is not a timestamp"))?)
                    }
                    _ => return Err("not a timestamp".into()),
                };
                b.append_option(t);
                return Ok(t);
            }
            Builder::Date(b) => b.append_option(match cell {
                Cell::Null => None,
                Cell::Text(s) if s.trim().is_empty() => None,
                Cell::Text(s) => {
                    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                        .map_err(|_| format!("'{s}' is not a date"))?;
                    Some((d - chrono::NaiveDate::default()).num_days() as i32)
                }
                _ => return Err("not a date".into()),
            }),
        }
        Ok(None)
    }

    fn len(&self) -> usize {
        use datafusion_common::arrow::array::ArrayBuilder;
        match self {
            Builder::I8(b) => b.len(),
            Builder::I16(b) => b.len(),
            Builder::I32(b) => b.len(),
            Builder::I64(b) => b.len(),
            Builder::F32(b) => b.len(),
            Builder::F64(b) => b.len(),
            Builder::Bool(b) => b.len(),
            Builder::Str(b) => b.len(),
            Builder::Ts(b) => b.len(),
            Builder::Date(b) => b.len(),
        }
    }

    /// Drops the values after the first `n` (a rejected row's).
    fn truncate(&mut self, n: usize) -> SqlResult<()> {
        if self.len() > n {
            // Rebuild: rare (bad records only).
            let arr = self.finish();
            let t = arr.data_type().clone();
            *self = Builder::new(&t)?;
            let kept = arr.slice(0, n);
            for i in 0..n {
                let v = crate::batch::scalar_at(kept.as_ref(), i)?;
                let cell = match &v {
                    crate::batch::Scalar::Null => Cell::Null,
                    crate::batch::Scalar::Int(i) | crate::batch::Scalar::Ts(i) => Cell::Int(*i),
                    crate::batch::Scalar::Float(f) => Cell::Float(*f),
                    crate::batch::Scalar::Bool(b) => Cell::Bool(*b),
                    crate::batch::Scalar::Str(s) => Cell::Text(s),
                };
                let _ = self.push(cell);
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::I8(b) => Arc::new(b.finish()),
            Builder::I16(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Ts(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
        }
    }
}

/// Rows of a schema being built, with the event-time column's maximum.
pub struct Rows {
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
    time_col: Option<usize>,
    /// Largest event time appended (ms).
    pub max_ts: i64,
}

impl Rows {
    /// Empty rows of `schema`; `time_col` is tracked for watermarks.
    ///
    /// # Errors
    /// A column type sources cannot fill.
    pub fn new(schema: SchemaRef, time_col: Option<usize>) -> SqlResult<Rows> {
        let builders = schema
            .fields()
            .iter()
            .map(|f| Builder::new(f.data_type()))
            .collect::<SqlResult<_>>()?;
        Ok(Rows { schema, builders, rows: 0, time_col, max_ts: i64::MIN })
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one row, cell `i` for column `i`; on a cell that does not
    /// fit, nothing is appended and the reason names the column.
    ///
    /// # Errors
    /// The reason the row does not fit the schema.
    pub fn push<'a>(&mut self, cells: impl IntoIterator<Item = Cell<'a>>) -> Result<(), String> {
        let mut n = 0;
        let mut ts = None;
        for (i, cell) in cells.into_iter().enumerate() {
            if i >= self.builders.len() {
                break;
            }
            match self.builders[i].push(cell) {
                Ok(t) if Some(i) == self.time_col => ts = t,
                Ok(_) => {}
                Err(e) => {
                    self.rollback();
                    return Err(format!("column '{}': {e}", self.schema.field(i).name()));
                }
            }
            n += 1;
        }
        if n != self.builders.len() {
            self.rollback();
            return Err(format!("{n} fields, the table has {}", self.builders.len()));
        }
        if let Some(t) = ts {
            self.max_ts = self.max_ts.max(t);
        }
        self.rows += 1;
        Ok(())
    }

    fn rollback(&mut self) {
        for b in &mut self.builders {
            let _ = b.truncate(self.rows);
        }
    }

    /// The rows as a batch; empties this.
    ///
    /// # Errors
    /// Arrow's, if the columns disagree (a bug).
    pub fn take(&mut self) -> SqlResult<RecordBatch> {
        let cols: Vec<ArrayRef> = self.builders.iter_mut().map(|b| b.finish()).collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| SqlError::exec(e.to_string()))
    }
}
