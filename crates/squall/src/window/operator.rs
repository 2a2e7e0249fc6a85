//! [`WindowOperator`]: keyed windows with triggers, allowed lateness and
//! incremental aggregation; pure (no I/O, no clock), so that the YAML
//! window bolt, the DataStream API and the tests drive the same code.

use std::hash::Hash;

use super::state::{Pane, TimerKind, WindowStore};
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
        let existing: Vec<Window> = match self.store.windows_mut(key) {
            Some(panes) => panes.iter().map(|(w, _)| *w).collect(),
            None => Vec::new(),
        };
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
            let pane = self.store.pane_mut(key, merged, || acc);
            pane.count = count;
            pane.dirty = count > 0;
            self.set_timers(key, merged);
        }
        self.add_to_pane(key, merged, input, out);
        true
    }

    fn set_timers(&mut self, key: &K, w: Window) {
        self.store.set_timer(w.max_timestamp(), key.clone(), w, TimerKind::Fire);
        if self.allowed_lateness > 0 {
            let cleanup = w.max_timestamp().saturating_add(self.allowed_lateness);
            self.store.set_timer(cleanup, key.clone(), w, TimerKind::Cleanup);
        }
    }

    fn add(&mut self, key: &K, w: Window, input: &F::In, out: &mut Vec<Fired<K, F::Out>>) {
        let mut created = false;
        let f = &self.f;
        self.store.pane_mut(key, w, || {
            created = true;
            f.create()
        });
        if created {
            self.set_timers(key, w);
        }
        self.add_to_pane(key, w, input, out);
    }

    fn add_to_pane(&mut self, key: &K, w: Window, input: &F::In, out: &mut Vec<Fired<K, F::Out>>) {
        let watermark = self.watermark;
        let pane = self.store.get_mut(key, &w).expect("pane exists");
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
                TimerKind::Fire => {
                    if let Some(pane) = self.store.get_mut(&key, &w) {
                        fire_if_filled(&self.f, &key, &w, pane, out);
                        if self.allowed_lateness == 0 {
                            self.store.remove(&key, &w);
                        }
                    }
                }
                TimerKind::Cleanup => {
                    self.store.remove(&key, &w);
                }
            }
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
