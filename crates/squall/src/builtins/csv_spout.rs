//! [`CsvSpout`]: records of CSV files with a header, each stamped with the
//! event time read from one of its columns, and the watermarks that follow
//! from them.
//!
//! Owns reading CSV (with the `csv` crate), typing cells, reading the event
//! time ([`TimestampFormat`]), generating watermarks per task
//! ([`WatermarkStrategy`]) and sending bad lines to its `errors` stream. It
//! does not split one file across tasks: task i of N reads files i, i+N, ...

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::builtins::replay::Replay;
use crate::error::{Error, Result};
use crate::model::{Fields, Value, Values};
use crate::runtime::OutputCollector;
use crate::state::OperatorState;
use crate::time::{TimestampFormat, WatermarkAlignment, WatermarkGenerator, WatermarkStrategy};
use crate::topology::{MessageId, OutputDeclarer, Spout, SpoutStatus, TopologyContext};

/// The stream bad lines go to.
pub const ERRORS_STREAM: &str = "errors";
/// The field holding a record's event time (a timestamp, ms).
pub const EVENT_TIME_FIELD: &str = "event_time";

/// What one [`CsvSpout::step`] did.
enum Step {
    /// Read a record (good or bad).
    Record,
    /// Opened or finished a file.
    File,
    /// This task's files are all read.
    Done,
}

/// What a [`CsvSpout`] reads and how.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvSpoutOptions {
    /// The column holding the event time.
    pub time_field: String,
    /// How that column is written.
    pub time_format: TimestampFormat,
    /// How watermarks follow from the event times read.
    pub watermark: WatermarkStrategy,
    /// Records read between two watermarks (and per call into the spout).
    pub watermark_every: usize,
    /// Cell texts read as null (default `""` and `NA`).
    pub null_values: Vec<String>,
    /// Watermark alignment (Flink's `withWatermarkAlignment`): a task whose
    /// watermark is more than this many ms ahead of the slowest task of the
    /// spout (in this process) pauses until it catches up; `None` (the
    /// default) lets tasks drift apart.
    pub max_watermark_drift_ms: Option<u64>,
}

impl CsvSpoutOptions {
    /// Event time in `time_field` as RFC 3339, monotonous watermarks, one
    /// every 256 records, `""` and `NA` as null.
    pub fn new(time_field: impl Into<String>) -> Self {
        CsvSpoutOptions {
            time_field: time_field.into(),
            time_format: TimestampFormat::Rfc3339,
            watermark: WatermarkStrategy::Monotonous,
            watermark_every: 256,
            null_values: vec![String::new(), "NA".into()],
            max_watermark_drift_ms: None,
        }
    }
}

