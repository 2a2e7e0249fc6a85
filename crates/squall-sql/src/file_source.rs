//! The file spout of `'connector' = 'filesystem'` tables: CSV or JSON
//! lines in a file or a folder, read into batches of the table's schema.
//! A line that does not fit the schema goes to the spout's
//! [`ERRORS_STREAM`] with its file, line and reason (the translator
//! subscribes the table's error sink to it).
//!
//! CSV is read by one `csv` reader per file into one reused record, so a
//! row costs no allocation before its cells reach the Arrow builders.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use datafusion_common::arrow::datatypes::SchemaRef;
use squall::topology::OutputDeclarer;
use squall::{Fields, OutputCollector, Spout, SpoutStatus, TopologyContext, Value};

use crate::catalog::TableDef;
use crate::error::{SqlError, SqlResult};
use crate::rows::Rows;
use crate::source::{declare, emit_batch, time_of, BATCH_ROWS};
use crate::stream_source::LineFormat;

/// The stream of a file spout's lines that do not fit the table, with the
/// fields [`ERROR_FIELDS`] (as the `csv` spout's `errors` stream).
pub const ERRORS_STREAM: &str = "errors";

/// The fields of [`ERRORS_STREAM`]: the file, the line (1 is the first),
/// the reason, and the line's text.
pub const ERROR_FIELDS: [&str; 4] = ["file", "line", "reason", "text"];

/// The file spout of a `'connector' = 'filesystem'` table: options `path`
/// (a file, or a folder whose files are read in name order, file `j` by
/// task `j % p`), `format` (`csv` or `json`: one object per line, fields
/// by column name), `csv.header` (`true`: skip each file's first line),
/// `csv.field-delimiter` (`,`), `csv.null-literal` (a text read as NULL,
/// e.g. `NA`; an empty field always is). A line that does not fit the
/// schema goes to [`ERRORS_STREAM`] with its file, line and reason, and
/// is counted in the task's error records.
#[derive(Clone)]
pub struct FileSourceSpout {
    table: String,
    schema: SchemaRef,
    files: Vec<PathBuf>,
    format: LineFormat,
    header: bool,
    time: Option<(usize, i64)>,
    mine: Vec<PathBuf>,
    file: usize,
    line: u64,
    reader: Slot,
    /// The lines of the current file read before its reader was made
    /// (the header, and on a restore what the last attempt read).
    base: u64,
    record: csv::ByteRecord,
    max_ts: i64,
    bad: u64,
    metrics: Option<squall::runtime::TaskMetricGroup>,
    position: Option<squall::state::OperatorState<(usize, u64, i64)>>,
}

/// An open file that clones as "not open" (each task opens its own).
#[derive(Default)]
struct Slot(Option<Open>);

/// An open file: CSV records, or JSON lines.
enum Open {
    Csv(csv::Reader<BufReader<File>>),
    Lines(BufReader<File>, String),
}
impl Clone for Slot {
    fn clone(&self) -> Self {
        Slot(None)
    }
}

impl FileSourceSpout {
    /// The spout of `table`.
    ///
    /// # Errors
    /// A missing path or an unknown format.
    pub fn new(table: &TableDef) -> SqlResult<FileSourceSpout> {
        let path = PathBuf::from(table.required("path")?);
        let files = list_files(&path).map_err(|e| {
            SqlError::config(format!("table '{}': path '{}': {e}", table.name, path.display()))
        })?;
        Ok(FileSourceSpout {
            table: table.name.clone(),
            schema: table.schema.clone(),
            files,
            format: LineFormat::of(table)?,
            header: matches!(table.option("csv.header"), Some("true")),
            time: time_of(table)?,
            mine: Vec::new(),
            file: 0,
            line: 0,
            reader: Slot(None),
            base: 0,
            record: csv::ByteRecord::new(),
            max_ts: i64::MIN,
            bad: 0,
            metrics: None,
            position: None,
        })
    }
}

/// The files of `path`: itself, or a folder's (hidden ones skipped), by name.
///
/// # Errors
/// If it cannot be read.
pub fn list_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
        })
        .collect();
    files.sort();
    Ok(files)
}

impl FileSourceSpout {
    /// Opens file `self.file` of this task, past the lines read before.
    fn open_file(&mut self) -> squall::Result<Open> {
        let path = &self.mine[self.file];
        let f = File::open(path).map_err(|e| {
            squall::Error::Other(format!(
                "table '{}': cannot read {}: {e}",
                self.table,
                path.display()
            ))
        })?;
        let mut r = BufReader::with_capacity(1 << 16, f);
        // Skip what an earlier attempt read (restore) and the header.
        let skip = self.line.max(u64::from(self.header));
        let mut buf = String::new();
        for _ in 0..skip {
            buf.clear();
            if r.read_line(&mut buf).map_err(|e| squall::Error::Other(e.to_string()))? == 0 {
                break;
            }
        }
        self.line = skip;
        self.base = skip;
        Ok(match self.format.json {
            true => Open::Lines(r, buf),
            false => Open::Csv(
                csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .delimiter(self.format.delimiter)
                    .from_reader(r),
            ),
        })
    }

