//! [`WindowCsvSink`]: window results as one sorted CSV file, written
//! atomically when the input ends.
//!
//! Owns the file's shape (header, RFC 3339 timestamps) and, in update
//! mode, keeping the latest row per window and key. Holding and ordering
//! the rows (compactly, spilling sorted runs to disk past a budget) is
//! [`super::sorted_rows`]'s; the write-then-rename is
//! [`super::atomic_file`]'s.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::atomic_file::{self, AtomicFile};
use super::sorted_rows::{self, Cell, SortedRows};
use crate::error::{Error, Result};
use crate::model::{Fields, Key, Tuple};
use crate::time::TimestampFormat;

/// The default of [`WindowCsvSink::with_sort_buffer`]: 32 MiB.
pub const DEFAULT_SORT_BUFFER_BYTES: usize = 32 << 20;
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
///
/// Rows are held encoded, about 46 bytes for a window result; in append
/// mode, once they take the sort buffer
/// ([`WindowCsvSink::with_sort_buffer`], 32 MiB by default) they are
/// sorted and spilled to an unnamed temporary file in `path`'s folder, and
/// the runs are merged at the end (an external merge sort), so memory
/// stays bounded however many rows arrive. Update mode keeps its rows in
/// memory. Rows that each upstream task sends in this order (as the
/// window bolt does) are merged rather than sorted; any order is accepted.
#[derive(Debug, Clone)]
pub struct WindowCsvSink {
    path: PathBuf,
    upsert_key: Option<Fields>,
    fields: Option<Fields>,
    key_indices: Vec<usize>,
    rows: SortedRows,
    /// Update mode: the slot in `rows` of each key's latest row.
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
        let rows = SortedRows::new(atomic_file::parent_dir(&path), DEFAULT_SORT_BUFFER_BYTES);
        Ok(WindowCsvSink {
            path,
            upsert_key,
            fields: None,
            key_indices: Vec::new(),
            rows,
            latest: HashMap::new(),
        })
    }

    /// Spills sorted runs of rows to disk once they take `bytes` in memory
    /// (append mode; at least 1).
    pub fn with_sort_buffer(mut self, bytes: usize) -> WindowCsvSink {
        self.rows = SortedRows::new(atomic_file::parent_dir(&self.path), bytes);
        self
    }

    /// The output path.
    pub fn path(&self) -> &Path {
        &self.path
    }
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
        let values = input.values();
        if self.upsert_key.is_none() {
            return self.rows.push(input.source_task(), values);
        }
        let key = Key(self.key_indices.iter().map(|&i| values[i].clone()).collect());
        match self.latest.get(&key) {
            Some(&slot) => self.rows.replace(slot, values),
            None => {
                let slot = self.rows.keep(values);
                self.latest.insert(key, slot);
            }
        }
        Ok(())
    }

    /// Sorts the rows and writes the file.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file if writing or renaming fails, or the
    /// folder if a spilled run cannot be written or read.
    fn finish(&mut self, _collector: &mut OutputCollector) -> Result<()> {
        self.latest = HashMap::new();
        let path = &self.path;
        let mut file = AtomicFile::create(path)?;
        let written = |e| Error::io(path, e);
        if let Some(fields) = &self.fields {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(fields.names()).map_err(|e| atomic_file::csv_error(path, e))?;
            file.write_all(&w.into_inner().map_err(|e| written(e.into_error()))?)
                .map_err(written)?;
        }
        // The sink's last work, when the rest of the topology is done and
        // a core is free: the chunks of rows are formatted in turn here
        // and on the thread that merges them.
        let format = || {
            let mut formatter = Formatter::default();
            move |chunk: &[u8]| -> Result<Vec<u8>> {
                let mut w = csv::Writer::from_writer(Vec::with_capacity(chunk.len() * 2));
                for row in sorted_rows::rows_of(chunk) {
                    let record = formatter.record(row);
                    w.write_byte_record(record).map_err(|e| atomic_file::csv_error(path, e))?;
                }
                w.into_inner().map_err(|e| written(e.into_error()))
            }
        };
        self.rows.drain_sorted_beside(format(), format(), |text| {
            file.write_all(&text).map_err(written)
        })?;
        file.commit()?;
        Ok(())
    }
}

/// Turns encoded rows into the fields of their CSV records.
#[derive(Default)]
struct Formatter {
    /// Sorted rows repeat their window bounds: a column's timestamp is
    /// formatted once per run of equal ones, not once per cell.
    stamps: Vec<Option<(i64, String)>>,
    /// The row's fields, rewritten in place row after row (the csv
    /// writer's fast path takes a record whole).
    record: csv::ByteRecord,
    text: String,
    ints: itoa::Buffer,
}

impl Formatter {
    /// The record of the encoded row `row`.
    fn record(&mut self, row: &[u8]) -> &csv::ByteRecord {
        let Formatter { stamps, record, text, ints } = self;
        record.clear();
        for (n, cell) in sorted_rows::cells(row).enumerate() {
            match cell {
                Cell::Timestamp(t) => {
                    if n >= stamps.len() {
                        stamps.resize(n + 1, None);
                    }
                    let stamp: &String = match &mut stamps[n] {
                        Some((seen, stamp)) if *seen == t => stamp,
                        slot => &slot.insert((t, TimestampFormat::to_rfc3339(t))).1,
                    };
                    record.push_field(stamp.as_bytes());
                }
                Cell::Str(s) | Cell::Other(s) => record.push_field(s.as_bytes()),
                Cell::Int(i) => record.push_field(ints.format(i).as_bytes()),
                other => {
                    text.clear();
                    write!(text, "{other}").expect("writing to a String");
                    record.push_field(text.as_bytes());
                }
            }
        }
        record
    }
}