/// Emits each record of one or more CSV files (with a header line) on the
/// default stream, with the header's fields plus `event_time` (a
/// timestamp, ms since the epoch) read from `time_field`.
///
/// Cells are typed: a null text (see [`CsvSpoutOptions::null_values`]) is
/// null, then an integer, a float, or else a string.
///
/// After every `watermark_every` records a task emits the watermark its
/// [`WatermarkStrategy`] allows (the largest event time it has read minus
/// the bound minus 1). A finished task's watermark is `i64::MAX`.
///
/// A record that is not valid CSV (a wrong number of fields, bad UTF-8) or
/// whose time does not match the format is not emitted on the default
/// stream but on the `errors` stream, with the fields `file`, `line` (1 is
/// the header), `reason` and `text`, and reading goes on. Subscribe a sink
/// to it to keep them; their number is logged when the task closes.
///
/// With tracking (`at_least_once`), each record is emitted with message id
/// `file index << 40 | line`, kept until acked and emitted again if it
/// fails or times out (a replayed record may then be late for the
/// watermark). Error-stream tuples are not tracked.
///
/// With parallelism N, task i reads files i, i+N, ... of the sorted list
/// (one file is read by task 0 alone).
///
/// With checkpoints (`exactly_once`), each task's reading position (file,
/// byte offset, line) and its watermark generator's largest event time are
/// operator state `position`, so a restore resumes where the checkpoint was
/// taken (at the same parallelism).
///
/// # Examples
/// ```no_run
/// use squall::builtins::{CsvSpout, CsvSpoutOptions};
/// use squall::time::WatermarkStrategy;
///
/// let mut options = CsvSpoutOptions::new("time_hour");
/// options.watermark = WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: 3_600_000 };
/// let spout = CsvSpout::new("data/nycflights13/flights.csv", options)?;
/// assert!(spout.fields().index_of("event_time").is_some());
/// # Ok::<(), squall::Error>(())
/// ```
#[derive(Debug)]
pub struct CsvSpout {
    files: Arc<[PathBuf]>,
    options: Arc<CsvSpoutOptions>,
    fields: Fields,
    time_index: usize,
    /// Files of this task, and the next one to open (after `open`).
    mine: Vec<usize>,
    /// Tasks of the spout (after `open`).
    parallelism: usize,
    next_file: usize,
    reader: Option<(usize, csv::Reader<File>)>,
    /// The record read last (the csv crate checks a record's UTF-8 at once:
    /// measured as fast as checking only the text cells, one by one).
    record: csv::StringRecord,
    /// The row of the record read last, its cells overwritten in place by
    /// the next one (strings keep their buffers).
    row: Values,
    generator: WatermarkGenerator,
    errors: u64,
    /// Records in flight (tracking only).
    replay: Replay,
    /// Where the reading position is checkpointed (set in `open`).
    position: Option<OperatorState<CsvPosition>>,
    /// The watermarks of all tasks, shared by the clones (alignment on).
    alignment: Option<WatermarkAlignment>,
    /// This task's index (after `open`).
    task: usize,
    /// Where bad lines are counted (after `open`).
    metrics: Option<crate::runtime::TaskMetricGroup>,
}

impl Clone for CsvSpout {
    /// A fresh, unopened copy.
    fn clone(&self) -> Self {
        CsvSpout {
            files: self.files.clone(),
            options: self.options.clone(),
            fields: self.fields.clone(),
            time_index: self.time_index,
            mine: Vec::new(),
            parallelism: 1,
            next_file: 0,
            reader: None,
            record: csv::StringRecord::new(),
            row: Values::new(),
            generator: self.options.watermark.generator(),
            errors: 0,
            replay: Replay::default(),
            position: None,
            alignment: self.alignment.clone(),
            task: 0,
            metrics: None,
        }
    }
}

fn reader_of(path: &Path) -> Result<csv::Reader<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(csv::ReaderBuilder::new().buffer_capacity(256 * 1024).from_reader(file))
}

fn header_of(path: &Path) -> Result<Vec<String>> {
    let mut reader = reader_of(path)?;
    let header = reader
        .headers()
        .map_err(|e| Error::config(format!("csv spout: '{}': bad header: {e}", path.display())))?;
    Ok(header.iter().map(str::to_string).collect())
}

