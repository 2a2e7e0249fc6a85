//! Partitioners: the physical form of a grouping, choosing the consumer task
//! of each tuple.

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::keys;
use crate::model::Value;

/// Where one tuple goes among the consumer's tasks (indices, not ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    One(usize),
    All,
}

/// Storm's shuffle: a randomized round robin. The task order is shuffled,
/// walked through, and shuffled again, so every task gets an equal share
/// and no pattern in the input maps onto a pattern of tasks.
#[derive(Debug)]
pub(crate) struct Shuffle {
    order: Vec<usize>,
    next: usize,
    rng: SmallRng,
}

impl Shuffle {
    pub fn new(tasks: usize, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..tasks).collect();
        order.shuffle(&mut rng);
        Shuffle { order, next: 0, rng }
    }

    fn pick(&mut self) -> usize {
        if self.next == self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.next = 0;
        }
        let t = self.order[self.next];
        self.next += 1;
        t
    }
}

/// The physical partitioner of one edge, as seen from one producer task.
#[derive(Debug)]
pub(crate) enum Partitioner {
    Shuffle(Shuffle),
    /// Hash of the values at `indices` -> key group -> task.
    Fields {
        indices: Vec<usize>,
        tasks: usize,
        max_parallelism: usize,
    },
    All,
    Global,
    /// The emitter names the task; see `OutputCollector::emit_direct`.
    Direct,
    /// Producer task i to consumer task i.
    Forward(usize),
}

impl Partitioner {
    /// The consumer task index for `values`. `Direct` is resolved by the
    /// collector and never reaches here.
    pub fn select(&mut self, values: &[Value]) -> Target {
        match self {
            Partitioner::Shuffle(s) => Target::One(s.pick()),
            Partitioner::Fields { indices, tasks, max_parallelism } => {
                let hash = keys::key_hash(indices.iter().map(|&i| &values[i]));
                let group = keys::key_group(hash, *max_parallelism);
                Target::One(keys::task_for_key_group(group, *tasks, *max_parallelism))
            }
            Partitioner::All => Target::All,
            Partitioner::Global | Partitioner::Direct => Target::One(0),
            Partitioner::Forward(i) => Target::One(*i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_exactly_balanced_per_round() {
        let mut s = Shuffle::new(5, 42);
        let mut counts = [0usize; 5];
        for _ in 0..5 * 1000 {
            counts[s.pick()] += 1;
        }
        assert_eq!(counts, [1000; 5]);
    }

    #[test]
    fn fields_sends_equal_keys_to_one_task() {
        let mut p = Partitioner::Fields { indices: vec![1], tasks: 7, max_parallelism: 128 };
        let a = p.select(&[Value::Int(1), Value::from("k")]);
        let b = p.select(&[Value::Int(2), Value::from("k")]);
        assert_eq!(a, b);
    }
}
