//! Tumbling windows: fixed size, no overlap, aligned to the epoch plus an
//! offset (Flink's `TumblingEventTimeWindows.of(size, offset)`).

use super::Window;

/// The tumbling window of `size` ms (shifted by `offset` ms) holding `ts`.
///
/// # Panics
/// If `size` is not positive (the assigner's constructor refuses it).
///
/// # Examples
/// ```
/// use squall::window::{tumbling, Window};
/// assert_eq!(tumbling::window_of(3_599_999, 3_600_000, 0), Window { start: 0, end: 3_600_000 });
/// assert_eq!(tumbling::window_of(-1, 10, 0), Window { start: -10, end: 0 });
/// ```
pub fn window_of(ts: i64, size: i64, offset: i64) -> Window {
    assert!(size > 0, "window size must be positive");
    let start = ts - (ts - offset).rem_euclid(size);
    Window { start, end: start.saturating_add(size) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_time_in_exactly_one_aligned_window() {
        for ts in -25..25 {
            let w = window_of(ts, 10, 3);
            assert!(w.start <= ts && ts < w.end, "{ts} in {w:?}");
            assert_eq!((w.start - 3).rem_euclid(10), 0);
            assert_eq!(w.end - w.start, 10);
        }
    }
}
