//! Regular outer equi-joins, `LEFT`, `RIGHT` and `FULL OUTER JOIN`, as
//! updating results (Flink's `StreamingJoinOperator` with outer sides).
//!
//! Per key the rows of each side are kept (in checkpoints, and under the
//! state TTL when set) with how many rows of the other side they matched.
//! A row of an outer side that matches nothing yet is emitted padded with
//! NULLs (`+I`); when its first match arrives that row is retracted (`-D`)
//! before the joined row (`+I`), as Flink does. A row whose key is NULL
//! matches nothing: on an outer side it is emitted padded at once. The
//! inputs are append-only; the output is a changelog whose final table is
//! the outer join of everything that came.

use std::sync::Arc;

use datafusion_common::arrow::array::{Array, ArrayRef, AsArray};
use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_common::arrow::record_batch::RecordBatch;
use datafusion_physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};
use squall::datastream::{KeyedContext, KeyedProcessFunction, KeyedStream, Stream};

use crate::batch::{batch_of, scalar_at, Batch, Scalar};
use crate::error::SqlResult;
use crate::ops::{eval, JoinRow};
use crate::translate::{fail, physical};
use crate::updating::with_op;

/// Turns batches of one input of an outer join into [`JoinRow`]s; unlike an
/// inner join's input, rows with a NULL key are kept (they match nothing,
/// but an outer side still emits them).
#[derive(Clone)]
pub struct OuterInput {
    /// The key expressions over this input.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Left or right.
    pub left: bool,
}

