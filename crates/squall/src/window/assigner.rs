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

    /// The slice of event time `ts` (ms): the span around it in which every
    /// time belongs to the same windows, as `(slice start, the largest
    /// event time of the first of those windows to end)`. Records of one
    /// key and slice may be pre-aggregated into one (Flink SQL's window
    /// slicing): a tumbling window is one slice, a sliding window is cut
    /// into slices of gcd(size, slide). `None` for session and global
    /// windows (their windows depend on other records or never end) and
    /// for a time in no window (a slide longer than the size).
    pub(crate) fn slice_of(&self, ts: i64) -> Option<(i64, i64)> {
        match *self {
            WindowAssigner::Tumbling { size_ms, offset_ms } => {
                let w = tumbling::window_of(ts, size_ms, offset_ms);
                Some((w.start, w.max_timestamp()))
            }
            WindowAssigner::Sliding { size_ms, slide_ms, offset_ms } => {
                let step = gcd(size_ms, slide_ms);
                let slice = ts - (ts - offset_ms).rem_euclid(step);
                // The first window holding `ts` starts at the earliest
                // start after `ts - size`.
                let after = ts.saturating_sub(size_ms).saturating_add(1);
                let first = after + (offset_ms - after).rem_euclid(slide_ms);
                (first <= ts).then(|| (slice, first.saturating_add(size_ms).saturating_sub(1)))
            }
            WindowAssigner::Session { .. } | WindowAssigner::Global => None,
        }
    }

    /// The length of the slices of [`WindowAssigner::slice_of`] (ms): every
    /// time from a slice's start to its start plus this is in that slice.
    /// `None` where there are no slices.
    pub(crate) fn slice_ms(&self) -> Option<i64> {
        match *self {
            WindowAssigner::Tumbling { size_ms, .. } => Some(size_ms),
            WindowAssigner::Sliding { size_ms, slide_ms, .. } => Some(gcd(size_ms, slide_ms)),
            WindowAssigner::Session { .. } | WindowAssigner::Global => None,
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

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every time of a slice is in the same windows, and the slice names
    /// the end of the first of them, by brute force over the windows.
    #[test]
    fn times_of_one_slice_share_their_windows() {
        let assigners = [
            WindowAssigner::Tumbling { size_ms: 10, offset_ms: 3 },
            WindowAssigner::Sliding { size_ms: 30, slide_ms: 10, offset_ms: 0 },
            WindowAssigner::Sliding { size_ms: 25, slide_ms: 10, offset_ms: 4 },
            WindowAssigner::Sliding { size_ms: 5, slide_ms: 10, offset_ms: 0 },
        ];
        for a in assigners {
            let mut by_slice: std::collections::HashMap<i64, Vec<Window>> = Default::default();
            for ts in -60..60 {
                let mut windows = Vec::new();
                a.assign(ts, &mut windows);
                windows.sort();
                match a.slice_of(ts) {
                    None => assert!(windows.is_empty(), "{a:?} {ts}"),
                    Some((slice, first_max)) => {
                        let len = a.slice_ms().expect("sliced");
                        assert!(slice <= ts && ts < slice + len, "{a:?} {ts}");
                        let first = windows.iter().map(Window::max_timestamp).min();
                        assert_eq!(Some(first_max), first, "{a:?} {ts}");
                        let seen = by_slice.entry(slice).or_insert_with(|| windows.clone());
                        assert_eq!(seen, &windows, "{a:?} {ts}: one slice, other windows");
                    }
                }
            }
        }
        assert_eq!(WindowAssigner::Session { gap_ms: 5 }.slice_of(1), None);
        assert_eq!(WindowAssigner::Global.slice_of(1), None);
    }
}
