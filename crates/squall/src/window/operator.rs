//! [`WindowOperator`]: keyed windows with triggers, allowed lateness and
//! incremental aggregation; pure (no I/O, no clock), so that the YAML
//! window bolt, the DataStream API and the tests drive the same code.

use std::hash::Hash;

use super::state::{Pane, Panes, TimerKind, WindowStore};
use super::{session, AggregateFunction, Trigger, Window, WindowAssigner};
use crate::error::Result;
use crate::runtime::NO_WATERMARK;

/// One window result: the key, the window and the aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired<K, O> {
    /// The key (empty for non-keyed windows).
    pub key: K,
    /// The window.
    pub window: Window,
    /// The aggregate's result at firing time.
    pub result: O,
}

/// Windows of keys of type `K`, each holding one accumulator of `F`.
///
/// Rules (Flink's `WindowOperator`):
/// - a record at event time `ts` goes into every window the assigner gives
///   (session windows of its key that it touches merge, accumulators
///   merged);
/// - a window is *late* once `window.end - 1 + allowed_lateness <=
///   watermark`; a record whose windows are all late is refused
///   ([`WindowOperator::process`] returns `false`) and the caller sends it
///   to its late-data output;
/// - the trigger fires a window (see [`Trigger`]); a window still holding
///   records fires when the watermark passes its end; a record within the
///   allowed lateness fires its window again at once with the updated
///   result; the window's state is dropped `allowed_lateness` ms after its
///   end;
/// - early firings ([`WindowOperator::fire_early`]) emit every window that
///   changed since it last fired, without dropping anything.
///
/// # Examples
/// ```
/// use squall::window::{AggregateKind, AggregateSpec, FieldAggregates, Trigger, WindowAssigner, WindowOperator};
/// use squall::{Fields, Value};
///
/// let count = FieldAggregates::new(vec![AggregateSpec::new(AggregateKind::Count, None, "n")], &Fields::new(["x"]))?;
/// let tumbling = WindowAssigner::Tumbling { size_ms: 10, offset_ms: 0 };
/// let mut op = WindowOperator::new(tumbling, Trigger::EventTime, 0, count)?;
/// let mut out = Vec::new();
/// for ts in [1, 5, 12] {
///     assert!(op.process(&"k", ts, &vec![Value::Int(ts)], &mut out));
/// }
/// op.advance_watermark(9, &mut out);
/// assert_eq!(out.len(), 1);
/// assert_eq!((out[0].window.start, out[0].window.end, &out[0].result), (0, 10, &vec![Value::Int(2)]));
/// assert!(!op.process(&"k", 3, &vec![Value::Int(3)], &mut out), "late: its window has fired");
/// # Ok::<(), squall::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WindowOperator<K, F: AggregateFunction> {
    assigner: WindowAssigner,
    trigger: Trigger,
    allowed_lateness: i64,
    f: F,
    store: WindowStore<K, F::Acc>,
    watermark: i64,
    scratch: Vec<Window>,
}

impl<K: Hash + Eq + Clone, F: AggregateFunction> WindowOperator<K, F> {
    /// An operator with no windows open and no watermark yet.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for sizes that are not positive, a count
    /// trigger of 0, or a negative allowed lateness.
    pub fn new(
        assigner: WindowAssigner,
        trigger: Trigger,
        allowed_lateness_ms: i64,
        f: F,
    ) -> Result<Self> {
        assigner.validate()?;
        if trigger == Trigger::Count(0) {
            return Err(crate::Error::config("window trigger count must be at least 1"));
        }
        if allowed_lateness_ms < 0 {
            return Err(crate::Error::config(format!(
                "allowed_lateness_ms must not be negative, not {allowed_lateness_ms}"
            )));
        }
        Ok(WindowOperator {
            assigner,
            trigger,
            allowed_lateness: allowed_lateness_ms,
            f,
            store: WindowStore::new(),
            watermark: NO_WATERMARK,
            scratch: Vec::new(),
        })
    }

    /// The aggregate function.
    pub fn function(&self) -> &F {
        &self.f
    }

    /// The trigger.
    pub fn trigger(&self) -> Trigger {
        self.trigger
    }

    /// The watermark the operator has seen (event time ms).
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    fn is_late(&self, w: &Window) -> bool {
        w.max_timestamp().saturating_add(self.allowed_lateness) <= self.watermark
    }

