//! [`Message`]: what travels on a channel between two tasks.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::checkpoint::CheckpointBarrier;
use crate::model::{AnchorIds, TupleSource, Values};

/// A batch of tuples from one task's stream: the source is shared by all
/// rows, so it travels once per batch, not once per tuple.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Batch {
    pub source: Arc<TupleSource>,
    pub rows: Vec<Values>,
    /// With tracking on (`at_least_once`), the tree ids of each row,
    /// parallel to `rows`; empty otherwise, so untracked batches pay nothing.
    pub ids: Vec<AnchorIds>,
    /// With pre-aggregation before the shuffle (see
    /// [`crate::InputCombining`]), the weight of each row, parallel to
    /// `rows`; empty otherwise (every row weighs 1).
    pub weights: Vec<u64>,
}

/// One message on a task-to-task channel. Checkpoint barriers join this enum
/// with checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Message {
    /// Tuples.
    Data(Batch),
    /// Event time (ms since the epoch): the sending task promises that no
    /// later tuple on this channel has an event time at or below it.
    Watermark(i64),
    /// Checkpoint barrier n: what came before on this channel belongs to
    /// checkpoint n.
    Barrier(CheckpointBarrier),
    /// The sending task has finished; nothing follows on this channel.
    End,
}