impl CsvSpout {
    /// A spout over `path`: a CSV file, or a folder whose files (sorted by
    /// name, not starting with `.`) all have the same header.
    ///
    /// # Errors
    /// [`Error::Io`] naming a path that cannot be read; [`Error::Config`] if
    /// the folder is empty, headers differ, the header lacks `time_field`
    /// or already has an `event_time` column, or `watermark_every` is 0.
    pub fn new(path: impl Into<PathBuf>, options: CsvSpoutOptions) -> Result<CsvSpout> {
        let root = path.into();
        let meta = std::fs::metadata(&root).map_err(|e| Error::io(&root, e))?;
        let mut files = Vec::new();
        if meta.is_dir() {
            for entry in std::fs::read_dir(&root).map_err(|e| Error::io(&root, e))? {
                let entry = entry.map_err(|e| Error::io(&root, e))?;
                if !entry.file_name().to_string_lossy().starts_with('.') && entry.path().is_file() {
                    files.push(entry.path());
                }
            }
            files.sort();
        } else {
            files.push(root.clone());
        }
        let Some(first) = files.first() else {
            return Err(Error::config(format!(
                "csv spout: folder '{}' has no files",
                root.display()
            )));
        };
        if options.watermark_every == 0 {
            return Err(Error::config("csv spout: watermark_every must be at least 1"));
        }
        let header = header_of(first)?;
        for f in &files[1..] {
            if header_of(f)? != header {
                return Err(Error::config(format!(
                    "csv spout: '{}' has another header than '{}'",
                    f.display(),
                    first.display()
                )));
            }
        }
        let Some(time_index) = header.iter().position(|h| *h == options.time_field) else {
            return Err(Error::config(format!(
                "csv spout: '{}' has no column '{}' for the event time; it has {header:?}",
                first.display(),
                options.time_field
            )));
        };
        if header.iter().any(|h| h == EVENT_TIME_FIELD) {
            return Err(Error::config(format!(
                "csv spout: '{}' already has a column '{EVENT_TIME_FIELD}', the field the spout adds",
                first.display()
            )));
        }
        let fields = Fields::new(header.into_iter().chain([EVENT_TIME_FIELD.to_string()]));
        let generator = options.watermark.generator();
        Ok(CsvSpout {
            files: files.into(),
            fields,
            time_index,
            mine: Vec::new(),
            parallelism: 1,
            next_file: 0,
            reader: None,
            record: csv::StringRecord::new(),
            row: Values::new(),
            generator,
            errors: 0,
            replay: Replay::default(),
            position: None,
            alignment: options.max_watermark_drift_ms.map(WatermarkAlignment::new),
            task: 0,
            metrics: None,
            options: Arc::new(options),
        })
    }

    /// The fields of the default stream: the header plus `event_time`.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The files read, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Reads `record` into `row`: the cells typed as [`set_cell`] does,
    /// then `event_time`; returns the event time (ms). Plain digits in the
    /// time column of `unix_millis` are read once, as the cell's int and
    /// the event time; any other time text goes through the format.
    ///
    /// # Errors
    /// The reason, naming the column, if the time does not match the
    /// format.
    fn fill_row(&mut self) -> std::result::Result<i64, String> {
        let n = self.record.len();
        if self.row.len() != n + 1 {
            self.row.resize(n + 1, Value::Null);
        }
        let nulls = &self.options.null_values;
        for (cell, slot) in self.record.iter().zip(&mut self.row) {
            set_cell(nulls, slot, cell);
        }
        let format = &self.options.time_format;
        let ts = match self.row[self.time_index] {
            Value::Int(ts) if *format == TimestampFormat::UnixMillis => ts,
            _ => format
                .parse(&self.record[self.time_index])
                .map_err(|reason| format!("column '{}': {reason}", self.options.time_field))?,
        };
        // Written over the last record's timestamp in place, as ints are.
        match &mut self.row[n] {
            Value::Timestamp(old) => *old = ts,
            slot => *slot = Value::Timestamp(ts),
        }
        Ok(ts)
    }

    fn emit_error(
        &mut self,
        collector: &mut OutputCollector,
        file: usize,
        line: u64,
        reason: String,
        text: String,
    ) -> Result<()> {
        self.errors += 1;
        if let Some(m) = &self.metrics {
            m.add_error_records(1);
        }
        let file = Value::String(self.files[file].display().to_string());
        collector
            .emit_to(ERRORS_STREAM, vec![file, Value::Int(line as i64), reason.into(), text.into()])
    }

