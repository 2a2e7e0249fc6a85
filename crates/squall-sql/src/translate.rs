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
}

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
    props: ExecutionProps,
    depth: usize,
}

fn physical(expr: &Expr, schema: &DFSchema) -> SqlResult<Arc<dyn PhysicalExpr>> {
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

fn fail(e: SqlError) -> ! {
    panic!("{e}")
}

/// The input column `expr` passes through unchanged, if it is one.
fn passthrough(expr: &Expr, input: &DFSchema) -> Option<usize> {
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
            props: ExecutionProps::new(),
            depth: 0,
        }
    }

    fn line(&mut self, text: String) {
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
                Ok(Node { stream: node, window: None })
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
                let schema = arrow_schema(&p.schema);
                self.line(format!(
                    "projection: {}",
                    p.expr.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
                ));
                let stream = input.stream.map(move |b: Batch| {
                    Batch(ops::project(&exprs, &schema, &b.0).unwrap_or_else(|e| fail(e)))
                });
                Ok(Node { stream, window })
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
                Ok(Node { stream, window: input.window })
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
                let mut stream = first.stream;
                for n in it {
                    if n.window != window {
                        window = None;
                    }
                    stream = stream.union(&n.stream);
                }
                Ok(Node { stream, window })
            }
            LogicalPlan::Extension(ext) => {
                let Some(tvf) = ext.node.as_any().downcast_ref::<WindowTvf>() else {
                    return Err(SqlError::unsupported(format!(
                        "the plan node {}",
                        ext.node.name()
                    )));
                };
                let input = self.child(&tvf.input)?;
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
                Ok(Node { stream, window: Some((n, n + 1)) })
            }
            LogicalPlan::Aggregate(agg) => self.aggregate(agg),
            LogicalPlan::Join(j) => self.join(j),
            LogicalPlan::Sort(_) => Err(SqlError::unsupported("ORDER BY on a stream")),
            LogicalPlan::Limit(_) => Err(SqlError::unsupported("LIMIT on a stream")),
            LogicalPlan::Window(_) => Err(SqlError::unsupported(
                "OVER windows (ROW_NUMBER() for Top-N and deduplication)",
            )),
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
                Ok(self.env.from_spout(&table.name, spout, p, convert))
            }
            "kafka" | "socket" => Err(SqlError::unsupported(format!(
                "'connector' = '{connector}' in SQL tables (the YAML and Rust APIs have it)"
            ))),
            other => Err(SqlError::config(format!(
                "table '{}': 'connector' = '{other}' is not known as a source (nexmark, filesystem)",
                table.name
            ))),
        }
    }

    fn aggregate(&mut self, agg: &datafusion_expr::logical_plan::Aggregate) -> SqlResult<Node> {
        let in_schema = agg.input.schema().clone();
        // Which group expression is the window's end (and start)?
        let input_window = window_columns(&agg.input);
        let Some((ws, we)) = input_window else {
            return Err(SqlError::unsupported(
                "GROUP BY without window_start and window_end of a window TVF (a non-windowed, updating aggregate)",
            ));
        };
        let group_cols: Vec<Option<usize>> =
            agg.group_expr.iter().map(|g| passthrough(g, &in_schema)).collect();
        let Some(end_key) = group_cols.iter().position(|c| *c == Some(we)) else {
            return Err(SqlError::unsupported(
                "a window aggregate must GROUP BY window_end (and window_start) of its window TVF",
            ));
        };
        let start_key = group_cols.iter().position(|c| *c == Some(ws));
        let input = self.child(&agg.input)?;
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
        self.line(format!(
            "window aggregate: group by {}; {} (emitted when the watermark passes window_end)",
            agg.group_expr.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "),
            agg.aggr_expr.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
        ));
        let splitter = AggInput { keys, end_key, args, filters };
        let rows: Stream<AggRow> = input.stream.flat_map(move |b: Batch, out: &mut Vec<AggRow>| {
            splitter.rows(&b.0, out).unwrap_or_else(|e| fail(e));
        });
        let f = WindowAgg { kinds, out, schema, late: Arc::new(Default::default()) };
        let stream = rows.key_by(|r: &AggRow| r.key.clone()).process(f);
        let window = start_key.map(|s| (s, end_key));
        Ok(Node { stream, window })
    }

    fn join(&mut self, j: &datafusion_expr::logical_plan::Join) -> SqlResult<Node> {
        use datafusion_expr::JoinType;
        if j.join_type != JoinType::Inner {
            return Err(SqlError::unsupported(format!(
                "{} joins on streams (inner joins are)",
                j.join_type
            )));
        }
        if j.on.is_empty() {
            return Err(SqlError::unsupported(
                "joins without an equality between the two sides (cross joins, pure interval joins)",
            ));
        }
        let (ls, rs) = (j.left.schema().clone(), j.right.schema().clone());
        let left = self.child(&j.left)?;
        let right = self.child(&j.right)?;
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
        self.line(format!(
            "{}join on {}{}",
            if window_end_key.is_some() { "window " } else { "" },
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
        let f = ops::Join { schema: arrow_schema(&j.schema), filter, window_end_key };
        let stream = l.union(&r).key_by(|r: &ops::JoinRow| r.key.clone()).process(f);
        let window = if window_end_key.is_some() { left.window } else { None };
        Ok(Node { stream, window })
    }

    /// Adds the sink of `table` for `node`, whose columns are the table's.
    ///
    /// # Errors
    /// An unknown connector or a bad path.
    pub fn sink(&mut self, table: &TableDef, node: Node) -> SqlResult<()> {
        let connector = table.connector()?.to_ascii_lowercase();
        let fields = Fields::new(table.schema.fields().iter().map(|f| f.name().to_string()));
        let rows: Stream<Vec<Value>> =
            node.stream.flat_map(|b: Batch, out: &mut Vec<Vec<Value>>| {
                let cols = b.0.columns();
                for r in 0..b.0.num_rows() {
                    out.push(cols.iter().map(|c| value_at(c.as_ref(), r)).collect());
                }
            });
        let name = format!("sink-{}", table.name);
        match connector.as_str() {
            "blackhole" => {
                self.line(format!("sink '{}': blackhole", table.name));
                rows.sink(|_| {});
            }
            "print" | "stdout" => {
                self.line(format!("sink '{}': print", table.name));
                let id = rows.to_tuples(&format!("{name}-rows"), fields, |r| r);
                self.env.with_builder(|b| {
                    b.set_bolt(&name, squall::builtins::StdoutSink::new(), 1).global_grouping(&id);
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
                std::fs::create_dir_all(&path).map_err(|e| {
                    SqlError::config(format!("table '{}': cannot create '{}': {e}", table.name, path.display()))
                })?;
                let sink = squall::builtins::TransactionalFileSink::new(&path)?.bolt();
                self.line(format!(
                    "sink '{}': CSV part files in {} (committed with checkpoints)",
                    table.name,
                    path.display()
                ));
                let id = rows.to_tuples(&format!("{name}-rows"), fields, |r| r);
                let p = self.parallelism;
                self.env.with_builder(|b| {
                    b.set_bolt(&name, sink, p).local_or_shuffle_grouping(&id);
                });
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
