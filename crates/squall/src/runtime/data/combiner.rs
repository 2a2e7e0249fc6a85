//! [`Combiner`]: a producer's pre-aggregation of one route's tuples before
//! the shuffle (local-global aggregation; see [`crate::InputCombining`]).
//!
//! Owns the tuples held back since the route was last flushed, one per
//! distinct key (per key and slice of event time for windows), and their
//! weights. Which routes combine, and when they are flushed, is the plan's
//! and the collector's business.

use std::cmp::Ordering;
use std::hash::{BuildHasher, Hash, Hasher};

use compact_str::CompactString;
use foldhash::fast::RandomState;
use hashbrown::hash_table::HashTable;

use crate::model::{same_value, Fields, Value, Values};
use crate::window::{compare, AggregateKind, WindowAssigner};
use crate::WindowCombining;

/// Distinct keys a route holds back before it is sent: bounds the memory
/// (about 8 MB per route with short keys) and the work a flush does at
/// once. Above the tens of thousands of distinct words of a text, so that
/// a word count's route is sent on `buffer_timeout_ms` rather than each
/// time its vocabulary's tail fills it.
pub(crate) const MAX_KEYS: usize = 64 * 1024;

/// Whether a merged key adds up (`Count`), keeps the last tuple (`Latest`)
/// or folds a window's partial aggregate (`Window`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Merge {
    Count,
    Latest,
    Window(WindowMerge),
}

/// How one aggregated field of a window's partial aggregate is folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fold {
    /// `sum` and `avg`: the sum.
    Sum,
    Min,
    Max,
}

/// A window bolt's input combining, resolved against a stream's fields
/// (see [`WindowCombining`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WindowMerge {
    /// Position of the event time.
    time: usize,
    window: WindowAssigner,
    /// Position and fold of each aggregated field, each field once.
    folds: Vec<(usize, Fold)>,
    /// The length of the window's slices (ms).
    slice_ms: i64,
}

impl WindowMerge {
    /// The merge of `combining` on a stream of `fields`; `None` if a field
    /// it names is missing, or two aggregates fold one field differently.
    pub fn new(combining: &WindowCombining, fields: &Fields) -> Option<WindowMerge> {
        let time = fields.index_of(&combining.time_field)?;
        let mut folds: Vec<(usize, Fold)> = Vec::new();
        for a in &combining.aggregates {
            let fold = match a.kind {
                AggregateKind::Count => continue,
                AggregateKind::Sum | AggregateKind::Avg => Fold::Sum,
                AggregateKind::Min => Fold::Min,
                AggregateKind::Max => Fold::Max,
            };
            let i = fields.index_of(a.field.as_deref()?)?;
            match folds.iter().find(|(j, _)| *j == i) {
                Some((_, f)) if *f != fold => return None,
                Some(_) => {}
                None => folds.push((i, fold)),
            }
        }
        if !matches!(
            combining.window,
            WindowAssigner::Tumbling { .. } | WindowAssigner::Sliding { .. }
        ) {
            return None;
        }
        let slice_ms = combining.window.slice_ms()?;
        Some(WindowMerge { time, window: combining.window, folds, slice_ms })
    }

    /// Whether every aggregated value of `values` is one its fold takes
    /// (no null: an `avg` counts the merged tuples as its values).
    fn takes(&self, values: &Values) -> bool {
        self.folds.iter().all(|&(i, fold)| {
            matches!(
                (&values[i], fold),
                (Value::Int(_) | Value::Float(_), _)
                    | (Value::Timestamp(_) | Value::String(_), Fold::Min | Fold::Max)
            )
        })
    }

