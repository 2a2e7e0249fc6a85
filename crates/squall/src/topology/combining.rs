//! [`InputCombining`]: what a bolt lets its producers pre-aggregate before
//! the shuffle (local-global aggregation).

use crate::model::Fields;

/// How the producers of a bolt may combine the tuples they send it, before
/// the shuffle and between flushes of their output buffers: Flink SQL's
/// local-global aggregation and mini-batch, Spark's partial aggregation,
/// MapReduce's combiner. A bolt declares it with
/// [`crate::Bolt::input_combining`]; the default is none.
///
/// Combining happens inside a producer task, over what it emits between two
/// flushes of its output buffers (at most `buffer_timeout_ms`, and always
/// before a watermark, a checkpoint barrier or the end of input is sent),
/// for at most a bounded number of distinct keys at a time. It never
/// changes which task receives a key, what a barrier's snapshot holds, or a
/// bolt's final result; it changes only how many tuples travel. The engine
/// applies it only where it is exact:
///
/// - the edge is untracked (`at_most_once` or `exactly_once`: a tuple of
///   a tracked tree is never merged with another),
/// - the stream is not direct and the emitting call does not ask for its
///   target tasks,
/// - every tuple with the same key goes to the same consumer task: a fields
///   grouping on some of the key's fields, a global or all grouping, or a
///   consumer of parallelism 1,
/// - the topology's `local_aggregation` config is on (it is off by
///   default: see [`crate::TopologyConfig::local_aggregation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputCombining {
    /// Tuples with equal values of these fields may be merged into one,
    /// whose [`crate::Tuple::weight`] is the number of tuples it stands for
    /// (the first tuple's values are kept). For a bolt that counts
    /// occurrences of a key and reads nothing else of its input, such as
    /// [`crate::builtins::CountBolt`].
    Count(Fields),
    /// Of tuples with equal values of these fields, only the last one need
    /// arrive: an upsert stream, for a bolt that keeps the latest value per
    /// key, such as [`crate::builtins::CountsCsvSink`].
    Latest(Fields),
}

impl InputCombining {
    /// The key fields.
    pub fn key(&self) -> &Fields {
        match self {
            InputCombining::Count(key) | InputCombining::Latest(key) => key,
        }
    }
}
