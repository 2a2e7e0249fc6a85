//! Source spouts of SQL tables: `'connector' = 'nexmark'` (the generator)
//! and `'connector' = 'filesystem'` (CSV or JSON lines in a file or a
//! folder). Each emits tuples of one field, `batch`, holding a [`Batch`] of
//! up to [`BATCH_ROWS`] rows of the table's schema, and after each batch
//! the table's watermark (largest time read minus the declared delay minus
//! 1 ms). Positions are checkpointed, so a restore replays the same rows.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion_common::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, Int8Builder, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion_common::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion_common::arrow::record_batch::RecordBatch;
use squall::topology::OutputDeclarer;
use squall::{Fields, Native, OutputCollector, Spout, SpoutStatus, TopologyContext, Value};

use crate::batch::Batch;
use crate::catalog::TableDef;
use crate::error::{SqlError, SqlResult};
use crate::nexmark::{GeneratorConfig, Kind};

/// Rows per batch a source emits at most.
pub const BATCH_ROWS: usize = 1024;

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

/// Parses a timestamp: `YYYY-MM-DD HH:MM:SS[.fff]`, RFC 3339, or ms since
/// the epoch.
pub fn parse_ts(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
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

    /// Appends `cell`; `Err` with the reason if it does not fit.
    fn push(&mut self, cell: Cell<'_>) -> Result<(), String> {
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
            Builder::I64(b) => b.append_option(int(&cell)?),
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
            Builder::Ts(b) => b.append_option(match cell {
                Cell::Null => None,
                Cell::Int(i) => Some(i),
                Cell::Text(s) if s.trim().is_empty() => None,
                Cell::Text(s) => {
                    Some(parse_ts(s).ok_or_else(|| format!("'{s}' is not a timestamp"))?)
                }
                _ => return Err("not a timestamp".into()),
            }),
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
        Ok(())
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
            if Some(i) == self.time_col {
                ts = match &cell {
                    Cell::Int(t) => Some(*t),
                    Cell::Text(s) => parse_ts(s),
                    _ => None,
                };
            }
            if let Err(e) = self.builders[i].push(cell) {
                self.rollback();
                return Err(format!("column '{}': {e}", self.schema.field(i).name()));
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

fn emit_batch(c: &mut OutputCollector, batch: RecordBatch) -> squall::Result<()> {
    c.emit(vec![Value::Native(Native::new(Batch(batch)))])
}

fn declare(d: &mut OutputDeclarer) {
    d.declare(Fields::new(["batch"]));
}

/// The event-time column's index and the watermark delay of `table`.
fn time_of(table: &TableDef) -> SqlResult<Option<(usize, i64)>> {
    match &table.watermark {
        None => Ok(None),
        Some(w) => {
            let i = table.schema.index_of(&w.column).map_err(|_| {
                SqlError::config(format!(
                    "table '{}': WATERMARK FOR '{}': no such column",
                    table.name, w.column
                ))
            })?;
            Ok(Some((i, w.delay_ms)))
        }
    }
}

fn opt<T: std::str::FromStr>(table: &TableDef, key: &str, default: T) -> SqlResult<T> {
    match table.option(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            SqlError::config(format!("table '{}': option '{key}' = '{v}' is not valid", table.name))
        }),
    }
}

/// The generator spout of a `'connector' = 'nexmark'` table.
#[derive(Clone)]
pub struct NexmarkSpout {
    config: GeneratorConfig,
    kind: Kind,
    schema: SchemaRef,
    /// For each table column, the generator's field it takes.
    fields: Vec<usize>,
    time: Option<(usize, i64)>,
    events: u64,
    per_second: f64,
    task: u64,
    tasks: u64,
    next: u64,
    started: Option<std::time::Instant>,
    emitted: u64,
    position: Option<squall::state::OperatorState<u64>>,
}

impl NexmarkSpout {
    /// The spout of `table`; options: `table` (person, auction or bid;
    /// default the table's name), `events.num` (0: unbounded),
    /// `first-event.rate` (events per second of event time, 10000),
    /// `events.per-second` (a limit on the real rate over all tasks; 0:
    /// none), `seed`, `base-time` (ms), `person.proportion`,
    /// `auction.proportion`, `bid.proportion`.
    ///
    /// # Errors
    /// A bad option or a column the generator does not make.
    pub fn new(table: &TableDef) -> SqlResult<NexmarkSpout> {
        let kind_name = table.option("table").unwrap_or(&table.name);
        let kind = Kind::of(kind_name).ok_or_else(|| {
            SqlError::config(format!(
                "table '{}': 'connector' = 'nexmark' needs 'table' = 'person' | 'auction' | 'bid'",
                table.name
            ))
        })?;
        let d = GeneratorConfig::default();
        let config = GeneratorConfig {
            seed: opt(table, "seed", 0)?,
            rate: opt(table, "first-event.rate", d.rate)?,
            base_time: opt(table, "base-time", d.base_time)?,
            person_proportion: opt(table, "person.proportion", d.person_proportion)?,
            auction_proportion: opt(table, "auction.proportion", d.auction_proportion)?,
            bid_proportion: opt(table, "bid.proportion", d.bid_proportion)?,
            ..d
        };
        if config.rate <= 0.0 {
            return Err(SqlError::config(format!(
                "table '{}': 'first-event.rate' must be positive",
                table.name
            )));
        }
        let names = kind.columns();
        let fields = table
            .schema
            .fields()
            .iter()
            .map(|f| {
                names.iter().position(|n| n.eq_ignore_ascii_case(f.name())).ok_or_else(|| {
                    SqlError::config(format!(
                        "table '{}': the nexmark generator makes no column '{}' for {kind_name} (it makes {})",
                        table.name,
                        f.name(),
                        names.join(", ")
                    ))
                })
            })
            .collect::<SqlResult<Vec<_>>>()?;
        Ok(NexmarkSpout {
            config,
            kind,
            schema: table.schema.clone(),
            fields,
            time: time_of(table)?,
            events: opt(table, "events.num", 0)?,
            per_second: opt(table, "events.per-second", 0.0)?,
            task: 0,
            tasks: 1,
            next: 0,
            started: None,
            emitted: 0,
            position: None,
        })
    }

    fn push_event(&self, rows: &mut Rows, n: u64) -> Result<(), String> {
        let g = &self.config;
        let cells: Vec<Cell<'_>>;
        match self.kind {
            Kind::Person => {
                let p = g.person(n);
                let all = [
                    Cell::Int(p.id),
                    Cell::Text(&p.name),
                    Cell::Text(&p.email_address),
                    Cell::Text(&p.credit_card),
                    Cell::Text(&p.city),
                    Cell::Text(&p.state),
                    Cell::Int(p.date_time),
                    Cell::Text(&p.extra),
                ];
                cells = self.fields.iter().map(|i| clone_cell(&all[*i])).collect();
                rows.push(cells)
            }
            Kind::Auction => {
                let a = g.auction(n);
                let all = [
                    Cell::Int(a.id),
                    Cell::Text(&a.item_name),
                    Cell::Text(&a.description),
                    Cell::Int(a.initial_bid),
                    Cell::Int(a.reserve),
                    Cell::Int(a.date_time),
                    Cell::Int(a.expires),
                    Cell::Int(a.seller),
                    Cell::Int(a.category),
                    Cell::Text(&a.extra),
                ];
                cells = self.fields.iter().map(|i| clone_cell(&all[*i])).collect();
                rows.push(cells)
            }
            Kind::Bid => {
                let b = g.bid(n);
                let all = [
                    Cell::Int(b.auction),
                    Cell::Int(b.bidder),
                    Cell::Int(b.price),
                    Cell::Text(&b.channel),
                    Cell::Text(&b.url),
                    Cell::Int(b.date_time),
                    Cell::Text(&b.extra),
                ];
                cells = self.fields.iter().map(|i| clone_cell(&all[*i])).collect();
                rows.push(cells)
            }
        }
    }
}

fn clone_cell<'a>(c: &Cell<'a>) -> Cell<'a> {
    match c {
        Cell::Null => Cell::Null,
        Cell::Text(s) => Cell::Text(s),
        Cell::Int(i) => Cell::Int(*i),
        Cell::Float(f) => Cell::Float(*f),
        Cell::Bool(b) => Cell::Bool(*b),
    }
}

