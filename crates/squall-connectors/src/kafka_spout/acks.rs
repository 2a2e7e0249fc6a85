//! [`Acks`]: the at-least-once bookkeeping of a [`super::KafkaSpout`] task
//! (Storm's `KafkaSpout` with its `OffsetManager`): a message id per emitted
//! tuple, the tuples to replay after a `fail`, and per partition the offset
//! up to which every record is done, the only offset that may be committed
//! to the consumer group.
//!
//! Pure: no broker, no clock. The spout polls, emits and commits.

use std::collections::{BTreeMap, HashMap, VecDeque};

use squall::topology::MessageId;
use squall::Values;

/// A (topic, partition).
pub(crate) type Partition = (String, i32);

/// One tracked tuple: the record it came from and its values (kept for a
/// replay, so at most `max_spout_pending` of them are held).
struct InFlight {
    partition: Partition,
    offset: i64,
    values: Values,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Acks {
    next_id: MessageId,
    in_flight: HashMap<MessageId, InFlight>,
    /// Per partition, per record offset: its tuples not yet acked.
    pending: BTreeMap<Partition, BTreeMap<i64, usize>>,
    /// Failed tuples, oldest first, to emit again with the same id.
    replay: VecDeque<MessageId>,
}

impl Acks {
    /// A new id for a tuple of the record at `offset` of `partition`.
    pub fn track(&mut self, partition: &Partition, offset: i64, values: Values) -> MessageId {
        self.next_id += 1;
        let id = self.next_id;
        *self.pending.entry(partition.clone()).or_default().entry(offset).or_default() += 1;
        self.in_flight.insert(id, InFlight { partition: partition.clone(), offset, values });
        id
    }

    /// Tuple `id`'s tree completed: its record is done once all its tuples
    /// are. Unknown ids (acked twice, or from before a restart) are ignored.
    pub fn ack(&mut self, id: MessageId) {
        let Some(t) = self.in_flight.remove(&id) else { return };
        let Some(offsets) = self.pending.get_mut(&t.partition) else { return };
        if let Some(n) = offsets.get_mut(&t.offset) {
            *n -= 1;
            if *n == 0 {
                offsets.remove(&t.offset);
            }
        }
    }

    /// Tuple `id` failed or timed out: it is emitted again.
    pub fn fail(&mut self, id: MessageId) {
        if self.in_flight.contains_key(&id) {
            self.replay.push_back(id);
        }
    }

    /// The next failed tuple to emit again, with its id.
    pub fn next_replay(&mut self) -> Option<(MessageId, Values)> {
        while let Some(id) = self.replay.pop_front() {
            if let Some(t) = self.in_flight.get(&id) {
                return Some((id, t.values.clone()));
            }
        }
        None
    }

    /// The offset to commit for `partition` whose next record to read is
    /// `next`: the oldest record with a tuple not yet acked, else `next`.
    /// Every record before it is done (a contiguous prefix), whatever order
    /// the acks came in.
    pub fn committable(&self, partition: &Partition, next: i64) -> i64 {
        self.pending
            .get(partition)
            .and_then(|offsets| offsets.keys().next().copied())
            .map_or(next, |oldest| oldest.min(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use squall::Value;

    fn p() -> Partition {
        ("t".to_string(), 0)
    }

    fn v(i: i64) -> Values {
        vec![Value::Int(i)]
    }

    #[test]
    fn only_the_contiguous_prefix_of_acked_records_is_committable() {
        let mut acks = Acks::default();
        let ids: Vec<_> = (0..5).map(|o| acks.track(&p(), o, v(o))).collect();
        assert_eq!(acks.committable(&p(), 5), 0);
        // Out of order: 1 and 3 acked, 0 not yet.
        acks.ack(ids[1]);
        acks.ack(ids[3]);
        assert_eq!(acks.committable(&p(), 5), 0);
        acks.ack(ids[0]);
        assert_eq!(acks.committable(&p(), 5), 2, "0 and 1 done, 2 pending");
        acks.ack(ids[2]);
        assert_eq!(acks.committable(&p(), 5), 4);
        acks.ack(ids[4]);
        assert_eq!(acks.committable(&p(), 5), 5, "all done: the next offset");
        acks.ack(ids[4]); // twice: ignored
        assert_eq!(acks.committable(&p(), 5), 5);
    }

    #[test]
    fn a_record_with_several_tuples_is_done_when_all_are() {
        let mut acks = Acks::default();
        let a = acks.track(&p(), 7, v(1));
        let b = acks.track(&p(), 7, v(2));
        acks.ack(a);
        assert_eq!(acks.committable(&p(), 8), 7);
        acks.ack(b);
        assert_eq!(acks.committable(&p(), 8), 8);
    }

    #[test]
    fn a_failed_tuple_is_replayed_with_its_id_and_holds_the_commit_back() {
        let mut acks = Acks::default();
        let a = acks.track(&p(), 0, v(10));
        let b = acks.track(&p(), 1, v(11));
        acks.fail(a);
        acks.ack(b);
        assert_eq!(acks.committable(&p(), 2), 0, "offset 0 failed: nothing committable");
        assert_eq!(acks.next_replay(), Some((a, v(10))));
        assert_eq!(acks.next_replay(), None);
        acks.ack(a);
        assert_eq!(acks.committable(&p(), 2), 2);
        // Gaps in offsets (transaction markers) do not hold the commit back.
        let c = acks.track(&p(), 5, v(15));
        assert_eq!(acks.committable(&p(), 6), 5);
        acks.ack(c);
        assert_eq!(acks.committable(&p(), 6), 6);
    }
}
