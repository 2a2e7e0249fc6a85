//! [`WindowCsvSink`]: window results as one sorted CSV file, written
//! atomically when the input ends.
//!
//! Owns ordering the rows and, in update mode, keeping the latest row per
//! window and key. The write-then-rename is [`super::atomic_file`]'s.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::atomic_file::{self, AtomicFile};
use super::window_bolt::timestamp_text;
use crate::error::{Error, Result};
use crate::model::{Fields, Key, Tuple, Value, Values};
use crate::runtime::OutputCollector;
use crate::topology::{Bolt, TopologyContext};

/// Writes the tuples it receives (typically a [`super::WindowBolt`]'s
/// results, `window_start, window_end, keys..., aggregates...`) as one CSV
/// file with a header, sorted by the columns from left to right
/// (timestamps, numbers and text in their natural order, nulls first).
/// Timestamps are written as RFC 3339 in UTC (`2013-01-01T10:00:00Z`).
///
/// Without `upsert_key` every row is kept (append mode: each firing of a
/// window is a row). With `upsert_key` (field names, such as
/// `[window_start, window_end, origin]`) only the last row received per
/// value of those fields is kept (update mode: early and late firings
/// replace the earlier result).
///
/// The file is written to a temporary file and renamed onto `path` when
/// every input has ended; a failed or killed run leaves no file. Must run
/// with parallelism 1.
#[derive(Debug, Clone)]
pub struct WindowCsvSink {
    path: PathBuf,
    upsert_key: Option<Fields>,
    fields: Option<Fields>,
    key_indices: Vec<usize>,
    rows: Vec<Values>,
    latest: HashMap<Key, usize>,
}

impl WindowCsvSink {
    /// A sink writing `path`, keeping every row, or the latest per
    /// `upsert_key`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the folder if it does not exist.
    pub fn new(path: impl Into<PathBuf>, upsert_key: Option<Fields>) -> Result<WindowCsvSink> {
        let path = path.into();
        atomic_file::check_parent("window_csv sink", &path)?;
        Ok(WindowCsvSink {
            path,
            upsert_key,
            fields: None,
            key_indices: Vec::new(),
            rows: Vec::new(),
            latest: HashMap::new(),
        })
    }

    /// The output path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The order of two cells: nulls first, numbers and timestamps by value,
/// text by bytes, and otherwise by their text.
pub(crate) fn order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Int(x), Value::Int(y)) | (Value::Timestamp(x), Value::Timestamp(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => a.to_string().cmp(&b.to_string()),
        },
    }
}

/// The order of two rows, cell by cell (as [`order`], with the common
/// cells, timestamps, ints and text, compared inline: the sort of a run's
/// results is this comparison's loop).
pub(crate) fn order_rows(a: &Values, b: &Values) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Value::Timestamp(x), Value::Timestamp(y)) | (Value::Int(x), Value::Int(y)) => x.cmp(y),
            (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
            _ => order(x, y),
        };
        if o.is_ne() {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

impl Bolt for WindowCsvSink {
    /// # Errors
    /// [`Error::Config`] if the component's parallelism is above 1.
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        if context.parallelism() > 1 {
            return Err(Error::config(format!(
                "window_csv sink '{}' must have parallelism 1 (it writes one sorted file), not {}",
                context.component_id(),
                context.parallelism()
            )));
        }
        Ok(())
    }

    /// # Errors
    /// [`Error::NoSuchField`] if the input lacks an `upsert_key` field;
    /// [`Error::Config`] if inputs come with two schemas.
    fn execute(&mut self, input: Tuple, _collector: &mut OutputCollector) -> Result<()> {
        match &self.fields {
            Some(f) if f == input.fields() => {}
            Some(f) => {
                return Err(Error::config(format!(
                    "window_csv sink: inputs have two schemas, {:?} and {:?}",
                    f.names(),
                    input.fields().names()
                )))
            }
            None => {
                if let Some(key) = &self.upsert_key {
                    self.key_indices =
                        key.names().iter().map(|k| input.index_of(k)).collect::<Result<_>>()?;
                }
                self.fields = Some(input.fields().clone());
            }
        }
        let values = input.into_values();
        if self.upsert_key.is_none() {
            self.rows.push(values);
            return Ok(());
        }
        let key = Key(self.key_indices.iter().map(|&i| values[i].clone()).collect());
        match self.latest.get(&key) {
            Some(&i) => self.rows[i] = values,
            None => {
                self.latest.insert(key, self.rows.len());
                self.rows.push(values);
            }
        }
        Ok(())
    }

    /// Sorts the rows and writes the file.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file if writing or renaming fails.
    fn finish(&mut self, _collector: &mut OutputCollector) -> Result<()> {
        self.rows.sort_by(order_rows);
        let path = &self.path;
        let file = AtomicFile::create(path)?;
        let mut w = csv::WriterBuilder::new().buffer_capacity(256 * 1024).from_writer(file);
        let err = |e| atomic_file::csv_error(path, e);
        if let Some(fields) = &self.fields {
            w.write_record(fields.names()).map_err(err)?;
        }
        // Sorted rows repeat their window bounds: format a column's
        // timestamp once per run of equal ones, not once per cell.
        let mut last: Vec<Option<i64>> = Vec::new();
        // One text per column, rewritten in place row after row.
        let mut cells: Vec<String> = Vec::new();
        for row in &self.rows {
            last.resize(last.len().max(row.len()), None);
            cells.resize(cells.len().max(row.len()), String::new());
            for ((v, last), cell) in row.iter().zip(&mut last).zip(&mut cells) {
                match (v, *last) {
                    (Value::Timestamp(t), Some(seen)) if seen == *t => {}
                    (Value::Timestamp(t), _) => {
                        *cell = timestamp_text(v).unwrap_or_default();
                        *last = Some(*t);
                    }
                    (other, _) => {
                        *last = None;
                        cell.clear();
                        write!(cell, "{other}").expect("writing to a String");
                    }
                }
            }
            w.write_record(&cells[..row.len()]).map_err(err)?;
        }
        atomic_file::commit_csv(w, path)?;
        Ok(())
    }
}