    /// Adds a record of `key` at event time `ts` (ms), pushing any window
    /// that fires because of it (a count trigger, a late firing) to `out`.
    /// Returns `false` if the record is late for every window it belongs to
    /// and was not added.
    pub fn process(
        &mut self,
        key: &K,
        ts: i64,
        input: &F::In,
        out: &mut Vec<Fired<K, F::Out>>,
    ) -> bool {
        let mut windows = std::mem::take(&mut self.scratch);
        windows.clear();
        self.assigner.assign(ts, &mut windows);
        let accepted = if self.assigner.is_merging() {
            self.process_merging(key, windows[0], input, out)
        } else {
            let mut accepted = windows.is_empty();
            for w in &windows {
                if !self.is_late(w) {
                    accepted = true;
                    self.add(key, *w, input, out);
                }
            }
            accepted
        };
        self.scratch = windows;
        accepted
    }

    /// Adds a record whose session window before merging is `new`.
    fn process_merging(
        &mut self,
        key: &K,
        new: Window,
        input: &F::In,
        out: &mut Vec<Fired<K, F::Out>>,
    ) -> bool {
        let slot = self.store.slot(key);
        let existing: Vec<Window> = self.store.panes(slot).iter().map(|(w, _)| *w).collect();
        let (merged, absorbed) = session::merge(new, &existing);
        if absorbed.is_empty() && self.is_late(&new) {
            return false;
        }
        if !(absorbed.len() == 1 && existing[absorbed[0]] == merged) {
            let mut acc = self.f.create();
            let mut count = 0;
            for i in &absorbed {
                let pane = self.store.remove(key, &existing[*i]).expect("listed above");
                self.f.merge(&mut acc, pane.acc);
                count += pane.count;
            }
            let slot = self.store.slot(key);
            let (p, _) = self.store.pane_index(slot, merged, || acc);
            let pane = self.store.pane_at(slot, p);
            pane.count = count;
            pane.dirty = count > 0;
            self.set_timers(key, merged);
        }
        let slot = self.store.slot(key);
        let (p, _) = self.store.pane_index(slot, merged, || unreachable!("the pane exists"));
        self.add_to_pane(key, slot, p, merged, input, out);
        true
    }

    fn set_timers(&mut self, key: &K, w: Window) {
        self.set_timers_if(key, w, true);
    }

    /// Sets the cleanup timer of `w` (with allowed lateness), and its
    /// firing timer if `fire`.
    fn set_timers_if(&mut self, key: &K, w: Window, fire: bool) {
        if fire {
            self.store.set_timer(w.max_timestamp(), key.clone(), w, TimerKind::Fire);
        }
        if self.allowed_lateness > 0 {
            let cleanup = w.max_timestamp().saturating_add(self.allowed_lateness);
            self.store.set_timer(cleanup, key.clone(), w, TimerKind::Cleanup);
        }
    }

    fn add(&mut self, key: &K, w: Window, input: &F::In, out: &mut Vec<Fired<K, F::Out>>) {
        let slot = self.store.slot(key);
        let f = &self.f;
        let (p, created) = self.store.pane_index(slot, w, || f.create());
        if created {
            self.set_timers(key, w);
        }
        self.add_to_pane(key, slot, p, w, input, out);
    }

    fn add_to_pane(
        &mut self,
        key: &K,
        slot: usize,
        p: usize,
        w: Window,
        input: &F::In,
        out: &mut Vec<Fired<K, F::Out>>,
    ) {
        let watermark = self.watermark;
        let pane = self.store.pane_at(slot, p);
        self.f.add(&mut pane.acc, input);
        pane.count += 1;
        pane.dirty = true;
        let fire = match self.trigger {
            Trigger::Count(n) => pane.count >= n,
            Trigger::EventTime => w.max_timestamp() <= watermark,
            Trigger::ProcessingTime => false,
        };
        if fire {
            out.push(Fired { key: key.clone(), window: w, result: self.f.result(&pane.acc) });
            pane.dirty = false;
            if let Trigger::Count(_) = self.trigger {
                pane.acc = self.f.create();
                pane.count = 0;
            }
        }
    }

