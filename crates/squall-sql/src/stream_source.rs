//! Tables over message streams: `'connector' = 'kafka'` and `'connector' =
//! 'socket'`, read by the spouts of `squall-connectors` (taken from the
//! core's component registry by kind, so this crate does not depend on
//! that one: a program registers them, as `squall` does at start, with
//! `squall_connectors::register()`). Each message line is one row in
//! the table's `'format'` (`csv` or `json`, [`LineFormat`]); the table's
//! watermark is generated from its event-time column after parsing
//! (Flink's `WATERMARK FOR`, bounded out-of-orderness). A line that does
//! not fit goes to the table's error sink with the reason.
//!
//! Kafka options, as Flink's: `topic` (several separated by `;`),
//! `properties.bootstrap.servers`, `properties.group.id`, any other
//! `properties.*` (passed to librdkafka), `scan.startup.mode`
//! (`earliest-offset`, the default, `latest-offset`, `group-offsets` or
//! `timestamp` with `scan.startup.timestamp-millis`), `scan.bounded.mode`
//! (`latest-offset`: stop at the end offsets seen at start; default
//! unbounded). Socket options: `hostname` (default 127.0.0.1), `port`.

use std::sync::{Arc, Mutex};

use datafusion_common::arrow::datatypes::SchemaRef;
use squall::topology::{MessageId, OutputDeclarer, SpoutFactory};
use squall::{OutputCollector, Spout, SpoutStatus, TopologyContext, Tuple, Value};

use crate::batch::Batch;
use crate::catalog::TableDef;
use crate::error::{SqlError, SqlResult};
use crate::rows::{Cell, Rows};

/// How a line of text becomes a row of a table: options `format` (`csv`,
/// the default, or `json`: one object, fields by column name),
/// `csv.field-delimiter` (`,`), `csv.null-literal` (a text read as NULL;
/// an empty field always is).
#[derive(Debug, Clone)]
pub struct LineFormat {
    /// The table's name, for messages.
    pub table: String,
    /// The table's columns.
    pub schema: SchemaRef,
    /// JSON (else CSV).
    pub json: bool,
    /// The CSV delimiter.
    pub delimiter: u8,
    /// The CSV text read as NULL.
    pub null_literal: Option<String>,
}

impl LineFormat {
    /// The format of `table`.
    ///
    /// # Errors
    /// An unknown format, named.
    pub fn of(table: &TableDef) -> SqlResult<LineFormat> {
        let json = match table.option("format").unwrap_or("csv").to_ascii_lowercase().as_str() {
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
        Ok(LineFormat {
            table: table.name.clone(),
            schema: table.schema.clone(),
            json,
            delimiter: delimiter.as_bytes().first().copied().unwrap_or(b','),
            null_literal: table.option("csv.null-literal").map(str::to_string),
        })
    }

    /// Appends the CSV fields `fields` as a row.
    ///
    /// # Errors
    /// Why the row does not fit, naming the column.
    pub fn push_fields<'a>(
        &self,
        fields: impl Iterator<Item = &'a str>,
        rows: &mut Rows,
    ) -> Result<(), String> {
        let null = self.null_literal.as_deref();
        rows.push(fields.map(|f| match null == Some(f) {
            true => Cell::Null,
            false => Cell::Text(f),
        }))
    }

    /// Appends the row of one line (a JSON object, or one CSV record).
    ///
    /// # Errors
    /// Why the line does not fit.
    pub fn push_line(&self, text: &str, rows: &mut Rows) -> Result<(), String> {
        if !self.json {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .delimiter(self.delimiter)
                .from_reader(text.as_bytes());
            let mut rec = csv::StringRecord::new();
            return match r.read_record(&mut rec) {
                Ok(true) => self.push_fields(rec.iter(), rows),
                Ok(false) => Err("empty line".into()),
                Err(e) => Err(format!("not CSV: {e}")),
            };
        }
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let obj = v.as_object().ok_or("not a JSON object")?;
        rows.push(self.schema.fields().iter().map(|f| match obj.get(f.name()) {
            None | Some(serde_json::Value::Null) => Cell::Null,
            Some(serde_json::Value::String(s)) => Cell::Text(s),
            Some(serde_json::Value::Bool(b)) => Cell::Bool(*b),
            Some(serde_json::Value::Number(n)) => match n.as_i64() {
                Some(i) => Cell::Int(i),
                None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Some(_) => Cell::Null,
        }))
    }
}

/// A spout of the core's registry as a `Clone` spout: each clone is a new
/// instance from the kind's factory (each task its own).
pub struct RegisteredSpout {
    factory: SpoutFactory,
    inner: Mutex<Box<dyn Spout>>,
}

impl RegisteredSpout {
    /// The spout of `kind` with `settings` (its YAML settings).
    ///
    /// # Errors
    /// An unknown kind (with how to register the connectors) or bad
    /// settings, naming the table.
    pub fn new(table: &str, kind: &str, settings: serde_yaml_ng::Value) -> SqlResult<Self> {
        let built = squall::builtins::registry::spout(kind, &settings).map_err(|e| {
            SqlError::config(format!(
                "table '{table}': {e} (the '{kind}' connector comes from squall-connectors: \
                 call squall_connectors::register() first)"
            ))
        })?;
        let inner = Mutex::new((built.factory)());
        Ok(RegisteredSpout { factory: built.factory, inner })
    }