    /// Folds `values` into `held`, all fields or none (an int sum that
    /// would overflow, an int beside a float, values of kinds that do not
    /// compare). Returns whether it did.
    fn fold(&self, held: &mut Values, values: &Values) -> bool {
        let foldable = self.folds.iter().all(|&(i, fold)| match (fold, &held[i], &values[i]) {
            (Fold::Sum, Value::Int(a), Value::Int(b)) => a.checked_add(*b).is_some(),
            (Fold::Sum, Value::Float(_), Value::Float(_)) => true,
            (Fold::Sum, _, _) => false,
            (_, a, b) => compare(a, b).is_some(),
        });
        if !foldable {
            return false;
        }
        for &(i, fold) in &self.folds {
            let v = &values[i];
            match (fold, &mut held[i], v) {
                (Fold::Sum, Value::Int(a), Value::Int(b)) => *a += b,
                (Fold::Sum, Value::Float(a), Value::Float(b)) => *a += b,
                (Fold::Min, h, _) if compare(v, h) == Some(Ordering::Less) => *h = v.clone(),
                (Fold::Max, h, _) if compare(v, h) == Some(Ordering::Greater) => *h = v.clone(),
                _ => {}
            }
        }
        true
    }
}

/// Where [`Combiner::fold`] put a tuple.
enum Slice {
    /// It must travel on its own.
    Alone,
    /// Merged into the tuple held back for its key (and slice).
    Folded,
    /// The first of its key (and slice): the caller holds it back.
    New,
    /// A `Latest` merge's newer tuple of the key held in this slot.
    Replace(usize),
}

/// The held-back tuples of one route, at most one per key (per key and
/// slice of event time for a window merge).
#[derive(Debug)]
pub(crate) struct Combiner {
    merge: Merge,
    /// Positions of the key fields in the stream's values.
    key: Vec<usize>,
    /// Slot of each key of one string field but in a window merge (the
    /// usual word): compared in the map itself, one cache miss a word.
    words: hashbrown::HashMap<CompactString, usize, RandomState>,
    /// Slot of every other held key and slice, by [`slice_hash`]; a probe
    /// compares the tuple's own key values with the held row's, so a hit
    /// copies nothing and hashes once.
    slots: HashTable<usize>,
    /// Of each held row, its key's hash (see [`Combiner::key_hash`]) and
    /// its slice start (event time ms; 0 but for a window merge).
    held: Vec<(u64, i64)>,
    /// The seed of the key hashes of `held`.
    hasher: RandomState,
    /// The slice of the last tuple a window merge took (see
    /// [`WindowAssigner::slice_of`]): the next is most often in it too.
    last_slice: Option<(i64, i64)>,
    rows: Vec<Values>,
    weights: Vec<u64>,
}

impl Combiner {
    pub fn new(merge: Merge, key: Vec<usize>) -> Self {
        Combiner {
            merge,
            key,
            words: hashbrown::HashMap::default(),
            slots: HashTable::new(),
            held: Vec::new(),
            hasher: RandomState::default(),
            last_slice: None,
            rows: Vec::new(),
            weights: Vec::new(),
        }
    }

    /// Distinct keys held back.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the route should be sent now.
    pub fn is_full(&self) -> bool {
        self.rows.len() >= MAX_KEYS
    }

    /// Adds one emitted tuple: merged into the held-back tuple of its key,
    /// or held back as the first of its key; or, for a window merge, given
    /// back when it must travel on its own (see [`WindowCombining`]).
    /// `sent` is the last watermark the producer sent on the route (event
    /// time ms).
    pub fn add(&mut self, values: Values, sent: i64) -> Option<Values> {
        match self.fold(&values, sent) {
            Slice::Alone => return Some(values),
            Slice::Folded => {}
            Slice::New => self.hold(values),
            Slice::Replace(slot) => self.rows[slot] = values,
        }
        None
    }

    /// Adds a tuple as [`Combiner::add`] does, copying `values` only when
    /// it is held back as the first of its key (and slice); returns
    /// `false`, having taken nothing, when the tuple must be sent as it is
    /// (see [`WindowCombining`]).
    pub fn add_ref(&mut self, values: &Values, sent: i64) -> bool {
        match self.fold(values, sent) {
            Slice::Alone => return false,
            Slice::Folded => {}
            Slice::New => self.hold(values.clone()),
            Slice::Replace(slot) => self.rows[slot].clone_from(values),
        }
        true
    }

