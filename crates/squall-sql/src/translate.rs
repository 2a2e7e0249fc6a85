//! From DataFusion's optimised logical plan to Squall operators on a
//! [`StreamEnv`]: table scans become source spouts, projections, filters
//! and window TVFs become `flat_map`s over batches, a `GROUP BY` with a
//! window's `window_start`/`window_end` becomes a keyed window aggregate,
//! `UNION ALL` a union, and an `INSERT INTO` a sink bolt.

use std::sync::Arc;

use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_common::DFSchema;
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::{Expr, LogicalPlan};
use datafusion_physical_expr::{create_physical_expr, PhysicalExpr};
use squall::datastream::{Stream, StreamEnv};
use squall::{Fields, Tuple, Value};

use crate::batch::{value_at, Batch};
use crate::catalog::{Catalog, TableDef};
use crate::error::{SqlError, SqlResult};
use crate::ops::{self, AggInput, AggKind, AggRow, OutCol, WindowAgg};
use crate::source::{FileSourceSpout, NexmarkSpout};
use crate::tvf::WindowTvf;

/// A translated plan node: its stream of batches, and which of its columns
/// are a window's start and end (set by a window TVF, kept by projections
/// and window aggregates that pass them on).
pub struct Node {
    /// The batches.
    pub stream: Stream<Batch>,
    /// `(window_start, window_end)` column indices.
    pub window: Option<(usize, usize)>,
    /// Whether it is an updating result (a changelog): each batch has the
    /// row kind as an extra last column ([`crate::updating::OP_COLUMN`]).
    pub updating: bool,
}

/// The connector of a query's result when it is the output stream of a
/// YAML `sql` component (option `id`: the component's id); not for users'
/// tables.
pub const STREAM_CONNECTOR: &str = "squall-stream";

/// Translates plans into operators of one topology.
pub struct Translator<'a> {
    /// Where operators go.
    pub env: &'a StreamEnv,
    /// The tables.
    pub catalog: &'a Catalog,
    /// Parallelism of sources and operators.
    pub parallelism: usize,
    /// One line per operator, for EXPLAIN and the run's log.
    pub lines: Vec<String>,
    /// Put before the ids of the sink components.
    pub prefix: String,
    /// The folders the filesystem sinks write, as `(component id, path)`.
    pub outputs: Vec<(String, std::path::PathBuf)>,
    /// How many readers each file table has in the topology so far (a
    /// table scanned twice gets two, `t` and `t-2`).
    pub readers: std::collections::HashMap<String, usize>,
    /// `table.exec.state.ttl` (ms): the keyed state of updating
    /// aggregates, regular joins and Top-N expires after this long
    /// untouched ([`crate::ttl`]).
    pub state_ttl_ms: Option<i64>,
    /// The tables the statement reads `FOR SYSTEM_TIME AS OF`
    /// ([`crate::temporal_join`]).
    pub versioned: Vec<crate::temporal_join::Versioned>,
    /// The rows each interval join holds ([`crate::interval_join`]).
    pub rows_held: Vec<Arc<crate::interval_join::RowsHeld>>,
    props: ExecutionProps,
    depth: usize,
}

pub(crate) fn physical(expr: &Expr, schema: &DFSchema) -> SqlResult<Arc<dyn PhysicalExpr>> {
    create_physical_expr(
        expr,
        schema,
        &ExecutionProps::new(),
        &datafusion_expr::physical_planning_context::PhysicalPlanningContext::default(),
    )
    .map_err(SqlError::from)
}

fn arrow_schema(schema: &DFSchema) -> SchemaRef {
    Arc::new(schema.as_arrow().clone())
}

pub(crate) fn fail(e: SqlError) -> ! {
    panic!("{e}")
}

/// The input column `expr` passes through unchanged, if it is one.
pub(crate) fn passthrough(expr: &Expr, input: &DFSchema) -> Option<usize> {
    match expr {
        Expr::Column(c) => input.index_of_column(c).ok(),
        Expr::Alias(a) => passthrough(&a.expr, input),
        _ => None,
    }
}

