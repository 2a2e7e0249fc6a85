//! Which Kafka partitions a [`crate::KafkaSpout`] task reads: the topics
//! named and those matching a pattern ([`Subscription`]), found again every
//! discovery interval so that partitions and topics added while the spout
//! runs are read too, and dealt to tasks by [`owner`] so that a partition
//! keeps its task when others appear (Flink's `KafkaSourceEnumerator`).
//!
//! Does not own offsets or reading: the spout seeks and polls.

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use regex::Regex;
use squall::{Error, Result};

/// The topics a spout reads: named ones, and every topic whose whole name
/// matches `pattern` (a regular expression, `regex` crate syntax).
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    topics: Vec<String>,
    pattern: Option<Regex>,
}

impl Subscription {
    /// # Errors
    /// [`Error::Config`] when `pattern` is not a regular expression, or
    /// neither topics nor a pattern are given.
    pub(crate) fn new(topics: &[String], pattern: Option<&str>) -> Result<Subscription> {
        let pattern = pattern
            .map(|p| {
                Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                    Error::config(format!("kafka spout: topic_pattern '{p}' is not a regex: {e}"))
                })
            })
            .transpose()?;
        if topics.is_empty() && pattern.is_none() {
            return Err(Error::config("kafka spout: give topics, a topic_pattern or both"));
        }
        Ok(Subscription { topics: topics.to_vec(), pattern })
    }

    /// Every (topic, partition) subscribed, sorted. A named topic must
    /// exist; a pattern may match none yet.
    ///
    /// # Errors
    /// [`Error::Config`] naming the brokers when metadata cannot be read
    /// within `timeout`, or a named topic that does not exist.
    pub(crate) fn discover(
        &self,
        consumer: &BaseConsumer,
        brokers: &str,
        timeout: Duration,
    ) -> Result<Vec<(String, i32)>> {
        let mut found = BTreeSet::new();
        for topic in &self.topics {
            let metadata = consumer.fetch_metadata(Some(topic), timeout).map_err(|e| {
                Error::config(format!("kafka spout: metadata of {topic} from {brokers}: {e}"))
            })?;
            let t = &metadata.topics()[0];
            if t.error().is_some() || t.partitions().is_empty() {
                return Err(Error::config(format!("kafka spout: topic {topic}: does not exist")));
            }
            found.extend(t.partitions().iter().map(|p| (topic.clone(), p.id())));
        }
        if let Some(pattern) = &self.pattern {
            let metadata = consumer
                .fetch_metadata(None, timeout)
                .map_err(|e| Error::config(format!("kafka spout: metadata from {brokers}: {e}")))?;
            for t in metadata.topics() {
                if t.error().is_none() && pattern.is_match(t.name()) {
                    found.extend(t.partitions().iter().map(|p| (t.name().to_string(), p.id())));
                }
            }
        }
        Ok(found.into_iter().collect())
    }
}

/// The task (of `parallelism`) that reads `partition` of `topic`: the
/// topic's partitions go round robin from a start task given by the
/// topic's name, as Flink's `KafkaSourceEnumerator.getSplitOwner` deals
/// them. A partition's owner depends on nothing else, so partitions found
/// later never move the ones already read.
///
/// # Panics
/// If `parallelism` is 0.
pub(crate) fn owner(topic: &str, partition: i32, parallelism: usize) -> usize {
    // Java's `String.hashCode` over the name's UTF-16 units, so that a topic
    // starts at the same task as in Flink.
    let hash = topic.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    let start = (hash.wrapping_mul(31) & 0x7FFF_FFFF) as usize % parallelism;
    (start + partition.max(0) as usize) % parallelism
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topics_partitions_spread_evenly_over_the_tasks() {
        for n in 1..=5 {
            let mut per_task = vec![0; n];
            for p in 0..20 {
                per_task[owner("events", p, n)] += 1;
            }
            let (min, max) = (per_task.iter().min().unwrap(), per_task.iter().max().unwrap());
            assert!(max - min <= 1, "{n} tasks: {per_task:?}");
        }
    }

    #[test]
    fn partition_0_starts_at_flinks_task() {
        // Computed by Java 17: ((s.hashCode() * 31) & 0x7FFFFFFF) % n, with
        // "events".hashCode() = -1291329255, "lines".hashCode() = 102977279.
        assert_eq!(owner("events", 0, 4), 3);
        assert_eq!(owner("events", 0, 3), 2);
        assert_eq!(owner("lines", 0, 4), 1);
        assert_eq!(owner("lines", 2, 4), 3);
    }

    #[test]
    fn a_bad_pattern_or_nothing_to_read_is_refused_naming_it() {
        let e = Subscription::new(&[], Some("events-(")).unwrap_err().to_string();
        assert!(e.contains("topic_pattern 'events-('"), "{e}");
        let e = Subscription::new(&[], None).unwrap_err().to_string();
        assert!(e.contains("topics, a topic_pattern"), "{e}");
        let s = Subscription::new(&[], Some("events-.*")).unwrap();
        let p = s.pattern.unwrap();
        assert!(p.is_match("events-a") && !p.is_match("old-events-a"));
    }
}
