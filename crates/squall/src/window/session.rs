//! Session windows: a record opens `[ts, ts + gap)`, and windows of one key
//! that share a time merge, so a session ends after `gap` ms without records
//! (Flink's `EventTimeSessionWindows.withGap`). The merge itself is the
//! operator's ([`super::WindowOperator`]), which merges the accumulators.

use super::Window;

/// The window a record at `ts` opens before merging.
///
/// # Examples
/// ```
/// use squall::window::{session, Window};
/// assert_eq!(session::window_of(100, 30), Window { start: 100, end: 130 });
/// ```
pub fn window_of(ts: i64, gap: i64) -> Window {
    Window { start: ts, end: ts.saturating_add(gap) }
}

/// Merges `new` with every window of `existing` that it shares a time
/// with, transitively. Returns the merged window and the indices of the
/// windows of `existing` it absorbed, in increasing order.
pub fn merge(new: Window, existing: &[Window]) -> (Window, Vec<usize>) {
    let mut merged = new;
    let mut absorbed = Vec::new();
    loop {
        let before = absorbed.len();
        for (i, w) in existing.iter().enumerate() {
            if !absorbed.contains(&i) && w.intersects(&merged) {
                merged = merged.cover(w);
                absorbed.push(i);
            }
        }
        if absorbed.len() == before {
            absorbed.sort_unstable();
            return (merged, absorbed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridging_record_merges_two_sessions() {
        let existing = [window_of(0, 10), window_of(25, 10), window_of(100, 10)];
        let (w, absorbed) = merge(window_of(8, 18), &existing);
        assert_eq!(w, Window { start: 0, end: 35 });
        assert_eq!(absorbed, [0, 1]);
        let (w, absorbed) = merge(window_of(50, 10), &existing);
        assert_eq!((w, absorbed), (window_of(50, 10), vec![]));
        // Touching is not overlapping: [0,10) and [10,20) stay apart.
        assert!(merge(window_of(10, 10), &existing[..1]).1.is_empty());
    }
}
