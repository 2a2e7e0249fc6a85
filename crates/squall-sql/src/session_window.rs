//! The session window aggregate: `GROUP BY k, window_start, window_end`
//! over `TABLE(SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), gap))`, and
//! Flink's legacy `GROUP BY k, SESSION(ts, gap)` (rewritten into it by
//! [`crate::group_window`]).
//!
//! Each record opens the window `[ts, ts + gap)`; per partition, windows
//! that overlap merge, transitively, with the core's session merge
//! ([`squall::window::session::merge`], Flink's
//! `EventTimeSessionWindows`), and their accumulators merge with them. A
//! session is emitted, one row per group of the `GROUP BY` inside it, when
//! the watermark passes its end - 1, with `window_start` the first
//! record's time and `window_end` the last one's plus the gap (Flink's
//! `SESSION_START`/`SESSION_END`). A record whose merged session the
//! watermark has already passed is late and dropped (counted). The
//! sessions and their accumulators are the process function's keyed
//! state, in checkpoints.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion_common::arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};
use squall::datastream::{KeyedContext, KeyedProcessFunction, Stream, TimeDomain};
use squall::window::{session, Window};

use crate::batch::{batch_of, Batch, Scalar};
use crate::ops::{Acc, AggKind, AggRow, OutCol};

/// One open session of a partition: its window and, per group of the
/// `GROUP BY` (window columns blanked), the accumulators.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// `[first record, last record + gap)` (ms).
    pub window: Window,
    /// Accumulators per group.
    pub groups: BTreeMap<Vec<Scalar>, Vec<Acc>>,
}

/// The session aggregate's process function, keyed by the partition.
#[derive(Clone)]
pub struct SessionAgg {
    /// The aggregates.
    pub kinds: Vec<AggKind>,
    /// The output columns.
    pub out: Vec<OutCol>,
    /// The output schema.
    pub schema: SchemaRef,
    /// The session gap (ms).
    pub gap: i64,
    /// Which group key is `window_start`, if grouped by.
    pub start_key: Option<usize>,
    /// Which group key is `window_end`.
    pub end_key: usize,
    /// Records dropped for arriving after their session was emitted.
    pub late: Arc<AtomicU64>,
}

impl SessionAgg {
    /// The output rows of session `s`.
    fn rows(&self, s: Session) -> Vec<Vec<Scalar>> {
        s.groups
            .into_iter()
            .map(|(key, accs)| {
                self.out
                    .iter()
                    .map(|c| match c {
                        OutCol::Key(i) if Some(*i) == self.start_key => Scalar::Ts(s.window.start),
                        OutCol::Key(i) if *i == self.end_key => Scalar::Ts(s.window.end),
                        OutCol::Key(i) => key[*i].clone(),
                        OutCol::Agg(i) => accs[*i].result(),
                    })
                    .collect()
            })
            .collect()
    }
}

impl KeyedProcessFunction<Vec<Scalar>, AggRow> for SessionAgg {
    type State = Vec<Session>;
    type Out = Batch;

    fn process_element(
        &mut self,
        row: AggRow,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, Vec<Session>, Batch>,
    ) -> squall::Result<()> {
        let opened = Window { start: row.end.saturating_sub(self.gap), end: row.end };
        let watermark = ctx.current_watermark();
        let sessions = ctx.state().get_or_insert_with(Vec::new);
        let windows: Vec<Window> = sessions.iter().map(|s| s.window).collect();
        let (merged, absorbed) = session::merge(opened, &windows);
        if merged.end - 1 <= watermark {
            self.late.fetch_add(1, Ordering::Relaxed);
            if sessions.is_empty() {
                *ctx.state() = None;
            }
            return Ok(());
        }
        // The absorbed sessions merge into the one with the most groups,
        // so a record that extends a session costs no copy of its groups.
        let mut s = Session { window: merged, groups: BTreeMap::new() };
        for i in absorbed.into_iter().rev() {
            let mut other = sessions.remove(i).groups;
            if other.len() > s.groups.len() {
                std::mem::swap(&mut other, &mut s.groups);
            }
            for (group, accs) in other {
                match s.groups.get_mut(&group) {
                    Some(mine) => mine.iter_mut().zip(accs).for_each(|(a, b)| a.merge(b)),
                    None => {
                        s.groups.insert(group, accs);
                    }
                }
            }
        }
        let mut group = row.key;
        for i in self.start_key.into_iter().chain([self.end_key]) {
            group[i] = Scalar::Null;
        }
        let kinds = &self.kinds;
        let accs =
            s.groups.entry(group).or_insert_with(|| kinds.iter().map(|k| Acc::new(*k)).collect());
        for (acc, v) in accs.iter_mut().zip(row.args) {
            acc.add(v);
        }
        sessions.push(s);
        ctx.register_event_time_timer(merged.end - 1);
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, Vec<Session>, Batch>,
    ) -> squall::Result<()> {
        let Some(sessions) = ctx.state().take() else { return Ok(()) };
        let (due, open): (Vec<Session>, Vec<Session>) =
            sessions.into_iter().partition(|s| s.window.end - 1 <= timestamp);
        if !open.is_empty() {
            *ctx.state() = Some(open);
        }
        let rows: Vec<Vec<Scalar>> = due.into_iter().flat_map(|s| self.rows(s)).collect();
        if !rows.is_empty() {
            let batch = batch_of(&self.schema, &rows).map_err(squall::Error::from)?;
            ctx.collect(Batch(batch));
        }
        Ok(())
    }
}

/// `rows` keyed by the group keys at `partition` into `f`.
pub fn aggregate(rows: Stream<AggRow>, partition: Vec<usize>, f: SessionAgg) -> Stream<Batch> {
    rows.key_by(move |r: &AggRow| partition.iter().map(|i| r.key[*i].clone()).collect::<Vec<_>>())
        .process(f)
}

/// The session TVF under an aggregate's input (through filters,
/// projections and aliases), if it is one.
pub fn session_tvf(plan: &datafusion_expr::LogicalPlan) -> Option<&crate::tvf::WindowTvf> {
    use datafusion_expr::LogicalPlan;
    match plan {
        LogicalPlan::Extension(ext) => {
            let tvf = ext.node.as_any().downcast_ref::<crate::tvf::WindowTvf>()?;
            matches!(tvf.kind, crate::tvf::WindowKind::Session { .. }).then_some(tvf)
        }
        LogicalPlan::Filter(f) => session_tvf(&f.input),
        LogicalPlan::SubqueryAlias(a) => session_tvf(&a.input),
        LogicalPlan::Projection(p) => session_tvf(&p.input),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_accumulators_add_up() {
        let mut a = Acc::new(AggKind::Count);
        let mut b = Acc::new(AggKind::Count);
        a.add(Scalar::Int(1));
        b.add(Scalar::Int(1));
        b.add(Scalar::Int(1));
        a.merge(b);
        assert_eq!(a.result(), Scalar::Int(3));
        let mut m = Acc::new(AggKind::Max);
        let mut n = Acc::new(AggKind::Max);
        m.add(Scalar::Int(4));
        n.add(Scalar::Int(9));
        m.merge(n);
        assert_eq!(m.result(), Scalar::Int(9));
    }
}
