//! [`Trigger`]: when a window emits its result.

use serde::Deserialize;

/// When a window's result is emitted (Flink's triggers, as settings).
///
/// Every trigger also fires a window that still holds records when it ends
/// (its end passes the watermark, or the input ends), so no record is
/// silently left out of a result. Early results (every
/// `early_every_ms`, see [`crate::window::WindowOperator`]) and late
/// firings (a record within the allowed lateness) come on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// Fire when the watermark passes the window's end (Flink's
    /// `EventTimeTrigger`), and again for each late record within the
    /// allowed lateness.
    #[default]
    EventTime,
    /// Windows over processing time: a record's time is the wall clock when
    /// the window operator receives it, and a window fires when the wall
    /// clock passes its end (Flink's `ProcessingTimeTrigger` with
    /// processing-time windows). Watermarks are ignored; nothing is late.
    ProcessingTime,
    /// Fire and purge each time a window holds this many records (Flink's
    /// `PurgingTrigger.of(CountTrigger.of(n))`), and fire what is left when
    /// the window ends.
    Count(u64),
}
