//! The bounded `ROWS` OVER aggregate (Flink's `OverAggregate`, here over
//! an updating input as well):
//!
//! ```sql
//! SELECT seller, AVG(price) OVER (PARTITION BY seller ORDER BY dateTime
//!                                 ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)
//! FROM winning_bids
//! ```
//!
//! Each output row is an input row with, for each aggregate (`COUNT`,
//! `SUM`, `MIN`, `MAX`, `AVG`), its value over the row and the `n` rows
//! before it in its partition (`UNBOUNDED PRECEDING`: all of them), in the
//! `ORDER BY` order. Rows equal on the `ORDER BY` are ordered by their
//! columns, left to right, as the Top-N orders them ([`crate::topn`]), so
//! the result does not depend on arrival order.
//!
//! Per partition key the operator holds the partition's rows, sorted, in
//! keyed state (so checkpoints hold them and a restore resumes exactly).
//! A row inserted (`+I`, `+U`, or any row of an append-only input) or
//! retracted (`-U`, `-D`) changes its own output row and those of the `n`
//! rows after it; the operator computes those rows' outputs without and
//! with the row and emits the difference as a changelog
//! ([`crate::updating::OP_COLUMN`]: `-U` old, `+U` new, `+I`/`-D`
//! unpaired). A row arriving after later rows of its partition (an
//! out-of-order row, or any update) so retracts and re-emits the rows
//! whose window it falls in. The result is an updating result even over
//! an append-only input: the final table of its changelog equals the batch
//! `OVER` query over the final input. Work per row is `O(log m + n · k)`
//! for `m` rows held and `k` aggregates; state grows with the input unless
//! `table.exec.state.ttl` bounds it.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion_common::arrow::array::ArrayRef;
use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_common::arrow::record_batch::RecordBatch;
use datafusion_physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};
use squall::datastream::{KeyedContext, KeyedProcessFunction};

use crate::batch::{scalar_at, Batch, Scalar};
use crate::error::SqlResult;
use crate::ops::{eval, AggKind};
use crate::topn::{changes, RankInput, RankRow, SortCell};
use crate::updating::RetractAcc;

/// One aggregate of the OVER node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverSpec {
    /// The function.
    pub kind: AggKind,
    /// Rows before the current one in its frame (`None`: unbounded).
    pub preceding: Option<usize>,
}

/// A row entering the operator: its partition, order and columns (as the
/// Top-N takes them) and its aggregates' arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverRow {
    /// Partition, `ORDER BY` values, columns, retraction.
    pub rank: RankRow,
    /// One argument per aggregate (`COUNT(*)`: `1`).
    pub args: Vec<Scalar>,
}

/// Splits batches into [`OverRow`]s.
#[derive(Clone)]
pub struct OverInput {
    /// Partition, order and row kind.
    pub rank: RankInput,
    /// Per aggregate its argument (`None`: `COUNT(*)`).
    pub args: Vec<Option<Arc<dyn PhysicalExpr>>>,
}

impl OverInput {
    /// The rows of `batch`.
    ///
    /// # Errors
    /// Evaluation errors; column types keyed state cannot hold.
    pub fn rows(&self, batch: &RecordBatch, out: &mut Vec<OverRow>) -> SqlResult<()> {
        let mut ranked = Vec::with_capacity(batch.num_rows());
        self.rank.rows(batch, &mut ranked)?;
        let args: Vec<Option<ArrayRef>> = self
            .args
            .iter()
            .map(|a| a.as_ref().map(|e| eval(e, batch)).transpose())
            .collect::<SqlResult<_>>()?;
        for (r, rank) in ranked.into_iter().enumerate() {
            let args = args
                .iter()
                .map(|a| match a {
                    Some(a) => scalar_at(a.as_ref(), r),
                    None => Ok(Scalar::Int(1)),
                })
                .collect::<SqlResult<_>>()?;
            out.push(OverRow { rank, args });
        }
        Ok(())
    }
}

/// A row's place in its partition: its `ORDER BY` values, then the row.
pub type OverKey = (Vec<SortCell>, Vec<Scalar>);

/// A partition's rows in `ORDER BY` order (ties by the row), each with how
/// many times it is held and its aggregates' arguments.
pub type OverState = BTreeMap<OverKey, (u64, Vec<Scalar>)>;

/// A row and its arguments, as the frames read them.
type Item = (Vec<Scalar>, Vec<Scalar>);