impl Spout for NexmarkSpout {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        declare(d)
    }

    fn open(&mut self, ctx: &TopologyContext) -> squall::Result<()> {
        self.task = ctx.task_index() as u64;
        self.tasks = ctx.parallelism() as u64;
        self.next = self.task;
        let pos = ctx.operator_state::<u64>("nexmark.next");
        if let Some(n) = pos.get()? {
            self.next = n;
        }
        self.position = Some(pos);
        Ok(())
    }

    fn next_tuple(&mut self, c: &mut OutputCollector) -> squall::Result<SpoutStatus> {
        if self.events > 0 && self.next >= self.events {
            return Ok(SpoutStatus::Finished);
        }
        if self.per_second > 0.0 {
            let started = *self.started.get_or_insert_with(std::time::Instant::now);
            let allowed = started.elapsed().as_secs_f64() * self.per_second / self.tasks as f64;
            if self.emitted as f64 > allowed {
                return Ok(SpoutStatus::Idle);
            }
        }
        let mut rows =
            Rows::new(self.schema.clone(), self.time.map(|t| t.0)).map_err(squall::Error::from)?;
        let mut scanned = 0;
        let mut last_ts = None;
        while rows.len() < BATCH_ROWS && scanned < 16 * BATCH_ROWS {
            if self.events > 0 && self.next >= self.events {
                break;
            }
            let n = self.next;
            self.next += self.tasks;
            scanned += 1;
            if self.config.kind(n) != self.kind {
                continue;
            }
            last_ts = Some(self.config.timestamp(n));
            self.push_event(&mut rows, n).map_err(squall::Error::Other)?;
        }
        self.emitted += scanned as u64;
        if !rows.is_empty() {
            emit_batch(c, rows.take().map_err(squall::Error::from)?)?;
        }
        if let (Some((_, delay)), Some(ts)) = (self.time, last_ts) {
            c.emit_watermark(ts - delay - 1);
        }
        Ok(SpoutStatus::Active)
    }

    fn snapshot_state(&mut self, _checkpoint_id: u64) -> squall::Result<()> {
        if let Some(p) = &self.position {
            p.set(&self.next)?;
        }
        Ok(())
    }
}

