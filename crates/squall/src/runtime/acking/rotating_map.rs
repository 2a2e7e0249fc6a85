//! [`RotatingMap`]: a map whose entries expire after a number of
//! rotations, with the semantics of Storm's `RotatingMap`, used by the acker
//! ledger and the spouts' pending tuples.
//!
//! Owns no clock: the owner calls [`RotatingMap::rotate`] every period, so
//! tests drive time by hand. With `n` buckets and a rotation every `p`, an
//! entry expires after between `(n - 1) * p` and `n * p`.
//!
//! Storm keeps `n` hash maps and drops the oldest on each rotation; a lookup
//! then searches up to `n` maps. Here one map stamps each entry with the
//! rotation it was inserted in, so every operation is one hash lookup, and a
//! rotation scans the map once (the map is bounded by `max_spout_pending`
//! and rotations are seconds apart, so the scan is cheap).

use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::RandomState;

/// A map of `K` to `V` whose entries expire on their `n`th rotation.
#[derive(Debug)]
pub(crate) struct RotatingMap<K, V> {
    /// Entries with the rotation count at their insertion.
    map: HashMap<K, (u64, V), RandomState>,
    /// Rotations so far.
    epoch: u64,
    buckets: u64,
}

impl<K: Hash + Eq + Copy, V> RotatingMap<K, V> {
    /// A map whose entries live `buckets` rotations.
    ///
    /// # Panics
    /// If `buckets < 2` (an entry must survive at least one rotation).
    pub fn new(buckets: usize) -> Self {
        assert!(buckets >= 2, "a rotating map needs at least 2 buckets");
        RotatingMap { map: HashMap::default(), epoch: 0, buckets: buckets as u64 }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Inserts `key` (as new: an existing entry is replaced and renewed).
    pub fn insert(&mut self, key: K, value: V) {
        self.map.insert(key, (self.epoch, value));
    }

    /// The entry of `key`, created with `make` if absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let epoch = self.epoch;
        &mut self.map.entry(key).or_insert_with(|| (epoch, make())).1
    }

    /// Removes and returns the entry of `key`.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key).map(|(_, v)| v)
    }

    /// One period passed: removes and returns the entries inserted
    /// `buckets` rotations ago or earlier; they expired.
    pub fn rotate(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        self.epoch += 1;
        let (epoch, buckets) = (self.epoch, self.buckets);
        let expired: Vec<K> = self
            .map
            .iter()
            .filter(|(_, (born, _))| epoch - born >= buckets)
            .map(|(k, _)| *k)
            .collect();
        expired.into_iter().map(|k| {
            let (_, v) = self.map.remove(&k).expect("just listed");
            (k, v)
        })
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_n_minus_one_to_n_rotations() {
        let mut m = RotatingMap::new(3);
        m.insert(1, "a");
        assert_eq!(m.rotate().count(), 0);
        m.insert(2, "b");
        assert_eq!(m.rotate().count(), 0);
        let expired: Vec<_> = m.rotate().collect();
        assert_eq!(expired, [(1, "a")]);
        assert_eq!(m.len(), 1);
        assert_eq!(m.rotate().collect::<Vec<_>>(), [(2, "b")]);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn get_or_insert_and_remove_find_any_bucket() {
        let mut m = RotatingMap::new(3);
        m.insert(1, 10);
        m.rotate().for_each(drop);
        *m.get_or_insert_with(1, || 0) += 1;
        *m.get_or_insert_with(2, || 20) += 1;
        assert_eq!(m.len(), 2);
        assert_eq!(m.remove(&1), Some(11));
        assert_eq!(m.remove(&1), None);
        assert_eq!(m.rotate().count(), 0);
        assert_eq!(m.rotate().count(), 0);
        assert_eq!(m.rotate().collect::<Vec<_>>(), [(2, 21)]);
        assert_eq!(m.len(), 0);
    }
}