    /// Merges a tuple of the one string `word` (a stream of one field, the
    /// key) into the tuple of that word held back, without the tuple being
    /// built. Returns `false` when nothing of that word is held back, or
    /// the merge is not by that one string: the tuple must then go through
    /// [`Combiner::add`].
    pub fn merge_word(&mut self, word: &str) -> bool {
        if self.key != [0] || matches!(self.merge, Merge::Window(_)) {
            return false;
        }
        let Some(&slot) = self.words.get(word) else { return false };
        // `Latest` would replace the held tuple by an equal one.
        if self.merge == Merge::Count {
            self.weights[slot] += 1;
        }
        true
    }

    fn hold(&mut self, values: Values) {
        self.rows.push(values);
        self.weights.push(1);
    }

    /// Finds the held-back tuple of `values`' key (and slice) and merges
    /// `values` into it: one hash of the key, one table probe. On
    /// [`Slice::New`] the slot is taken for the next row held.
    fn fold(&mut self, values: &Values, sent: i64) -> Slice {
        let slice = match &self.merge {
            Merge::Window(m) => {
                let (Value::Timestamp(ts) | Value::Int(ts)) = values[m.time] else {
                    return Slice::Alone;
                };
                let in_last = |&(start, _): &(i64, i64)| {
                    ts.checked_sub(start).is_some_and(|d| (0..m.slice_ms).contains(&d))
                };
                let last = self.last_slice.filter(in_last);
                let Some((slice, first_end)) = last.or_else(|| m.window.slice_of(ts)) else {
                    return Slice::Alone;
                };
                self.last_slice = Some((slice, first_end));
                // Its first window must still be open and unfired at the
                // consumer, whose watermark is at most the one this
                // producer sent.
                if first_end <= sent || !m.takes(values) {
                    return Slice::Alone;
                }
                slice
            }
            _ => 0,
        };
        let next = self.rows.len();
        let slot = match (&self.merge, &self.key[..]) {
            (Merge::Count | Merge::Latest, &[i]) if values[i].as_str().is_some() => {
                let word = values[i].as_str().expect("a string");
                *self.words.entry_ref(word).or_insert(next)
            }
            _ => self.slot(values, slice),
        };
        let Combiner { merge, rows, weights, .. } = self;
        match merge {
            _ if slot == next => return Slice::New,
            Merge::Count => weights[slot] += 1,
            Merge::Latest => return Slice::Replace(slot),
            Merge::Window(m) if m.fold(&mut rows[slot], values) => weights[slot] += 1,
            Merge::Window(_) => return Slice::Alone,
        }
        Slice::Folded
    }

    /// The slot of the row held for the key of `values` in `slice`; the
    /// next row's (taken for it) when none is.
    fn slot(&mut self, values: &Values, slice: i64) -> usize {
        let key_hash = self.key_hash(values);
        let Combiner { key, slots, held, rows, .. } = self;
        let same = |&slot: &usize| {
            held[slot] == (key_hash, slice)
                && key.iter().all(|&i| match (&rows[slot][i], &values[i]) {
                    (Value::String(a), Value::String(b)) => a == b,
                    (Value::Int(a), Value::Int(b)) => a == b,
                    (a, b) => same_value(a, b),
                })
        };
        let rehash = |&slot: &usize| slice_hash(held[slot].0, held[slot].1);
        let slot =
            *slots.entry(slice_hash(key_hash, slice), same, rehash).or_insert(rows.len()).get();
        if slot == rows.len() {
            held.push((key_hash, slice));
        }
        slot
    }

    /// The table hash of the key of `values`: a string's bytes or an
    /// int's, else the value as it hashes (equal values hash alike:
    /// values of two types are never equal).
    fn key_hash(&self, values: &Values) -> u64 {
        let mut h = self.hasher.build_hasher();
        for &i in &self.key {
            match &values[i] {
                Value::String(s) => h.write(s.as_bytes()),
                Value::Int(n) => h.write_i64(*n),
                v => v.hash(&mut h),
            }
        }
        h.finish()
    }