impl<'a> Translator<'a> {
    /// A translator adding to `env`.
    pub fn new(env: &'a StreamEnv, catalog: &'a Catalog, parallelism: usize) -> Self {
        Translator {
            env,
            catalog,
            parallelism,
            lines: Vec::new(),
            prefix: String::new(),
            outputs: Vec::new(),
            readers: Default::default(),
            state_ttl_ms: None,
            rows_held: Vec::new(),
            versioned: Vec::new(),
            props: ExecutionProps::new(),
            depth: 0,
        }
    }

    pub(crate) fn line(&mut self, text: String) {
        let _ = self.depth;
        self.lines.push(text);
    }

    /// The operators of `plan`.
    ///
    /// # Errors
    /// An unsupported construct, named; a bad table.
    pub fn translate(&mut self, plan: &LogicalPlan) -> SqlResult<Node> {
        let _ = &self.props;
        match plan {
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table().to_string();
                let table = self.catalog.tables.get(&name).ok_or_else(|| {
                    SqlError::plan(format!("table '{name}' is not a source table"))
                })?;
                if scan.fetch.is_some() {
                    return Err(SqlError::unsupported("LIMIT on a stream"));
                }
                let mut stream = self.source(table)?;
                if let Some(pred) = datafusion_expr::utils::conjunction(scan.filters.clone()) {
                    let full = DFSchema::try_from_qualified_schema(
                        scan.table_name.clone(),
                        &table.schema,
                    )?;
                    let pred_phys = physical(&pred, &full)?;
                    self.line(format!("filter: {pred}"));
                    stream = stream.flat_map(move |b: Batch, out: &mut Vec<Batch>| {
                        let r = ops::filter(&pred_phys, &b.0).unwrap_or_else(|e| fail(e));
                        if r.num_rows() > 0 {
                            out.push(Batch(r));
                        }
                    });
                }
                let node = match &scan.projection {
                    Some(cols)
                        if cols.len() != table.schema.fields().len()
                            || cols.iter().enumerate().any(|(i, c)| i != *c) =>
                    {
                        let cols = cols.clone();
                        self.line(format!("project columns {cols:?} of '{name}'"));
                        stream.map(move |b: Batch| {
                            Batch(
                                b.0.project(&cols)
                                    .unwrap_or_else(|e| fail(SqlError::exec(e.to_string()))),
                            )
                        })
                    }
                    _ => stream,
                };
                Ok(Node { stream: node, window: None, updating: false })
            }
            LogicalPlan::Projection(p) => {
                let input = self.child(&p.input)?;
                let in_schema = p.input.schema();
                let exprs: Vec<Arc<dyn PhysicalExpr>> =
                    p.expr.iter().map(|e| physical(e, in_schema)).collect::<SqlResult<_>>()?;
                let window = input.window.and_then(|(s, e)| {
                    let find = |col: usize| {
                        p.expr.iter().position(|x| passthrough(x, in_schema) == Some(col))
                    };
                    Some((find(s)?, find(e)?))
                });
                let updating = input.updating;
                let mut schema = arrow_schema(&p.schema);
                let mut exprs = exprs;
                if updating {
                    // The row kind passes through, last.
                    let op = in_schema.fields().len();
                    exprs.push(Arc::new(datafusion_physical_expr::expressions::Column::new(
                        crate::updating::OP_COLUMN,
                        op,
                    )));
                    schema = crate::updating::with_op(&schema);
                }
                self.line(format!(
                    "projection: {}",
                    p.expr.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
                ));
                let stream = input.stream.map(move |b: Batch| {
                    Batch(ops::project(&exprs, &schema, &b.0).unwrap_or_else(|e| fail(e)))
                });
                Ok(Node { stream, window, updating })
            }
            LogicalPlan::Filter(f) => {
                let input = self.child(&f.input)?;
                let pred = physical(&f.predicate, f.input.schema())?;
                self.line(format!("filter: {}", f.predicate));
                let stream = input.stream.flat_map(move |b: Batch, out: &mut Vec<Batch>| {
                    let r = ops::filter(&pred, &b.0).unwrap_or_else(|e| fail(e));
                    if r.num_rows() > 0 {
                        out.push(Batch(r));
                    }
                });
                Ok(Node { stream, window: input.window, updating: input.updating })
            }
            LogicalPlan::SubqueryAlias(a) => self.translate(&a.input),
            LogicalPlan::Union(u) => {
                self.line("union all".into());
                let mut nodes = Vec::new();
                for i in &u.inputs {
                    nodes.push(self.child(i)?);
                }
                let mut it = nodes.into_iter();
                let first = it.next().ok_or_else(|| SqlError::plan("empty UNION"))?;
                let mut window = first.window;
                let updating = first.updating;
                let mut stream = first.stream;
                for n in it {
                    if n.window != window {
                        window = None;
                    }
                    if n.updating != updating {
                        return Err(SqlError::unsupported(
                            "UNION ALL of an updating result and an append-only stream",
                        ));
                    }
                    stream = stream.union(&n.stream);
                }
                Ok(Node { stream, window, updating })
            }
            LogicalPlan::Extension(ext) => {
                if let Some(top) = ext.node.as_any().downcast_ref::<crate::topn_plan::TopN>() {
                    let input = self.child(&top.input)?;
                    self.line(top.describe());
                    return crate::topn::translate(top, input, self.state_ttl_ms);
                }
                let Some(tvf) = ext.node.as_any().downcast_ref::<WindowTvf>() else {
                    return Err(SqlError::unsupported(format!(
                        "the plan node {}",
                        ext.node.name()
                    )));
                };
                let input = self.child(&tvf.input)?;
                if input.updating {
                    return Err(SqlError::unsupported(
                        "a window TVF over an updating result (a non-windowed GROUP BY)",
                    ));
                }
                let time = tvf.input.schema().index_of_column(&tvf.time)?;
                let n = tvf.input.schema().fields().len();
                let schema = arrow_schema(&tvf.schema);
                let kind = tvf.kind;
                self.line(format!("window TVF {kind} on {}", tvf.time));
                let stream = input.stream.flat_map(move |b: Batch, out: &mut Vec<Batch>| {
                    let r =
                        ops::expand_windows(kind, time, &schema, &b.0).unwrap_or_else(|e| fail(e));
                    if r.num_rows() > 0 {
                        out.push(Batch(r));
                    }
                });
                Ok(Node { stream, window: Some((n, n + 1)), updating: false })
            }
            LogicalPlan::Aggregate(agg) => self.aggregate(agg),
            LogicalPlan::Join(j) => self.join(j),
            LogicalPlan::Sort(_) => Err(SqlError::unsupported("ORDER BY on a stream")),
            LogicalPlan::Limit(_) => Err(SqlError::unsupported("LIMIT on a stream")),
            LogicalPlan::Window(w) => crate::over_plan::translate(self, w),
            LogicalPlan::Distinct(_) => Err(SqlError::unsupported("SELECT DISTINCT on a stream")),
            LogicalPlan::Values(_) | LogicalPlan::EmptyRelation(_) => {
                Err(SqlError::unsupported("VALUES or a SELECT without FROM as a stream"))
            }
            LogicalPlan::Unnest(_) => Err(SqlError::unsupported("UNNEST")),
            LogicalPlan::Subquery(_) => Err(SqlError::unsupported("subqueries")),
            other => Err(SqlError::unsupported(format!("the plan node {}", other.display()))),
        }
    }

    fn child(&mut self, plan: &LogicalPlan) -> SqlResult<Node> {
        self.depth += 1;
        let r = self.translate(plan);
        self.depth -= 1;
        r
    }

    fn source(&mut self, table: &TableDef) -> SqlResult<Stream<Batch>> {
        let connector = table.connector()?.to_ascii_lowercase();
        let p = self.parallelism;
        let convert = |t: &Tuple| -> squall::Result<(Batch, Option<i64>)> {
            match t.values().first() {
                Some(Value::Native(n)) => Ok((n.clone().take::<Batch>()?, None)),
                _ => {
                    Err(squall::Error::Other("a SQL source emitted a tuple without a batch".into()))
                }
            }
        };
        let wm = table
            .watermark
            .as_ref()
            .map(|w| format!(", watermark {} - {} ms", w.column, w.delay_ms))
            .unwrap_or_default();
        match connector.as_str() {
            "nexmark" => {
                let spout = NexmarkSpout::new(table)?;
                self.line(format!("source '{}': nexmark generator, {p} task(s){wm}", table.name));
                Ok(self.env.from_spout(&table.name, spout, p, convert))
            }
            "filesystem" | "file" => {
                let spout = FileSourceSpout::new(table)?;
                self.line(format!(
                    "source '{}': files {} ({}), {p} task(s){wm}",
                    table.name,
                    table.option("path").unwrap_or(""),
                    table.option("format").unwrap_or("csv")
                ));
                let n = self.readers.entry(table.name.clone()).or_default();
                *n += 1;
                let spout_id = match *n {
                    1 => format!("{}{}", self.prefix, table.name),
                    n => format!("{}{}-{n}", self.prefix, table.name),
                };
                let stream = self.env.from_spout_as(&spout_id, &table.name, spout, p, convert);
                self.error_sink(table, &spout_id, crate::file_source::ERRORS_STREAM)?;
                Ok(stream)
            }
            "kafka" | "socket" => self.stream_table(table),
            other => Err(SqlError::config(format!(
                "table '{}': 'connector' = '{other}' is not known as a source (nexmark, filesystem, kafka, socket)",
                table.name
            ))),
        }
    }

    /// Subscribes the error sink of `table` to `stream` of its reader
    /// `spout_id` (fields [`crate::file_source::ERROR_FIELDS`]): part files
    /// in `'errors.path'` (committed with checkpoints), else a log.
    pub(crate) fn error_sink(
        &mut self,
        table: &TableDef,
        spout_id: &str,
        stream: &str,
    ) -> SqlResult<()> {
        let id = format!("{spout_id}-errors");
        let grouping = squall::topology::Grouping::Shuffle;
        match table.option("errors.path") {
            Some(path) => {
                let path = std::path::PathBuf::from(path);
                let sink = self.file_sink(table, &path)?;
                self.line(format!(
                    "errors of '{}': file, line, reason, text to {}",
                    table.name,
                    path.display()
                ));
                let p = self.parallelism;
                self.env.with_builder(|b| {
                    b.set_bolt(&id, sink, p).grouping_stream(spout_id, stream, grouping);
                });
                self.outputs.push((id, path));
            }
            None => {
                self.line(format!("errors of '{}': logged", table.name));
                self.env.with_builder(|b| {
                    b.set_bolt(&id, crate::file_source::ErrorLog::default(), 1)
                        .grouping_stream(spout_id, stream, grouping);
                });
            }
        }
        Ok(())
    }

    /// A transactional CSV sink writing part files into `path` (created).
    pub(crate) fn file_sink(
        &self,
        table: &TableDef,
        path: &std::path::Path,
    ) -> SqlResult<impl squall::Bolt + Clone> {
        std::fs::create_dir_all(path).map_err(|e| {
            SqlError::config(format!(
                "table '{}': cannot create '{}': {e}",
                table.name,
                path.display()
            ))
        })?;
        Ok(squall::builtins::TransactionalFileSink::new(path)?.bolt())
    }

    fn aggregate(&mut self, agg: &datafusion_expr::logical_plan::Aggregate) -> SqlResult<Node> {
        let in_schema = agg.input.schema().clone();
        // Which group expression is the window's end (and start)?
        let group_cols: Vec<Option<usize>> =
            agg.group_expr.iter().map(|g| passthrough(g, &in_schema)).collect();
        // A window aggregate groups by its window's end; any other GROUP BY
        // is an updating aggregate.
        let window = window_columns(&agg.input).and_then(|(ws, we)| {
            let end = group_cols.iter().position(|c| *c == Some(we))?;
            Some((group_cols.iter().position(|c| *c == Some(ws)), end))
        });
        let input = self.child(&agg.input)?;
        if input.updating && window.is_some() {
            return Err(SqlError::unsupported("a window aggregate over an updating result"));
        }
        let keys: Vec<Arc<dyn PhysicalExpr>> =
            agg.group_expr.iter().map(|g| physical(g, &in_schema)).collect::<SqlResult<_>>()?;
        let mut kinds = Vec::new();
        let mut args = Vec::new();
        let mut filters = Vec::new();
        for e in &agg.aggr_expr {
            let e = match e {
                Expr::Alias(a) => a.expr.as_ref(),
                e => e,
            };
            let Expr::AggregateFunction(f) = e else {
                return Err(SqlError::unsupported(format!("the aggregate expression {e}")));
            };
            let name = f.func.name().to_ascii_lowercase();
            let p = &f.params;
            if !p.order_by.is_empty() {
                return Err(SqlError::unsupported(format!("ORDER BY inside {name}()")));
            }
            let kind = match (name.as_str(), p.distinct) {
                ("count", false) => AggKind::Count,
                ("count", true) => AggKind::CountDistinct,
                ("sum", false) => AggKind::Sum,
                ("min", _) => AggKind::Min,
                ("max", _) => AggKind::Max,
                ("avg" | "mean", false) => AggKind::Avg,
                (n, d) => {
                    return Err(SqlError::unsupported(format!(
                        "the aggregate {}{n}() in a window aggregate (count, count distinct, sum, min, max, avg are)",
                        if d { "DISTINCT " } else { "" }
                    )))
                }
            };
            let arg = match p.args.as_slice() {
                [] => None,
                [Expr::Literal(v, _)] if kind == AggKind::Count && !v.is_null() => None,
                [a] => Some(physical(a, &in_schema)?),
                _ => return Err(SqlError::unsupported(format!("{name}() with several arguments"))),
            };
            kinds.push(kind);
            args.push(arg);
            filters.push(p.filter.as_ref().map(|f| physical(f, &in_schema)).transpose()?);
        }
        let ng = agg.group_expr.len();
        let out: Vec<OutCol> =
            (0..ng).map(OutCol::Key).chain((0..kinds.len()).map(OutCol::Agg)).collect();
        let schema = arrow_schema(&agg.schema);
        let what = format!(
            "group by {}; {}",
            agg.group_expr.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "),
            agg.aggr_expr.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
        );
        let op_col = input.updating.then(|| in_schema.fields().len());
        let splitter = AggInput { keys, end_key: window.map(|w| w.1), op_col, args, filters };
        let session = crate::session_window::session_tvf(&agg.input);
        if let (Some((start_key, end_key)), None) = (window, session) {
            let f = WindowAgg { kinds, out, schema, late: Arc::new(Default::default()) };
            let partials = crate::window_combine::partials(input.stream, splitter, &f.kinds);
            let stream = if crate::proctime::on_processing_time(&agg.input) {
                self.line(format!(
                    "window aggregate: {what} (on processing time: emitted when the wall clock passes window_end)"
                ));
                partials.process(crate::proctime::ProcTimeAgg(f))
            } else {
                self.line(format!(
                    "window aggregate: {what} (rows folded per batch, emitted when the watermark passes window_end)"
                ));
                partials.process(f)
            };
            return Ok(Node { stream, window: start_key.map(|s| (s, end_key)), updating: false });
        }
        let rows: Stream<AggRow> = input.stream.flat_map(move |b: Batch, out: &mut Vec<AggRow>| {
            splitter.rows(&b.0, out).unwrap_or_else(|e| fail(e));
        });
        if let Some(tvf) = session {
            let Some((start_key, end_key)) = window else {
                return Err(SqlError::unsupported("a SESSION window without GROUP BY window_end"));
            };
            if crate::proctime::on_processing_time(&agg.input) {
                return Err(SqlError::unsupported("SESSION windows on processing time"));
            }
            let name = |g: &Option<usize>| g.map(|i| in_schema.field(i).name().clone());
            let partition = tvf
                .partition
                .iter()
                .map(|c| {
                    group_cols.iter().position(|g| name(g).as_ref() == Some(&c.name)).ok_or_else(
                        || {
                            SqlError::plan(format!(
                                "SESSION: PARTITION BY {c} is not a GROUP BY key"
                            ))
                        },
                    )
                })
                .collect::<SqlResult<Vec<usize>>>()?;
            let crate::tvf::WindowKind::Session { gap } = tvf.kind else { unreachable!() };
            self.line(format!(
                "session window aggregate: {what} (sessions per [{}], emitted when the watermark passes their end)",
                tvf.partition.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
            ));
            let late = Arc::new(Default::default());
            let f = crate::session_window::SessionAgg {
                kinds,
                out,
                schema,
                gap,
                start_key,
                end_key,
                late,
            };
            let stream = crate::session_window::aggregate(rows, partition, f);
            return Ok(Node { stream, window: start_key.map(|s| (s, end_key)), updating: false });
        }
        let keyed = rows.key_by(|r: &AggRow| r.key.clone());
        self.line(format!(
            "updating aggregate: {what} (a changelog: each row's new result retracts its last)"
        ));
        let schema = crate::updating::with_op(&schema);
        let f = crate::updating::UpdatingAgg { kinds, schema };
        let stream = crate::ttl::process(&keyed, f, self.state_ttl_ms);
        Ok(Node { stream, window: None, updating: true })
    }

    fn join(&mut self, j: &datafusion_expr::logical_plan::Join) -> SqlResult<Node> {
        use datafusion_expr::JoinType;
        let outer = match j.join_type {
            JoinType::Inner => None,
            JoinType::Left => Some((true, false)),
            JoinType::Right => Some((false, true)),
            JoinType::Full => Some((true, true)),
            other => {
                return Err(SqlError::unsupported(format!(
                    "{other} joins on streams (inner, left, right and full outer joins are)"
                )))
            }
        };
        if j.on.is_empty() {
            return Err(SqlError::unsupported(
                "joins without an equality between the two sides (cross joins, pure interval joins)",
            ));
        }
        let temporal = crate::temporal_join::detect(j, &self.versioned, self.catalog)?;
        if let Some(spec) = temporal.as_ref().filter(|s| s.version_time.is_none()) {
            let left = self.child(&j.left)?;
            if left.updating {
                return Err(SqlError::unsupported("a lookup join of an updating result"));
            }
            let (stream, what) =
                crate::lookup_join::plan(j, self.catalog, left.stream, spec.outer)?;
            self.line(what);
            return Ok(Node { stream, window: None, updating: false });
        }
        let (ls, rs) = (j.left.schema().clone(), j.right.schema().clone());
        let left = self.child(&j.left)?;
        let right = self.child(&j.right)?;
        if left.updating || right.updating {
            return Err(SqlError::unsupported("joins of updating results"));
        }
        if let Some(spec) = temporal {
            let (stream, what) = crate::temporal_join::plan(j, spec, left.stream, right.stream)?;
            self.line(what);
            return Ok(Node { stream, window: None, updating: false });
        }
        if let Some(sides) = outer {
            let (stream, what) =
                crate::outer_join::plan(j, left.stream, right.stream, sides, self.state_ttl_ms)?;
            self.line(what);
            return Ok(Node { stream, window: None, updating: true });
        }
        let lkeys: Vec<Arc<dyn PhysicalExpr>> =
            j.on.iter().map(|(l, _)| physical(l, &ls)).collect::<SqlResult<_>>()?;
        let rkeys: Vec<Arc<dyn PhysicalExpr>> =
            j.on.iter().map(|(_, r)| physical(r, &rs)).collect::<SqlResult<_>>()?;
        // A window join: both sides keyed by the end of their windows.
        let window_end_key = match (left.window, right.window) {
            (Some((_, le)), Some((_, re))) => j.on.iter().position(|(l, r)| {
                passthrough(l, &ls) == Some(le) && passthrough(r, &rs) == Some(re)
            }),
            _ => None,
        };
        let filter = j.filter.as_ref().map(|f| physical(f, &j.schema)).transpose()?;
        let interval = match window_end_key {
            None => crate::interval_join::bounds(j, self.catalog),
            Some(_) => None,
        };
        self.line(format!(
            "{}join on {}{}",
            match (window_end_key, interval) {
                (Some(_), _) => "window ".to_string(),
                (None, Some(b)) => b.describe(),
                (None, None) => String::new(),
            },
            j.on.iter().map(|(l, r)| format!("{l} = {r}")).collect::<Vec<_>>().join(" AND "),
            j.filter.as_ref().map(|f| format!(" where {f}")).unwrap_or_default()
        ));
        let li = ops::JoinInput { keys: lkeys, left: true };
        let ri = ops::JoinInput { keys: rkeys, left: false };
        let l: Stream<ops::JoinRow> =
            left.stream.flat_map(move |b: Batch, out: &mut Vec<ops::JoinRow>| {
                li.rows(&b.0, out).unwrap_or_else(|e| fail(e))
            });
        let r: Stream<ops::JoinRow> =
            right.stream.flat_map(move |b: Batch, out: &mut Vec<ops::JoinRow>| {
                ri.rows(&b.0, out).unwrap_or_else(|e| fail(e))
            });
        if let Some(bounds) = interval {
            let (stream, held) = crate::interval_join::plan(&j.schema, l, r, filter, bounds);
            self.rows_held.push(held);
            return Ok(Node { stream, window: None, updating: false });
        }
        let f = ops::Join { schema: arrow_schema(&j.schema), filter, window_end_key };
        let ttl = if window_end_key.is_none() { self.state_ttl_ms } else { None };
        let keyed = l.union(&r).key_by(|r: &ops::JoinRow| r.key.clone());
        let stream = crate::ttl::process(&keyed, f, ttl);
        let window = if window_end_key.is_some() { left.window } else { None };
        Ok(Node { stream, window, updating: false })
    }

    /// Adds the sink of `table` for `node`, whose columns are the table's.
    ///
    /// # Errors
    /// An unknown connector or a bad path.
    pub fn sink(&mut self, table: &TableDef, node: Node) -> SqlResult<()> {
        let connector = table.connector()?.to_ascii_lowercase();
        if connector == "blackhole" {
            // Discards the batches as they come (no row is formatted).
            self.line(format!("sink '{}': blackhole", table.name));
            node.stream.sink(|_| {});
            return Ok(());
        }
        if !table.primary_key.is_empty() {
            return crate::upsert_sink::add(self, table, node);
        }
        // An updating result's rows start with their row kind (+I, -U, +U,
        // -D), Flink's changelog: the sink's final table is what was
        // inserted and not retracted.
        let updating = node.updating;
        let names = table.schema.fields().iter().map(|f| f.name().to_string());
        let fields = match updating {
            true => Fields::new(std::iter::once("op".to_string()).chain(names)),
            false => Fields::new(names),
        };
        let rows: Stream<Vec<Value>> =
            node.stream.flat_map(move |b: Batch, out: &mut Vec<Vec<Value>>| {
                let cols = b.0.columns();
                let (data, op) = match updating {
                    true => (&cols[..cols.len() - 1], cols.last()),
                    false => (cols, None),
                };
                for r in 0..b.0.num_rows() {
                    let op = op.map(|c| value_at(c.as_ref(), r));
                    out.push(
                        op.into_iter()
                            .chain(data.iter().map(|c| value_at(c.as_ref(), r)))
                            .collect(),
                    );
                }
            });
        let name = format!("{}sink-{}", self.prefix, table.name);
        match connector.as_str() {
            "print" | "stdout" => {
                self.line(format!("sink '{}': print", table.name));
                let id = rows.to_tuples(&format!("{name}-rows"), fields, |r| r);
                self.env.with_builder(|b| {
                    b.set_bolt(&name, squall::builtins::StdoutSink::new(), 1).global_grouping(&id);
                });
            }
            STREAM_CONNECTOR => {
                let id = table.required("id")?.to_string();
                self.line(format!("result: the stream of component '{id}'"));
                let rows_id = rows.to_tuples(&format!("{name}-rows"), fields.clone(), |r| r);
                let p = self.parallelism;
                self.env.with_builder(|b| {
                    b.set_bolt(&id, crate::relay::Relay::new(fields), p)
                        .local_or_shuffle_grouping(&rows_id);
                });
            }
            "filesystem" | "file" => {
                let path = std::path::PathBuf::from(table.required("path")?);
                let format = table.option("format").unwrap_or("csv").to_ascii_lowercase();
                if format != "csv" {
                    return Err(SqlError::unsupported(format!(
                        "sink format '{format}' (the filesystem sink writes csv)"
                    )));
                }
                self.line(format!(
                    "sink '{}': CSV part files in {}{} (committed with checkpoints)",
                    table.name,
                    path.display(),
                    crate::partitioned_sink::describe(table)
                ));
                let id = rows.to_tuples(&format!("{name}-rows"), fields, |r| r);
                let p = self.parallelism;
                if let Some(sink) = crate::partitioned_sink::bolt(table, &path, updating)? {
                    self.env.with_builder(|b| {
                        b.set_bolt(&name, sink, p).local_or_shuffle_grouping(&id);
                    });
                } else {
                    let sink = self.file_sink(table, &path)?;
                    self.env.with_builder(|b| {
                        b.set_bolt(&name, sink, p).local_or_shuffle_grouping(&id);
                    });
                }
                self.outputs.push((name, path));
            }
            other => {
                return Err(SqlError::config(format!(
                    "table '{}': 'connector' = '{other}' is not known as a sink (filesystem, print, blackhole)",
                    table.name
                )))
            }
        }
        Ok(())
    }
}