    fn with<R>(&self, f: impl FnOnce(&mut Box<dyn Spout>) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Clone for RegisteredSpout {
    fn clone(&self) -> Self {
        RegisteredSpout { factory: self.factory.clone(), inner: Mutex::new((self.factory)()) }
    }
}

impl Spout for RegisteredSpout {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        self.with(|s| s.declare_outputs(d))
    }
    fn open(&mut self, ctx: &TopologyContext) -> squall::Result<()> {
        self.with(|s| s.open(ctx))
    }
    fn next_tuple(&mut self, c: &mut OutputCollector) -> squall::Result<SpoutStatus> {
        self.with(|s| s.next_tuple(c))
    }
    fn ack(&mut self, id: MessageId) {
        self.with(|s| s.ack(id))
    }
    fn fail(&mut self, id: MessageId) {
        self.with(|s| s.fail(id))
    }
    fn snapshot_state(&mut self, checkpoint_id: u64) -> squall::Result<()> {
        self.with(|s| s.snapshot_state(checkpoint_id))
    }
    fn on_checkpoint_complete(&mut self, checkpoint_id: u64) -> squall::Result<()> {
        self.with(|s| s.on_checkpoint_complete(checkpoint_id))
    }
    fn close(&mut self) {
        self.with(|s| s.close())
    }
}

/// The settings of the registry's `kafka` or `socket` spout for `table`
/// (records as lines: the spout's `line` field), and the kind.
///
/// # Errors
/// A missing or bad option, naming the table and the option.
pub fn spout_settings(table: &TableDef) -> SqlResult<(&'static str, serde_yaml_ng::Value)> {
    use serde_yaml_ng::{Mapping, Value as Y};
    let bad = |key: &str, v: &str, want: &str| {
        SqlError::config(format!("table '{}': '{key}' = '{v}': {want}", table.name))
    };
    let mut m = Mapping::new();
    let connector = table.connector()?.to_ascii_lowercase();
    let kind = match connector.as_str() {
        "kafka" => {
            let topics: Vec<Y> =
                table.required("topic")?.split(';').map(|t| Y::from(t.trim())).collect();
            m.insert("brokers".into(), table.required("properties.bootstrap.servers")?.into());
            m.insert("topics".into(), Y::Sequence(topics));
            let mut format = Mapping::new();
            format.insert("type".into(), "lines".into());
            m.insert("format".into(), Y::Mapping(format));
            let start: Y = match table.option("scan.startup.mode").unwrap_or("earliest-offset") {
                "earliest-offset" => "earliest".into(),
                "latest-offset" => "latest".into(),
                "group-offsets" => "group_offsets".into(),
                "timestamp" => {
                    let key = "scan.startup.timestamp-millis";
                    let ms = table.required(key)?;
                    let ms: i64 = ms.parse().map_err(|_| bad(key, ms, "not ms since the epoch"))?;
                    let mut t = Mapping::new();
                    t.insert("timestamp".into(), ms.into());
                    Y::Mapping(t)
                }
                other => {
                    return Err(bad(
                        "scan.startup.mode",
                        other,
                        "earliest-offset, latest-offset, group-offsets or timestamp",
                    ))
                }
            };
            m.insert("start_from".into(), start);
            match table.option("scan.bounded.mode") {
                None | Some("unbounded") => {}
                Some("latest-offset") => {
                    m.insert("bounded".into(), true.into());
                }
                Some(other) => {
                    return Err(bad("scan.bounded.mode", other, "latest-offset or unbounded"))
                }
            }
            let mut props = Mapping::new();
            for (k, v) in &table.options {
                match k.strip_prefix("properties.") {
                    Some("bootstrap.servers") => {}
                    Some("group.id") => {
                        m.insert("group_id".into(), v.as_str().into());
                    }
                    Some(p) => {
                        props.insert(p.into(), v.as_str().into());
                    }
                    None => {}
                }
            }
            m.insert("properties".into(), Y::Mapping(props));
            "kafka"
        }
        "socket" => {
            m.insert("host".into(), table.option("hostname").unwrap_or("127.0.0.1").into());
            let port = table.required("port")?;
            let port: u16 = port.parse().map_err(|_| bad("port", port, "not a TCP port"))?;
            m.insert("port".into(), port.into());
            "socket"
        }
        other => return Err(SqlError::config(format!("'{other}' is not a stream connector"))),
    };
    Ok((kind, Y::Mapping(m)))
}

/// What a message line became: a row of the table, or a line that does
/// not fit (a batch of the errors stream's fields).
pub fn parse_message(format: &LineFormat, t: &Tuple) -> squall::Result<(Batch, Option<i64>)> {
    let text = match t.values().first() {
        Some(Value::String(s)) => s.as_str(),
        other => {
            return Err(squall::Error::Other(format!(
                "table '{}': the spout emitted {other:?}, not a line",
                format.table
            )))
        }
    };
    let mut rows = Rows::new(format.schema.clone(), None).map_err(squall::Error::from)?;
    let batch = match format.push_line(text, &mut rows) {
        Ok(()) => Batch(rows.take().map_err(squall::Error::from)?),
        Err(reason) => error_batch(&format.table, &reason, text)?,
    };
    Ok((batch, None))
}

/// The schema of a line that did not fit, travelling among a table's rows
/// until [`is_error`] sends it to the error sink.
fn error_schema() -> SchemaRef {
    use datafusion_common::arrow::datatypes::DataType;
    static S: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        crate::catalog::schema_of(
            crate::file_source::ERROR_FIELDS
                .iter()
                .map(|f| (format!("__error_{f}"), DataType::Utf8))
                .collect(),
        )
    })
    .clone()
}

