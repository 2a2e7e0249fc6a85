//! The Top-N operator (Flink's `Rank`, and `Deduplicate` for the first
//! row): per partition key, the rows ranked `first..=last` by an order,
//! kept in keyed state and emitted as an updating result.
//!
//! Each partition holds its rows sorted by the `ORDER BY` values, ties
//! broken by the whole row, so the ranking does not depend on the order
//! rows arrive in (Flink ranks equal rows by arrival, which differs
//! between runs and after a restore). After each input row the operator
//! compares the ranked rows before and after and emits the difference in
//! the changelog column of [`crate::updating`]: with the rank column, a
//! rank whose row changed is `-U` old, `+U` new (`+I` when a rank is first
//! filled, `-D` when it empties, as Flink's `RetractableTopNFunction`);
//! without it, a row entering the range is `+U` after the `-U` of the row
//! it pushed out (`+I` and `-D` when unpaired).
//!
//! State: an append-only input keeps only the `last` best rows of a
//! partition (a row pushed out can never return, Flink's
//! `AppendOnlyTopNFunction`); an updating input keeps every row with its
//! multiplicity, since a retraction can bring a lower row back into range.
//! The state is the process function's keyed state, so checkpoints hold it
//! and a restore resumes the ranking exactly.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion_common::arrow::array::{ArrayRef, AsArray};
use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_common::arrow::record_batch::RecordBatch;
use datafusion_physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};
use squall::datastream::{KeyedContext, KeyedProcessFunction};

use crate::batch::{batch_of, scalar_at, Batch, Scalar};
use crate::error::SqlResult;
use crate::ops::eval;
use crate::translate::{fail, physical, Node};
use crate::updating::{with_op, OP_COLUMN};

/// One `ORDER BY` value with its direction: its `Ord` is the ranking's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortCell {
    /// The value.
    pub value: Scalar,
    /// `DESC`.
    pub desc: bool,
    /// `NULLS FIRST`.
    pub nulls_first: bool,
}

impl PartialOrd for SortCell {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortCell {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.value, &other.value) {
            (Scalar::Null, Scalar::Null) => Ordering::Equal,
            (Scalar::Null, _) if self.nulls_first => Ordering::Less,
            (Scalar::Null, _) => Ordering::Greater,
            (_, Scalar::Null) if self.nulls_first => Ordering::Greater,
            (_, Scalar::Null) => Ordering::Less,
            (a, b) if self.desc => b.cmp(a),
            (a, b) => a.cmp(b),
        }
    }
}

/// A row entering the Top-N: its partition, its `ORDER BY` values, its
/// columns, and whether it retracts an earlier row (`-U`/`-D` input).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RankRow {
    /// `PARTITION BY` values.
    pub key: Vec<Scalar>,
    /// `ORDER BY` values.
    pub sort: Vec<SortCell>,
    /// The row's columns (without the row kind).
    pub row: Vec<Scalar>,
    /// A retraction.
    pub retract: bool,
}

/// Splits batches into [`RankRow`]s.
#[derive(Clone)]
pub struct RankInput {
    /// `PARTITION BY` expressions.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// `ORDER BY` expressions with `(desc, nulls_first)`.
    pub order: Vec<(Arc<dyn PhysicalExpr>, bool, bool)>,
    /// The row-kind column of an updating input.
    pub op_col: Option<usize>,
}

impl RankInput {
    /// The rows of `batch`.
    ///
    /// # Errors
    /// Evaluation errors; column types keyed state cannot hold.
    pub fn rows(&self, batch: &RecordBatch, out: &mut Vec<RankRow>) -> SqlResult<()> {
        let keys: Vec<ArrayRef> =
            self.keys.iter().map(|k| eval(k, batch)).collect::<SqlResult<_>>()?;
        let order: Vec<ArrayRef> =
            self.order.iter().map(|(e, _, _)| eval(e, batch)).collect::<SqlResult<_>>()?;
        let ncols = self.op_col.unwrap_or(batch.num_columns());
        for r in 0..batch.num_rows() {
            let key = keys.iter().map(|k| scalar_at(k.as_ref(), r)).collect::<SqlResult<_>>()?;
            let mut sort = Vec::with_capacity(order.len());
            for (a, (_, desc, nulls_first)) in order.iter().zip(&self.order) {
                let value = scalar_at(a.as_ref(), r)?;
                sort.push(SortCell { value, desc: *desc, nulls_first: *nulls_first });
            }
            let row = (0..ncols)
                .map(|c| scalar_at(batch.column(c).as_ref(), r))
                .collect::<SqlResult<_>>()?;
            let retract = self
                .op_col
                .is_some_and(|c| batch.column(c).as_string::<i32>().value(r).starts_with('-'));
            out.push(RankRow { key, sort, row, retract });
        }
        Ok(())
    }
}

