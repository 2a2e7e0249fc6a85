//! Windows over event time (or processing time): which windows a record
//! belongs to (the assigners: [`tumbling`], [`sliding`], [`session`],
//! [`global`]), when a window's result is emitted ([`Trigger`]), how a
//! window's result is kept without buffering its records
//! ([`AggregateFunction`], [`FieldAggregates`]), and the operator that ties
//! them together ([`WindowOperator`]), used by the YAML `window` bolt
//! ([`crate::builtins::WindowBolt`]) and by the DataStream API.
//!
//! The model is Flink's (and the Dataflow paper's, "The Dataflow Model",
//! Akidau et al., VLDB 2015): a window `[start, end)` in ms fires when the
//! watermark passes `end - 1`; records up to `allowed_lateness` ms behind
//! it still update the window and fire it again; records later than that go
//! to a late-data side output, never dropped silently.
//!
//! Window state sits behind `WindowStore` (`window/state.rs`), a keyed map plus a
//! timer queue, so that it can move onto the checkpointed keyed-state API
//! without changing the operator. Not owned here: how watermarks travel
//! (`runtime/event_time/watermark.rs`) and how event times are read ([`crate::time`]).

mod aggregate;
mod assigner;
pub(crate) mod checkpoint;
mod fields;
pub mod global;
mod operator;
pub(crate) mod query;
pub mod session;
pub mod sliding;
mod state;
mod trigger;
pub mod tumbling;

pub use aggregate::{AggregateFunction, ReduceAggregate};
pub use assigner::WindowAssigner;
pub(crate) use fields::{cells_result_into, compare};
pub use fields::{AggregateKind, AggregateSpec, Cell, FieldAggregates};
pub use operator::{Fired, WindowOperator};
pub use trigger::Trigger;

use serde::{Deserialize, Serialize};

/// A window: the event times `start <= t < end` (ms since the epoch). The
/// global window is `[i64::MIN, i64::MAX)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    /// First event time in the window (ms, inclusive).
    pub start: i64,
    /// End of the window (ms, exclusive).
    pub end: i64,
}

impl Window {
    /// The largest event time in the window (`end - 1`): the watermark at
    /// which it fires (Flink's `maxTimestamp`).
    pub fn max_timestamp(&self) -> i64 {
        self.end.saturating_sub(1)
    }

    /// Whether the two windows share an event time (session windows merge
    /// when they do).
    pub fn intersects(&self, other: &Window) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The smallest window covering both.
    pub fn cover(&self, other: &Window) -> Window {
        Window { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}
