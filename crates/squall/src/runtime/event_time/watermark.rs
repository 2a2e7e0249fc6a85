//! [`WatermarkTracker`]: the event-time clock of one task, the minimum of
//! the watermarks of its inputs.
//!
//! Flink's rule (its `StatusWatermarkValve`): a task's watermark is the
//! minimum over its input channels of the last watermark each sent; it only
//! moves forward, and it is forwarded downstream when it advances. An input
//! that has ended counts as `i64::MAX` (it will send nothing more), so when
//! every input has ended the task's watermark is `i64::MAX`, which fires
//! every event-time window before `finish`.
//!
//! **Idleness.** With `idle_timeout` set, an input that has sent nothing
//! (no data, no watermark) for that long and has nothing queued is marked
//! idle and left out of the minimum, so that one silent partition does not
//! stall the others. It becomes active again with its next message. If every
//! input that has not ended is idle, the watermark does not move (there is
//! no evidence of progress). Records of an input that was idle may then be
//! late; window operators send them to their late-data stream.
//!
//! Pure: time is passed in, so tests drive it with their own clock. The
//! channel reading around it is [`super::inputs`]'s.

use std::time::{Duration, Instant};

/// The watermark of one task before any input has sent one (event time ms).
pub const NO_WATERMARK: i64 = i64::MIN;

#[derive(Debug, Clone)]
struct Input {
    watermark: i64,
    ended: bool,
    idle: bool,
    last_active: Instant,
}

/// Tracks the watermark of each input of a task and their minimum.
#[derive(Debug, Clone)]
pub(crate) struct WatermarkTracker {
    inputs: Vec<Input>,
    current: i64,
    idle_timeout: Option<Duration>,
}

impl WatermarkTracker {
    /// A tracker of `n` inputs, all active at `now`, none with a watermark.
    /// `idle_timeout` of `None` never marks an input idle.
    pub fn new(n: usize, idle_timeout: Option<Duration>, now: Instant) -> Self {
        let input = Input { watermark: NO_WATERMARK, ended: false, idle: false, last_active: now };
        WatermarkTracker { inputs: vec![input; n], current: NO_WATERMARK, idle_timeout }
    }

    /// The task's watermark (event time ms): what it last reported.
    #[cfg(test)]
    pub fn current(&self) -> i64 {
        self.current
    }

    /// Whether inputs can turn idle (an idle timeout is set): only then
    /// does [`WatermarkTracker::on_data`] need the time.
    pub fn tracks_idleness(&self) -> bool {
        self.idle_timeout.is_some()
    }

    /// Input `i` sent data at `now`: it is active. Returns the task's new
    /// watermark if it advanced, which happens when every other input was
    /// idle and this one comes back ahead.
    pub fn on_data(&mut self, i: usize, now: Instant) -> Option<i64> {
        let input = &mut self.inputs[i];
        if self.idle_timeout.is_some() {
            input.last_active = now;
        }
        if std::mem::replace(&mut input.idle, false) {
            self.advance()
        } else {
            None
        }
    }

    /// Input `i` sent watermark `w` at `now`. Returns the task's new
    /// watermark if it advanced. A watermark lower than the input's previous
    /// one is ignored (watermarks never go back).
    pub fn on_watermark(&mut self, i: usize, w: i64, now: Instant) -> Option<i64> {
        let _ = self.on_data(i, now);
        let input = &mut self.inputs[i];
        input.watermark = input.watermark.max(w);
        self.advance()
    }

    /// Input `i` ended. Returns the task's new watermark if it advanced.
    pub fn on_end(&mut self, i: usize) -> Option<i64> {
        self.inputs[i].ended = true;
        self.advance()
    }

    /// Marks idle the inputs silent since `idle_timeout` before `now` that
    /// have nothing queued (`queued(i)` says whether input `i` has). Returns
    /// the task's new watermark if it advanced.
    pub fn on_idle_check(&mut self, now: Instant, queued: impl Fn(usize) -> bool) -> Option<i64> {
        let timeout = self.idle_timeout?;
        for (i, input) in self.inputs.iter_mut().enumerate() {
            if !input.ended && !input.idle && now >= input.last_active + timeout && !queued(i) {
                input.idle = true;
            }
        }
        self.advance()
    }

    /// When the next input may turn idle, if idleness is on and some input
    /// is active.
    pub fn next_idle_deadline(&self) -> Option<Instant> {
        let timeout = self.idle_timeout?;
        self.inputs.iter().filter(|i| !i.ended && !i.idle).map(|i| i.last_active + timeout).min()
    }

    /// Whether input `i` is marked idle.
    #[cfg(test)]
    pub fn is_idle(&self, i: usize) -> bool {
        self.inputs[i].idle
    }