/// A partition's rows in rank order, each with how many times it is held.
pub type RankState = BTreeMap<(Vec<SortCell>, Vec<Scalar>), u64>;

/// The Top-N process function, keyed by the partition.
#[derive(Clone)]
pub struct TopN {
    /// First rank emitted (1-based).
    pub first: u64,
    /// Last rank emitted (inclusive).
    pub last: u64,
    /// Whether the output has the rank as its last data column.
    pub rank: bool,
    /// Whether the input is append-only (then only `last` rows are kept).
    pub append_only: bool,
    /// The output schema: the row, the rank if `rank`, the row kind.
    pub schema: SchemaRef,
}

impl TopN {
    /// The rows ranked `first..=last` now, in rank order.
    fn ranked(&self, state: &RankState) -> Vec<Vec<Scalar>> {
        let skip = self.first.saturating_sub(1) as usize;
        let take = (self.last + 1).saturating_sub(self.first) as usize;
        state
            .iter()
            .flat_map(|((_, row), n)| std::iter::repeat_n(row, *n as usize))
            .skip(skip)
            .take(take)
            .cloned()
            .collect()
    }

    /// The changelog rows from `old` to `new` ranked rows.
    fn changes(&self, old: Vec<Vec<Scalar>>, new: Vec<Vec<Scalar>>) -> Vec<Vec<Scalar>> {
        let tag = |mut row: Vec<Scalar>, rank: Option<usize>, op: &str| {
            if let Some(i) = rank {
                row.push(Scalar::Int(self.first as i64 + i as i64));
            }
            row.push(Scalar::Str(op.into()));
            row
        };
        let mut out = Vec::new();
        if self.rank {
            let n = old.len().max(new.len());
            let (mut old, mut new) = (old.into_iter(), new.into_iter());
            for i in 0..n {
                match (old.next(), new.next()) {
                    (Some(a), Some(b)) if a == b => {}
                    (Some(a), Some(b)) => {
                        out.push(tag(a, Some(i), "-U"));
                        out.push(tag(b, Some(i), "+U"));
                    }
                    (None, Some(b)) => out.push(tag(b, Some(i), "+I")),
                    (Some(a), None) => out.push(tag(a, Some(i), "-D")),
                    (None, None) => {}
                }
            }
            return out;
        }
        // Without ranks: the multiset difference.
        changes(old, new)
    }
}

/// The changelog rows that turn the rows `old` into the rows `new`
/// (multisets; order does not matter), each with its row kind appended: a
/// row gone is `-U` before the `+U` of a row come, unpaired ones `-D` and
/// `+I`; rows in both change nothing.
pub fn changes(old: Vec<Vec<Scalar>>, new: Vec<Vec<Scalar>>) -> Vec<Vec<Scalar>> {
    let tag = |mut row: Vec<Scalar>, op: &str| {
        row.push(Scalar::Str(op.into()));
        row
    };
    let mut count: BTreeMap<Vec<Scalar>, i64> = BTreeMap::new();
    for row in old {
        *count.entry(row).or_default() -= 1;
    }
    for row in new {
        *count.entry(row).or_default() += 1;
    }
    let (mut gone, mut came) = (Vec::new(), Vec::new());
    for (row, n) in count {
        let side = if n < 0 { &mut gone } else { &mut came };
        side.extend(std::iter::repeat_n(row, n.unsigned_abs() as usize));
    }
    let mut out = Vec::new();
    let (mut gone, mut came) = (gone.into_iter(), came.into_iter());
    loop {
        match (gone.next(), came.next()) {
            (Some(a), Some(b)) => {
                out.push(tag(a, "-U"));
                out.push(tag(b, "+U"));
            }
            (Some(a), None) => out.push(tag(a, "-D")),
            (None, Some(b)) => out.push(tag(b, "+I")),
            (None, None) => return out,
        }
    }
}

