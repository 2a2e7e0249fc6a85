//! Reading a [`KafkaSpout`] task's partitions: records polled, decoded
//! and emitted (bad ones to the error stream; with `at_least_once` tracked,
//! failed ones emitted again first), positions and watermarks advanced,
//! acked offsets committed, the lag gauge refreshed, new partitions looked
//! for.

use std::time::{Duration, Instant};

use rdkafka::consumer::CommitMode;

use rdkafka::Message;
use squall::topology::DEFAULT_STREAM;
use squall::{OutputCollector, Result, SpoutStatus, Value};

use super::{kafka_error, KafkaSpout, COMMIT_EVERY, ERRORS_STREAM, LAG_EVERY, RECORDS_PER_CALL};
use crate::kafka_watermarks::PartitionWatermarks;

impl KafkaSpout {
    /// [`squall::Spout::next_tuple`]'s work: up to [`RECORDS_PER_CALL`]
    /// records, waiting 10 ms at most for the first.
    pub(super) fn next_tuple_blocking(
        &mut self,
        collector: &mut OutputCollector,
    ) -> Result<SpoutStatus> {
        let format = self.options.format.clone();
        let mut open = self.open.take().expect("opened");
        let result = (|| {
            // At-least-once: failed tuples first, with their ids.
            if let Some(acks) = open.acks.as_mut() {
                let mut replayed = 0;
                while replayed < RECORDS_PER_CALL {
                    let Some((id, values)) = acks.next_replay() else { break };
                    collector.emit_with_id(DEFAULT_STREAM, values, id)?;
                    replayed += 1;
                }
                if replayed > 0 {
                    return Ok(SpoutStatus::Active);
                }
            }
            if let Some(end) = &open.end {
                if end.iter().all(|(tp, e)| open.next.get(tp).is_some_and(|n| n >= e)) {
                    self.refresh_lag(&mut open);
                    return Ok(SpoutStatus::Finished);
                }
            }
            let mut read = 0;
            while read < RECORDS_PER_CALL {
                let timeout = if read == 0 { Duration::from_millis(10) } else { Duration::ZERO };
                let Some(message) = open.consumer.poll(timeout) else { break };
                let message = message.map_err(|e| kafka_error("poll", e))?;
                read += 1;
                // (topic, partition): the key of every per-partition map.
                let key = (message.topic().to_string(), message.partition());
                let offset = message.offset();
                if open.end.as_ref().is_some_and(|end| end.get(&key).is_some_and(|e| offset >= *e))
                {
                    continue; // past the bound: left for a later run
                }
                let event_time = open.watermarks.as_mut().map(|w| {
                    let ts = message.timestamp().to_millis().unwrap_or(0);
                    w.on_record(&key, ts);
                    ts
                });
                match format.decode(message.payload()) {
                    Ok(rows) => {
                        for mut row in rows {
                            if let Some(ts) = event_time {
                                row.push(Value::Timestamp(ts));
                            }
                            match open.acks.as_mut() {
                                Some(acks) => {
                                    let id = acks.track(&key, offset, row.clone());
                                    collector.emit_with_id(DEFAULT_STREAM, row, id)?;
                                }
                                None => collector.emit_to(DEFAULT_STREAM, row)?,
                            }
                        }
                    }
                    Err(reason) => collector.emit_to(
                        ERRORS_STREAM,
                        vec![
                            Value::String(key.0.clone()),
                            Value::Int(key.1.into()),
                            Value::Int(offset),
                            Value::String(reason),
                        ],
                    )?,
                }
                open.next.insert(key, offset + 1);
            }
            if let Some(w) = open.watermarks.as_mut().and_then(PartitionWatermarks::advance) {
                collector.emit_watermark(w);
            }
            if open.acks.is_some() && open.last_commit.elapsed() >= COMMIT_EVERY {
                open.last_commit = Instant::now();
                open.commit_acked(CommitMode::Async);
            }
            if open.last_lag.elapsed() >= LAG_EVERY {
                self.refresh_lag(&mut open);
            }
            let every = Duration::from_millis(self.options.partition_discovery_ms);
            if open.discovered.is_some_and(|at| at.elapsed() >= every) {
                self.discover(&mut open)?;
            }
            Ok(if read == 0 { SpoutStatus::Idle } else { SpoutStatus::Active })
        })();
        self.open = Some(open);
        result
    }
}
