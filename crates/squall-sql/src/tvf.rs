//! Flink's window table-valued functions: `TABLE(TUMBLE(TABLE t,
//! DESCRIPTOR(ts), size))`, `TABLE(HOP(TABLE t, DESCRIPTOR(ts), slide,
//! size))`, `TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), step, size))` and
//! `TABLE(SESSION(TABLE t [PARTITION BY k], DESCRIPTOR(ts), gap))`.
//!
//! DataFusion plans them through a [`RelationPlanner`] into a
//! [`WindowTvf`] node: the input's columns plus `window_start`,
//! `window_end` and `window_time`, one row per window a record falls in.
//! A `GROUP BY window_start, window_end, ...` over it is a window
//! aggregation, emitted when the watermark passes the window's end. A
//! session's rows carry the window their record opens (`[ts, ts + gap)`);
//! the aggregate over them merges those per partition
//! ([`crate::session_window`]).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion_common::{plan_err, Column, DFSchema, DFSchemaRef, Result, ScalarValue};
use datafusion_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion_sql::sqlparser::ast::{
    self, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName, TableFactor,
};

/// Which windows a record falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum WindowKind {
    /// `[k*size, (k+1)*size)`.
    Tumble {
        /// Window length (ms).
        size: i64,
    },
    /// Windows of `size` starting every `slide`.
    Hop {
        /// Distance between starts (ms).
        slide: i64,
        /// Length (ms).
        size: i64,
    },
    /// Windows starting at `k*size`, ending every `step` until `size`.
    Cumulate {
        /// Distance between ends (ms).
        step: i64,
        /// Largest length (ms).
        size: i64,
    },
    /// Sessions: a record opens `[t, t + gap)`, and the windows of one
    /// partition that overlap merge (by the aggregate over them).
    Session {
        /// The gap that ends a session (ms).
        gap: i64,
    },
}

impl WindowKind {
    /// The `(start, end)` of every window holding time `t` (ms); for a
    /// session, the window `t` opens before merging.
    pub fn windows(&self, t: i64, out: &mut Vec<(i64, i64)>) {
        out.clear();
        match *self {
            WindowKind::Tumble { size } => {
                let start = t - t.rem_euclid(size);
                out.push((start, start + size));
            }
            WindowKind::Hop { slide, size } => {
                let last = t - t.rem_euclid(slide);
                let mut start = last;
                while start > t - size {
                    out.push((start, start + size));
                    start -= slide;
                }
                out.reverse();
            }
            WindowKind::Cumulate { step, size } => {
                let start = t - t.rem_euclid(size);
                let mut end = t - t.rem_euclid(step) + step;
                while end <= start + size {
                    out.push((start, end));
                    end += step;
                }
            }
            WindowKind::Session { gap } => out.push((t, t.saturating_add(gap))),
        }
    }
}

impl fmt::Display for WindowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowKind::Tumble { size } => write!(f, "TUMBLE(size={size}ms)"),
            WindowKind::Hop { slide, size } => write!(f, "HOP(slide={slide}ms, size={size}ms)"),
            WindowKind::Cumulate { step, size } => {
                write!(f, "CUMULATE(step={step}ms, size={size}ms)")
            }
            WindowKind::Session { gap } => write!(f, "SESSION(gap={gap}ms)"),
        }
    }
}

/// The columns a window TVF adds.
pub const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// The logical node of a window TVF.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowTvf {
    /// The table windowed.
    pub input: LogicalPlan,
    /// Its time column.
    pub time: Column,
    /// The windows.
    pub kind: WindowKind,
    /// A session's `PARTITION BY` columns (none: one sequence of
    /// sessions over the whole input).
    pub partition: Vec<Column>,
    /// Input columns + `window_start`, `window_end`, `window_time`.
    pub schema: DFSchemaRef,
}