    /// Reads one record, or opens or closes a file.
    fn step(&mut self, collector: &mut OutputCollector) -> Result<Step> {
        let Some((file, reader)) = self.reader.as_mut() else {
            let Some(&file) = self.mine.get(self.next_file) else {
                return Ok(Step::Done);
            };
            self.next_file += 1;
            let mut reader = reader_of(&self.files[file])?;
            // The header was checked in `new`; skip it.
            reader.headers().map_err(|e| Error::io(&self.files[file], std::io::Error::other(e)))?;
            self.reader = Some((file, reader));
            return Ok(Step::File);
        };
        let file = *file;
        match reader.read_record(&mut self.record) {
            Ok(false) => {
                self.reader = None;
                Ok(Step::File)
            }
            Ok(true) => {
                let line = self.record.position().map_or(0, |p| p.line());
                match self.fill_row() {
                    Ok(ts) => {
                        self.generator.on_event(ts);
                        let id = ((file as u64) << 40) | line;
                        self.replay.emit_ref(collector, id, &self.row)?;
                    }
                    Err(reason) => {
                        let text = self.record.iter().collect::<Vec<_>>().join(",");
                        self.emit_error(collector, file, line, reason, text)?;
                    }
                }
                Ok(Step::Record)
            }
            Err(e) => {
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(Error::io(&self.files[file], std::io::Error::other(e.to_string())));
                }
                let line = e.position().map_or(0, |p| p.line());
                self.emit_error(collector, file, line, e.to_string(), String::new())?;
                Ok(Step::Record)
            }
        }
    }
}

/// Sets `slot` to the value of the cell `text`: null if it is one of
/// `null_values`, else an int, a float, or else a string (written into the
/// string `slot` holds, if any, reusing its buffer). Ints are read from the
/// bytes (`atoi_simd`, as `str::parse` reads them: a sign, `+` too, and
/// any number of leading zeros).
fn set_cell(null_values: &[String], slot: &mut Value, text: &str) {
    let cell = text.as_bytes();
    // Only a sign, a digit, `.` or the start of `inf`/`nan` can begin a
    // number: other text is not parsed twice to find it is a string.
    let numeric = match cell.first() {
        Some(b) => !b.is_ascii_alphabetic() || matches!(b, b'i' | b'I' | b'n' | b'N'),
        None => true,
    };
    // The first bytes compared first: most cells differ there, and the
    // whole comparison is a call.
    if null_values.iter().any(|n| n.as_bytes().first() == cell.first() && n.as_bytes() == cell) {
        *slot = Value::Null;
    } else if let Some(i) =
        numeric.then(|| atoi_simd::parse::<i64, true, true>(cell).ok()).flatten()
    {
        // Written over an int in place: the old value is not dropped.
        match slot {
            Value::Int(old) => *old = i,
            _ => *slot = Value::Int(i),
        }
    } else if let Some(f) = numeric.then(|| text.parse::<f64>().ok()).flatten() {
        *slot = Value::Float(f);
    } else if let Value::String(s) = slot {
        s.clear();
        s.push_str(text);
    } else {
        *slot = Value::String(text.to_string());
    }
}

/// A [`CsvSpout`] task's reading position, as checkpointed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CsvPosition {
    /// Parallelism of the spout when taken (files are assigned by it).
    parallelism: usize,
    /// Index, in the task's files, of the next file to open.
    next_file: usize,
    /// In the file being read (the one before `next_file`): byte offset,
    /// line and record number of the next record.
    reading: Option<(u64, u64, u64)>,
    /// The watermark generator's largest event time (ms).
    max_seen: Option<i64>,
}

impl CsvSpout {
    fn checkpoint_position(&self) -> CsvPosition {
        let reading = self.reader.as_ref().map(|(_, r)| {
            let p = r.position();
            (p.byte(), p.line(), p.record())
        });
        CsvPosition {
            parallelism: self.parallelism,
            next_file: self.next_file,
            reading,
            max_seen: self.generator.max_seen(),
        }
    }

    /// Moves to checkpointed position `p` of a task of a spout with
    /// `parallelism` tasks.
    ///
    /// # Errors
    /// [`Error::State`] if `p` was taken at another parallelism;
    /// [`Error::Io`] if the file cannot be opened or sought.
    fn resume(&mut self, p: CsvPosition, parallelism: usize) -> Result<()> {
        if p.parallelism != parallelism {
            return Err(Error::State(format!(
                "csv spout: the checkpoint was taken with {} tasks, not {parallelism}; \
                 its reading positions cannot be moved to another parallelism",
                p.parallelism
            )));
        }
        self.next_file = p.next_file;
        self.generator.resume(p.max_seen);
        if let (Some((byte, line, record)), Some(&file)) =
            (p.reading, p.next_file.checked_sub(1).and_then(|i| self.mine.get(i)))
        {
            let path = &self.files[file];
            let mut reader = reader_of(path)?;
            let mut pos = csv::Position::new();
            pos.set_byte(byte).set_line(line).set_record(record);
            reader.seek(pos).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
            self.reader = Some((file, reader));
        }
        Ok(())
    }
}

