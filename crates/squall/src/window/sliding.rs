//! Sliding (hopping) windows: fixed size, starting every `slide` ms, so a
//! record is in `size / slide` windows (Flink's `SlidingEventTimeWindows`).

use super::Window;

/// Appends to `out` every sliding window of `size` ms, one starting every
/// `slide` ms (from the epoch plus `offset`), that holds `ts`: the latest
/// first, as Flink lists them.
///
/// # Panics
/// If `size` or `slide` is not positive (the assigner refuses them).
///
/// # Examples
/// ```
/// use squall::window::{sliding, Window};
/// let mut out = Vec::new();
/// sliding::windows_of(25, 30, 10, 0, &mut out);
/// assert_eq!(out, [
///     Window { start: 20, end: 50 }, Window { start: 10, end: 40 }, Window { start: 0, end: 30 },
/// ]);
/// ```
pub fn windows_of(ts: i64, size: i64, slide: i64, offset: i64, out: &mut Vec<Window>) {
    assert!(size > 0 && slide > 0, "window size and slide must be positive");
    let last_start = ts - (ts - offset).rem_euclid(slide);
    let mut start = last_start;
    while start > ts - size {
        out.push(Window { start, end: start.saturating_add(size) });
        start -= slide;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_window_holding_the_time_and_no_other() {
        for ts in -40..40 {
            let mut out = Vec::new();
            windows_of(ts, 30, 10, 0, &mut out);
            let expected: Vec<Window> = (-100..100)
                .rev()
                .map(|s| Window { start: s * 10, end: s * 10 + 30 })
                .filter(|w| w.start <= ts && ts < w.end)
                .collect();
            assert_eq!(out, expected, "ts {ts}");
        }
        // A slide larger than the size leaves gaps: some times are in none.
        let mut out = Vec::new();
        windows_of(7, 5, 10, 0, &mut out);
        assert!(out.is_empty());
    }
}
