//! Top-N and deduplication in the logical plan: Flink SQL's pattern
//!
//! ```sql
//! SELECT ... FROM (
//!     SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY price DESC) AS rn FROM t)
//! WHERE rn <= 10
//! ```
//!
//! DataFusion plans it as a `Filter` on the row number over a `Window`
//! node (through projections and aliases). [`TopNRule`], a DataFusion
//! optimizer rule, recognises that shape and replaces the `Window` by a
//! [`TopN`] node, keeping only the filter's other conditions; the
//! translator makes it the keyed operator of [`crate::topn`]. `rn = 1`
//! with an `ORDER BY` on a time column is deduplication (Flink's
//! `Deduplicate`: keep the first or the last row of a key). A second
//! match drops the rank column when no projection above reads it (Flink's
//! "no rank number" Top-N), so rows moving between ranks inside the top N
//! produce no changes.
//!
//! Not recognised, and refused by the translator: other window functions,
//! several window functions in one `OVER` node, `ROW_NUMBER()` without an
//! `ORDER BY` or without an upper bound (`rn <= N`, `rn < N`, `rn = N`,
//! `rn BETWEEN a AND b`).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{internal_err, DFSchema, DFSchemaRef, Result, ScalarValue};
use datafusion_expr::logical_plan::{Filter, Window};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{
    BinaryExpr, Expr, Extension, LogicalPlan, Operator, SortExpr, UserDefinedLogicalNodeCore,
    WindowFunctionDefinition,
};
use datafusion_optimizer::optimizer::ApplyOrder;
use datafusion_optimizer::{OptimizerConfig, OptimizerRule};

/// The logical node of a Top-N: per partition, the rows ranked `first` to
/// `last` (1-based, inclusive) by `order_by`, as an updating result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopN {
    /// The rows ranked (the `Window` node's input).
    pub input: LogicalPlan,
    /// `PARTITION BY` expressions over `input` (none: one global ranking).
    pub partition_by: Vec<Expr>,
    /// `ORDER BY` of the ranking; rows equal on it are ordered by their
    /// columns, left to right, so the result does not depend on arrival
    /// order.
    pub order_by: Vec<SortExpr>,
    /// First rank kept (1-based).
    pub first: u64,
    /// Last rank kept (inclusive).
    pub last: u64,
    /// Whether the row number is an output column (the last).
    pub rank: bool,
    /// `input`'s columns, then the row number if `rank`.
    pub schema: DFSchemaRef,
}

impl PartialOrd for TopN {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (&self.input, &self.partition_by, &self.order_by, self.first, self.last, self.rank)
            .partial_cmp(&(
                &other.input,
                &other.partition_by,
                &other.order_by,
                other.first,
                other.last,
                other.rank,
            ))
    }
}

impl TopN {
    /// The node with the schema it gives: `window_schema` (the `Window`
    /// node's: input columns and the row number) if `rank`, else the
    /// input's.
    fn new(
        input: LogicalPlan,
        partition_by: Vec<Expr>,
        order_by: Vec<SortExpr>,
        (first, last): (u64, u64),
        rank: bool,
        window_schema: &DFSchemaRef,
    ) -> Result<TopN> {
        let n = input.schema().fields().len();
        let schema = if rank {
            window_schema.clone()
        } else {
            let fields = window_schema.iter().take(n).map(|(q, f)| (q.cloned(), f.clone()));
            Arc::new(DFSchema::new_with_metadata(fields.collect(), Default::default())?)
        };
        Ok(TopN { input, partition_by, order_by, first, last, rank, schema })
    }

    /// What the operator does, for EXPLAIN and the run's log.
    pub fn describe(&self) -> String {
        let list = |v: Vec<String>| v.join(", ");
        let ranks = match (self.first, self.last) {
            (1, 1) => "row 1 (deduplication)".to_string(),
            (1, l) => format!("rows 1..={l}"),
            (f, l) => format!("rows {f}..={l}"),
        };
        format!(
            "top-n: {ranks} per partition [{}] ordered by [{}]{}",
            list(self.partition_by.iter().map(|e| e.to_string()).collect()),
            list(self.order_by.iter().map(|s| s.to_string()).collect()),
            if self.rank { ", with the row number" } else { "" }
        )
    }
}

