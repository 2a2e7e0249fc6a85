//! Per-partition watermarks of a [`crate::KafkaSpout`] task (Flink's
//! `KafkaSource` generates watermarks per split): each partition keeps its
//! own [`WatermarkGenerator`] over its records' timestamps, and the task's
//! watermark is the minimum over its partitions, so a partition that is
//! behind in event time holds the task back instead of seeing its records
//! arrive late. A partition with no record for `idle_ms` stops counting
//! until it has one again (Flink's `withIdleness`).
//!
//! Does not own emission: the spout asks [`PartitionWatermarks::advance`]
//! after each poll and emits what it returns.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use squall::time::{WatermarkGenerator, WatermarkStrategy};

struct Partition {
    generator: WatermarkGenerator,
    last_record: Instant,
    /// The highest record timestamp seen (ms).
    max_ts: Option<i64>,
}

/// The watermarks of one task's partitions.
pub(crate) struct PartitionWatermarks {
    strategy: WatermarkStrategy,
    idle: Option<Duration>,
    partitions: BTreeMap<(String, i32), Partition>,
    emitted: Option<i64>,
}

impl PartitionWatermarks {
    pub(crate) fn new(strategy: WatermarkStrategy, idle_ms: Option<u64>) -> Self {
        PartitionWatermarks {
            strategy,
            idle: idle_ms.map(Duration::from_millis),
            partitions: BTreeMap::new(),
            emitted: None,
        }
    }

    /// This task reads `partition` of `topic` from now on; until its first
    /// record it holds the watermark back (unless idle).
    pub(crate) fn add(&mut self, topic: &str, partition: i32) {
        self.partitions.entry((topic.to_string(), partition)).or_insert_with(|| Partition {
            generator: self.strategy.generator(),
            last_record: Instant::now(),
            max_ts: None,
        });
    }

    /// The highest record timestamp (ms) of partition `key` so far: what a
    /// checkpoint keeps, so that a restored generator starts from it.
    pub(crate) fn max_event_time(&self, key: &(String, i32)) -> Option<i64> {
        self.partitions.get(key).and_then(|p| p.max_ts)
    }

    /// A record of partition `key` (topic, partition) with event time `ts`
    /// (ms). One map lookup, no allocation, for a partition already added.
    pub(crate) fn on_record(&mut self, key: &(String, i32), ts: i64) {
        self.on_record_at(key, ts, Instant::now());
    }

    fn on_record_at(&mut self, key: &(String, i32), ts: i64, at: Instant) {
        if !self.partitions.contains_key(key) {
            self.add(&key.0, key.1);
        }
        if let Some(p) = self.partitions.get_mut(key) {
            p.max_ts = Some(p.max_ts.map_or(ts, |m| m.max(ts)));
            p.generator.on_event(ts);
            p.last_record = at;
        }
    }

    /// The task's watermark if it rose since the last call: the minimum
    /// over partitions that are not idle; `None` while one of them has no
    /// record yet, or every partition is idle.
    pub(crate) fn advance(&mut self) -> Option<i64> {
        self.advance_at(Instant::now())
    }

    fn advance_at(&mut self, now: Instant) -> Option<i64> {
        let mut min: Option<i64> = None;
        for p in self.partitions.values() {
            if self.idle.is_some_and(|idle| now.duration_since(p.last_record) >= idle) {
                continue;
            }
            let w = p.generator.current()?;
            min = Some(min.map_or(w, |m| m.min(w)));
        }
        let w = min?;
        if self.emitted.is_some_and(|e| e >= w) {
            return None;
        }
        self.emitted = Some(w);
        Some(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(topic: &str, partition: i32) -> (String, i32) {
        (topic.to_string(), partition)
    }

    #[test]
    fn the_slowest_partition_sets_the_watermark() {
        let mut w = PartitionWatermarks::new(WatermarkStrategy::Monotonous, None);
        w.add("t", 0);
        w.add("t", 1);
        w.on_record(&k("t", 0), 5_000);
        assert_eq!(w.advance(), None, "partition 1 has no record yet");
        w.on_record(&k("t", 1), 1_000);
        assert_eq!(w.advance(), Some(999));
        w.on_record(&k("t", 0), 9_000);
        assert_eq!(w.advance(), None, "partition 1 still at 1000");
        w.on_record(&k("t", 1), 2_000);
        assert_eq!(w.advance(), Some(1_999));
    }

    #[test]
    fn bounded_out_of_orderness_applies_per_partition() {
        let strategy = WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: 100 };
        let mut w = PartitionWatermarks::new(strategy, None);
        w.on_record(&k("a", 0), 1_000);
        w.on_record(&k("b", 0), 3_000);
        w.on_record(&k("a", 0), 900);
        assert_eq!(w.advance(), Some(899), "min(1000, 3000) - 100 - 1");
    }

    #[test]
    fn an_idle_partition_stops_holding_the_others_back_until_it_has_a_record() {
        let start = Instant::now();
        let ms = |n| start + Duration::from_millis(n);
        let mut w = PartitionWatermarks::new(WatermarkStrategy::Monotonous, Some(50));
        w.add("t", 0);
        w.on_record_at(&k("t", 1), 7_000, ms(10));
        assert_eq!(w.advance_at(ms(20)), None, "partition 0: no record, not idle yet");
        w.on_record_at(&k("t", 1), 8_000, ms(60));
        assert_eq!(w.advance_at(ms(70)), Some(7_999), "partition 0 idle since 50 ms");
        w.on_record_at(&k("t", 0), 3_000, ms(80));
        w.on_record_at(&k("t", 1), 9_000, ms(80));
        assert_eq!(w.advance_at(ms(90)), None, "partition 0 counts again: 2999 < 7999");
        w.on_record_at(&k("t", 0), 8_500, ms(95));
        assert_eq!(w.advance_at(ms(100)), Some(8_499));
    }
}