/// The file spout of a `'connector' = 'filesystem'` table: options `path`
/// (a file, or a folder whose files are read in name order, file `j` by
/// task `j % p`), `format` (`csv` or `json`: one object per line, fields
/// by column name), `csv.header` (`true`: skip each file's first line),
/// `csv.field-delimiter` (`,`). A line that does not fit the schema is
/// logged with its file, line and reason and skipped.
#[derive(Clone)]
pub struct FileSourceSpout {
    table: String,
    schema: SchemaRef,
    files: Vec<PathBuf>,
    json: bool,
    header: bool,
    delimiter: u8,
    time: Option<(usize, i64)>,
    mine: Vec<PathBuf>,
    file: usize,
    line: u64,
    reader: Slot,
    max_ts: i64,
    bad: u64,
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
            time: time_of(table)?,
            mine: Vec::new(),
            file: 0,
            line: 0,
            reader: Slot(None),
            max_ts: i64::MIN,
            bad: 0,
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
            match r.read_record(&mut rec) {
                Ok(true) => rows.push(rec.iter().map(Cell::Text)),
                Ok(false) => Err("empty line".into()),
                Err(e) => Err(format!("not CSV: {e}")),
            }
        }
    }
}

impl Spout for FileSourceSpout {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        declare(d)
    }

    fn open(&mut self, ctx: &TopologyContext) -> squall::Result<()> {
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
                    "table '{}': {} line(s) did not fit its schema and were skipped",
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
                if self.bad <= 10 {
                    tracing::warn!(
                        "table '{}': {} line {}: {reason}; skipped",
                        self.table,
                        self.mine[self.file].display(),
                        self.line
                    );
                }
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