    /// Moves the watermark to `watermark` (ms; lower ones are ignored):
    /// fires every window whose end it passes and drops the state of those
    /// whose allowed lateness it passes too, pushing results to `out` in
    /// order of window end.
    pub fn advance_watermark(&mut self, watermark: i64, out: &mut Vec<Fired<K, F::Out>>) {
        if watermark <= self.watermark {
            return;
        }
        self.watermark = watermark;
        for (key, w, kind) in self.store.due_timers(watermark) {
            match kind {
                TimerKind::Fire if self.allowed_lateness == 0 => {
                    // Fired and dropped at once: one lookup, and the
                    // timer's copy of the key goes into the result.
                    if let Some(pane) = self.store.remove(&key, &w) {
                        if pane.count > 0 {
                            let result = self.f.result(&pane.acc);
                            out.push(Fired { key, window: w, result });
                        }
                    }
                }
                TimerKind::Fire => {
                    if let Some(pane) = self.store.get_mut(&key, &w) {
                        fire_if_filled(&self.f, &key, &w, pane, out);
                    }
                }
                TimerKind::Cleanup => {
                    self.store.remove(&key, &w);
                }
            }
        }
    }

    /// Every key with open windows and its panes, for a checkpoint.
    pub(crate) fn panes(&self) -> impl Iterator<Item = (&K, &Panes<F::Acc>)> {
        self.store.keys()
    }

    /// The open windows of `key`, if it has any (for queries).
    pub(crate) fn panes_of(&self, key: &K) -> Option<&Panes<F::Acc>> {
        self.store.get(key)
    }

    /// Restores the watermark of a checkpoint (before any pane).
    pub(crate) fn restore_watermark(&mut self, watermark: i64) {
        self.watermark = self.watermark.max(watermark);
    }

    /// Restores the open windows of `key` from a checkpoint, with their
    /// timers: a window whose end the watermark has passed already fired
    /// (it is open only for allowed lateness) and gets its cleanup timer
    /// only, so it does not fire twice.
    pub(crate) fn restore_panes(&mut self, key: &K, panes: Panes<F::Acc>) {
        let windows: Vec<Window> = panes.iter().map(|(w, _)| *w).collect();
        self.store.restore(key, panes);
        for w in windows {
            self.set_timers_if(key, w, w.max_timestamp() > self.watermark);
        }
    }

    /// Emits every window that received records since it last fired (an
    /// early firing, or a processing-time update of the current result),
    /// keeping its state.
    pub fn fire_early(&mut self, out: &mut Vec<Fired<K, F::Out>>) {
        for (key, w, pane) in self.store.iter_mut() {
            if pane.dirty {
                fire_if_filled(&self.f, key, w, pane, out);
            }
        }
    }

    /// Fires every window that still holds records and drops all state
    /// (the end of a processing-time input).
    pub fn fire_all(&mut self, out: &mut Vec<Fired<K, F::Out>>) {
        let mut open = self.store.keys_and_windows();
        open.sort_by_key(|(_, w)| *w);
        for (key, w) in open {
            if let Some(mut pane) = self.store.remove(&key, &w) {
                fire_if_filled(&self.f, &key, &w, &mut pane, out);
            }
        }
    }
}