    fn advance(&mut self) -> Option<i64> {
        let mut open = self.inputs.iter().filter(|i| !i.ended).peekable();
        let candidate = if open.peek().is_none() {
            i64::MAX
        } else {
            self.inputs.iter().filter(|i| !i.ended && !i.idle).map(|i| i.watermark).min()?
        };
        if candidate > self.current {
            self.current = candidate;
            Some(candidate)
        } else {
            None
        }
    }
}

/// The event-time and processing-time clock of one task, kept in its
/// collector: the watermark it received, the one it emitted and the one it
/// sent on its channels, and when its next tick is due.
#[derive(Debug, Clone)]
pub(crate) struct TaskTime {
    /// Watermark delivered to the task's bolt (event time ms).
    pub input: i64,
    /// Watermark the task has emitted (event time ms).
    pub output: i64,
    /// Watermark last sent on the task's channels (event time ms).
    pub sent: i64,
    /// The tick interval of a bolt that asked for ticks, and when the next
    /// is due.
    pub tick: Option<(Duration, Instant)>,
}

impl Default for TaskTime {
    fn default() -> Self {
        TaskTime { input: NO_WATERMARK, output: NO_WATERMARK, sent: NO_WATERMARK, tick: None }
    }
}

impl TaskTime {
    /// Moves the emitted watermark forward to `w` (never back).
    pub fn advance_output(&mut self, w: i64) {
        self.output = self.output.max(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn minimum_over_inputs_advances_only_forward() {
        let t0 = Instant::now();
        let mut w = WatermarkTracker::new(3, None, t0);
        assert_eq!(w.on_watermark(0, 100, t0), None);
        assert_eq!(w.on_watermark(1, 50, t0), None);
        assert_eq!(w.on_watermark(2, 70, t0), Some(50));
        assert_eq!(w.on_watermark(1, 80, t0), Some(70));
        // A lower watermark on an input is ignored.
        assert_eq!(w.on_watermark(2, 10, t0), None);
        assert_eq!(w.on_watermark(2, 90, t0), Some(80));
        assert_eq!(w.current(), 80);
    }

    #[test]
    fn ended_inputs_do_not_hold_back_and_all_ended_is_max() {
        let t0 = Instant::now();
        let mut w = WatermarkTracker::new(2, None, t0);
        w.on_watermark(0, 500, t0);
        assert_eq!(w.on_end(1), Some(500));
        assert_eq!(w.on_end(0), Some(i64::MAX));
    }

    #[test]
    fn idle_input_is_left_out_until_it_speaks_again() {
        let t0 = Instant::now();
        let mut w = WatermarkTracker::new(2, Some(Duration::from_millis(100)), t0);
        assert_eq!(w.on_watermark(0, 1_000, at(t0, 10)), None, "input 1 holds it back");
        assert_eq!(w.next_idle_deadline(), Some(at(t0, 100)));
        // Not yet silent long enough.
        assert_eq!(w.on_idle_check(at(t0, 99), |_| false), None);
        // Silent, but something is queued: not idle.
        assert_eq!(w.on_idle_check(at(t0, 105), |i| i == 1), None);
        assert!(!w.is_idle(1));
        assert_eq!(w.on_idle_check(at(t0, 105), |_| false), Some(1_000));
        assert!(w.is_idle(1));
        assert_eq!(w.on_watermark(0, 2_000, at(t0, 120)), Some(2_000));
        // Input 1 comes back behind: it rejoins, the watermark stays.
        assert_eq!(w.on_data(1, at(t0, 130)), None);
        assert!(!w.is_idle(1));
        assert_eq!(w.on_watermark(0, 3_000, at(t0, 140)), None);
        assert_eq!(w.on_watermark(1, 2_500, at(t0, 150)), Some(2_500));
    }

    #[test]
    fn an_input_back_from_idleness_when_all_were_idle_advances() {
        let t0 = Instant::now();
        let mut w = WatermarkTracker::new(2, Some(Duration::from_millis(10)), t0);
        w.on_watermark(0, 500, t0);
        w.on_watermark(1, 100, t0);
        assert_eq!(w.on_idle_check(at(t0, 20), |_| false), None, "all idle: no evidence");
        assert_eq!(w.on_data(0, at(t0, 30)), Some(500), "input 0 is back, input 1 still idle");
    }

    #[test]
    fn all_idle_does_not_advance_and_no_timeout_never_idles() {
        let t0 = Instant::now();
        let mut w = WatermarkTracker::new(1, Some(Duration::from_millis(5)), t0);
        w.on_watermark(0, 7, t0);
        assert_eq!(w.current(), 7);
        assert_eq!(w.on_idle_check(at(t0, 1_000), |_| false), None);
        assert_eq!(w.current(), 7);
        let mut w = WatermarkTracker::new(2, None, t0);
        assert_eq!(w.next_idle_deadline(), None);
        assert_eq!(w.on_idle_check(at(t0, 1_000_000), |_| false), None);
    }
}