impl OuterInput {
    /// The rows of `batch`.
    ///
    /// # Errors
    /// Evaluation errors; column types keyed state cannot hold.
    pub fn rows(&self, batch: &RecordBatch, out: &mut Vec<JoinRow>) -> SqlResult<()> {
        let keys: Vec<ArrayRef> =
            self.keys.iter().map(|k| eval(k, batch)).collect::<SqlResult<_>>()?;
        for r in 0..batch.num_rows() {
            let key = keys.iter().map(|k| scalar_at(k.as_ref(), r)).collect::<SqlResult<_>>()?;
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

/// Which of `pairs` (joined rows of `schema`) pass `filter`, the residual
/// condition of a join (all without one).
///
/// # Errors
/// DataFusion's evaluation error.
pub fn passing(
    schema: &SchemaRef,
    filter: Option<&Arc<dyn PhysicalExpr>>,
    pairs: &[Vec<Scalar>],
) -> SqlResult<Vec<bool>> {
    let Some(f) = filter.filter(|_| !pairs.is_empty()) else { return Ok(vec![true; pairs.len()]) };
    let mask = eval(f, &batch_of(schema, pairs)?)?;
    let mask = mask.as_boolean();
    Ok((0..pairs.len()).map(|i| mask.is_valid(i) && mask.value(i)).collect())
}

/// The rows of `j`'s two inputs, NULL keys kept, keyed by the equi-join
/// key (left rows marked).
///
/// # Errors
/// A key DataFusion cannot plan.
pub fn keyed_rows(
    j: &datafusion_expr::logical_plan::Join,
    left: Stream<Batch>,
    right: Stream<Batch>,
) -> SqlResult<KeyedStream<Vec<Scalar>, JoinRow>> {
    let side = |is_left: bool, stream: Stream<Batch>| -> SqlResult<Stream<JoinRow>> {
        let schema = if is_left { j.left.schema() } else { j.right.schema() };
        let keys =
            j.on.iter()
                .map(|(l, r)| physical(if is_left { l } else { r }, schema))
                .collect::<SqlResult<_>>()?;
        let input = OuterInput { keys, left: is_left };
        Ok(stream.flat_map(move |b: Batch, out: &mut Vec<JoinRow>| {
            input.rows(&b.0, out).unwrap_or_else(|e| fail(e))
        }))
    };
    let (l, r) = (side(true, left)?, side(false, right)?);
    Ok(l.union(&r).key_by(|r: &JoinRow| r.key.clone()))
}

/// A side's rows of one key, each with the number of rows it matched.
pub type Counted = Vec<(Vec<Scalar>, u64)>;

/// Rows stored per key: left, right.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OuterState {
    left: Counted,
    right: Counted,
}

/// The outer join's process function, keyed by the equi-join key.
#[derive(Clone)]
pub struct OuterJoin {
    /// The join's output schema (left columns, then right), without the
    /// row kind.
    pub schema: SchemaRef,
    /// The output schema: `schema` and the row kind.
    pub out_schema: SchemaRef,
    /// The residual ON condition over joined rows.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Whether unmatched left rows are emitted (LEFT, FULL).
    pub left_outer: bool,
    /// Whether unmatched right rows are emitted (RIGHT, FULL).
    pub right_outer: bool,
}

impl OuterJoin {
    /// `side`'s row padded with NULLs for the other side, with row kind
    /// `op`.
    fn padded(&self, row: &[Scalar], left: bool, op: &str) -> Vec<Scalar> {
        let n = self.schema.fields().len();
        let nulls = std::iter::repeat_n(Scalar::Null, n - row.len());
        let mut out: Vec<Scalar> = match left {
            true => row.iter().cloned().chain(nulls).collect(),
            false => nulls.chain(row.iter().cloned()).collect(),
        };
        out.push(Scalar::Str(op.into()));
        out
    }
}

impl KeyedProcessFunction<Vec<Scalar>, JoinRow> for OuterJoin {
    type State = OuterState;
    type Out = Batch;

    fn process_element(
        &mut self,
        row: JoinRow,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, OuterState, Batch>,
    ) -> squall::Result<()> {
        let mine_outer = if row.left { self.left_outer } else { self.right_outer };
        let other_outer = if row.left { self.right_outer } else { self.left_outer };
        let mut out = Vec::new();
        if row.key.iter().any(|k| matches!(k, Scalar::Null)) {
            if mine_outer {
                out.push(self.padded(&row.row, row.left, "+I"));
                let batch = batch_of(&self.out_schema, &out).map_err(squall::Error::from)?;
                ctx.collect(Batch(batch));
            }
            return Ok(());
        }
        let state = ctx.state().get_or_insert_with(Default::default);
        let (mine, other) = match row.left {
            true => (&mut state.left, &mut state.right),
            false => (&mut state.right, &mut state.left),
        };
        let pairs: Vec<Vec<Scalar>> = other
            .iter()
            .map(|(o, _)| match row.left {
                true => row.row.iter().chain(o).cloned().collect(),
                false => o.iter().chain(&row.row).cloned().collect(),
            })
            .collect();
        let pass = passing(&self.schema, self.filter.as_ref(), &pairs)?;
        let mut matched = 0;
        for ((pair, ok), (o, n)) in pairs.into_iter().zip(pass).zip(other.iter_mut()) {
            if !ok {
                continue;
            }
            if *n == 0 && other_outer {
                out.push(self.padded(o, !row.left, "-D"));
            }
            *n += 1;
            matched += 1;
            let mut pair = pair;
            pair.push(Scalar::Str("+I".into()));
            out.push(pair);
        }
        if matched == 0 && mine_outer {
            out.push(self.padded(&row.row, row.left, "+I"));
        }
        mine.push((row.row, matched));
        if !out.is_empty() {
            let batch = batch_of(&self.out_schema, &out).map_err(squall::Error::from)?;
            ctx.collect(Batch(batch));
        }
        Ok(())
    }
}

/// The outer join of `j`'s inputs `left` and `right` (append-only), its
/// keyed state expiring after `ttl_ms` untouched when set; `sides` says
/// which sides are outer (left, right). Returns the changelog and a line
/// describing the operator.
///
/// # Errors
/// A key or condition DataFusion cannot evaluate.
pub fn plan(
    j: &datafusion_expr::logical_plan::Join,
    left: Stream<Batch>,
    right: Stream<Batch>,
    sides: (bool, bool),
    ttl_ms: Option<i64>,
) -> SqlResult<(Stream<Batch>, String)> {
    let keyed = keyed_rows(j, left, right)?;
    let filter = j.filter.as_ref().map(|f| physical(f, &j.schema)).transpose()?;
    let schema: SchemaRef = Arc::new(j.schema.as_arrow().clone());
    let f = OuterJoin {
        out_schema: with_op(&schema),
        schema,
        filter,
        left_outer: sides.0,
        right_outer: sides.1,
    };
    let what = format!(
        "{} join on {}{} (a changelog: a NULL-padded row is retracted when its first match comes)",
        j.join_type,
        j.on.iter().map(|(l, r)| format!("{l} = {r}")).collect::<Vec<_>>().join(" AND "),
        j.filter.as_ref().map(|f| format!(" and {f}")).unwrap_or_default()
    );
    Ok((crate::ttl::process(&keyed, f, ttl_ms), what))
}