/// Pushes the result of a pane that holds records.
fn fire_if_filled<K: Clone, F: AggregateFunction>(
    f: &F,
    key: &K,
    w: &Window,
    pane: &mut Pane<F::Acc>,
    out: &mut Vec<Fired<K, F::Out>>,
) {
    if pane.count > 0 {
        out.push(Fired { key: key.clone(), window: *w, result: f.result(&pane.acc) });
        pane.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sum of i64 records, as (count, sum).
    #[derive(Debug, Clone)]
    struct Sum;

    impl AggregateFunction for Sum {
        type In = i64;
        type Acc = (u64, i64);
        type Out = (u64, i64);
        fn create(&self) -> (u64, i64) {
            (0, 0)
        }
        fn add(&self, acc: &mut (u64, i64), x: &i64) {
            acc.0 += 1;
            acc.1 += x;
        }
        fn merge(&self, acc: &mut (u64, i64), o: (u64, i64)) {
            acc.0 += o.0;
            acc.1 += o.1;
        }
        fn result(&self, acc: &(u64, i64)) -> (u64, i64) {
            *acc
        }
    }

    type Out = Vec<Fired<&'static str, (u64, i64)>>;

    fn op(
        assigner: WindowAssigner,
        trigger: Trigger,
        lateness: i64,
    ) -> WindowOperator<&'static str, Sum> {
        WindowOperator::new(assigner, trigger, lateness, Sum).unwrap()
    }

    fn fired(out: &mut Out) -> Vec<(i64, i64, u64, i64)> {
        out.drain(..).map(|f| (f.window.start, f.window.end, f.result.0, f.result.1)).collect()
    }

    const TUMBLING: WindowAssigner = WindowAssigner::Tumbling { size_ms: 10, offset_ms: 0 };

    #[test]
    fn late_record_within_lateness_fires_again_and_after_it_is_refused() {
        let mut w = op(TUMBLING, Trigger::EventTime, 5);
        let mut out = Vec::new();
        assert!(w.process(&"k", 3, &3, &mut out));
        w.advance_watermark(9, &mut out);
        assert_eq!(fired(&mut out), [(0, 10, 1, 3)]);
        // Within lateness (window end 9 + 5 > watermark 12): added, fires at once.
        w.advance_watermark(12, &mut out);
        assert!(w.process(&"k", 4, &4, &mut out));
        assert_eq!(fired(&mut out), [(0, 10, 2, 7)]);
        // Past it: refused, nothing fires.
        w.advance_watermark(14, &mut out);
        assert!(!w.process(&"k", 5, &5, &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn count_trigger_purges_and_the_rest_fires_at_the_window_end() {
        let mut w = op(TUMBLING, Trigger::Count(2), 0);
        let mut out = Vec::new();
        for x in [1, 2, 3] {
            w.process(&"k", x, &x, &mut out);
        }
        assert_eq!(fired(&mut out), [(0, 10, 2, 3)]);
        w.advance_watermark(9, &mut out);
        assert_eq!(fired(&mut out), [(0, 10, 1, 3)], "the remainder is not lost");
    }

    #[test]
    fn sessions_merge_their_accumulators_and_fire_once() {
        let mut w = op(WindowAssigner::Session { gap_ms: 5 }, Trigger::EventTime, 0);
        let mut out = Vec::new();
        for x in [0, 20, 8] {
            w.process(&"k", x, &x, &mut out);
        }
        // 0 -> [0,5), 8 -> [8,13): apart; 4 bridges them into [0,13).
        w.process(&"k", 4, &4, &mut out);
        w.advance_watermark(i64::MAX, &mut out);
        let mut got = fired(&mut out);
        got.sort();
        assert_eq!(got, [(0, 13, 3, 12), (20, 25, 1, 20)]);
    }

    #[test]
    fn early_firing_emits_changed_windows_only() {
        let mut w = op(TUMBLING, Trigger::EventTime, 0);
        let mut out = Vec::new();
        w.process(&"a", 1, &1, &mut out);
        w.process(&"b", 11, &11, &mut out);
        w.fire_early(&mut out);
        let mut got = fired(&mut out);
        got.sort();
        assert_eq!(got, [(0, 10, 1, 1), (10, 20, 1, 11)]);
        w.process(&"a", 2, &2, &mut out);
        w.fire_early(&mut out);
        assert_eq!(fired(&mut out), [(0, 10, 2, 3)], "b did not change");
        w.advance_watermark(9, &mut out);
        assert_eq!(fired(&mut out), [(0, 10, 2, 3)], "the final firing still comes");
    }

    #[test]
    fn restored_windows_fire_once_and_keep_their_lateness() {
        let mut w = op(TUMBLING, Trigger::EventTime, 5);
        let mut out = Vec::new();
        for (k, x) in [("a", 1), ("a", 12), ("b", 3)] {
            w.process(&k, x, &x, &mut out);
        }
        w.advance_watermark(10, &mut out);
        assert_eq!(fired(&mut out).len(), 2, "[0,10) of a and b fired");
        // A restore from copies of the panes and the watermark.
        let mut r = op(TUMBLING, Trigger::EventTime, 5);
        r.restore_watermark(w.watermark());
        for (k, panes) in w.panes() {
            r.restore_panes(k, panes.clone());
        }
        r.advance_watermark(11, &mut out);
        assert!(out.is_empty(), "fired windows do not fire again");
        assert!(r.process(&"a", 2, &2, &mut out), "within the allowed lateness");
        assert_eq!(fired(&mut out), [(0, 10, 2, 3)]);
        r.advance_watermark(19, &mut out);
        assert_eq!(fired(&mut out), [(10, 20, 1, 12)]);
        assert!(!r.process(&"b", 4, &4, &mut out), "cleaned up after the lateness");
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(WindowOperator::<u8, Sum>::new(TUMBLING, Trigger::Count(0), 0, Sum).is_err());
        assert!(WindowOperator::<u8, Sum>::new(TUMBLING, Trigger::EventTime, -1, Sum).is_err());
        let zero = WindowAssigner::Sliding { size_ms: 10, slide_ms: 0, offset_ms: 0 };
        let e = WindowOperator::<u8, Sum>::new(zero, Trigger::EventTime, 0, Sum).unwrap_err();
        assert!(e.to_string().contains("slide_ms"), "{e}");
    }
}
