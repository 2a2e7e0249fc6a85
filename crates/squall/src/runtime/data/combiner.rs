//! [`Combiner`]: a producer's pre-aggregation of one route's tuples before
//! the shuffle (local-global aggregation; see [`crate::InputCombining`]).
//!
//! Owns the tuples held back since the route was last flushed, one per
//! distinct key, and their weights. Which routes combine, and when they are
//! flushed, is the plan's and the collector's business.

use std::collections::HashMap;

use compact_str::CompactString;
use foldhash::fast::RandomState;

use crate::model::{Key, Value, Values};

/// Distinct keys a route holds back before it is sent: bounds the memory
/// (a few MB per route) and the work a flush does at once.
pub(crate) const MAX_KEYS: usize = 16 * 1024;

/// Whether a merged key adds up (`Count`) or keeps the last tuple (`Latest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merge {
    Count,
    Latest,
}

/// The held-back tuples of one route, at most one per key.
#[derive(Debug)]
pub(crate) struct Combiner {
    merge: Merge,
    /// Positions of the key fields in the stream's values.
    key: Vec<usize>,
    /// Slot of each key of one string field (the usual word).
    words: HashMap<CompactString, usize, RandomState>,
    /// Slot of every other key.
    others: HashMap<Key, usize, RandomState>,
    rows: Vec<Values>,
    weights: Vec<u64>,
}

impl Combiner {
    pub fn new(merge: Merge, key: Vec<usize>) -> Self {
        Combiner {
            merge,
            key,
            words: HashMap::default(),
            others: HashMap::default(),
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
    /// or held back as the first of its key.
    pub fn add(&mut self, values: Values) {
        let slot = match &self.key[..] {
            [i] => match &values[*i] {
                Value::String(word) => match self.words.get(word.as_str()) {
                    Some(&slot) => Some(slot),
                    None => {
                        self.words.insert(CompactString::from(word.as_str()), self.rows.len());
                        None
                    }
                },
                _ => self.slot_of_key(&values),
            },
            _ => self.slot_of_key(&values),
        };
        match (slot, self.merge) {
            (Some(slot), Merge::Count) => self.weights[slot] += 1,
            (Some(slot), Merge::Latest) => self.rows[slot] = values,
            (None, _) => {
                self.rows.push(values);
                self.weights.push(1);
            }
        }
    }

    /// The slot of a key that is not one string, inserting a new key.
    fn slot_of_key(&mut self, values: &Values) -> Option<usize> {
        let key = Key(self.key.iter().map(|&i| values[i].clone()).collect());
        let next = self.rows.len();
        match self.others.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(next);
                None
            }
        }
    }

    /// Takes every held-back tuple with its weight, in first-seen order of
    /// their keys; the combiner starts empty again.
    pub fn drain(&mut self) -> impl Iterator<Item = (Values, u64)> {
        self.words.clear();
        self.others.clear();
        let rows = std::mem::take(&mut self.rows);
        let weights = std::mem::take(&mut self.weights);
        rows.into_iter().zip(weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(w: &str, n: i64) -> Values {
        vec![Value::from(w), Value::Int(n)]
    }

    #[test]
    fn count_merges_equal_words_and_keeps_the_first_values() {
        let mut c = Combiner::new(Merge::Count, vec![0]);
        for (w, n) in [("a", 1), ("b", 2), ("a", 3), ("a", 4)] {
            c.add(word(w, n));
        }
        assert_eq!(c.len(), 2);
        let out: Vec<_> = c.drain().collect();
        assert_eq!(out, vec![(word("a", 1), 3), (word("b", 2), 1)]);
        assert_eq!(c.len(), 0);
        c.add(word("a", 9));
        assert_eq!(c.drain().collect::<Vec<_>>(), vec![(word("a", 9), 1)]);
    }

    #[test]
    fn latest_keeps_the_last_tuple_of_each_key() {
        let mut c = Combiner::new(Merge::Latest, vec![0]);
        for (w, n) in [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3)] {
            c.add(word(w, n));
        }
        let out: Vec<_> = c.drain().map(|(v, _)| v).collect();
        assert_eq!(out, vec![word("a", 3), word("b", 2)]);
    }

    #[test]
    fn keys_of_several_fields_or_other_types_are_merged_by_value() {
        let mut c = Combiner::new(Merge::Count, vec![0, 1]);
        let row = |a: i64, b: &str| vec![Value::Int(a), Value::from(b), Value::Null];
        for (a, b) in [(1, "x"), (1, "y"), (1, "x"), (2, "x"), (1, "x")] {
            c.add(row(a, b));
        }
        let out: Vec<_> = c.drain().collect();
        assert_eq!(out, vec![(row(1, "x"), 3), (row(1, "y"), 1), (row(2, "x"), 1)]);
    }
}
