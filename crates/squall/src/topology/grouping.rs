//! [`Grouping`]: how an edge routes a stream's tuples to the consumer's tasks.

use crate::model::Fields;

/// Storm's stream groupings, plus Flink's `Forward`.
#[derive(Debug, Clone, PartialEq)]
pub enum Grouping {
    /// Tuples are spread over the consumer's tasks in a randomized round
    /// robin, so that each task gets an equal share.
    Shuffle,
    /// Tuples with equal values in these fields go to the same task (by a
    /// stable hash into key groups, see [`crate::keys`]).
    Fields(Fields),
    /// Every task of the consumer gets a copy of every tuple.
    All,
    /// Every tuple goes to the consumer's task with the lowest id.
    Global,
    /// The emitter chooses the task with `emit_direct`; the stream must be
    /// declared direct.
    Direct,
    /// Prefer a task in the same worker, else shuffle. In one process, a
    /// producer and consumer of equal parallelism are chained (task i feeds
    /// task i with no channel); otherwise it shuffles.
    LocalOrShuffle,
    /// The consumer does not care: currently a shuffle, as in Storm.
    None,
    /// Task i of the producer feeds task i of the consumer (Flink's forward
    /// partitioner); requires equal parallelism. Such edges are chained.
    Forward,
}

impl Grouping {
    /// The grouping's name as written in YAML topologies.
    pub fn name(&self) -> &'static str {
        match self {
            Grouping::Shuffle => "shuffle",
            Grouping::Fields(_) => "fields",
            Grouping::All => "all",
            Grouping::Global => "global",
            Grouping::Direct => "direct",
            Grouping::LocalOrShuffle => "local_or_shuffle",
            Grouping::None => "none",
            Grouping::Forward => "forward",
        }
    }
}

/// One input of a bolt: a producer's stream and how it is grouped.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDecl {
    /// The producing component's id.
    pub component: String,
    /// The producer's stream.
    pub stream: String,
    /// How tuples are routed to this bolt's tasks.
    pub grouping: Grouping,
}
