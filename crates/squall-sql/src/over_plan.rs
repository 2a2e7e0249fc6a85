//! From DataFusion's `Window` plan node to the OVER aggregate of
//! [`crate::over_agg`]: aggregates (`COUNT`, `SUM`, `MIN`, `MAX`, `AVG`)
//! over `ROWS BETWEEN n PRECEDING AND CURRENT ROW` (or `UNBOUNDED
//! PRECEDING`), sharing one `PARTITION BY` and one `ORDER BY`. A
//! `ROW_NUMBER()` bounded by a filter is a Top-N ([`crate::topn_plan`])
//! and never reaches here.
//!
//! Refused, each with one line naming it: other window functions (ranking,
//! `LAG`, `LEAD`, ...), `RANGE` and `GROUPS` frames (DataFusion's default
//! frame with an `ORDER BY` is `RANGE`: spell `ROWS`), frames ending
//! elsewhere than the current row, an OVER without `ORDER BY`,
//! `DISTINCT` and `FILTER` inside the aggregate, and several `OVER`
//! clauses with different partitions or orders in one node.

use std::sync::Arc;

use datafusion_common::ScalarValue;
use datafusion_expr::logical_plan::Window;
use datafusion_expr::{Expr, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition};

use crate::batch::Batch;
use crate::error::{SqlError, SqlResult};
use crate::ops::AggKind;
use crate::over_agg::{OverAgg, OverInput, OverRow, OverSpec};
use crate::topn::RankInput;
use crate::translate::{fail, physical, Node, Translator};
use crate::updating::with_op;

/// The start of the refusals, as the Top-N's were named before OVER
/// aggregates ran.
const REFUSED: &str = "OVER windows other than Top-N, deduplication and ROWS aggregates";

fn refuse(what: impl std::fmt::Display) -> SqlError {
    SqlError::unsupported(format!("{REFUSED}: {what}"))
}

/// The rows a `PRECEDING` bound reaches back (`None`: unbounded).
fn preceding(v: &ScalarValue) -> SqlResult<Option<usize>> {
    if v.is_null() {
        return Ok(None);
    }
    match v.cast_to(&datafusion_common::arrow::datatypes::DataType::UInt64) {
        Ok(ScalarValue::UInt64(Some(n))) => Ok(Some(n as usize)),
        _ => Err(refuse(format!("the frame bound {v} PRECEDING"))),
    }
}

/// The operators of the `Window` node `w`: its input translated, split
/// into rows, keyed by the partition, into an [`OverAgg`]; an updating
/// result.
///
/// # Errors
/// A construct outside the supported set, named (see the module docs).
pub fn translate(t: &mut Translator<'_>, w: &Window) -> SqlResult<Node> {
    let in_schema = w.input.schema();
    let mut specs = Vec::new();
    let mut args = Vec::new();
    let mut shared: Option<(&Vec<Expr>, &Vec<datafusion_expr::SortExpr>)> = None;
    for e in &w.window_expr {
        let e = match e {
            Expr::Alias(a) => a.expr.as_ref(),
            e => e,
        };
        let Expr::WindowFunction(f) = e else {
            return Err(refuse(format!("the window expression {e}")));
        };
        let WindowFunctionDefinition::AggregateUDF(udaf) = &f.fun else {
            return Err(refuse(format!(
                "the window function {}() (COUNT, SUM, MIN, MAX, AVG over ROWS frames are)",
                f.fun
            )));
        };
        let name = udaf.name().to_ascii_lowercase();
        let p = &f.params;
        let kind = match name.as_str() {
            "count" => AggKind::Count,
            "sum" => AggKind::Sum,
            "min" => AggKind::Min,
            "max" => AggKind::Max,
            "avg" | "mean" => AggKind::Avg,
            other => return Err(refuse(format!("the aggregate {other}() in OVER"))),
        };
        if p.distinct || p.filter.is_some() {
            return Err(refuse(format!("DISTINCT or FILTER inside {name}() OVER")));
        }
        if p.order_by.is_empty() {
            return Err(refuse(format!("{name}() OVER without ORDER BY")));
        }
        match shared {
            None => shared = Some((&p.partition_by, &p.order_by)),
            Some((pb, ob)) if *pb == p.partition_by && *ob == p.order_by => {}
            Some(_) => return Err(refuse("OVER clauses with different PARTITION BY or ORDER BY")),
        }
        let frame = &p.window_frame;
        if frame.units != WindowFrameUnits::Rows {
            return Err(refuse(format!(
                "{} frames ({name}() OVER: spell ROWS BETWEEN n PRECEDING AND CURRENT ROW)",
                frame.units
            )));
        }
        let back = match (&frame.start_bound, &frame.end_bound) {
            (WindowFrameBound::Preceding(v), WindowFrameBound::CurrentRow) => preceding(v)?,
            (WindowFrameBound::CurrentRow, WindowFrameBound::CurrentRow) => Some(0),
            _ => {
                return Err(refuse(format!(
                    "the frame ROWS BETWEEN {} AND {} (n PRECEDING AND CURRENT ROW is)",
                    frame.start_bound, frame.end_bound
                )))
            }
        };
        let arg = match p.args.as_slice() {
            [] => None,
            [Expr::Literal(v, _)] if kind == AggKind::Count && !v.is_null() => None,
            [a] => Some(physical(a, in_schema)?),
            _ => return Err(refuse(format!("{name}() with several arguments"))),
        };
        specs.push(OverSpec { kind, preceding: back });
        args.push(arg);
    }
    let Some((partition_by, order_by)) = shared else {
        return Err(refuse("a window node without window expressions"));
    };
    let input = t.translate(&w.input)?;
    let keys = partition_by.iter().map(|e| physical(e, in_schema)).collect::<SqlResult<_>>()?;
    let order = order_by
        .iter()
        .map(|s| Ok((physical(&s.expr, in_schema)?, !s.asc, s.nulls_first)))
        .collect::<SqlResult<_>>()?;
    let op_col = input.updating.then(|| in_schema.fields().len());
    let split = OverInput { rank: RankInput { keys, order, op_col }, args };
    let list = |v: Vec<String>| v.join(", ");
    t.lines.push(format!(
        "over aggregate: {} per partition [{}] ordered by [{}] (an updating result)",
        list(w.window_expr.iter().map(|e| e.to_string()).collect()),
        list(partition_by.iter().map(|e| e.to_string()).collect()),
        list(order_by.iter().map(|s| s.to_string()).collect()),
    ));
    let rows = input.stream.flat_map(move |b: Batch, out: &mut Vec<OverRow>| {
        split.rows(&b.0, out).unwrap_or_else(|e| fail(e));
    });
    let schema = with_op(&Arc::new(w.schema.as_arrow().clone()));
    let f = OverAgg { specs, schema };
    let keyed = rows.key_by(|r: &OverRow| r.rank.key.clone());
    let stream = crate::ttl::process(&keyed, f, t.state_ttl_ms);
    Ok(Node { stream, window: None, updating: true })
}
