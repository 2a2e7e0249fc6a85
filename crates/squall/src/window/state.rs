//! [`WindowStore`]: the state of a window operator — per key, its open
//! windows and their accumulators, plus the event-time timers that fire and
//! clean them up.
//!
//! The working copy lives on the heap (one hash lookup per record). With
//! checkpoints the window bolt copies it into checkpointed keyed state
//! at every barrier ([`WindowStore::keys`]: one entry per key, holding its
//! panes) and rebuilds it from there on restore ([`WindowStore::restore`]);
//! timers are not stored, they follow from the windows and the watermark.

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
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Pane<A> {
    pub acc: A,
    /// Records added since the pane was created or last purged.
    pub count: u64,
    /// Records added since the pane last fired (for early firings).
    pub dirty: bool,
}

/// The open windows of one key.
pub(crate) type Panes<A> = Vec<(Window, Pane<A>)>;

/// Open windows per key and pending timers (event time ms).
///
/// Keys map to slots of a slab, so that the hot path (a record of a key
/// that has open windows) costs one hash lookup and no key copy.
#[derive(Debug, Clone)]
pub(crate) struct WindowStore<K, A> {
    index: HashMap<K, usize, RandomState>,
    /// The key of each slot and its open windows; a slot whose key has no
    /// window left is on the free list, with no windows.
    slots: Vec<(K, Panes<A>)>,
    free: Vec<usize>,
    timers: BTreeMap<i64, Vec<(K, Window, TimerKind)>>,
}

impl<K: Hash + Eq + Clone, A> WindowStore<K, A> {
    pub fn new() -> Self {
        WindowStore {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            timers: BTreeMap::new(),
        }
    }

    /// The slot of `key`, made if it has none.
    pub fn slot(&mut self, key: &K) -> usize {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i].0 = key.clone();
                i
            }
            None => {
                self.slots.push((key.clone(), Vec::new()));
                self.slots.len() - 1
            }
        };
        self.index.insert(key.clone(), i);
        i
    }

    /// The open windows in slot `i`.
    pub fn panes(&mut self, i: usize) -> &mut Panes<A> {
        &mut self.slots[i].1
    }

    /// The index in slot `i` of the pane of `window`, made by `create` if
    /// absent; and whether it was made. A key's panes are kept sorted by
    /// window, so this is a binary search however many windows stay open
    /// (a slow input holds the watermark back while a fast one moves on).
    pub fn pane_index(
        &mut self,
        i: usize,
        window: Window,
        create: impl FnOnce() -> A,
    ) -> (usize, bool) {
        let panes = &mut self.slots[i].1;
        match panes.binary_search_by(|(w, _)| w.cmp(&window)) {
            Ok(p) => (p, false),
            Err(p) => {
                panes.insert(p, (window, Pane { acc: create(), count: 0, dirty: false }));
                (p, true)
            }
        }
    }

    /// The pane at index `p` of slot `i` (see [`WindowStore::pane_index`]).
    pub fn pane_at(&mut self, i: usize, p: usize) -> &mut Pane<A> {
        &mut self.slots[i].1[p].1
    }

    /// The pane of `key` in `window`, if open.
    pub fn get_mut(&mut self, key: &K, window: &Window) -> Option<&mut Pane<A>> {
        let i = *self.index.get(key)?;
        let panes = &mut self.slots[i].1;
        let p = panes.binary_search_by(|(w, _)| w.cmp(window)).ok()?;
        Some(&mut panes[p].1)
    }

    /// Removes and returns the pane of `key` in `window`.
    pub fn remove(&mut self, key: &K, window: &Window) -> Option<Pane<A>> {
        let i = *self.index.get(key)?;
        let panes = &mut self.slots[i].1;
        let p = panes.binary_search_by(|(w, _)| w.cmp(window)).ok()?;
        // `remove`, not `swap_remove`: keeps the order `pane_index` relies
        // on (windows mostly leave oldest first, from the front).
        let (_, pane) = panes.remove(p);
        if panes.is_empty() {
            self.index.remove(key);
            self.free.push(i);
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
        self.slots.iter_mut().flat_map(|(k, ps)| {
            let k: &K = k;
            ps.iter_mut().map(move |(w, p)| (k, &*w, p))
        })
    }

    /// Every open (key, window), in no particular order.
    pub fn keys_and_windows(&self) -> Vec<(K, Window)> {
        self.slots.iter().flat_map(|(k, ps)| ps.iter().map(|(w, _)| (k.clone(), *w))).collect()
    }

    /// The open windows of `key`, if it has any.
    pub fn get(&self, key: &K) -> Option<&Panes<A>> {
        let i = *self.index.get(key)?;
        Some(&self.slots[i].1).filter(|ps| !ps.is_empty())
    }

    /// Every key with open windows, and its panes.
    pub fn keys(&self) -> impl Iterator<Item = (&K, &Panes<A>)> {
        self.slots.iter().filter(|(_, ps)| !ps.is_empty()).map(|(k, ps)| (k, ps))
    }

    /// Puts back the `panes` of `key` (from a snapshot), replacing any.
    pub fn restore(&mut self, key: &K, mut panes: Panes<A>) {
        panes.sort_by_key(|(w, _)| *w);
        let i = self.slot(key);
        self.slots[i].1 = panes;
    }
}
