//! The [`Spout`] and [`Bolt`] traits, and how components declare their
//! output streams ([`OutputDeclarer`]).

use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::model::{Fields, Tuple};
use crate::runtime::OutputCollector;
use crate::topology::{InputCombining, TopologyContext};

/// Name of the stream that `emit` without a stream writes to.
pub const DEFAULT_STREAM: &str = "default";

/// Id a spout attaches to a tuple so that it is told, through
/// [`Spout::ack`] or [`Spout::fail`], what became of it.
pub type MessageId = u64;

/// What a spout's [`Spout::next_tuple`] call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoutStatus {
    /// It emitted (or may emit more at once): call again right away.
    Active,
    /// Nothing is available now (an unbounded source waiting, a rate limit):
    /// the executor waits briefly (about 1 ms) before calling again, as
    /// Storm's spout wait strategy does.
    Idle,
    /// A bounded source reached its end: never called again. When every
    /// spout has finished, the topology drains and stops.
    Finished,
}

/// A source of tuples, as Storm's `IRichSpout`.
///
/// One instance runs per task; the runtime clones the prototype given to the
/// builder (see [`SpoutFactory`]). All calls for one task come from one
/// executor, never concurrently.
pub trait Spout: Send + 'static {
    /// Declares the streams this spout emits, with their fields.
    fn declare_outputs(&self, declarer: &mut OutputDeclarer);

    /// Called once on the task before the first `next_tuple`.
    ///
    /// # Errors
    /// An error stops the topology before data flows, naming the task.
    fn open(&mut self, _context: &TopologyContext) -> Result<()> {
        Ok(())
    }

    /// Emits zero or more tuples through `collector` and says whether more
    /// may follow. Must not block for long: return [`SpoutStatus::Idle`]
    /// when nothing is available.
    ///
    /// With tracking (`at_least_once`), a spout that returned
    /// [`SpoutStatus::Finished`] is called again after each `fail`, so that
    /// it can replay; the task ends once it has finished and every tree is
    /// decided. It is not called while `max_spout_pending` of its tuples are
    /// in flight.
    ///
    /// # Errors
    /// An error (or a panic) stops the topology with the task named.
    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus>;

    /// The tuple tree of `msg_id` was fully processed. With tracking off
    /// (`at_most_once`), called right after the emit, as Storm does when it
    /// runs without ackers.
    fn ack(&mut self, _msg_id: MessageId) {}

    /// The tuple tree of `msg_id` failed or timed out.
    fn fail(&mut self, _msg_id: MessageId) {}

    /// Checkpoint `checkpoint_id` is being taken: record the source's
    /// position in operator state (see
    /// [`TopologyContext::operator_state`]) so that a restore rewinds to it.
    /// Called between two `next_tuple` calls, just before barrier
    /// `checkpoint_id` is emitted. A replayable spout reads the restored
    /// position back in `open`.
    ///
    /// # Errors
    /// An error declines the checkpoint.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }

    /// Checkpoint `checkpoint_id` (and every earlier one) completed.
    ///
    /// # Errors
    /// An error stops the topology with the task named.
    fn on_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }

    /// Called once when the task stops (end of input or kill).
    fn close(&mut self) {}
}

/// A consumer of tuples that may emit more, as Storm's `IRichBolt`.
/// A bolt with no consumers is a sink.
pub trait Bolt: Send + 'static {
    /// Declares the streams this bolt emits. Sinks declare none.
    fn declare_outputs(&self, _declarer: &mut OutputDeclarer) {}

    /// Called once on the task before the first `execute`.
    ///
    /// # Errors
    /// An error stops the topology, naming the task.
    fn prepare(&mut self, _context: &TopologyContext) -> Result<()> {
        Ok(())
    }

    /// Processes one input tuple, emitting through `collector`.
    ///
    /// # Errors
    /// In `at_most_once`, an error (or a panic) stops the topology with the
    /// task named. In `at_least_once`, an error fails the input (its spout
    /// tuple is replayed) and a panic restarts the task; so does
    /// [`crate::Error::TaskFailed`], for a bolt that cannot go on.
    fn execute(&mut self, input: Tuple, collector: &mut OutputCollector) -> Result<()>;

    /// Called when the task's watermark advances to `watermark` (event time,
    /// ms since the epoch): the minimum over its inputs of the watermarks
    /// they sent, `i64::MAX` once every input has ended (so that it comes
    /// before [`Bolt::finish`]). The bolt may emit, for instance the windows
    /// that end at or before `watermark`; the runtime forwards the watermark
    /// downstream after this call, behind what was emitted. Default: nothing.
    ///
    /// # Errors
    /// An error (or a panic) stops the topology with the task named; in
    /// `at_least_once` it restarts the task instead.
    fn on_watermark(&mut self, _watermark: i64, _collector: &mut OutputCollector) -> Result<()> {
        Ok(())
    }

    /// How often the runtime calls [`Bolt::on_tick`] (processing time), as
    /// Storm's tick tuples and Flink's processing-time timers. Read once,
    /// after `prepare`. Default: `None`, never.
    fn tick_interval(&self) -> Option<Duration> {
        None
    }

    /// Called about every [`Bolt::tick_interval`] with the wall-clock time
    /// (ms since the epoch), between inputs, never concurrently with them.
    /// A tick may come late when the task is busy or backpressured.
    ///
    /// # Errors
    /// An error (or a panic) stops the topology with the task named; in
    /// `at_least_once` it restarts the task instead.
    fn on_tick(&mut self, _now_ms: i64, _collector: &mut OutputCollector) -> Result<()> {
        Ok(())
    }

    /// Called once when every input of the task has ended (all upstream
    /// bounded spouts finished). The bolt may still emit; a sink writes its
    /// final result here. Not called when the topology is killed or failed.
    ///
    /// # Errors
    /// An error stops the topology with the task named.
    fn finish(&mut self, _collector: &mut OutputCollector) -> Result<()> {
        Ok(())
    }

    /// Barrier `checkpoint_id` arrived on every input: bring operator state
    /// up to date (keyed state is snapshotted by the engine). A
    /// two-phase-commit sink pre-commits here.
    ///
    /// # Errors
    /// An error declines the checkpoint and stops the topology.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }

    /// Checkpoint `checkpoint_id` and every earlier one completed: a sink
    /// commits what it pre-committed for them. Called with
    /// [`crate::checkpoint::END_OF_RUN`] after `finish` once every task of
    /// the topology has finished.
    ///
    /// # Errors
    /// An error stops the topology with the task named.
    fn on_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }

    /// Called once when the task stops, whatever the reason.
    fn cleanup(&mut self) {}

    /// How the engine acks this bolt's inputs when tuples are tracked
    /// (`at_least_once`). The default, [`AckMode::Basic`], suits a bolt
    /// that is done with each input when `execute` returns.
    fn ack_mode(&self) -> AckMode {
        AckMode::Basic
    }

    /// What this bolt lets its producers pre-aggregate before the shuffle
    /// (see [`InputCombining`]). Read once, when the topology is built.
    /// Default: `None`, every emitted tuple arrives as it was emitted.
    fn input_combining(&self) -> Option<InputCombining> {
        None
    }
}