    /// Reads the next row into `rows`: `Ok(None)` at the end of the file,
    /// `Ok(Some(Err((line, reason, text))))` for a row that does not fit.
    #[allow(clippy::type_complexity)]
    fn read_row(
        &mut self,
        open: &mut Open,
        rows: &mut Rows,
    ) -> squall::Result<Option<Result<(), (u64, String, String)>>> {
        let io = |e: std::io::Error| squall::Error::Other(e.to_string());
        match open {
            Open::Lines(r, buf) => loop {
                buf.clear();
                if r.read_line(buf).map_err(io)? == 0 {
                    return Ok(None);
                }
                self.line += 1;
                let text = buf.trim_end_matches(['\n', '\r']);
                if text.trim().is_empty() {
                    continue;
                }
                let line = self.line;
                return Ok(Some(
                    self.format.push_line(text, rows).map_err(|why| (line, why, text.to_string())),
                ));
            },
            Open::Csv(r) => loop {
                let mut rec = std::mem::take(&mut self.record);
                let read = r.read_byte_record(&mut rec);
                let start = rec.position().map_or(self.line + 1, |p| self.base + p.line());
                // Lines consumed: up to the next record, or (at the end of a
                // file without a last newline) through this one.
                self.line = (self.base + r.position().line() - 1).max(start);
                match read {
                    Ok(false) => {
                        self.record = rec;
                        return Ok(None);
                    }
                    Err(e) => {
                        self.record = rec;
                        let at = e.position().map_or(start, |p| self.base + p.line());
                        if let csv::ErrorKind::Io(_) = e.kind() {
                            return Err(squall::Error::Other(format!(
                                "table '{}': {e}",
                                self.table
                            )));
                        }
                        return Ok(Some(Err((at, format!("not CSV: {e}"), String::new()))));
                    }
                    Ok(true) => {}
                }
                let blank = rec.len() == 1 && rec[0].iter().all(u8::is_ascii_whitespace);
                let result = match csv::StringRecord::from_byte_record(rec) {
                    Ok(text) => {
                        let pushed = match blank {
                            true => None,
                            false => Some(self.format.push_fields(text.iter(), rows)),
                        };
                        let out = pushed.map(|p| {
                            p.map_err(|why| (start, why, self.text_of(text.as_byte_record())))
                        });
                        self.record = text.into_byte_record();
                        out
                    }
                    Err(e) => {
                        let why = format!("not UTF-8 text: {}", e.utf8_error());
                        let rec = e.into_byte_record();
                        let text = self.text_of(&rec);
                        self.record = rec;
                        Some(Err((start, why, text)))
                    }
                };
                if let Some(result) = result {
                    return Ok(Some(result));
                }
            },
        }
    }

    /// A record's text for the errors stream: its fields written back as
    /// CSV (quoted where needed), invalid UTF-8 replaced.
    fn text_of(&self, rec: &csv::ByteRecord) -> String {
        let mut w = csv::WriterBuilder::new()
            .delimiter(self.format.delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let _ = w.write_byte_record(rec);
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8_lossy(&bytes).trim_end_matches('\n').to_string()
    }
}

impl Spout for FileSourceSpout {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        declare(d);
        d.declare_stream(ERRORS_STREAM, Fields::new(ERROR_FIELDS));
    }

    fn open(&mut self, ctx: &TopologyContext) -> squall::Result<()> {
        self.metrics = Some(ctx.metrics());
        let (i, p) = (ctx.task_index(), ctx.parallelism());
        self.mine = self
            .files
            .iter()
            .enumerate()
            .filter(|(j, _)| j % p == i)
            .map(|(_, f)| f.clone())
            .collect();
        let pos = ctx.operator_state::<(usize, u64, i64)>("file.position");
        if let Some((file, line, max_ts)) = pos.get()? {
            self.file = file;
            self.line = line;
            self.max_ts = max_ts;
        }
        self.position = Some(pos);
        Ok(())
    }