/// The OVER aggregate's process function, keyed by the partition.
#[derive(Clone)]
pub struct OverAgg {
    /// The aggregates, in output order.
    pub specs: Vec<OverSpec>,
    /// The output schema: the input's columns, one per aggregate, the row
    /// kind.
    pub schema: SchemaRef,
}

impl OverAgg {
    /// The most rows any frame reaches back (`usize::MAX`: unbounded).
    fn span(&self) -> usize {
        self.specs.iter().map(|s| s.preceding.unwrap_or(usize::MAX)).max().unwrap_or(0)
    }

    /// The output rows of `seq[from..]` (each with its aggregates over its
    /// frame in `seq`).
    fn outputs(&self, seq: &[&Item], from: usize) -> Vec<Vec<Scalar>> {
        (from..seq.len())
            .map(|i| {
                let mut row = seq[i].0.clone();
                for (j, spec) in self.specs.iter().enumerate() {
                    let start = spec.preceding.map_or(0, |p| i.saturating_sub(p));
                    let mut acc = RetractAcc::new(spec.kind);
                    for item in &seq[start..=i] {
                        acc.apply(item.1[j].clone(), 1);
                    }
                    row.push(acc.result());
                }
                row
            })
            .collect()
    }

    /// Applies `row` to a partition's `state`; returns the changelog rows
    /// it causes (the input columns, the aggregates, the row kind).
    pub fn apply(&self, state: &mut OverState, row: OverRow) -> Vec<Vec<Scalar>> {
        let key = (row.rank.sort, row.rank.row);
        let retract = row.rank.retract;
        let held = state.get(&key).map_or(0, |e| e.0);
        if retract && held == 0 {
            // A retraction of a row never held (state expired): nothing.
            return Vec::new();
        }
        let span = self.span();
        let expand = |(k, (n, args)): (&OverKey, &(u64, Vec<Scalar>))| {
            std::iter::repeat_n((k.1.clone(), args.clone()), *n as usize)
        };
        // Up to `span` rows before the row, and up to `span` after it (not
        // counting the copy inserted or retracted): those whose frames
        // change.
        let mut before: Vec<Item> = state.range(..&key).rev().flat_map(expand).take(span).collect();
        before.reverse();
        let after: Vec<Item> =
            state.range(&key..).flat_map(expand).skip(retract as usize).take(span).collect();
        let item: Item = (key.1.clone(), row.args.clone());
        let without: Vec<&Item> = before.iter().chain(&after).collect();
        let with: Vec<&Item> = before.iter().chain(std::iter::once(&item)).chain(&after).collect();
        let (without, with) =
            (self.outputs(&without, before.len()), self.outputs(&with, before.len()));
        let out = match retract {
            false => changes(without, with),
            true => changes(with, without),
        };
        match (retract, state.get_mut(&key)) {
            (false, Some(e)) => e.0 += 1,
            (false, None) => {
                state.insert(key, (1, row.args));
            }
            (true, Some(e)) if e.0 > 1 => e.0 -= 1,
            (true, _) => {
                state.remove(&key);
            }
        }
        out
    }
}

impl KeyedProcessFunction<Vec<Scalar>, OverRow> for OverAgg {
    type State = OverState;
    type Out = Batch;

