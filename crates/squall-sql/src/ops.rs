//! The operators a plan becomes: projection and filter (DataFusion's
//! physical expressions over a batch), the window TVF (each row once per
//! window), and the window aggregate (a keyed process function: one
//! accumulator row per group and window, emitted when the watermark passes
//! the window's end).

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, TimestampMillisecondArray, UInt32Array,
};
use datafusion_common::arrow::compute::{cast, filter_record_batch, take};
use datafusion_common::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion_common::arrow::record_batch::RecordBatch;
use datafusion_physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};
use squall::datastream::{KeyedContext, KeyedProcessFunction, TimeDomain};

use crate::batch::{batch_of, scalar_at, Batch, Scalar};
use crate::error::{SqlError, SqlResult};
use crate::tvf::WindowKind;
use crate::window_combine::Partial;

/// Evaluates `expr` over `batch` as an array of the batch's length.
///
/// # Errors
/// DataFusion's evaluation error.
pub fn eval(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> SqlResult<ArrayRef> {
    let v = expr.evaluate(batch).map_err(|e| SqlError::exec(e.to_string()))?;
    v.into_array(batch.num_rows()).map_err(|e| SqlError::exec(e.to_string()))
}

/// A projection: `exprs` over each batch, giving `schema`.
pub fn project(
    exprs: &[Arc<dyn PhysicalExpr>],
    schema: &SchemaRef,
    batch: &RecordBatch,
) -> SqlResult<RecordBatch> {
    let mut cols = Vec::with_capacity(exprs.len());
    for (e, f) in exprs.iter().zip(schema.fields()) {
        let mut a = eval(e, batch)?;
        if a.data_type() != f.data_type() {
            a = cast(&a, f.data_type()).map_err(|e| SqlError::exec(e.to_string()))?;
        }
        cols.push(a);
    }
    let opts = datafusion_common::arrow::record_batch::RecordBatchOptions::new()
        .with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema.clone(), cols, &opts)
        .map_err(|e| SqlError::exec(e.to_string()))
}

/// A filter: the rows where `predicate` is true.
pub fn filter(predicate: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> SqlResult<RecordBatch> {
    let mask = eval(predicate, batch)?;
    let mask = mask
        .as_boolean_opt()
        .ok_or_else(|| SqlError::exec("a WHERE condition did not give booleans"))?;
    filter_record_batch(batch, mask).map_err(|e| SqlError::exec(e.to_string()))
}

/// The window TVF: each row once per window its time `time_col` falls in,
/// with `window_start`, `window_end`, `window_time` appended.
pub fn expand_windows(
    kind: WindowKind,
    time_col: usize,
    schema: &SchemaRef,
    batch: &RecordBatch,
) -> SqlResult<RecordBatch> {
    let t = cast(batch.column(time_col), &DataType::Timestamp(TimeUnit::Millisecond, None))
        .map_err(|e| SqlError::exec(e.to_string()))?;
    let t = t.as_primitive::<datafusion_common::arrow::datatypes::TimestampMillisecondType>();
    let mut idx = Vec::with_capacity(batch.num_rows());
    let (mut starts, mut ends) = (Vec::new(), Vec::new());
    let mut ws = Vec::new();
    for row in 0..batch.num_rows() {
        if t.is_null(row) {
            continue;
        }
        kind.windows(t.value(row), &mut ws);
        for (s, e) in &ws {
            idx.push(row as u32);
            starts.push(*s);
            ends.push(*e);
        }
    }
    let idx = UInt32Array::from(idx);
    let mut cols = Vec::with_capacity(schema.fields().len());
    for c in batch.columns() {
        cols.push(take(c.as_ref(), &idx, None).map_err(|e| SqlError::exec(e.to_string()))?);
    }
    let times: Vec<i64> = ends.iter().map(|e| e - 1).collect();
    cols.push(Arc::new(TimestampMillisecondArray::from(starts)));
    cols.push(Arc::new(TimestampMillisecondArray::from(ends)));
    cols.push(Arc::new(TimestampMillisecondArray::from(times)));
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| SqlError::exec(e.to_string()))
}