impl Spout for CsvSpout {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(self.fields.clone());
        declarer.declare_stream(ERRORS_STREAM, Fields::new(["file", "line", "reason", "text"]));
    }

    fn open(&mut self, context: &TopologyContext) -> Result<()> {
        let (i, n) = (context.task_index(), context.parallelism());
        self.mine = (0..self.files.len()).filter(|f| f % n == i).collect();
        self.parallelism = n;
        self.task = i;
        self.metrics = Some(context.metrics());
        if let Some(a) = &self.alignment {
            a.leave(i);
        }
        self.next_file = 0;
        self.reader = None;
        self.generator = self.options.watermark.generator();
        self.replay.open_checkpointed(context)?;
        let position = context.operator_state::<CsvPosition>("position");
        if let Some(p) = position.get()? {
            self.resume(p, n)?;
        }
        self.position = Some(position);
        Ok(())
    }

    /// Records the reading position, so that a restore resumes from it.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        self.replay.snapshot()?;
        let Some(state) = &self.position else { return Ok(()) };
        state.set(&self.checkpoint_position())
    }

    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        if self.replay.replay(collector, self.options.watermark_every)? > 0 {
            return Ok(SpoutStatus::Active);
        }
        if let (Some(a), Some(w)) = (&self.alignment, self.generator.current()) {
            if !a.report(self.task, w) {
                return Ok(SpoutStatus::Idle);
            }
        }
        let mut more = true;
        let mut records = 0;
        while records < self.options.watermark_every {
            match self.step(collector)? {
                Step::Record => records += 1,
                Step::File => {}
                Step::Done => {
                    more = false;
                    break;
                }
            }
        }
        if let Some(w) = self.generator.current() {
            collector.emit_watermark(w);
            if let Some(a) = self.alignment.as_ref().filter(|_| more) {
                a.report(self.task, w);
            }
        }
        if let Some(a) = self.alignment.as_ref().filter(|_| !more) {
            a.leave(self.task);
        }
        Ok(if more { SpoutStatus::Active } else { SpoutStatus::Finished })
    }

    fn ack(&mut self, msg_id: MessageId) {
        self.replay.ack(msg_id);
    }

    fn fail(&mut self, msg_id: MessageId) {
        self.replay.fail(msg_id);
    }

    fn close(&mut self) {
        if self.errors > 0 {
            tracing::warn!(errors = self.errors, "csv spout: lines sent to the errors stream");
        }
        self.reader = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_typed_in_place_as_null_int_float_or_string() {
        let nulls = vec![String::new(), "NA".to_string()];
        let mut slot = Value::Null;
        let mut typed = |text: &str| {
            set_cell(&nulls, &mut slot, text);
            slot.clone()
        };
        assert_eq!(typed("k00042"), Value::from("k00042"));
        assert_eq!(typed("k7"), Value::from("k7"), "a string written over a string");
        assert_eq!(typed("-12"), Value::Int(-12));
        assert_eq!(typed("+3"), Value::Int(3));
        assert_eq!(typed("2.5"), Value::Float(2.5));
        assert_eq!(typed(".5e1"), Value::Float(5.0));
        assert_eq!(typed("inf"), Value::Float(f64::INFINITY));
        assert!(matches!(typed("NaN"), Value::Float(f) if f.is_nan()));
        assert_eq!(typed("NA"), Value::Null);
        assert_eq!(typed(""), Value::Null);
        assert_eq!(typed("nope"), Value::from("nope"), "starts like nan, is text");
        assert_eq!(typed(" 7"), Value::from(" 7"), "spaces keep a cell text");
        assert_eq!(typed("e5"), Value::from("e5"));
    }
}