    fn process_element(
        &mut self,
        row: OverRow,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, OverState, Batch>,
    ) -> squall::Result<()> {
        crate::topn::emit_changes(ctx, &self.schema, |state| self.apply(state, row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_common::arrow::datatypes::{DataType, Field, Schema};

    fn over(specs: &[(AggKind, Option<usize>)]) -> OverAgg {
        let mut fields = vec![Field::new("t", DataType::Int64, true)];
        for (i, _) in specs.iter().enumerate() {
            fields.push(Field::new(format!("a{i}"), DataType::Float64, true));
        }
        fields.push(Field::new(crate::updating::OP_COLUMN, DataType::Utf8, false));
        OverAgg {
            specs: specs
                .iter()
                .map(|(kind, preceding)| OverSpec { kind: *kind, preceding: *preceding })
                .collect(),
            schema: Arc::new(Schema::new(fields)),
        }
    }

    fn row(t: i64, retract: bool, n: usize) -> OverRow {
        let cell = SortCell { value: Scalar::Int(t), desc: false, nulls_first: false };
        OverRow {
            rank: RankRow { key: vec![], sort: vec![cell], row: vec![Scalar::Int(t)], retract },
            args: vec![Scalar::Int(t); n],
        }
    }

    /// The final table the changelog of `ops` leaves (rows inserted and
    /// not retracted), sorted.
    fn fold(f: &OverAgg, ops: &[(i64, bool)]) -> Vec<Vec<Scalar>> {
        let mut state = OverState::new();
        let mut table: Vec<Vec<Scalar>> = Vec::new();
        for (t, retract) in ops {
            for mut r in f.apply(&mut state, row(*t, *retract, f.specs.len())) {
                let op = r.pop();
                if matches!(&op, Some(Scalar::Str(s)) if s.starts_with('-')) {
                    let i =
                        table.iter().position(|x| *x == r).expect("a retracted row was emitted");
                    table.remove(i);
                } else {
                    table.push(r);
                }
            }
        }
        table.sort();
        table
    }

    /// The batch answer: each row of `values` (sorted) with its
    /// aggregates over its frame, computed directly.
    fn batch(f: &OverAgg, values: &[i64]) -> Vec<Vec<Scalar>> {
        let mut v = values.to_vec();
        v.sort();
        let mut out: Vec<Vec<Scalar>> = (0..v.len())
            .map(|i| {
                let mut r = vec![Scalar::Int(v[i])];
                for s in &f.specs {
                    let frame = &v[s.preceding.map_or(0, |p| i.saturating_sub(p))..=i];
                    r.push(match s.kind {
                        AggKind::Count => Scalar::Int(frame.len() as i64),
                        AggKind::Sum => Scalar::Int(frame.iter().sum()),
                        AggKind::Min => Scalar::Int(*frame.iter().min().unwrap()),
                        AggKind::Max => Scalar::Int(*frame.iter().max().unwrap()),
                        _ => Scalar::Float(frame.iter().sum::<i64>() as f64 / frame.len() as f64),
                    });
                }
                r
            })
            .collect();
        out.sort();
        out
    }

    const ALL: [AggKind; 5] =
        [AggKind::Avg, AggKind::Sum, AggKind::Count, AggKind::Min, AggKind::Max];

    #[test]
    fn in_order_rows_each_emit_their_own_frame() {
        let f = over(&[(AggKind::Avg, Some(2))]);
        let mut state = OverState::new();
        let mut log = Vec::new();
        for t in [10, 20, 30, 40] {
            log.extend(f.apply(&mut state, row(t, false, 1)));
        }
        let want: Vec<Vec<Scalar>> = [(10, 10.0), (20, 15.0), (30, 20.0), (40, 30.0)]
            .iter()
            .map(|(t, a)| vec![Scalar::Int(*t), Scalar::Float(*a), Scalar::Str("+I".into())])
            .collect();
        assert_eq!(log, want);
    }

    #[test]
    fn an_out_of_order_row_updates_the_frames_it_falls_in() {
        let specs: Vec<_> = ALL.iter().map(|k| (*k, Some(2))).collect();
        let f = over(&specs);
        let ins: Vec<(i64, bool)> =
            [50, 10, 40, 20, 60, 30, 20].iter().map(|t| (*t, false)).collect();
        assert_eq!(fold(&f, &ins), batch(&f, &[50, 10, 40, 20, 60, 30, 20]));
    }

    #[test]
    fn retractions_remove_rows_and_their_effect_on_later_frames() {
        let specs: Vec<_> =
            ALL.iter().map(|k| (*k, Some(3))).chain([(AggKind::Sum, None)]).collect();
        let f = over(&specs);
        let ops = [
            (5, false),
            (7, false),
            (1, false),
            (7, true),
            (9, false),
            (3, false),
            (3, false),
            (1, true),
            (8, false),
            (3, true),
        ];
        assert_eq!(fold(&f, &ops), batch(&f, &[5, 9, 3, 8]));
        let mut state = OverState::new();
        assert!(f.apply(&mut state, row(4, true, specs.len())).is_empty(), "never held");
    }

    #[test]
    fn a_pseudo_random_changelog_folds_to_the_batch_answer() {
        let f = over(&[(AggKind::Avg, Some(10)), (AggKind::Max, Some(1)), (AggKind::Count, None)]);
        let (mut x, mut held, mut ops) = (12345u64, Vec::new(), Vec::new());
        for _ in 0..400 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let v = (x >> 33) as i64 % 50;
            if !held.is_empty() && (x >> 20) % 3 == 0 {
                let i = (x >> 40) as usize % held.len();
                ops.push((held.swap_remove(i), true));
            } else {
                held.push(v);
                ops.push((v, false));
            }
        }
        assert_eq!(fold(&f, &ops), batch(&f, &held));
    }
}