impl TopN {
    /// Applies `row` to a partition's `state`; returns the changelog rows
    /// it causes (the row, the rank if `rank`, the row kind).
    pub fn apply(&self, state: &mut RankState, row: RankRow) -> Vec<Vec<Scalar>> {
        let entry = (row.sort, row.row);
        if !row.retract && self.append_only {
            // A row below a full range changes nothing and is not kept.
            let held: u64 = state.values().sum();
            if held >= self.last && state.last_key_value().is_some_and(|(k, _)| entry >= *k) {
                return Vec::new();
            }
        }
        let old = self.ranked(state);
        if row.retract {
            match state.get_mut(&entry) {
                Some(n) if *n > 1 => *n -= 1,
                Some(_) => {
                    state.remove(&entry);
                }
                None => return Vec::new(),
            }
        } else {
            *state.entry(entry).or_default() += 1;
            if self.append_only {
                // Keep the `last` best rows.
                let mut held: u64 = state.values().sum();
                while held > self.last {
                    let Some(mut e) = state.last_entry() else { break };
                    held -= 1;
                    if *e.get() > 1 {
                        *e.get_mut() -= 1;
                    } else {
                        e.remove();
                    }
                }
            }
        }
        let new = self.ranked(state);
        self.changes(old, new)
    }
}

impl KeyedProcessFunction<Vec<Scalar>, RankRow> for TopN {
    type State = RankState;
    type Out = Batch;

    fn process_element(
        &mut self,
        row: RankRow,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, RankState, Batch>,
    ) -> squall::Result<()> {
        emit_changes(ctx, &self.schema, |state| self.apply(state, row))
    }
}

/// Applies one input row to a partition's sorted rows with `apply` and
/// emits the changelog rows it returns as one batch of `schema`; the
/// partition's state goes when it holds no rows (the Top-N's and the OVER
/// aggregate's element step).
///
/// # Errors
/// A changelog row that does not fit `schema`.
pub fn emit_changes<R: Ord, V>(
    ctx: &mut KeyedContext<'_, Vec<Scalar>, BTreeMap<R, V>, Batch>,
    schema: &SchemaRef,
    apply: impl FnOnce(&mut BTreeMap<R, V>) -> Vec<Vec<Scalar>>,
) -> squall::Result<()> {
    let state = ctx.state().get_or_insert_with(Default::default);
    let out = apply(state);
    if state.is_empty() {
        *ctx.state() = None;
    }
    if out.is_empty() {
        return Ok(());
    }
    let batch = batch_of(schema, &out).map_err(squall::Error::from)?;
    ctx.collect(Batch(batch));
    Ok(())
}

