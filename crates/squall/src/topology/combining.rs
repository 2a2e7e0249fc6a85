//! [`InputCombining`]: what a bolt lets its producers pre-aggregate before
//! the shuffle (local-global aggregation).

use crate::model::Fields;
use crate::window::{AggregateSpec, WindowAssigner};

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
    /// Tuples with equal values of the key fields whose event times fall
    /// into one slice of the windows (see [`WindowCombining`]) may be
    /// merged into one partial aggregate: a window bolt's local
    /// aggregation, Flink SQL's two-phase window aggregation. For
    /// [`crate::builtins::WindowBolt`].
    Window(WindowCombining),
}

/// What a producer may merge for a windowed aggregation: tuples of one key
/// and one slice of event time (all of whose times belong to the same
/// windows; see [`WindowAssigner`]), into one tuple that keeps the first
/// tuple's values except the aggregated fields, which hold the partial
/// aggregate, and whose [`crate::Tuple::weight`] is the number of tuples
/// it stands for:
///
/// - `sum` and `avg` fields hold the sum (ints while every value is an
///   int and the sum does not overflow, else floats: a float sum may then
///   differ in its last bits, as with any change in the order of addition),
/// - `min` and `max` fields hold the smallest or largest value,
/// - `count` is the weight.
///
/// Only tuples that the consumer will certainly put into open, unfired
/// windows are merged: their first window ends after the last watermark
/// the producer sent, their event time and aggregated fields have types
/// the aggregates take, and no aggregated field is null. Every other tuple
/// (a late one, a bad one) travels on its own, so that late-data and error
/// outputs see it as it was. Windows that fire on counts, early or in
/// processing time, session and global windows, and a field that two
/// kinds of aggregate read in different ways (a sum and a min), are not
/// combined: the bolt then asks for none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCombining {
    /// The key fields (may be empty: one window set over all tuples).
    pub key: Fields,
    /// The field holding the event time (a timestamp or an int, ms).
    pub time_field: String,
    /// The windows (tumbling or sliding).
    pub window: WindowAssigner,
    /// The aggregates the bolt computes.
    pub aggregates: Vec<AggregateSpec>,
}

impl InputCombining {
    /// The key fields.
    pub fn key(&self) -> &Fields {
        match self {
            InputCombining::Count(key) | InputCombining::Latest(key) => key,
            InputCombining::Window(w) => &w.key,
        }
    }
}
