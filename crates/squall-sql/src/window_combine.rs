//! Local pre-aggregation of a window aggregate: the rows of one input
//! batch are folded per group and window into partial accumulators
//! ([`Partial`]) before they are keyed, so the keyed window aggregate
//! ([`crate::ops::WindowAgg`]) receives one record per group and window of
//! a batch instead of one per row and window.
//!
//! This is Flink SQL's two-phase ("local-global") aggregation under
//! mini-batches (`table.exec.mini-batch.enabled`,
//! `table.optimizer.agg-phase-strategy`): the local phase needs no state
//! (a batch is folded and emitted whole), and the global phase merges
//! partials with [`Acc::merge`]. Every aggregate of a window aggregate
//! (count, count distinct, sum, min, max, avg) merges exactly, so the
//! results are the same; only the number of records crossing the keyed
//! exchange falls. With Nexmark's bids (half of them to one hot auction)
//! q5's HOP aggregate per auction sends about a tenth of the records, and a
//! `GROUP BY window_start, window_end` alone (q7) one record per window and
//! batch.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use squall::datastream::{KeyedStream, Stream};

use crate::batch::{Batch, Scalar};
use crate::ops::{Acc, AggInput, AggKind, AggRow};
use crate::translate::fail;

/// The accumulators of one group and window over the rows of one batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partial {
    /// The group's values (including the window's columns).
    pub key: Vec<Scalar>,
    /// The window's end (ms).
    pub end: i64,
    /// The input rows folded in (counted as late if the window has fired).
    pub rows: u64,
    /// One accumulator per aggregate, in the aggregate's order.
    pub accs: Vec<Acc>,
}

impl Partial {
    /// Merges this partial's accumulators into a group's keyed state (the
    /// accumulators themselves when the group has none yet).
    pub fn merge_into(self, state: &mut Option<Vec<Acc>>) {
        match state {
            None => *state = Some(self.accs),
            Some(accs) => {
                for (acc, other) in accs.iter_mut().zip(self.accs) {
                    acc.merge(other);
                }
            }
        }
    }
}

/// Folds `rows` per key into partials, appended to `out` in the order
/// each key first appears (so a run is deterministic).
pub fn combine(kinds: &[AggKind], rows: impl IntoIterator<Item = AggRow>, out: &mut Vec<Partial>) {
    let first = out.len();
    let mut index: HashMap<Vec<Scalar>, usize, foldhash::fast::RandomState> = HashMap::default();
    for row in rows {
        let i = match index.get(&row.key) {
            Some(i) => *i,
            None => {
                let i = out.len();
                index.insert(row.key.clone(), i);
                out.push(Partial {
                    key: row.key,
                    end: row.end,
                    rows: 0,
                    accs: kinds.iter().map(|k| Acc::new(*k)).collect(),
                });
                i
            }
        };
        let p = &mut out[i];
        p.rows += 1;
        for (acc, v) in p.accs.iter_mut().zip(row.args) {
            acc.add(v);
        }
    }
    debug_assert!(out[first..].iter().all(|p| p.rows > 0));
}

/// The partials of `input`'s batches, keyed by group and window:
/// `splitter` takes each batch into rows and [`combine`] folds them. A
/// window aggregate ([`WindowAgg`] on event time,
/// [`crate::proctime::ProcTimeAgg`] on processing time) merges them in
/// keyed state until the window's end.
pub fn partials(
    input: Stream<Batch>,
    splitter: AggInput,
    kinds: &[AggKind],
) -> KeyedStream<Vec<Scalar>, Partial> {
    let kinds = kinds.to_vec();
    let partials = input.flat_map(move |b: Batch, out: &mut Vec<Partial>| {
        let mut rows = Vec::with_capacity(b.0.num_rows());
        splitter.rows(&b.0, &mut rows).unwrap_or_else(|e| fail(e));
        combine(&kinds, rows, out);
    });
    partials.key_by(|p: &Partial| p.key.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(k: i64, end: i64, v: Scalar) -> AggRow {
        AggRow { key: vec![Scalar::Int(k), Scalar::Ts(end)], end, args: vec![v], retract: false }
    }

    /// Rows of one key fold into one partial whose result is the plain
    /// aggregate of its rows; keys stay in their first-seen order.
    #[test]
    fn folds_rows_per_key_in_first_seen_order() {
        let input = [(7, 10, 5), (3, 10, 1), (7, 10, 2), (7, 20, 9), (3, 10, 4)];
        let rows = || input.iter().map(|(k, e, v)| row(*k, *e, Scalar::Int(*v)));
        for kind in [AggKind::Count, AggKind::Sum, AggKind::Min, AggKind::Max, AggKind::Avg] {
            let mut out = Vec::new();
            combine(&[kind], rows(), &mut out);
            let keys: Vec<(i64, i64, u64)> = out
                .iter()
                .map(|p| match p.key[0] {
                    Scalar::Int(k) => (k, p.end, p.rows),
                    _ => unreachable!(),
                })
                .collect();
            assert_eq!(keys, [(7, 10, 2), (3, 10, 2), (7, 20, 1)]);
            // Each partial equals the aggregate computed row by row.
            for p in &out {
                let mut plain = Acc::new(kind);
                for r in rows().filter(|r| r.key == p.key) {
                    plain.add(r.args[0].clone());
                }
                assert_eq!(p.accs[0].result(), plain.result(), "{kind:?} {:?}", p.key);
            }
        }
    }

    /// Merging the partials of two batches gives the aggregate of all
    /// their rows (the global phase), NULLs skipped.
    #[test]
    fn merged_partials_equal_the_whole_aggregate() {
        let a = [row(1, 10, Scalar::Int(4)), row(1, 10, Scalar::Null), row(1, 10, Scalar::Int(4))];
        let b = [row(1, 10, Scalar::Int(6)), row(1, 10, Scalar::Int(1))];
        let kinds = [AggKind::CountDistinct];
        let (mut pa, mut pb) = (Vec::new(), Vec::new());
        combine(&kinds, a.clone(), &mut pa);
        combine(&kinds, b.clone(), &mut pb);
        let mut acc = pa.remove(0).accs.remove(0);
        acc.merge(pb.remove(0).accs.remove(0));
        assert_eq!(acc.result(), Scalar::Int(3));
        for kind in [AggKind::Count, AggKind::Sum, AggKind::Min, AggKind::Max, AggKind::Avg] {
            let (mut pa, mut pb) = (Vec::new(), Vec::new());
            combine(&[kind], a.clone(), &mut pa);
            combine(&[kind], b.clone(), &mut pb);
            let mut acc = pa.remove(0).accs.remove(0);
            acc.merge(pb.remove(0).accs.remove(0));
            let mut plain = Acc::new(kind);
            for r in a.iter().chain(&b) {
                plain.add(r.args[0].clone());
            }
            assert_eq!(acc.result(), plain.result(), "{kind:?}");
        }
    }
}