impl WindowTvf {
    /// The node over `input`.
    ///
    /// # Errors
    /// If `time` is not a column of `input`.
    pub fn try_new(input: LogicalPlan, time: Column, kind: WindowKind) -> Result<Self> {
        let in_schema = input.schema();
        in_schema.index_of_column(&time)?;
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let mut fields: Vec<(Option<datafusion_common::TableReference>, Arc<Field>)> =
            in_schema.iter().map(|(q, f)| (q.cloned(), f.clone())).collect();
        for name in WINDOW_COLUMNS {
            fields.push((None, Arc::new(Field::new(name, ts.clone(), false))));
        }
        let schema = Arc::new(DFSchema::new_with_metadata(fields, Default::default())?);
        Ok(WindowTvf { input, time, kind, partition: Vec::new(), schema })
    }
}

impl PartialOrd for WindowTvf {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.input
            .partial_cmp(&other.input)
            .filter(|o| *o != std::cmp::Ordering::Equal)
            .or_else(|| self.kind.partial_cmp(&other.kind))
    }
}

impl UserDefinedLogicalNodeCore for WindowTvf {
    fn name(&self) -> &str {
        "WindowTvf"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![Expr::Column(self.time.clone())]
    }
    fn prevent_predicate_push_down_columns(&self) -> HashSet<String> {
        WINDOW_COLUMNS.iter().map(|s| s.to_string()).collect()
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "WindowTvf: {} on {}", self.kind, self.time)
    }
    fn with_exprs_and_inputs(
        &self,
        exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let time = match exprs.into_iter().next() {
            Some(Expr::Column(c)) => c,
            _ => self.time.clone(),
        };
        let input = inputs.pop().unwrap_or_else(|| self.input.clone());
        let mut node = WindowTvf::try_new(input, time, self.kind)?;
        node.partition = self.partition.clone();
        Ok(node)
    }
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let n = self.input.schema().fields().len();
        let mut need: Vec<usize> = output_columns.iter().copied().filter(|i| *i < n).collect();
        for c in std::iter::once(&self.time).chain(&self.partition) {
            if let Ok(i) = self.input.schema().index_of_column(c) {
                need.push(i);
            }
        }
        need.sort_unstable();
        need.dedup();
        Some(vec![need])
    }
}

/// Plans `TABLE(TUMBLE(...))`, `TABLE(HOP(...))`, `TABLE(CUMULATE(...))`.
#[derive(Debug)]
pub struct WindowTvfPlanner;