impl UserDefinedLogicalNodeCore for TopN {
    fn name(&self) -> &str {
        "TopN"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        self.partition_by
            .iter()
            .cloned()
            .chain(self.order_by.iter().map(|s| s.expr.clone()))
            .collect()
    }
    fn prevent_predicate_push_down_columns(&self) -> HashSet<String> {
        // A filter below a ranking changes the ranks: nothing passes.
        self.schema.columns().iter().map(|c| c.flat_name()).collect()
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "TopN: {}", self.describe())
    }
    fn with_exprs_and_inputs(
        &self,
        exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let np = self.partition_by.len();
        if exprs.len() != np + self.order_by.len() {
            return internal_err!(
                "TopN: {} expressions for {} slots",
                exprs.len(),
                np + self.order_by.len()
            );
        }
        let partition_by = exprs[..np].to_vec();
        let order_by = self
            .order_by
            .iter()
            .zip(&exprs[np..])
            .map(|(s, e)| SortExpr { expr: e.clone(), ..s.clone() })
            .collect();
        let input = inputs.pop().unwrap_or_else(|| self.input.clone());
        Ok(TopN { input, partition_by, order_by, ..self.clone() })
    }
}

/// The DataFusion optimizer rule that turns `Filter(rn <= N)` over a
/// `ROW_NUMBER()` `Window` into a [`TopN`], and drops the rank column of a
/// [`TopN`] that a projection over it does not read.
#[derive(Debug, Default)]
pub struct TopNRule;

impl OptimizerRule for TopNRule {
    fn name(&self) -> &str {
        "squall_top_n"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        match &plan {
            LogicalPlan::Filter(f) => match top_n_of_filter(f)? {
                Some(p) => Ok(Transformed::yes(p)),
                None => Ok(Transformed::no(plan)),
            },
            LogicalPlan::Projection(p) => match without_rank(&p.expr, &p.input)? {
                Some(input) => {
                    Ok(Transformed::yes(plan.with_new_exprs(p.expr.clone(), vec![input])?))
                }
                None => Ok(Transformed::no(plan)),
            },
            _ => Ok(Transformed::no(plan)),
        }
    }
}

/// The input column `expr` passes on unchanged (through an alias), if any.
fn passthrough(expr: &Expr, input: &DFSchema) -> Option<usize> {
    match expr {
        Expr::Column(c) => input.index_of_column(c).ok(),
        Expr::Alias(a) => passthrough(&a.expr, input),
        _ => None,
    }
}

/// The `Window` node whose `ROW_NUMBER()` column `col` of `plan` is,
/// through projections and aliases that pass it on.
fn window_of(plan: &LogicalPlan, col: usize) -> Option<&Window> {
    match plan {
        LogicalPlan::Projection(p) => {
            window_of(&p.input, passthrough(p.expr.get(col)?, p.input.schema())?)
        }
        LogicalPlan::SubqueryAlias(a) => window_of(&a.input, col),
        LogicalPlan::Window(w) => {
            let n = w.input.schema().fields().len();
            let [e] = w.window_expr.as_slice() else { return None };
            let e = match e {
                Expr::Alias(a) => a.expr.as_ref(),
                e => e,
            };
            let Expr::WindowFunction(f) = e else { return None };
            let row_number = matches!(&f.fun, WindowFunctionDefinition::WindowUDF(u)
                if u.name().eq_ignore_ascii_case("row_number"));
            (col == n && row_number && !f.params.order_by.is_empty()).then_some(w)
        }
        _ => None,
    }
}

/// `e` as a non-negative integer constant.
fn constant(e: &Expr) -> Option<u64> {
    match e {
        Expr::Literal(v, _) => match v.cast_to(&DataType::Int64).ok()? {
            ScalarValue::Int64(Some(n)) if n >= 0 => Some(n as u64),
            _ => None,
        },
        Expr::Cast(c) => constant(&c.expr),
        _ => None,
    }
}

/// The column `e` reads, through casts, as an index of `schema`.
fn column(e: &Expr, schema: &DFSchema) -> Option<usize> {
    match e {
        Expr::Column(c) => schema.index_of_column(c).ok(),
        Expr::Cast(c) => column(&c.expr, schema),
        Expr::TryCast(c) => column(&c.expr, schema),
        _ => None,
    }
}