    /// Takes every held-back tuple with its weight, in first-seen order of
    /// their keys; the combiner starts empty again, its buffers keeping
    /// their room for the next round.
    pub fn drain(&mut self) -> impl Iterator<Item = (Values, u64)> + '_ {
        self.words.clear();
        self.slots.clear();
        self.held.clear();
        self.rows.drain(..).zip(self.weights.drain(..))
    }
}

/// The table hash of a key (see [`Combiner::key_hash`]) in the slice starting
/// at `slice` (ms): the two mixed by a folded multiply, so that every bit
/// of each reaches the bits the table uses.
fn slice_hash(key_hash: u64, slice: i64) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let m = u128::from(key_hash ^ (slice as u64).wrapping_mul(K)) * u128::from(K);
    (m as u64) ^ ((m >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::NO_WATERMARK;
    use crate::window::AggregateSpec;

    fn word(w: &str, n: i64) -> Values {
        vec![Value::from(w), Value::Int(n)]
    }

    #[test]
    fn count_merges_equal_words_and_keeps_the_first_values() {
        let mut c = Combiner::new(Merge::Count, vec![0]);
        for (w, n) in [("a", 1), ("b", 2), ("a", 3), ("a", 4)] {
            assert_eq!(c.add(word(w, n), NO_WATERMARK), None);
        }
        assert_eq!(c.len(), 2);
        let out: Vec<_> = c.drain().collect();
        assert_eq!(out, vec![(word("a", 1), 3), (word("b", 2), 1)]);
        assert_eq!(c.len(), 0);
        assert_eq!(c.add(word("a", 9), NO_WATERMARK), None);
        assert_eq!(c.drain().collect::<Vec<_>>(), vec![(word("a", 9), 1)]);
    }

    #[test]
    fn merge_word_adds_to_a_held_word_only() {
        let one = |w: &str| vec![Value::from(w)];
        let mut c = Combiner::new(Merge::Count, vec![0]);
        assert!(!c.merge_word("a"), "nothing held yet");
        assert_eq!(c.add(one("a"), NO_WATERMARK), None);
        assert!(c.merge_word("a"));
        assert!(c.merge_word("a"));
        assert!(!c.merge_word("b"));
        assert_eq!(c.drain().collect::<Vec<_>>(), vec![(one("a"), 3)]);
        assert!(!c.merge_word("a"), "a drain forgets the words");
        let mut two_keys = Combiner::new(Merge::Count, vec![0, 1]);
        assert_eq!(two_keys.add(word("a", 1), NO_WATERMARK), None);
        assert!(!two_keys.merge_word("a"), "not a key of one string");
    }

    #[test]
    fn latest_keeps_the_last_tuple_of_each_key() {
        let mut c = Combiner::new(Merge::Latest, vec![0]);
        for (w, n) in [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3)] {
            assert_eq!(c.add(word(w, n), NO_WATERMARK), None);
        }
        let out: Vec<_> = c.drain().map(|(v, _)| v).collect();
        assert_eq!(out, vec![word("a", 3), word("b", 2)]);
    }

    #[test]
    fn keys_of_several_fields_or_other_types_are_merged_by_value() {
        let mut c = Combiner::new(Merge::Count, vec![0, 1]);
        let row = |a: i64, b: &str| vec![Value::Int(a), Value::from(b), Value::Null];
        for (a, b) in [(1, "x"), (1, "y"), (1, "x"), (2, "x"), (1, "x")] {
            assert_eq!(c.add(row(a, b), NO_WATERMARK), None);
        }
        let out: Vec<_> = c.drain().collect();
        assert_eq!(out, vec![(row(1, "x"), 3), (row(1, "y"), 1), (row(2, "x"), 1)]);
    }

    /// `ts_ms, key, v, other`: a 10 ms tumbling sum of v, min of v, count.
    fn window_combiner(kinds: &[(AggregateKind, &str)]) -> Combiner {
        let fields = Fields::new(["ts_ms", "key", "v", "s"]);
        let combining = WindowCombining {
            key: Fields::new(["key"]),
            time_field: "ts_ms".into(),
            window: WindowAssigner::Tumbling { size_ms: 10, offset_ms: 0 },
            aggregates: kinds.iter().map(|(k, f)| AggregateSpec::new(*k, Some(f), f)).collect(),
        };
        let m = WindowMerge::new(&combining, &fields).expect("combinable");
        Combiner::new(Merge::Window(m), vec![1])
    }

    fn event(ts: i64, key: &str, v: Value) -> Values {
        vec![Value::Int(ts), Value::from(key), v, Value::from("x")]
    }

    #[test]
    fn window_merge_folds_one_key_and_slice_and_lets_the_rest_travel_alone() {
        use AggregateKind::*;
        let mut c = window_combiner(&[(Sum, "v"), (Avg, "v")]);
        let sent = 9; // the window [0, 10) may have fired
        for (ts, key, v) in [(12, "a", 1), (15, "a", 2), (11, "b", 4), (25, "a", 8), (19, "a", 16)]
        {
            assert_eq!(c.add(event(ts, key, Value::Int(v)), sent), None, "{ts} {key}");
        }
        let late = event(3, "a", Value::Int(1));
        assert_eq!(c.add(late.clone(), sent), Some(late), "behind the sent watermark");
        let null = event(13, "a", Value::Null);
        assert_eq!(c.add(null.clone(), sent), Some(null), "an avg counts values, not nulls");
        let float = event(13, "a", Value::Float(0.5));
        assert_eq!(c.add(float.clone(), sent), Some(float), "an int sum stays an int");
        let huge = event(14, "b", Value::Int(i64::MAX));
        assert_eq!(c.add(huge.clone(), sent), Some(huge), "an overflow is not folded");
        let out: Vec<_> = c.drain().collect();
        assert_eq!(
            out,
            vec![
                (event(12, "a", Value::Int(19)), 3),
                (event(11, "b", Value::Int(4)), 1),
                (event(25, "a", Value::Int(8)), 1),
            ]
        );
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn add_ref_holds_and_gives_back_the_tuples_add_does() {
        use AggregateKind::*;
        let (mut owned, mut borrowed) =
            (window_combiner(&[(Sum, "v")]), window_combiner(&[(Sum, "v")]));
        let events = [
            event(12, "a", Value::Int(1)),
            event(15, "a", Value::Int(2)),
            event(3, "a", Value::Int(5)),
            event(11, "b", Value::Float(0.5)),
            event(25, "a", Value::Int(8)),
            event(14, "a", Value::Float(1.5)),
        ];
        for e in &events {
            let alone = owned.add(e.clone(), 9);
            assert_eq!(!borrowed.add_ref(e, 9), alone.is_some(), "{e:?}");
        }
        let (a, b): (Vec<_>, Vec<_>) = (owned.drain().collect(), borrowed.drain().collect());
        assert_eq!(a, b);
        assert_eq!(a[0], (event(12, "a", Value::Int(3)), 2), "12 and 15 folded, 3 and 14 not");
        let mut words = Combiner::new(Merge::Count, vec![0]);
        assert!(words.add_ref(&word("x", 1), 0) && words.add_ref(&word("x", 1), 0));
        assert_eq!(words.drain().collect::<Vec<_>>(), vec![(word("x", 1), 2)]);
    }

    #[test]
    fn window_merge_keeps_min_and_max_and_refuses_mixed_folds_of_a_field() {
        use AggregateKind::*;
        let mut c = window_combiner(&[(Min, "v"), (Max, "s")]);
        for v in ["m", "c", "x"] {
            assert_eq!(c.add(event(1, "a", Value::from(v)), NO_WATERMARK), None);
        }
        let (row, weight) = c.drain().next().unwrap();
        assert_eq!((row[2].clone(), weight), (Value::from("c"), 3));
        let both = WindowCombining {
            key: Fields::new(["key"]),
            time_field: "ts_ms".into(),
            window: WindowAssigner::Tumbling { size_ms: 10, offset_ms: 0 },
            aggregates: vec![
                AggregateSpec::new(Sum, Some("v"), "total"),
                AggregateSpec::new(Min, Some("v"), "least"),
            ],
        };
        assert_eq!(WindowMerge::new(&both, &Fields::new(["ts_ms", "key", "v"])), None);
    }
}