impl RelationPlanner for WindowTvfPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::TableFunction { expr: ast::Expr::Function(func), alias } = &relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let fname = func.name.to_string().to_uppercase();
        if !matches!(fname.as_str(), "TUMBLE" | "HOP" | "CUMULATE" | "SESSION") {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        }
        let FunctionArguments::List(list) = &func.args else {
            return plan_err!("{fname} needs arguments (TABLE t, DESCRIPTOR(col), INTERVAL ...)");
        };
        // `TABLE t PARTITION BY k` arrives as the named argument `t => k`.
        let mut partition_by = None;
        let mut owned: Vec<ast::Expr> = Vec::new();
        for a in &list.args {
            match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => owned.push(e.clone()),
                FunctionArg::Named { name, arg: FunctionArgExpr::Expr(e), .. } => {
                    partition_by = Some(e.clone());
                    owned.push(ast::Expr::Identifier(name.clone()));
                }
                _ => {}
            }
        }
        let args: Vec<&ast::Expr> = owned.iter().collect();
        let want = if matches!(fname.as_str(), "TUMBLE" | "SESSION") { 3 } else { 4 };
        if args.len() != want {
            return plan_err!(
                "{fname} takes {want} arguments (TABLE t, DESCRIPTOR(time column), {}), got {}",
                match fname.as_str() {
                    "TUMBLE" => "size",
                    "SESSION" => "gap",
                    _ => "slide or step, size",
                },
                args.len()
            );
        }
        // The table: `TABLE t` has its keyword blanked out before parsing, so
        // it arrives as an identifier.
        let table_name = match args[0] {
            ast::Expr::Identifier(i) => ObjectName::from(vec![i.clone()]),
            ast::Expr::CompoundIdentifier(parts) => ObjectName::from(parts.clone()),
            other => return plan_err!("{fname}'s first argument must be TABLE name, got {other}"),
        };
        let input = context.plan(TableFactor::Table {
            name: table_name,
            alias: None,
            args: None,
            with_hints: vec![],
            version: None,
            with_ordinality: false,
            partitions: vec![],
            json_path: None,
            sample: None,
            index_hints: vec![],
        })?;
        let time_name = match args[1] {
            ast::Expr::Function(d) if d.name.to_string().eq_ignore_ascii_case("DESCRIPTOR") => {
                match &d.args {
                    FunctionArguments::List(l) if l.args.len() == 1 => l.args[0].to_string(),
                    _ => return plan_err!("DESCRIPTOR takes one column"),
                }
            }
            other => {
                return plan_err!(
                    "{fname}'s second argument must be DESCRIPTOR(column), got {other}"
                )
            }
        };
        let time_name = time_name.trim_matches(|c| c == '`' || c == '"').to_string();
        let time = input
            .schema()
            .qualified_field_with_unqualified_name(&time_name)
            .map(|(q, f)| Column::new(q.cloned(), f.name()))?;
        let empty = DFSchema::empty();
        let mut durations = Vec::new();
        for a in &args[2..] {
            let e = context.sql_to_expr((*a).clone(), &empty)?;
            durations.push(interval_ms(&e).ok_or_else(|| {
                datafusion_common::DataFusionError::Plan(format!(
                    "{fname}: '{a}' is not a constant INTERVAL"
                ))
            })?);
        }
        if durations.iter().any(|d| *d <= 0) {
            return plan_err!("{fname}: window sizes must be positive");
        }
        let kind = match fname.as_str() {
            "TUMBLE" => WindowKind::Tumble { size: durations[0] },
            "SESSION" => WindowKind::Session { gap: durations[0] },
            "HOP" => {
                if durations[1] % durations[0] != 0 {
                    return plan_err!("HOP: the size must be a multiple of the slide");
                }
                WindowKind::Hop { slide: durations[0], size: durations[1] }
            }
            _ => {
                if durations[1] % durations[0] != 0 {
                    return plan_err!("CUMULATE: the size must be a multiple of the step");
                }
                WindowKind::Cumulate { step: durations[0], size: durations[1] }
            }
        };
        if partition_by.is_some() && fname != "SESSION" {
            return plan_err!("{fname} takes no PARTITION BY (SESSION does)");
        }
        let mut node = WindowTvf::try_new(input, time, kind)?;
        node.partition = partition_columns(partition_by.as_ref(), node.input.schema())?;
        let plan = LogicalPlan::Extension(Extension { node: Arc::new(node) });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(plan, alias.clone()))))
    }
}

/// The columns of a `PARTITION BY` (`k`, `t.k`, or `(k1, k2)`) of `input`.
fn partition_columns(by: Option<&ast::Expr>, input: &DFSchema) -> Result<Vec<Column>> {
    let items: Vec<&ast::Expr> = match by {
        None => return Ok(Vec::new()),
        Some(ast::Expr::Tuple(items)) => items.iter().collect(),
        Some(ast::Expr::Nested(e)) => vec![e.as_ref()],
        Some(e) => vec![e],
    };
    items
        .into_iter()
        .map(|e| {
            let name = match e {
                ast::Expr::Identifier(i) => i.value.clone(),
                ast::Expr::CompoundIdentifier(p) => {
                    p.last().map(|i| i.value.clone()).unwrap_or_default()
                }
                other => return plan_err!("PARTITION BY takes columns, got {other}"),
            };
            input
                .qualified_field_with_unqualified_name(&name)
                .map(|(q, f)| Column::new(q.cloned(), f.name()))
        })
        .collect()
}

/// A constant interval expression in ms.
pub fn interval_ms(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::IntervalMonthDayNano(Some(i)) => {
                if i.months != 0 {
                    None
                } else {
                    Some(i.days as i64 * 86_400_000 + i.nanoseconds / 1_000_000)
                }
            }
            ScalarValue::IntervalDayTime(Some(i)) => {
                Some(i.days as i64 * 86_400_000 + i.milliseconds as i64)
            }
            ScalarValue::IntervalYearMonth(_) => None,
            _ => None,
        },
        Expr::Cast(c) => interval_ms(&c.expr),
        Expr::Alias(a) => interval_ms(&a.expr),
        _ => None,
    }
}
