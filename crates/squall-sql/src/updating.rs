//! Non-windowed `GROUP BY`: an updating aggregate, as Flink's
//! `GroupAggregate`. Its output is a changelog: each row carries a row kind
//! in a last column, [`OP_COLUMN`] (`+I` insert, `-U` the row an update
//! replaces, `+U` the row it becomes, `-D` delete), and an aggregate over
//! such a stream retracts what `-U` and `-D` rows take away (Flink's
//! retraction mode). Sinks write the row kind as the first column, so the
//! final table is the rows inserted and not retracted (an upsert view).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use squall::datastream::{KeyedContext, KeyedProcessFunction};

use crate::batch::{batch_of, Batch, Scalar};
use crate::ops::{AggKind, AggRow};

/// The name of the row-kind column of an updating stream (its last).
pub const OP_COLUMN: &str = "__op";

/// `schema` with the row-kind column appended.
pub fn with_op(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(OP_COLUMN, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// The running value of one aggregate that can also take values back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RetractAcc {
    /// Non-null values counted.
    Count(i64),
    /// Each distinct value's number of occurrences.
    Distinct(BTreeMap<Scalar, u64>),
    /// An integer sum (while every value is an integer) and the values.
    SumInt(i64, i64),
    /// A float sum and the values.
    SumFloat(f64, i64),
    /// The values, counted, for `MIN` (`false`) or `MAX` (`true`).
    Extreme(BTreeMap<Scalar, u64>, bool),
    /// Sum and count.
    Avg(f64, i64),
}

impl RetractAcc {
    /// The empty accumulator of `kind`.
    pub fn new(kind: AggKind) -> RetractAcc {
        match kind {
            AggKind::Count => RetractAcc::Count(0),
            AggKind::CountDistinct => RetractAcc::Distinct(BTreeMap::new()),
            AggKind::Sum => RetractAcc::SumInt(0, 0),
            AggKind::Min => RetractAcc::Extreme(BTreeMap::new(), false),
            AggKind::Max => RetractAcc::Extreme(BTreeMap::new(), true),
            AggKind::Avg => RetractAcc::Avg(0.0, 0),
        }
    }

    /// Adds `v` (`sign` 1) or takes it back (`sign` -1); NULL changes
    /// nothing.
    pub fn apply(&mut self, v: Scalar, sign: i64) {
        if matches!(v, Scalar::Null) {
            return;
        }
        fn bump(m: &mut BTreeMap<Scalar, u64>, v: Scalar, sign: i64) {
            let n = m.entry(v.clone()).or_default();
            if sign > 0 {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&v);
                }
            }
        }
        match self {
            RetractAcc::Count(n) => *n += sign,
            RetractAcc::Distinct(m) | RetractAcc::Extreme(m, _) => bump(m, v, sign),
            RetractAcc::SumInt(s, n) => match v {
                Scalar::Int(i) => {
                    *s = s.wrapping_add(sign * i);
                    *n += sign;
                }
                other => {
                    let f = *s as f64 + sign as f64 * other.as_f64().unwrap_or(0.0);
                    *self = RetractAcc::SumFloat(f, *n + sign);
                }
            },
            RetractAcc::SumFloat(s, n) => {
                *s += sign as f64 * v.as_f64().unwrap_or(0.0);
                *n += sign;
            }
            RetractAcc::Avg(s, n) => {
                *s += sign as f64 * v.as_f64().unwrap_or(0.0);
                *n += sign;
            }
        }
    }

    /// The aggregate's value now.
    pub fn result(&self) -> Scalar {
        match self {
            RetractAcc::Count(n) => Scalar::Int(*n),
            RetractAcc::Distinct(m) => Scalar::Int(m.len() as i64),
            RetractAcc::SumInt(_, 0) | RetractAcc::SumFloat(_, 0) | RetractAcc::Avg(_, 0) => {
                Scalar::Null
            }
            RetractAcc::SumInt(s, _) => Scalar::Int(*s),
            RetractAcc::SumFloat(s, _) => Scalar::Float(*s),
            RetractAcc::Extreme(m, max) => {
                let v = if *max { m.keys().next_back() } else { m.keys().next() };
                v.cloned().unwrap_or(Scalar::Null)
            }
            RetractAcc::Avg(s, n) => Scalar::Float(s / *n as f64),
        }
    }
}

/// Per group: the accumulators, how many input rows it holds, and the row
/// last emitted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GroupState {
    accs: Vec<RetractAcc>,
    rows: i64,
    emitted: Option<Vec<Scalar>>,
}

/// The updating aggregate's process function: after each input row, the
/// group's new result replaces the one emitted before (`-U` then `+U`;
/// `+I` the first time, `-D` when its last row is retracted).
#[derive(Clone)]
pub struct UpdatingAgg {
    /// The aggregates.
    pub kinds: Vec<AggKind>,
    /// The output schema, row-kind column included.
    pub schema: SchemaRef,
}

impl KeyedProcessFunction<Vec<Scalar>, AggRow> for UpdatingAgg {
    type State = GroupState;
    type Out = Batch;

    fn process_element(
        &mut self,
        row: AggRow,
        ctx: &mut KeyedContext<'_, Vec<Scalar>, GroupState, Batch>,
    ) -> squall::Result<()> {
        let key = ctx.key().clone();
        let kinds = &self.kinds;
        let state = ctx.state().get_or_insert_with(|| GroupState {
            accs: kinds.iter().map(|k| RetractAcc::new(*k)).collect(),
            ..GroupState::default()
        });
        let sign = if row.retract { -1 } else { 1 };
        for (acc, v) in state.accs.iter_mut().zip(row.args) {
            acc.apply(v, sign);
        }
        state.rows += sign;
        let now = (state.rows > 0).then(|| {
            key.iter().cloned().chain(state.accs.iter().map(RetractAcc::result)).collect()
        });
        if now == state.emitted {
            return Ok(());
        }
        let mut out: Vec<Vec<Scalar>> = Vec::with_capacity(2);
        let op = |row: &Vec<Scalar>, op: &str| {
            let mut r = row.clone();
            r.push(Scalar::Str(op.into()));
            r
        };
        match (&state.emitted, &now) {
            (None, Some(new)) => out.push(op(new, "+I")),
            (Some(old), Some(new)) => {
                out.push(op(old, "-U"));
                out.push(op(new, "+U"));
            }
            (Some(old), None) => out.push(op(old, "-D")),
            (None, None) => {}
        }
        let gone = now.is_none();
        state.emitted = now;
        if gone {
            *ctx.state() = None;
        }
        let batch = batch_of(&self.schema, &out).map_err(squall::Error::from)?;
        ctx.collect(Batch(batch));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_and_avg_take_values_back() {
        let mut max = RetractAcc::new(AggKind::Max);
        let mut avg = RetractAcc::new(AggKind::Avg);
        for v in [3, 7, 5] {
            max.apply(Scalar::Int(v), 1);
            avg.apply(Scalar::Int(v), 1);
        }
        max.apply(Scalar::Int(7), -1);
        avg.apply(Scalar::Int(7), -1);
        assert_eq!(max.result(), Scalar::Int(5));
        assert_eq!(avg.result(), Scalar::Float(4.0));
        max.apply(Scalar::Int(3), -1);
        max.apply(Scalar::Int(5), -1);
        assert_eq!(max.result(), Scalar::Null);
    }
}