/// The `(window_start, window_end)` columns of `plan`'s output, if it
/// passes on a window TVF's (through projections, filters, aliases and
/// window aggregates that group by them).
pub fn window_columns(plan: &LogicalPlan) -> Option<(usize, usize)> {
    match plan {
        LogicalPlan::Extension(ext) => {
            let tvf = ext.node.as_any().downcast_ref::<WindowTvf>()?;
            let n = tvf.input.schema().fields().len();
            Some((n, n + 1))
        }
        LogicalPlan::Filter(f) => window_columns(&f.input),
        LogicalPlan::SubqueryAlias(a) => window_columns(&a.input),
        LogicalPlan::Projection(p) => {
            let (s, e) = window_columns(&p.input)?;
            let input = p.input.schema();
            let find = |col: usize| p.expr.iter().position(|x| passthrough(x, input) == Some(col));
            Some((find(s)?, find(e)?))
        }
        LogicalPlan::Join(j) => {
            let (ls, le) = window_columns(&j.left)?;
            let (_, re) = window_columns(&j.right)?;
            let window_join = j.on.iter().any(|(l, r)| {
                passthrough(l, j.left.schema()) == Some(le)
                    && passthrough(r, j.right.schema()) == Some(re)
            });
            window_join.then_some((ls, le))
        }
        LogicalPlan::Aggregate(a) => {
            let (s, e) = window_columns(&a.input)?;
            let input = a.input.schema();
            let find =
                |col: usize| a.group_expr.iter().position(|x| passthrough(x, input) == Some(col));
            Some((find(s)?, find(e)?))
        }
        _ => None,
    }
}
