//! [`WindowAssigner`]: which windows a record belongs to.

use serde::Deserialize;

use super::{global, session, sliding, tumbling, Window};
use crate::error::{Error, Result};

/// The kind of window, with its sizes in ms.
///
/// In YAML (the `window` bolt): `{ type: tumbling, size_ms: 3600000 }`,
/// `{ type: sliding, size_ms: .., slide_ms: .. }`,
/// `{ type: session, gap_ms: .. }`, `{ type: global }`; `offset_ms` shifts
/// tumbling and sliding windows away from the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WindowAssigner {
    /// Fixed windows of `size_ms`, no overlap.
    Tumbling {
        /// Window length (ms).
        size_ms: i64,
        /// Shift from the epoch (ms).
        #[serde(default)]
        offset_ms: i64,
    },
    /// Windows of `size_ms` starting every `slide_ms`.
    Sliding {
        /// Window length (ms).
        size_ms: i64,
        /// Distance between window starts (ms).
        slide_ms: i64,
        /// Shift from the epoch (ms).
        #[serde(default)]
        offset_ms: i64,
    },
    /// Per-key sessions closed by `gap_ms` without records; they merge.
    Session {
        /// Inactivity that closes a session (ms).
        gap_ms: i64,
    },
    /// One window per key over all time.
    Global,
}

impl WindowAssigner {
    /// Checks the sizes.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field that is not positive.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: i64| {
            if v > 0 {
                Ok(())
            } else {
                Err(Error::config(format!("window {name} must be positive, not {v}")))
            }
        };
        match *self {
            WindowAssigner::Tumbling { size_ms, .. } => positive("size_ms", size_ms),
            WindowAssigner::Sliding { size_ms, slide_ms, .. } => {
                positive("size_ms", size_ms)?;
                positive("slide_ms", slide_ms)
            }
            WindowAssigner::Session { gap_ms } => positive("gap_ms", gap_ms),
            WindowAssigner::Global => Ok(()),
        }
    }

    /// Whether windows of one key merge (sessions).
    pub fn is_merging(&self) -> bool {
        matches!(self, WindowAssigner::Session { .. })
    }

    /// Appends the windows holding event time `ts` (ms) to `out` (before any
    /// merging).
    ///
    /// # Panics
    /// If the sizes are not positive (see [`WindowAssigner::validate`]).
    pub fn assign(&self, ts: i64, out: &mut Vec<Window>) {
        match *self {
            WindowAssigner::Tumbling { size_ms, offset_ms } => {
                out.push(tumbling::window_of(ts, size_ms, offset_ms))
            }
            WindowAssigner::Sliding { size_ms, slide_ms, offset_ms } => {
                sliding::windows_of(ts, size_ms, slide_ms, offset_ms, out)
            }
            WindowAssigner::Session { gap_ms } => out.push(session::window_of(ts, gap_ms)),
            WindowAssigner::Global => out.push(global::GLOBAL),
        }
    }

    /// A short description (`tumbling 3600000 ms`).
    pub fn describe(&self) -> String {
        match *self {
            WindowAssigner::Tumbling { size_ms, .. } => format!("tumbling {size_ms} ms"),
            WindowAssigner::Sliding { size_ms, slide_ms, .. } => {
                format!("sliding {size_ms} ms every {slide_ms} ms")
            }
            WindowAssigner::Session { gap_ms } => format!("session gap {gap_ms} ms"),
            WindowAssigner::Global => "global".to_string(),
        }
    }
}