/// An aggregate function of a window aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggKind {
    /// `COUNT(x)` / `COUNT(*)`: non-null values.
    Count,
    /// `COUNT(DISTINCT x)`.
    CountDistinct,
    /// `SUM(x)`.
    Sum,
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
    /// `AVG(x)`.
    Avg,
}

/// The running value of one aggregate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Acc {
    /// A count.
    Count(i64),
    /// Distinct values.
    Distinct(BTreeSet<Scalar>),
    /// A sum: integer while every value is, and whether any was seen.
    Sum(Option<Scalar>),
    /// The least value.
    Min(Option<Scalar>),
    /// The greatest.
    Max(Option<Scalar>),
    /// Sum and count.
    Avg(f64, i64),
}

impl Acc {
    /// The empty accumulator of `kind`.
    pub fn new(kind: AggKind) -> Acc {
        match kind {
            AggKind::Count => Acc::Count(0),
            AggKind::CountDistinct => Acc::Distinct(BTreeSet::new()),
            AggKind::Sum => Acc::Sum(None),
            AggKind::Min => Acc::Min(None),
            AggKind::Max => Acc::Max(None),
            AggKind::Avg => Acc::Avg(0.0, 0),
        }
    }

    /// Adds `v` (NULL changes nothing).
    pub fn add(&mut self, v: Scalar) {
        if matches!(v, Scalar::Null) {
            return;
        }
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Distinct(s) => {
                s.insert(v);
            }
            Acc::Sum(s) => {
                *s = Some(match (s.take(), v) {
                    (None, v) => v,
                    (Some(Scalar::Int(a)), Scalar::Int(b)) => Scalar::Int(a.wrapping_add(b)),
                    (Some(a), b) => {
                        Scalar::Float(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0))
                    }
                })
            }
            Acc::Min(m) => {
                if m.as_ref().is_none_or(|m| v < *m) {
                    *m = Some(v)
                }
            }
            Acc::Max(m) => {
                if m.as_ref().is_none_or(|m| v > *m) {
                    *m = Some(v)
                }
            }
            Acc::Avg(s, n) => {
                *s += v.as_f64().unwrap_or(0.0);
                *n += 1;
            }
        }
    }

    /// Adds what `other`, of the same kind, holds (two session windows
    /// merging).
    pub fn merge(&mut self, other: Acc) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Distinct(a), Acc::Distinct(b)) => a.extend(b),
            (Acc::Avg(s, n), Acc::Avg(s2, n2)) => {
                *s += s2;
                *n += n2;
            }
            (a, Acc::Sum(Some(v)) | Acc::Min(Some(v)) | Acc::Max(Some(v))) => a.add(v),
            _ => {}
        }
    }

    /// The aggregate's value now.
    pub fn result(&self) -> Scalar {
        match self {
            Acc::Count(n) => Scalar::Int(*n),
            Acc::Distinct(s) => Scalar::Int(s.len() as i64),
            Acc::Sum(s) | Acc::Min(s) | Acc::Max(s) => s.clone().unwrap_or(Scalar::Null),
            Acc::Avg(_, 0) => Scalar::Null,
            Acc::Avg(s, n) => Scalar::Float(s / *n as f64),
        }
    }
}

/// One input row of a window aggregate: its group (including the window
/// columns), the window's end, and each aggregate's input (`Null`: skip).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AggRow {
    /// The group's values.
    pub key: Vec<Scalar>,
    /// The window's end (ms).
    pub end: i64,
    /// The aggregates' inputs.
    pub args: Vec<Scalar>,
    /// Whether the row takes back an earlier one (a `-U` or `-D` row of an
    /// updating input).
    pub retract: bool,
}

/// Where an output column of the aggregate comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum OutCol {
    /// Group value `i`.
    Key(usize),
    /// Aggregate `i`.
    Agg(usize),
}

/// Splits a batch into [`AggRow`]s: `keys` and `args` evaluated over it,
/// `end_col` the index in `keys` of `window_end`; `filters[i]` (a FILTER
/// clause) makes aggregate `i` skip rows where it is not true.
#[derive(Clone)]
pub struct AggInput {
    /// Group expressions.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Which key is `window_end` (`None`: a non-windowed aggregate).
    pub end_key: Option<usize>,
    /// The row-kind column of an updating input, if it is one.
    pub op_col: Option<usize>,
    /// Aggregate inputs (`None`: `COUNT(*)`).
    pub args: Vec<Option<Arc<dyn PhysicalExpr>>>,
    /// FILTER clauses.
    pub filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
}