/// The operators of the plan node `plan` over its translated `input`: a
/// split of batches into [`RankRow`]s, keyed by the partition, into a
/// [`TopN`] process function (its state expiring after `state_ttl_ms`
/// untouched, if set); an updating result.
///
/// # Errors
/// An expression DataFusion cannot make physical.
pub fn translate(
    plan: &crate::topn_plan::TopN,
    input: Node,
    state_ttl_ms: Option<i64>,
) -> SqlResult<Node> {
    let in_schema = plan.input.schema();
    let keys =
        plan.partition_by.iter().map(|e| physical(e, in_schema)).collect::<SqlResult<_>>()?;
    let order = plan
        .order_by
        .iter()
        .map(|s| Ok((physical(&s.expr, in_schema)?, !s.asc, s.nulls_first)))
        .collect::<SqlResult<_>>()?;
    let op_col = input.updating.then(|| in_schema.fields().len());
    let split = RankInput { keys, order, op_col };
    let rows = input.stream.flat_map(move |b: Batch, out: &mut Vec<RankRow>| {
        split.rows(&b.0, out).unwrap_or_else(|e| fail(e));
    });
    let schema = with_op(&std::sync::Arc::new(plan.schema.as_arrow().clone()));
    debug_assert_eq!(schema.fields().last().map(|f| f.name().as_str()), Some(OP_COLUMN));
    let f = TopN {
        first: plan.first,
        last: plan.last,
        rank: plan.rank,
        append_only: !input.updating,
        schema,
    };
    let keyed = rows.key_by(|r: &RankRow| r.key.clone());
    let stream = crate::ttl::process(&keyed, f, state_ttl_ms);
    Ok(Node { stream, window: None, updating: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_common::arrow::datatypes::{DataType, Field, Schema};

    fn top(first: u64, last: u64, rank: bool, append_only: bool) -> TopN {
        let mut fields = vec![Field::new("v", DataType::Int64, true)];
        if rank {
            fields.push(Field::new("rn", DataType::UInt64, false));
        }
        fields.push(Field::new(crate::updating::OP_COLUMN, DataType::Utf8, false));
        TopN { first, last, rank, append_only, schema: Arc::new(Schema::new(fields)) }
    }

    /// Runs `ops` (value, retract) through `t` for one partition ordered
    /// by the value descending; returns the changelog as (op, value, rank).
    fn run(t: &TopN, ops: &[(i64, bool)]) -> Vec<(String, i64, Option<i64>)> {
        let mut state = RankState::new();
        let mut log = Vec::new();
        for (v, retract) in ops {
            let cell = SortCell { value: Scalar::Int(*v), desc: true, nulls_first: false };
            let row = RankRow {
                key: vec![],
                sort: vec![cell],
                row: vec![Scalar::Int(*v)],
                retract: *retract,
            };
            for row in t.apply(&mut state, row) {
                let int = |s: &Scalar| match s {
                    Scalar::Int(i) => *i,
                    other => panic!("{other:?}"),
                };
                let op = match row.last() {
                    Some(Scalar::Str(s)) => s.clone(),
                    other => panic!("{other:?}"),
                };
                log.push((op, int(&row[0]), t.rank.then(|| int(&row[1]))));
            }
        }
        log
    }

    #[test]
    fn a_better_row_shifts_the_ranks_below_it() {
        let log = run(&top(1, 2, true, false), &[(5, false), (7, false), (6, false)]);
        let want: Vec<(String, i64, Option<i64>)> = vec![
            ("+I".into(), 5, Some(1)),
            ("-U".into(), 5, Some(1)),
            ("+U".into(), 7, Some(1)),
            ("+I".into(), 5, Some(2)),
            ("-U".into(), 5, Some(2)),
            ("+U".into(), 6, Some(2)),
        ];
        assert_eq!(log, want);
    }

    #[test]
    fn without_ranks_only_rows_entering_and_leaving_change() {
        let log = run(&top(1, 2, false, false), &[(5, false), (7, false), (6, false), (7, true)]);
        let want: Vec<(String, i64, Option<i64>)> = vec![
            ("+I".into(), 5, None),
            ("+I".into(), 7, None),
            ("-U".into(), 5, None),
            ("+U".into(), 6, None),
            // 7 retracted: 5 comes back into the top 2.
            ("-U".into(), 7, None),
            ("+U".into(), 5, None),
        ];
        assert_eq!(log, want);
    }

    #[test]
    fn an_append_only_input_keeps_only_the_top_rows_and_emits_the_same() {
        let inserts: Vec<(i64, bool)> = [5, 7, 6, 9, 1, 8, 7].iter().map(|v| (*v, false)).collect();
        let all = run(&top(1, 3, true, false), &inserts);
        let bounded = top(1, 3, true, true);
        assert_eq!(run(&bounded, &inserts), all);
        let mut state = RankState::new();
        for (v, _) in &inserts {
            let cell = SortCell { value: Scalar::Int(*v), desc: true, nulls_first: false };
            let row = RankRow {
                key: vec![],
                sort: vec![cell],
                row: vec![Scalar::Int(*v)],
                retract: false,
            };
            bounded.apply(&mut state, row);
        }
        let kept: Vec<&Scalar> = state.keys().map(|(_, r)| &r[0]).collect();
        assert_eq!(kept, [&Scalar::Int(9), &Scalar::Int(8), &Scalar::Int(7)]);
    }

    #[test]
    fn nulls_sort_by_their_placement_and_ties_by_the_row() {
        let cell = |v: Scalar, nulls_first| SortCell { value: v, desc: true, nulls_first };
        assert!(cell(Scalar::Null, true) < cell(Scalar::Int(1), true));
        assert!(cell(Scalar::Null, false) > cell(Scalar::Int(1), false));
        assert!(cell(Scalar::Int(2), false) < cell(Scalar::Int(1), false));
        let a = (vec![cell(Scalar::Int(1), false)], vec![Scalar::Str("a".into())]);
        let b = (vec![cell(Scalar::Int(1), false)], vec![Scalar::Str("b".into())]);
        assert!(a < b);
    }
}
