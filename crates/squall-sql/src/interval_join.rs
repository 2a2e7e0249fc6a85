//! Interval joins (Flink's `IntervalJoin`, the time-bounded join of
//! Flink SQL): an inner equi-join whose condition also bounds the distance
//! between two event-time attributes,
//! `a.ts BETWEEN b.ts - INTERVAL '2' SECOND AND b.ts + INTERVAL '1' SECOND`
//! (or the same with `>=`, `>`, `<=`, `<`). The result is append-only.
//!
//! Each side's rows are kept in keyed state (in checkpoints) only as long
//! as a row of the other side can still match them: a left row at `ta`
//! matches right rows with `tb` in `[ta - hi, ta - lo]` (where
//! `lo <= ta - tb <= hi`), so once the watermark passes `ta - lo` no right
//! row that is not late can match it, and an event-time timer drops it; a
//! right row at `tb` goes once the watermark passes `tb + hi`. A row behind
//! the watermark when it arrives is late and dropped, as Flink does.
//!
//! The bounds are read from the join's residual condition
//! ([`bounds`]); the whole condition is still applied to each joined row.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_common::DFSchema;
use datafusion_expr::logical_plan::Join as JoinPlan;
use datafusion_expr::{BinaryExpr, Expr, LogicalPlan, Operator};
use datafusion_physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};
use squall::datastream::{KeyedContext, KeyedProcessFunction, Stream, TimeDomain};

use crate::batch::{Batch, Scalar};
use crate::catalog::Catalog;
use crate::ops::{joined, JoinRow};
use crate::tvf::interval_ms;

/// The time bounds of an interval join: `lo <= left.ts - right.ts <= hi`
/// (ms), and where the two times are among each side's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The left input's event-time column.
    pub left_time: usize,
    /// The right input's event-time column.
    pub right_time: usize,
    /// Least `left.ts - right.ts` (ms).
    pub lo: i64,
    /// Greatest `left.ts - right.ts` (ms).
    pub hi: i64,
}

impl Bounds {
    /// How EXPLAIN names the join: `interval (lo ms <= left - right <= hi
    /// ms) `.
    pub fn describe(&self) -> String {
        format!(
            "interval (state kept until the watermark passes; {} ms <= left.#{} - right.#{} <= {} ms) ",
            self.lo, self.left_time, self.right_time, self.hi
        )
    }
}

/// The rows an interval join holds in its state, over all its tasks in this
/// process: now and at most. After the final watermark it is 0.
#[derive(Debug, Default)]
pub struct RowsHeld {
    now: AtomicI64,
    peak: AtomicI64,
}

impl RowsHeld {
    /// Rows held now.
    pub fn now(&self) -> i64 {
        self.now.load(Ordering::Relaxed)
    }

    /// The most rows held at once.
    pub fn peak(&self) -> i64 {
        self.peak.load(Ordering::Relaxed)
    }

    fn add(&self, n: i64) {
        let now = self.now.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
}

/// Whether column `i` of `plan`'s output is an event-time attribute: a
/// column passed through unchanged from a table's `WATERMARK FOR` column.
fn is_time_attribute(plan: &LogicalPlan, i: usize, catalog: &Catalog) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let table = catalog.tables.get(scan.table_name.table());
            let field = scan.projected_schema.fields().get(i);
            match (table.and_then(|t| t.watermark.as_ref()), field) {
                (Some(w), Some(f)) => f.name() == &w.column,
                _ => false,
            }
        }
        LogicalPlan::Projection(p) => match p.expr.get(i) {
            Some(e) => match crate::translate::passthrough(e, p.input.schema()) {
                Some(j) => is_time_attribute(&p.input, j, catalog),
                None => false,
            },
            None => false,
        },
        LogicalPlan::Filter(f) => is_time_attribute(&f.input, i, catalog),
        LogicalPlan::SubqueryAlias(a) => is_time_attribute(&a.input, i, catalog),
        _ => false,
    }
}