fn error_batch(table: &str, reason: &str, text: &str) -> squall::Result<Batch> {
    use datafusion_common::arrow::array::{ArrayRef, StringArray};
    let col = |s: &str| Arc::new(StringArray::from(vec![s])) as ArrayRef;
    let cols = vec![col(table), col(""), col(&format!("table '{table}': {reason}")), col(text)];
    datafusion_common::arrow::record_batch::RecordBatch::try_new(error_schema(), cols)
        .map(Batch)
        .map_err(|e| squall::Error::Other(e.to_string()))
}

/// Whether `b` is a line that did not fit (see [`parse_message`]).
pub fn is_error(b: &Batch) -> bool {
    b.0.schema() == error_schema()
}

/// The errors-stream values (source, line, reason, text) of an error batch.
pub fn error_values(b: &Batch) -> Vec<Value> {
    (0..b.0.num_columns())
        .map(|i| match crate::batch::value_at(b.0.column(i).as_ref(), 0) {
            Value::String(s) if i == 1 && s.is_empty() => Value::Null,
            v => v,
        })
        .collect()
}

impl crate::translate::Translator<'_> {
    /// The stream of a `kafka` or `socket` table: its spout (one task for
    /// a socket, else the parallelism), each line parsed into a row, the
    /// lines that do not fit to the table's error sink, and the table's
    /// watermark.
    ///
    /// # Errors
    /// A bad option or an unregistered connector.
    pub(crate) fn stream_table(
        &mut self,
        table: &TableDef,
    ) -> SqlResult<squall::datastream::Stream<Batch>> {
        use squall::time::WatermarkStrategy;
        let (kind, settings) = spout_settings(table)?;
        let spout = RegisteredSpout::new(&table.name, kind, settings)?;
        let format = LineFormat::of(table)?;
        let p = if kind == "socket" { 1 } else { self.parallelism };
        let time = crate::source::time_of(table)?;
        self.lines.push(format!(
            "source '{}': {kind} lines as {}, {p} task(s){}",
            table.name,
            if format.json { "json" } else { "csv" },
            time.map(|(c, d)| format!(", watermark column {c} - {d} ms")).unwrap_or_default()
        ));
        let spout_id = format!("{}{}", self.prefix, table.name);
        let parsed = self.env.from_spout_as(&spout_id, &table.name, spout, p, move |t: &Tuple| {
            parse_message(&format, t)
        });
        let errors = parsed.filter(is_error).to_tuples(
            &format!("{}-bad-lines", table.name),
            squall::Fields::new(crate::file_source::ERROR_FIELDS),
            |b: Batch| error_values(&b),
        );
        self.error_sink(table, &errors, squall::topology::DEFAULT_STREAM)?;
        let rows = parsed.filter(|b| !is_error(b));
        Ok(match time {
            None => rows,
            Some((col, delay)) => rows.assign_timestamps(
                move |b: &Batch| match crate::batch::scalar_at(b.0.column(col).as_ref(), 0) {
                    Ok(crate::batch::Scalar::Ts(t)) => t,
                    _ => i64::MIN,
                },
                WatermarkStrategy::BoundedOutOfOrderness {
                    max_out_of_orderness_ms: delay.max(0) as u64,
                },
            ),
        })
    }
}
