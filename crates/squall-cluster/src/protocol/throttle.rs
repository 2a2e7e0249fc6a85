//! Records a process rewrites in etcd over and over (a worker's
//! [`crate::nimbus::control::WorkerReport`]): written only when they
//! changed, and at most once per period unless it is the last write.
//!
//! Every write is a new revision that etcd keeps until compacted
//! ([`crate::nimbus::compaction`]); in `scripts/soak.sh` a worker's report
//! and web UI view (one record since) were 15 of the 16 writes per second
//! (70 KiB/s) to etcd.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::protocol::store::Store;

/// Which keys were written when, with what content.
pub struct Throttle {
    every: Duration,
    /// Fields left out of the comparison (a time stamp).
    ignored: &'static [&'static str],
    written: Mutex<BTreeMap<String, (Instant, u64)>>,
}

impl Throttle {
    /// Writes at most once per `every` per key, comparing values without
    /// their top-level fields `ignored`.
    pub const fn new(every: Duration, ignored: &'static [&'static str]) -> Self {
        Throttle { every, ignored, written: Mutex::new(BTreeMap::new()) }
    }

    /// Whether `value` is to be written under `key` now: it differs from
    /// the last one written (the `ignored` fields aside), and the last
    /// write is `every` old or `last` is set. Records it as written if so.
    pub fn due<T: Serialize>(&self, key: &str, value: &T, last: bool) -> bool {
        let digest = self.digest(value);
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let due = match written.get(key) {
            None => true,
            Some(&(_, seen)) if seen == digest => false,
            Some(&(at, _)) => last || at.elapsed() >= self.every,
        };
        if due {
            written.insert(key.to_string(), (Instant::now(), digest));
        }
        due
    }

    /// Writes the value `make` gives under `NS/{key}` when [`Throttle::due`];
    /// does not make it while the last write is less than `every` old,
    /// unless `last`.
    ///
    /// # Errors
    /// [`crate::Error::Etcd`] or [`crate::Error::Record`]; the value then
    /// counts as not written.
    pub async fn put<T: Serialize>(
        &self,
        store: &Store,
        key: &str,
        last: bool,
        make: impl FnOnce() -> T,
    ) -> crate::Result<()> {
        let written = self.written.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied();
        if !last && written.is_some_and(|(at, _)| at.elapsed() < self.every) {
            return Ok(());
        }
        let value = make();
        if !self.due(key, &value, last) {
            return Ok(());
        }
        let written = store.put(key, &value, None).await;
        if written.is_err() {
            self.written.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        }
        written
    }

    fn digest<T: Serialize>(&self, value: &T) -> u64 {
        let mut json = serde_json::to_value(value).unwrap_or_default();
        if let Some(fields) = json.as_object_mut() {
            for field in self.ignored {
                fields.remove(*field);
            }
        }
        let mut hasher = DefaultHasher::new();
        json.to_string().hash(&mut hasher);
        hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Throttle;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn an_unchanged_value_is_never_due_and_a_changed_one_once_per_period_or_when_last() {
        let throttle = Throttle::new(Duration::from_secs(3600), &["at_ms"]);
        assert!(throttle.due("k", &json!({"n": 1, "at_ms": 1}), false));
        // Only the time stamp changed.
        assert!(!throttle.due("k", &json!({"n": 1, "at_ms": 2}), false));
        assert!(!throttle.due("k", &json!({"n": 1, "at_ms": 3}), true));
        // Changed, within the period: not before the last write.
        assert!(!throttle.due("k", &json!({"n": 2, "at_ms": 4}), false));
        assert!(throttle.due("k", &json!({"n": 2, "at_ms": 5}), true));
        // Another key has its own history.
        assert!(throttle.due("other", &json!({"n": 2}), false));
        let every = Throttle::new(Duration::ZERO, &[]);
        assert!(every.due("k", &json!(1), false));
        assert!(every.due("k", &json!(2), false));
        assert!(!every.due("k", &json!(2), false));
    }
}
