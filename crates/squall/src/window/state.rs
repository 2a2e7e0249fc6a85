//! [`WindowStore`]: the state of a window operator — per key, its open
//! windows and their accumulators, plus the event-time timers that fire and
//! clean them up.
//!
//! This is the seam to the checkpointed keyed state of the exactly-once
//! work: the operator only reads and writes state through these methods
//! (a keyed map of window to pane, and a timer queue), so moving it onto
//! that API (snapshot the map and the timers per key group) does not touch
//! the window logic. Until then it lives in memory and is lost on failure.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use foldhash::fast::RandomState;

use super::Window;

/// Why a timer was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// The window's end passed: fire it.
    Fire,
    /// The allowed lateness passed too: drop its state.
    Cleanup,
}

/// One open window of one key.
#[derive(Debug, Clone)]
pub(crate) struct Pane<A> {
    pub acc: A,
    /// Records added since the pane was created or last purged.
    pub count: u64,
    /// Records added since the pane last fired (for early firings).
    pub dirty: bool,
}

/// Open windows per key and pending timers (event time ms).
#[derive(Debug, Clone)]
pub(crate) struct WindowStore<K, A> {
    panes: HashMap<K, Vec<(Window, Pane<A>)>, RandomState>,
    timers: BTreeMap<i64, Vec<(K, Window, TimerKind)>>,
}

impl<K: Hash + Eq + Clone, A> WindowStore<K, A> {
    pub fn new() -> Self {
        WindowStore { panes: HashMap::default(), timers: BTreeMap::new() }
    }

    /// The open windows of `key` (empty if none).
    pub fn windows_mut(&mut self, key: &K) -> Option<&mut Vec<(Window, Pane<A>)>> {
        self.panes.get_mut(key)
    }

    /// The pane of `key` in `window`, made by `create` if absent.
    pub fn pane_mut(
        &mut self,
        key: &K,
        window: Window,
        create: impl FnOnce() -> A,
    ) -> &mut Pane<A> {
        if !self.panes.contains_key(key) {
            self.panes.insert(key.clone(), Vec::new());
        }
        let panes = self.panes.get_mut(key).expect("inserted above");
        let i = match panes.iter().position(|(w, _)| *w == window) {
            Some(i) => i,
            None => {
                panes.push((window, Pane { acc: create(), count: 0, dirty: false }));
                panes.len() - 1
            }
        };
        &mut panes[i].1
    }

    /// The pane of `key` in `window`, if open.
    pub fn get_mut(&mut self, key: &K, window: &Window) -> Option<&mut Pane<A>> {
        self.panes.get_mut(key)?.iter_mut().find(|(w, _)| w == window).map(|(_, p)| p)
    }

    /// Removes and returns the pane of `key` in `window`.
    pub fn remove(&mut self, key: &K, window: &Window) -> Option<Pane<A>> {
        let panes = self.panes.get_mut(key)?;
        let i = panes.iter().position(|(w, _)| w == window)?;
        let (_, pane) = panes.swap_remove(i);
        if panes.is_empty() {
            self.panes.remove(key);
        }
        Some(pane)
    }

    /// Sets a timer at event time `at` (ms).
    pub fn set_timer(&mut self, at: i64, key: K, window: Window, kind: TimerKind) {
        self.timers.entry(at).or_default().push((key, window, kind));
    }

    /// Takes the timers due at or before `watermark`, earliest first.
    pub fn due_timers(&mut self, watermark: i64) -> Vec<(K, Window, TimerKind)> {
        let mut due = Vec::new();
        while let Some(entry) = self.timers.first_entry() {
            if *entry.key() > watermark {
                break;
            }
            due.extend(entry.remove());
        }
        due
    }

    /// Every open pane, for early firings and the end of input.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &Window, &mut Pane<A>)> {
        self.panes.iter_mut().flat_map(|(k, ps)| ps.iter_mut().map(move |(w, p)| (k, &*w, p)))
    }

    /// Every open (key, window), in no particular order.
    pub fn keys_and_windows(&self) -> Vec<(K, Window)> {
        self.panes.iter().flat_map(|(k, ps)| ps.iter().map(|(w, _)| (k.clone(), *w))).collect()
    }
}
