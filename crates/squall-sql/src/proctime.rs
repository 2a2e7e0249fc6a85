//! Processing time, Flink's `PROCTIME()`: a column holding the wall clock
//! when the row was computed, and window aggregates over it that fire on
//! the wall clock, with no watermark.
//!
//! ```sql
//! CREATE VIEW B AS SELECT *, PROCTIME() AS p_time FROM bid;
//! SELECT bidder, count(*), window_start, window_end
//! FROM TABLE(TUMBLE(TABLE B, DESCRIPTOR(p_time), INTERVAL '10' SECOND))
//! GROUP BY bidder, window_start, window_end;
//! ```
//!
//! `PROCTIME()` is a volatile scalar UDF (`TIMESTAMP(3)`, UTC ms; one
//! reading of the clock per batch). A window TVF whose time column comes
//! from it ([`on_processing_time`]) assigns rows to windows by that time,
//! and its aggregate ([`ProcTimeAgg`]) fires each window when the wall
//! clock passes its end (a processing-time timer) instead of when the
//! watermark does; rows are never late. When a bounded input ends the
//! windows still open fire then (Flink drops them), so every row is
//! counted once. Results depend on when rows arrive: they are not
//! reproducible, and a restore from a checkpoint re-reads rows into the
//! windows open at the time of the replay.

use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, TimeUnit};
use datafusion_expr::{ColumnarValue, Expr, LogicalPlan, ScalarUDF, Volatility};
use squall::datastream::{KeyedContext, KeyedProcessFunction, TimeDomain};

use crate::batch::{Batch, Scalar};
use crate::ops::{Acc, WindowAgg};
use crate::window_combine::Partial;

/// The wall clock, ms since the epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `PROCTIME() -> TIMESTAMP(3)`: the wall clock now.
pub fn proctime() -> ScalarUDF {
    datafusion_expr::create_udf(
        "proctime",
        vec![],
        DataType::Timestamp(TimeUnit::Millisecond, None),
        Volatility::Volatile,
        Arc::new(|args: &[ColumnarValue]| {
            let _ = args;
            Ok(ColumnarValue::Scalar(datafusion_common::ScalarValue::TimestampMillisecond(
                Some(now_ms()),
                None,
            )))
        }),
    )
}

/// Adds `proctime` to `functions`.
pub fn register(functions: &mut std::collections::HashMap<String, Arc<ScalarUDF>>) {
    functions.insert("proctime".into(), Arc::new(proctime()));
}

/// Whether `e` is (an alias or cast of) a `PROCTIME()` call.
fn is_proctime(e: &Expr) -> bool {
    match e {
        Expr::Alias(a) => is_proctime(&a.expr),
        Expr::Cast(c) => is_proctime(&c.expr),
        Expr::ScalarFunction(f) => f.func.name().eq_ignore_ascii_case("proctime"),
        _ => false,
    }
}

/// Whether column `col` of `plan` is a `PROCTIME()` value, through
/// projections, filters and aliases.
fn column_is_proctime(plan: &LogicalPlan, col: usize) -> bool {
    match plan {
        LogicalPlan::Projection(p) => {
            let Some(e) = p.expr.get(col) else { return false };
            let inner = match e {
                Expr::Alias(a) => a.expr.as_ref(),
                e => e,
            };
            match inner {
                e if is_proctime(e) => true,
                Expr::Column(c) => p
                    .input
                    .schema()
                    .index_of_column(c)
                    .is_ok_and(|i| column_is_proctime(&p.input, i)),
                _ => false,
            }
        }
        LogicalPlan::Filter(f) => column_is_proctime(&f.input, col),
        LogicalPlan::SubqueryAlias(a) => column_is_proctime(&a.input, col),
        _ => false,
    }
}

/// Whether the window TVF under the aggregate input `plan` (through
/// projections, filters and aliases) windows a `PROCTIME()` column.
pub fn on_processing_time(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Extension(ext) => {
            let Some(tvf) = ext.node.as_any().downcast_ref::<crate::tvf::WindowTvf>() else {
                return false;
            };
            tvf.input
                .schema()
                .index_of_column(&tvf.time)
                .is_ok_and(|i| column_is_proctime(&tvf.input, i))
        }
        LogicalPlan::Filter(f) => on_processing_time(&f.input),
        LogicalPlan::SubqueryAlias(a) => on_processing_time(&a.input),
        LogicalPlan::Projection(p) => on_processing_time(&p.input),
        _ => false,
    }
}

/// A window aggregate on processing time: [`WindowAgg`]'s accumulation
/// and output, fired by a processing-time timer at each window's end.
#[derive(Clone)]
pub struct ProcTimeAgg(pub WindowAgg);

impl KeyedProcessFunction<Vec<Scalar>, Partial> for ProcTimeAgg {
    type State = Vec<Acc>;
    type Out = Batch;

    /// Merges one batch's partial accumulators ([`crate::window_combine`]);
    /// no row is late on processing time.
    fn process_element(
        &mut self,
        p: Partial,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, Vec<Acc>, Batch>,
    ) -> squall::Result<()> {
        let end = p.end;
        p.merge_into(ctx.state());
        ctx.register_processing_time_timer(end - 1);
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        domain: TimeDomain,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, Vec<Acc>, Batch>,
    ) -> squall::Result<()> {
        self.0.on_timer(timestamp, domain, ctx)
    }

    fn fire_pending_timers_at_end(&self) -> bool {
        true
    }
}