/// The rank bounds a condition sets on column `rn`: `(first, last)`
/// (`u64::MAX`: none), or `None` if it is not a bound on `rn`.
fn bounds(e: &Expr, rn: usize, schema: &DFSchema) -> Option<(u64, u64)> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (op, n) = if column(left, schema) == Some(rn) {
                (*op, constant(right)?)
            } else if column(right, schema) == Some(rn) {
                (op.swap()?, constant(left)?)
            } else {
                return None;
            };
            match op {
                Operator::LtEq => Some((1, n)),
                Operator::Lt => Some((1, n.checked_sub(1)?)),
                Operator::Eq => Some((n, n)),
                Operator::GtEq => Some((n, u64::MAX)),
                Operator::Gt => Some((n + 1, u64::MAX)),
                _ => None,
            }
        }
        Expr::Between(b) if !b.negated && column(&b.expr, schema) == Some(rn) => {
            Some((constant(&b.low)?, constant(&b.high)?))
        }
        _ => None,
    }
}

/// The plan `f` becomes if it bounds a `ROW_NUMBER()`: the same
/// projections over a [`TopN`] in place of the `Window`, under what is left
/// of the filter.
fn top_n_of_filter(f: &Filter) -> Result<Option<LogicalPlan>> {
    let schema = f.input.schema();
    let mut rn = None;
    let (mut first, mut last) = (1u64, u64::MAX);
    let mut rest = Vec::new();
    for c in split_conjunction(&f.predicate) {
        let found = c.column_refs().into_iter().find_map(|col| {
            let i = schema.index_of_column(col).ok()?;
            window_of(&f.input, i).map(|_| i)
        });
        match (found, found.and_then(|i| bounds(c, i, schema))) {
            (Some(i), Some((lo, hi))) if rn.is_none() || rn == Some(i) => {
                rn = Some(i);
                first = first.max(lo);
                last = last.min(hi);
            }
            // Another condition on the row number: not a Top-N.
            (Some(_), _) => return Ok(None),
            (None, _) => rest.push(c.clone()),
        }
    }
    let Some(window) = rn.and_then(|i| window_of(&f.input, i)) else { return Ok(None) };
    if last == u64::MAX {
        return Ok(None);
    }
    let e = match &window.window_expr[0] {
        Expr::Alias(a) => a.expr.as_ref(),
        e => e,
    };
    let Expr::WindowFunction(wf) = e else { return Ok(None) };
    let node = TopN::new(
        window.input.as_ref().clone(),
        wf.params.partition_by.clone(),
        wf.params.order_by.clone(),
        (first, last),
        true,
        &window.schema,
    )?;
    let top = LogicalPlan::Extension(Extension { node: Arc::new(node) });
    let replaced = replace_window(&f.input, top)?;
    Ok(Some(match conjunction(rest) {
        Some(pred) => LogicalPlan::Filter(Filter::try_new(pred, Arc::new(replaced))?),
        None => replaced,
    }))
}

/// `plan` (projections and aliases over a `Window`) with `top` in place of
/// the `Window`.
fn replace_window(plan: &LogicalPlan, top: LogicalPlan) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::Window(_) => Ok(top),
        LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) => {
            let input = replace_window(plan.inputs()[0], top)?;
            plan.with_new_exprs(plan.expressions(), vec![input])
        }
        other => internal_err!("TopN: unexpected {} above the window", other.display()),
    }
}

/// `input` with its [`TopN`]'s rank column dropped, if `input` is one
/// (or an alias of one) with the rank and `exprs` do not read it.
fn without_rank(exprs: &[Expr], input: &LogicalPlan) -> Result<Option<LogicalPlan>> {
    let (top, aliased) = match input {
        LogicalPlan::Extension(e) => (e, false),
        LogicalPlan::SubqueryAlias(a) => match a.input.as_ref() {
            LogicalPlan::Extension(e) => (e, true),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let Some(t) = top.node.as_any().downcast_ref::<TopN>() else { return Ok(None) };
    if !t.rank {
        return Ok(None);
    }
    let rank = t.input.schema().fields().len();
    let schema = input.schema();
    let reads_rank = exprs
        .iter()
        .flat_map(|e| e.column_refs())
        .any(|c| schema.index_of_column(c).ok() == Some(rank));
    if reads_rank {
        return Ok(None);
    }
    let node = TopN::new(
        t.input.clone(),
        t.partition_by.clone(),
        t.order_by.clone(),
        (t.first, t.last),
        false,
        &t.schema,
    )?;
    let top = LogicalPlan::Extension(Extension { node: Arc::new(node) });
    Ok(Some(match aliased {
        false => top,
        true => input.with_new_exprs(vec![], vec![top])?,
    }))
}
