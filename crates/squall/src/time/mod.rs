//! Event time: how a record's time is read ([`TimestampFormat`]) and how a
//! source turns the times it has seen into watermarks ([`WatermarkStrategy`]),
//! and how the tasks of a source keep their watermarks close
//! ([`WatermarkAlignment`]).
//!
//! A watermark `w` (event time, ms since the Unix epoch, UTC) promises that
//! no more records with time `<= w` follow. How watermarks travel between
//! tasks (the minimum over a task's inputs, idleness) is the runtime's
//! (`runtime/event_time/watermark.rs`); what fires on them is [`crate::window`]'s.
//!
//! Pure: no I/O, no clock, so every rule is unit-tested here.

mod alignment;
mod format;
mod strategy;

pub use alignment::WatermarkAlignment;
pub use format::TimestampFormat;
pub use strategy::{WatermarkGenerator, WatermarkStrategy};