/// `expr` as a column of `schema` plus a constant interval (ms).
fn shifted_column(expr: &Expr, schema: &DFSchema) -> Option<(usize, i64)> {
    match expr {
        Expr::Column(c) => Some((schema.index_of_column(c).ok()?, 0)),
        Expr::Cast(c) => shifted_column(&c.expr, schema),
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Plus, right }) => {
            match (shifted_column(left, schema), interval_ms(right)) {
                (Some((c, o)), Some(d)) => Some((c, o + d)),
                _ => {
                    let (c, o) = shifted_column(right, schema)?;
                    Some((c, o + interval_ms(left)?))
                }
            }
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Minus, right }) => {
            let (c, o) = shifted_column(left, schema)?;
            Some((c, o - interval_ms(right)?))
        }
        _ => None,
    }
}

/// The `(lower, upper)` bound on `left.ts - right.ts` one comparison sets.
fn comparison_bound(
    l: &Expr,
    op: Operator,
    r: &Expr,
    schema: &DFSchema,
    times: (usize, usize),
) -> Option<(Option<i64>, Option<i64>)> {
    let (a, oa) = shifted_column(l, schema)?;
    let (b, ob) = shifted_column(r, schema)?;
    // a + oa OP b + ob, as left.ts - right.ts OP' c.
    let (op, c) = if (a, b) == times {
        (op, ob - oa)
    } else if (b, a) == times {
        (op.swap()?, oa - ob)
    } else {
        return None;
    };
    Some(match op {
        Operator::GtEq => (Some(c), None),
        Operator::Gt => (Some(c + 1), None),
        Operator::LtEq => (None, Some(c)),
        Operator::Lt => (None, Some(c - 1)),
        _ => return None,
    })
}

/// Folds the bounds the conjuncts of `e` set into `lo` and `hi`.
fn collect_bounds(
    e: &Expr,
    schema: &DFSchema,
    times: (usize, usize),
    lo: &mut Option<i64>,
    hi: &mut Option<i64>,
) {
    let mut tighten = |(l, h): (Option<i64>, Option<i64>)| {
        if let Some(l) = l {
            *lo = Some(lo.map_or(l, |x: i64| x.max(l)));
        }
        if let Some(h) = h {
            *hi = Some(hi.map_or(h, |x: i64| x.min(h)));
        }
    };
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
            collect_bounds(left, schema, times, lo, hi);
            collect_bounds(right, schema, times, lo, hi);
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if let Some(b) = comparison_bound(left, *op, right, schema, times) {
                tighten(b);
            }
        }
        Expr::Between(b) if !b.negated => {
            for (op, bound) in [(Operator::GtEq, &b.low), (Operator::LtEq, &b.high)] {
                if let Some(b) = comparison_bound(&b.expr, op, bound, schema, times) {
                    tighten(b);
                }
            }
        }
        _ => {}
    }
}

/// The bounds of `j` if it is an interval join: an inner equi-join whose
/// residual condition bounds `left.ts - right.ts` from below and above,
/// both times being event-time attributes of their inputs.
pub fn bounds(j: &JoinPlan, catalog: &Catalog) -> Option<Bounds> {
    let cond = j.filter.as_ref()?;
    let nl = j.left.schema().fields().len();
    let n = j.schema.fields().len();
    for left_time in 0..nl {
        if !is_time_attribute(&j.left, left_time, catalog) {
            continue;
        }
        for right_time in 0..n - nl {
            if !is_time_attribute(&j.right, right_time, catalog) {
                continue;
            }
            let (mut lo, mut hi) = (None, None);
            collect_bounds(cond, &j.schema, (left_time, nl + right_time), &mut lo, &mut hi);
            if let (Some(lo), Some(hi)) = (lo, hi) {
                return Some(Bounds { left_time, right_time, lo, hi });
            }
        }
    }
    None
}

/// Each side's rows of one key, with their event times (ms).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sides {
    left: Vec<(i64, Vec<Scalar>)>,
    right: Vec<(i64, Vec<Scalar>)>,
}

