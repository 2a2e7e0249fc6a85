//! Opening a [`KafkaSpout`] task: the partitions dealt to it, each sought
//! to its checkpointed offset or the start position, and the end offsets
//! when bounded. Reading is in [`super::read`].

use std::collections::BTreeMap;
use std::time::Instant;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use squall::{Result, TopologyContext};

use super::{kafka_error, Acks, KafkaSpout, Open, PartitionPosition, StartFrom, REQUEST_TIMEOUT};
use crate::kafka_partitions::{owner, Subscription};
use crate::kafka_watermarks::PartitionWatermarks;

impl KafkaSpout {
    /// [`squall::Spout::open`]'s work; blocks on broker requests.
    pub(super) fn open_blocking(&mut self, context: &TopologyContext) -> Result<()> {
        let task = format!("{}-{}", context.topology_name(), context.component_id());
        let consumer: BaseConsumer =
            self.client_config(&task).create().map_err(|e| kafka_error("consumer", e))?;
        let subscription =
            Subscription::new(&self.options.topics, self.options.topic_pattern.as_deref())?;
        let all = subscription.discover(&consumer, &self.options.brokers, REQUEST_TIMEOUT)?;
        let (i, n) = (context.task_index(), context.parallelism());
        let mine: Vec<(String, i32)> =
            all.into_iter().filter(|(t, p)| owner(t, *p, n) == i).collect();

        // Union state: every task's positions; this task keeps its own
        // partitions' (a rescale moves partitions between tasks).
        let positions =
            context.union_operator_list_state::<PartitionPosition>("kafka-partitions")?;
        let restored: BTreeMap<(String, i32), PartitionPosition> = positions
            .get()?
            .into_iter()
            .filter(|p| owner(&p.topic, p.partition, n) == i)
            .map(|p| ((p.topic.clone(), p.partition), p))
            .collect();
        let mut assignment = TopicPartitionList::new();
        for (topic, partition) in &mine {
            let offset = match (restored.get(&(topic.clone(), *partition)), self.options.start_from)
            {
                (Some(p), _) => Offset::Offset(p.next),
                (None, StartFrom::Earliest) => Offset::Beginning,
                (None, StartFrom::Latest) => Offset::End,
                (None, StartFrom::GroupOffsets) => Offset::Stored,
                (None, StartFrom::Timestamp(_)) => Offset::Beginning,
            };
            assignment
                .add_partition_offset(topic, *partition, offset)
                .map_err(|e| kafka_error("assignment", e))?;
        }
        if let (StartFrom::Timestamp(ts), true) = (self.options.start_from, restored.is_empty()) {
            let mut query = TopicPartitionList::new();
            for (topic, partition) in &mine {
                query.add_partition_offset(topic, *partition, Offset::Offset(ts)).ok();
            }
            assignment = consumer
                .offsets_for_times(query, REQUEST_TIMEOUT)
                .map_err(|e| kafka_error("offsets for timestamp", e))?;
        }
        // Resolve every start position to a number, so that positions and
        // lag are known before the first record.
        let mut next = BTreeMap::new();
        for elem in assignment.elements() {
            let (low, high) = consumer
                .fetch_watermarks(elem.topic(), elem.partition(), REQUEST_TIMEOUT)
                .map_err(|e| {
                    kafka_error(&format!("offsets of {}/{}", elem.topic(), elem.partition()), e)
                })?;
            let at = match elem.offset() {
                Offset::Offset(o) => o,
                Offset::End => high,
                Offset::Stored => {
                    let committed = consumer
                        .committed_offsets(
                            {
                                let mut l = TopicPartitionList::new();
                                l.add_partition(elem.topic(), elem.partition());
                                l
                            },
                            REQUEST_TIMEOUT,
                        )
                        .map_err(|e| kafka_error("group offsets", e))?;
                    match committed.elements().first().map(|e| e.offset()) {
                        Some(Offset::Offset(o)) => o,
                        _ => low,
                    }
                }
                _ => low,
            };
            next.insert((elem.topic().to_string(), elem.partition()), at);
        }
        let mut seek = TopicPartitionList::new();
        for ((topic, partition), at) in &next {
            seek.add_partition_offset(topic, *partition, Offset::Offset(*at))
                .map_err(|e| kafka_error("assignment", e))?;
        }
        consumer.assign(&seek).map_err(|e| kafka_error("assign", e))?;
        let end = if self.options.bounded {
            let mut end = BTreeMap::new();
            for (topic, partition) in next.keys() {
                let (_, high) = consumer
                    .fetch_watermarks(topic, *partition, REQUEST_TIMEOUT)
                    .map_err(|e| kafka_error("end offsets", e))?;
                end.insert((topic.clone(), *partition), high);
            }
            Some(end)
        } else {
            None
        };
        let discover = !self.options.bounded && self.options.partition_discovery_ms > 0;
        let mut watermarks = self
            .options
            .watermark
            .map(|w| PartitionWatermarks::new(w, self.options.idle_partition_ms));
        if let Some(w) = watermarks.as_mut() {
            for key in next.keys() {
                w.add(&key.0, key.1);
                if let Some(ts) = restored.get(key).and_then(|p| p.max_event_time) {
                    w.on_record(key, ts);
                }
            }
        }
        let mut open = Open {
            consumer,
            subscription,
            task: (i, n),
            discovered: discover.then(Instant::now),
            watermarks,
            next,
            end,
            positions,
            snapshot: Vec::new(),
            last_lag: Instant::now(),
            metrics: context.metrics(),
            acks: context.config().tracking().then(Acks::default),
            last_commit: Instant::now(),
        };
        self.refresh_lag(&mut open);
        self.open = Some(open);
        Ok(())
    }
}
