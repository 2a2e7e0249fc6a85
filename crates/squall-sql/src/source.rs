//! Source spouts of SQL tables: `'connector' = 'nexmark'` (the generator,
//! here) and `'connector' = 'filesystem'` ([`crate::file_source`]). Each
//! emits tuples of one field, `batch`, holding a [`Batch`] of up to
//! [`BATCH_ROWS`] rows of the table's schema, and after each batch the
//! table's watermark (largest time read minus the declared delay minus
//! 1 ms). Positions are checkpointed, so a restore replays the same rows.

use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_common::arrow::record_batch::RecordBatch;
use squall::topology::OutputDeclarer;
use squall::{Fields, Native, OutputCollector, Spout, SpoutStatus, TopologyContext, Value};

use crate::batch::Batch;
use crate::catalog::TableDef;
use crate::error::{SqlError, SqlResult};
pub use crate::file_source::{list_files, FileSourceSpout, ERRORS_STREAM};
use crate::nexmark::{GeneratorConfig, Kind};
pub use crate::rows::{parse_ts, Cell, Rows};

/// Rows per batch a source emits at most.
pub const BATCH_ROWS: usize = 1024;

pub(crate) fn emit_batch(c: &mut OutputCollector, batch: RecordBatch) -> squall::Result<()> {
    c.emit(vec![Value::Native(Native::new(Batch(batch)))])
}

pub(crate) fn declare(d: &mut OutputDeclarer) {
    d.declare(Fields::new(["batch"]));
}

/// The event-time column's index and the watermark delay of `table`.
pub(crate) fn time_of(table: &TableDef) -> SqlResult<Option<(usize, i64)>> {
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

pub(crate) fn opt<T: std::str::FromStr>(table: &TableDef, key: &str, default: T) -> SqlResult<T> {
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
        // At a limited rate, scan only the events due by now, so they come
        // evenly rather than in bursts of a batch.
        let mut due = 16 * BATCH_ROWS;
        if self.per_second > 0.0 {
            let started = *self.started.get_or_insert_with(std::time::Instant::now);
            let allowed = started.elapsed().as_secs_f64() * self.per_second / self.tasks as f64;
            if self.emitted as f64 > allowed {
                return Ok(SpoutStatus::Idle);
            }
            due = due.min((allowed - self.emitted as f64) as usize + 1);
        }
        let mut rows =
            Rows::new(self.schema.clone(), self.time.map(|t| t.0)).map_err(squall::Error::from)?;
        let mut scanned = 0;
        let mut last_ts = None;
        while rows.len() < BATCH_ROWS && scanned < due {
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