/// The interval join's process function, keyed by the equi-join key.
#[derive(Clone)]
pub struct IntervalJoin {
    /// The output schema (left columns, then right).
    pub schema: SchemaRef,
    /// The whole join condition beyond the key, over output rows.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// The time bounds.
    pub bounds: Bounds,
    /// The rows held, for tests and metrics.
    pub held: Arc<RowsHeld>,
    /// Rows dropped for arriving behind the watermark.
    pub late: Arc<std::sync::atomic::AtomicU64>,
}

impl IntervalJoin {
    /// The event time after which a stored row can match nothing more: the
    /// watermark must pass it.
    fn last_match(&self, left: bool, ts: i64) -> i64 {
        if left {
            ts.saturating_sub(self.bounds.lo)
        } else {
            ts.saturating_add(self.bounds.hi)
        }
    }
}

fn time_of(v: Option<&Scalar>) -> Option<i64> {
    match v {
        Some(Scalar::Ts(t) | Scalar::Int(t)) => Some(*t),
        _ => None,
    }
}

impl KeyedProcessFunction<Vec<Scalar>, JoinRow> for IntervalJoin {
    type State = Sides;
    type Out = Batch;

    fn process_element(
        &mut self,
        row: JoinRow,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, Sides, Batch>,
    ) -> squall::Result<()> {
        let col = if row.left { self.bounds.left_time } else { self.bounds.right_time };
        let Some(ts) = time_of(row.row.get(col)) else { return Ok(()) };
        let wm = ctx.current_watermark();
        if ts < wm {
            self.late.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let Bounds { lo, hi, .. } = self.bounds;
        let sides = ctx.state().get_or_insert_with(Default::default);
        let mut out = Vec::new();
        if row.left {
            for (tb, r) in &sides.right {
                if (lo..=hi).contains(&(ts - tb)) {
                    out.push(row.row.iter().chain(r).cloned().collect::<Vec<_>>());
                }
            }
        } else {
            for (ta, l) in &sides.left {
                if (lo..=hi).contains(&(ta - ts)) {
                    out.push(l.iter().chain(&row.row).cloned().collect::<Vec<_>>());
                }
            }
        }
        let last = self.last_match(row.left, ts);
        if last >= wm {
            match row.left {
                true => sides.left.push((ts, row.row)),
                false => sides.right.push((ts, row.row)),
            }
            self.held.add(1);
            ctx.register_event_time_timer(last.saturating_add(1));
        }
        if ctx.state().as_ref().is_some_and(|s| s.left.is_empty() && s.right.is_empty()) {
            *ctx.state() = None;
        }
        if let Some(b) = joined(&self.schema, self.filter.as_ref(), &out)? {
            ctx.collect(b);
        }
        Ok(())
    }

    /// Drops the rows the watermark (now at `timestamp`) has passed the last
    /// match of.
    fn on_timer(
        &mut self,
        timestamp: i64,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, Sides, Batch>,
    ) -> squall::Result<()> {
        let Bounds { lo, hi, .. } = self.bounds;
        let Some(sides) = ctx.state().as_mut() else { return Ok(()) };
        let before = (sides.left.len() + sides.right.len()) as i64;
        sides.left.retain(|(t, _)| t.saturating_sub(lo) >= timestamp);
        sides.right.retain(|(t, _)| t.saturating_add(hi) >= timestamp);
        let after = (sides.left.len() + sides.right.len()) as i64;
        self.held.add(after - before);
        if after == 0 {
            *ctx.state() = None;
        }
        Ok(())
    }
}

/// The interval join of `left` and `right` (their rows keyed by the
/// equi-join key) with output `schema`, the residual `filter`, and
/// `bounds`; and the count of the rows it holds.
pub fn plan(
    schema: &DFSchema,
    left: Stream<JoinRow>,
    right: Stream<JoinRow>,
    filter: Option<Arc<dyn PhysicalExpr>>,
    bounds: Bounds,
) -> (Stream<Batch>, Arc<RowsHeld>) {
    let held = Arc::new(RowsHeld::default());
    let f = IntervalJoin {
        schema: Arc::new(schema.as_arrow().clone()),
        filter,
        bounds,
        held: held.clone(),
        late: Arc::default(),
    };
    let keyed = left.union(&right).key_by(|r: &JoinRow| r.key.clone());
    (keyed.process(f), held)
}
