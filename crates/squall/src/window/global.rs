//! The global window: one window per key over all time (Flink's
//! `GlobalWindows`). It never ends on event time before the input does, so
//! it fires on a count or processing-time trigger, and once more with what
//! is left when the input ends (watermark `i64::MAX`).

use super::Window;

/// The one global window, `[i64::MIN, i64::MAX)`.
pub const GLOBAL: Window = Window { start: i64::MIN, end: i64::MAX };