/// A boxed bolt is a bolt (every hook passed on), so that wrappers generic
/// over `B: Bolt` also wrap the boxed bolts of a factory (see
/// [`crate::datastream::StreamEnv::wrap_operators`]).
impl Bolt for Box<dyn Bolt> {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        (**self).declare_outputs(d)
    }
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        (**self).prepare(context)
    }
    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        (**self).execute(input, c)
    }
    fn on_watermark(&mut self, watermark: i64, c: &mut OutputCollector) -> Result<()> {
        (**self).on_watermark(watermark, c)
    }
    fn tick_interval(&self) -> Option<Duration> {
        (**self).tick_interval()
    }
    fn on_tick(&mut self, now_ms: i64, c: &mut OutputCollector) -> Result<()> {
        (**self).on_tick(now_ms, c)
    }
    fn finish(&mut self, c: &mut OutputCollector) -> Result<()> {
        (**self).finish(c)
    }
    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<()> {
        (**self).snapshot_state(checkpoint_id)
    }
    fn on_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        (**self).on_checkpoint_complete(checkpoint_id)
    }
    fn cleanup(&mut self) {
        (**self).cleanup()
    }
    fn ack_mode(&self) -> AckMode {
        (**self).ack_mode()
    }
    fn input_combining(&self) -> Option<InputCombining> {
        (**self).input_combining()
    }
}

/// Who acks a bolt's inputs when tuples are tracked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AckMode {
    /// Storm's `BaseBasicBolt`: every emit during `execute` is anchored to
    /// the input, the input is acked when `execute` returns `Ok` and failed
    /// when it returns `Err`.
    #[default]
    Basic,
    /// Storm's `IRichBolt`: the bolt anchors with
    /// [`OutputCollector::emit_anchored`] and calls
    /// [`OutputCollector::ack`] / [`OutputCollector::fail`] itself, possibly
    /// later (aggregations, joins). An input never acked times out.
    Manual,
}

/// Makes one spout instance per task.
pub type SpoutFactory = Arc<dyn Fn() -> Box<dyn Spout> + Send + Sync>;
/// Makes one bolt instance per task.
pub type BoltFactory = Arc<dyn Fn() -> Box<dyn Bolt> + Send + Sync>;

/// One declared output stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDecl {
    /// Stream id, unique within the component.
    pub id: String,
    /// The stream's fields.
    pub fields: Fields,
    /// Whether tuples on it are sent with `emit_direct` to chosen tasks.
    pub direct: bool,
}

/// Collects the streams a component declares (Storm's
/// `OutputFieldsDeclarer`).
#[derive(Debug, Default, Clone)]
pub struct OutputDeclarer {
    streams: Vec<StreamDecl>,
}

impl OutputDeclarer {
    /// Declares the default stream with `fields`.
    pub fn declare(&mut self, fields: Fields) {
        self.declare_stream(DEFAULT_STREAM, fields);
    }

    /// Declares a named stream with `fields`.
    pub fn declare_stream(&mut self, id: impl Into<String>, fields: Fields) {
        self.streams.push(StreamDecl { id: id.into(), fields, direct: false });
    }

    /// Declares a direct stream: its tuples go, by `emit_direct`, to the task
    /// the emitter chooses; consumers subscribe with a direct grouping.
    pub fn declare_direct_stream(&mut self, id: impl Into<String>, fields: Fields) {
        self.streams.push(StreamDecl { id: id.into(), fields, direct: true });
    }

    /// The streams declared so far.
    pub fn streams(&self) -> &[StreamDecl] {
        &self.streams
    }

    pub(crate) fn into_streams(self) -> Vec<StreamDecl> {
        self.streams
    }
}