impl AggInput {
    /// The rows of `batch`.
    ///
    /// # Errors
    /// Evaluation errors, and key types keyed state cannot hold.
    pub fn rows(&self, batch: &RecordBatch, out: &mut Vec<AggRow>) -> SqlResult<()> {
        let keys: Vec<ArrayRef> =
            self.keys.iter().map(|k| eval(k, batch)).collect::<SqlResult<_>>()?;
        let args: Vec<Option<ArrayRef>> = self
            .args
            .iter()
            .map(|a| a.as_ref().map(|a| eval(a, batch)).transpose())
            .collect::<SqlResult<_>>()?;
        let filters: Vec<Option<ArrayRef>> = self
            .filters
            .iter()
            .map(|a| a.as_ref().map(|a| eval(a, batch)).transpose())
            .collect::<SqlResult<_>>()?;
        for row in 0..batch.num_rows() {
            let key: Vec<Scalar> =
                keys.iter().map(|k| scalar_at(k.as_ref(), row)).collect::<SqlResult<_>>()?;
            let end = match self.end_key.map(|i| &key[i]) {
                None => 0,
                Some(Scalar::Ts(t) | Scalar::Int(t)) => *t,
                Some(_) => continue,
            };
            let retract = match self.op_col {
                None => false,
                Some(c) => batch.column(c).as_string::<i32>().value(row).starts_with('-'),
            };
            let mut a = Vec::with_capacity(args.len());
            for (i, arg) in args.iter().enumerate() {
                let pass = match &filters[i] {
                    None => true,
                    Some(f) => {
                        let f = f.as_boolean();
                        f.is_valid(row) && f.value(row)
                    }
                };
                a.push(if !pass {
                    Scalar::Null
                } else {
                    match arg {
                        None => Scalar::Int(1),
                        Some(arr) => scalar_at(arr.as_ref(), row)?,
                    }
                });
            }
            out.push(AggRow { key, end, args: a, retract });
        }
        Ok(())
    }
}

/// The window aggregate's process function: per group, the accumulators
/// (merged from each batch's partials), and a timer at the window's end - 1
/// that emits the result row.
#[derive(Clone)]
pub struct WindowAgg {
    /// The aggregates.
    pub kinds: Vec<AggKind>,
    /// The output columns.
    pub out: Vec<OutCol>,
    /// The output schema.
    pub schema: SchemaRef,
    /// Rows dropped for arriving after their window fired.
    pub late: Arc<std::sync::atomic::AtomicU64>,
}

impl KeyedProcessFunction<Vec<Scalar>, Partial> for WindowAgg {
    type State = Vec<Acc>;
    type Out = Batch;

    /// Merges the partial accumulators of one batch's rows
    /// ([`crate::window_combine`]).
    fn process_element(
        &mut self,
        p: Partial,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, Vec<Acc>, Batch>,
    ) -> squall::Result<()> {
        if p.end - 1 <= ctx.current_watermark() {
            self.late.fetch_add(p.rows, std::sync::atomic::Ordering::Relaxed);
            return Ok(());
        }
        let end = p.end;
        p.merge_into(ctx.state());
        ctx.register_event_time_timer(end - 1);
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: i64,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, Vec<Acc>, Batch>,
    ) -> squall::Result<()> {
        let Some(accs) = ctx.state().take() else { return Ok(()) };
        let key = ctx.key().clone();
        let row: Vec<Scalar> = self
            .out
            .iter()
            .map(|c| match c {
                OutCol::Key(i) => key[*i].clone(),
                OutCol::Agg(i) => accs[*i].result(),
            })
            .collect();
        let batch = batch_of(&self.schema, &[row]).map_err(squall::Error::from)?;
        ctx.collect(Batch(batch));
        Ok(())
    }
}

