//! The file spout of `'connector' = 'filesystem'` tables: CSV or JSON
//! lines in a file or a folder, read into batches of the table's schema.
//! A line that does not fit the schema goes to the spout's
//! [`ERRORS_STREAM`] with its file, line and reason (the translator
//! subscribes the table's error sink to it).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use datafusion_common::arrow::datatypes::SchemaRef;
use squall::topology::OutputDeclarer;
use squall::{Fields, OutputCollector, Spout, SpoutStatus, TopologyContext, Value};

use crate::catalog::TableDef;
use crate::error::{SqlError, SqlResult};
use crate::rows::{Cell, Rows};
use crate::source::{declare, emit_batch, time_of, BATCH_ROWS};

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
    json: bool,
    header: bool,
    delimiter: u8,
    null_literal: Option<String>,
    time: Option<(usize, i64)>,
    mine: Vec<PathBuf>,
    file: usize,
    line: u64,
    reader: Slot,
    max_ts: i64,
    bad: u64,
    metrics: Option<squall::runtime::TaskMetricGroup>,
    position: Option<squall::state::OperatorState<(usize, u64, i64)>>,
}

/// An open file that clones as "not open" (each task opens its own).
#[derive(Default)]
struct Slot(Option<BufReader<File>>);
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
        let format = table.option("format").unwrap_or("csv").to_ascii_lowercase();
        let json = match format.as_str() {
            "csv" => false,
            "json" => true,
            other => {
                return Err(SqlError::config(format!(
                    "table '{}': format '{other}' is not known (csv or json)",
                    table.name
                )))
            }
        };
        let delimiter = table.option("csv.field-delimiter").unwrap_or(",");
        Ok(FileSourceSpout {
            table: table.name.clone(),
            schema: table.schema.clone(),
            files,
            json,
            header: matches!(table.option("csv.header"), Some("true")),
            delimiter: delimiter.as_bytes().first().copied().unwrap_or(b','),
            null_literal: table.option("csv.null-literal").map(str::to_string),
            time: time_of(table)?,
            mine: Vec::new(),
            file: 0,
            line: 0,
            reader: Slot(None),
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
    fn parse_line(&self, text: &str, rows: &mut Rows) -> Result<(), String> {
        if self.json {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
            let obj = v.as_object().ok_or("not a JSON object")?;
            let cells: Vec<Cell<'_>> = self
                .schema
                .fields()
                .iter()
                .map(|f| match obj.get(f.name()) {
                    None | Some(serde_json::Value::Null) => Cell::Null,
                    Some(serde_json::Value::String(s)) => Cell::Text(s),
                    Some(serde_json::Value::Bool(b)) => Cell::Bool(*b),
                    Some(serde_json::Value::Number(n)) => match n.as_i64() {
                        Some(i) => Cell::Int(i),
                        None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
                    },
                    Some(_) => Cell::Null,
                })
                .collect();
            rows.push(cells)
        } else {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .delimiter(self.delimiter)
                .from_reader(text.as_bytes());
            let mut rec = csv::StringRecord::new();
            let null = self.null_literal.as_deref();
            match r.read_record(&mut rec) {
                Ok(true) => rows.push(rec.iter().map(|f| match null == Some(f) {
                    true => Cell::Null,
                    false => Cell::Text(f),
                })),
                Ok(false) => Err("empty line".into()),
                Err(e) => Err(format!("not CSV: {e}")),
            }
        }
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
        if self.reader.0.is_none() {
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
            self.reader = Slot(Some(r));
        }
        let mut rows =
            Rows::new(self.schema.clone(), self.time.map(|t| t.0)).map_err(squall::Error::from)?;
        let mut buf = String::new();
        let mut eof = false;
        while rows.len() < BATCH_ROWS {
            buf.clear();
            let n = match self.reader.0.as_mut() {
                Some(r) => {
                    r.read_line(&mut buf).map_err(|e| squall::Error::Other(e.to_string()))?
                }
                None => 0,
            };
            if n == 0 {
                eof = true;
                break;
            }
            self.line += 1;
            let text = buf.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            if let Err(reason) = self.parse_line(text, &mut rows) {
                self.bad += 1;
                if let Some(m) = &self.metrics {
                    m.add_error_records(1);
                }
                let file = Value::String(self.mine[self.file].display().to_string());
                let reason = format!("table '{}': {reason}", self.table);
                let values = vec![file, Value::Int(self.line as i64), reason.into(), text.into()];
                c.emit_to(ERRORS_STREAM, values)?;
            }
        }
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