    fn next_tuple(&mut self, c: &mut OutputCollector) -> squall::Result<SpoutStatus> {
        if self.file >= self.mine.len() {
            if self.bad > 0 {
                tracing::warn!(
                    "table '{}': {} line(s) did not fit its schema (sent to its errors stream)",
                    self.table,
                    self.bad
                );
                self.bad = 0;
            }
            return Ok(SpoutStatus::Finished);
        }
        let mut open = match self.reader.0.take() {
            Some(open) => open,
            None => self.open_file()?,
        };
        let mut rows =
            Rows::new(self.schema.clone(), self.time.map(|t| t.0)).map_err(squall::Error::from)?;
        let mut eof = false;
        while rows.len() < BATCH_ROWS {
            let Some(read) = self.read_row(&mut open, &mut rows)? else {
                eof = true;
                break;
            };
            if let Err((line, reason, text)) = read {
                self.bad += 1;
                if let Some(m) = &self.metrics {
                    m.add_error_records(1);
                }
                let file = Value::String(self.mine[self.file].display().to_string());
                let reason = format!("table '{}': {reason}", self.table);
                let values = vec![file, Value::Int(line as i64), reason.into(), text.into()];
                c.emit_to(ERRORS_STREAM, values)?;
            }
        }
        self.reader = Slot(Some(open));
        self.max_ts = self.max_ts.max(rows.max_ts);
        if !rows.is_empty() {
            emit_batch(c, rows.take().map_err(squall::Error::from)?)?;
        }
        if eof {
            self.reader = Slot(None);
            self.file += 1;
            self.line = 0;
        }
        if let Some((_, delay)) = self.time {
            if self.max_ts > i64::MIN {
                c.emit_watermark(self.max_ts.saturating_sub(delay).saturating_sub(1));
            }
        }
        Ok(SpoutStatus::Active)
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> squall::Result<()> {
        if let Some(p) = &self.position {
            p.set(&(self.file, self.line, self.max_ts))?;
        }
        Ok(())
    }
}

/// The error sink of a table without `'errors.path'`: logs each bad line
/// (the first 20 of each task, then a count when the input ends).
#[derive(Debug, Clone, Default)]
pub struct ErrorLog {
    seen: u64,
}

impl squall::Bolt for ErrorLog {
    fn execute(&mut self, t: squall::Tuple, _c: &mut OutputCollector) -> squall::Result<()> {
        self.seen += 1;
        if self.seen <= 20 {
            let v = t.values();
            let at = |i: usize| v.get(i).map(|x| x.to_string()).unwrap_or_default();
            tracing::warn!("{} line {}: {}; not read", at(0), at(1), at(2));
        }
        Ok(())
    }

    fn finish(&mut self, _c: &mut OutputCollector) -> squall::Result<()> {
        if self.seen > 20 {
            tracing::warn!("{} lines did not fit their table (the first 20 are above)", self.seen);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Quoted fields (with the delimiter and a newline inside), a header, a
    /// blank line, bad rows named by the line they start on, and a last
    /// line without a newline: every row read once.
    #[test]
    fn one_reader_per_file_reads_quoted_records_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir(&input).unwrap();
        let text =
            "k,v,s\n1,10,\"a,b\"\n2,ten,x\n\n3,30,\"two\nlines\"\n4\n5,50,\"say \"\"hi\"\"\"";
        std::fs::write(input.join("a.csv"), text).unwrap();
        let (out, errors) = (dir.path().join("out"), dir.path().join("errors"));
        let mut s = crate::Session::new();
        s.run_script(&format!(
            "CREATE TABLE t (k BIGINT, v BIGINT, s VARCHAR) WITH ('connector' = 'filesystem',
               'path' = '{}', 'csv.header' = 'true', 'errors.path' = '{}');
             CREATE TABLE o (k BIGINT, v BIGINT, s VARCHAR)
               WITH ('connector' = 'filesystem', 'path' = '{}');
             INSERT INTO o SELECT k, v, s FROM t;",
            input.display(),
            errors.display(),
            out.display()
        ))
        .unwrap();
        let mut rows = squall_test_support::duckdb::csv_rows(&out);
        rows.sort();
        let want = [["1", "10", "a,b"], ["3", "30", "two\nlines"], ["5", "50", "say \"hi\""]];
        assert_eq!(rows, want);
        let mut bad = squall_test_support::duckdb::csv_rows(&errors);
        bad.sort_by_key(|r| r[1].parse::<u64>().unwrap());
        let lines: Vec<(&str, &str)> = bad.iter().map(|r| (r[1].as_str(), r[3].as_str())).collect();
        assert_eq!(lines, [("3", "2,ten,x"), ("7", "4")], "{bad:?}");
        assert!(bad[0][2].contains("column 'v': 'ten' is not an integer"), "{bad:?}");
        assert!(bad[1][2].contains("1 fields, the table has 3"), "{bad:?}");
    }
}