/// A row entering a join, from the left or the right input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRow {
    /// The equi-join key.
    pub key: Vec<Scalar>,
    /// Whether it comes from the left input.
    pub left: bool,
    /// Its columns.
    pub row: Vec<Scalar>,
}

/// Turns batches of one join input into [`JoinRow`]s (rows with a NULL key
/// never match, and are dropped).
#[derive(Clone)]
pub struct JoinInput {
    /// The key expressions over this input.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Left or right.
    pub left: bool,
}

impl JoinInput {
    /// The rows of `batch`.
    ///
    /// # Errors
    /// Evaluation errors; column types keyed state cannot hold.
    pub fn rows(&self, batch: &RecordBatch, out: &mut Vec<JoinRow>) -> SqlResult<()> {
        let keys: Vec<ArrayRef> =
            self.keys.iter().map(|k| eval(k, batch)).collect::<SqlResult<_>>()?;
        'rows: for r in 0..batch.num_rows() {
            let mut key = Vec::with_capacity(keys.len());
            for k in &keys {
                let v = scalar_at(k.as_ref(), r)?;
                if matches!(v, Scalar::Null) {
                    continue 'rows;
                }
                key.push(v);
            }
            let row = batch
                .columns()
                .iter()
                .map(|c| scalar_at(c.as_ref(), r))
                .collect::<SqlResult<_>>()?;
            out.push(JoinRow { key, left: self.left, row });
        }
        Ok(())
    }
}

/// An inner equi-join as a keyed process function: per key, the rows seen
/// on each side; a row joins every stored row of the other side (then the
/// residual `filter`). In a window join (both inputs grouped by the same
/// window's end, which is part of the key) a key's rows are dropped when
/// the watermark passes the window's end: no row of that window can come.
#[derive(Clone)]
pub struct Join {
    /// The output schema (left columns, then right).
    pub schema: SchemaRef,
    /// The residual condition over output rows.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// The index in the key of the window end both sides share, if any.
    pub window_end_key: Option<usize>,
}

/// `rows` (joined rows of `schema`) that pass `filter` as a batch, if any.
///
/// # Errors
/// A row that does not fit the schema; the filter's evaluation error.
pub fn joined(
    schema: &SchemaRef,
    filter_expr: Option<&Arc<dyn PhysicalExpr>>,
    rows: &[Vec<Scalar>],
) -> squall::Result<Option<Batch>> {
    if rows.is_empty() {
        return Ok(None);
    }
    let mut batch = batch_of(schema, rows).map_err(squall::Error::from)?;
    if let Some(f) = filter_expr {
        batch = filter(f, &batch).map_err(squall::Error::from)?;
    }
    Ok((batch.num_rows() > 0).then_some(Batch(batch)))
}

/// Rows stored per key: left, right.
pub type JoinState = (Vec<Vec<Scalar>>, Vec<Vec<Scalar>>);

impl KeyedProcessFunction<Vec<Scalar>, JoinRow> for Join {
    type State = JoinState;
    type Out = Batch;

    fn process_element(
        &mut self,
        row: JoinRow,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, JoinState, Batch>,
    ) -> squall::Result<()> {
        if let Some(i) = self.window_end_key {
            if let Some(Scalar::Ts(end) | Scalar::Int(end)) = ctx.key().get(i).cloned() {
                if end - 1 <= ctx.current_watermark() {
                    return Ok(());
                }
                ctx.register_event_time_timer(end - 1);
            }
        }
        let state = ctx.state();
        let (lefts, rights) = state.get_or_insert_with(Default::default);
        let mut out = Vec::new();
        if row.left {
            for r in rights.iter() {
                out.push(row.row.iter().chain(r).cloned().collect::<Vec<_>>());
            }
            lefts.push(row.row);
        } else {
            for l in lefts.iter() {
                out.push(l.iter().chain(&row.row).cloned().collect::<Vec<_>>());
            }
            rights.push(row.row);
        }
        if let Some(b) = joined(&self.schema, self.filter.as_ref(), &out)? {
            ctx.collect(b);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: i64,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, JoinState, Batch>,
    ) -> squall::Result<()> {
        *ctx.state() = None;
        Ok(())
    }
}
