//! [`OutputCollector`]: how a spout or bolt emits, and the output buffers
//! behind it.
//!
//! `emit` never blocks: it partitions the tuple and appends it to the
//! buffer of the target task (or to the queue of a chained operator). The
//! executor sends full buffers after each call into the component, and all
//! buffers when `buffer_timeout` passes; a full channel makes that send wait,
//! which is how backpressure reaches the spout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::model::{AnchorIds, Tuple, TupleSource, Value, Values};
use crate::runtime::combiner::Combiner;
use crate::runtime::message::{Batch, Message};
use crate::runtime::partition::{Partitioner, Target};
use crate::runtime::tracking::{Anchoring, EmitTracker};
use crate::runtime::watermark::TaskTime;
use crate::topology::{MessageId, DEFAULT_STREAM};

/// The buffer and channel towards one consumer task.
pub(crate) struct OutBuffer {
    pub tx: Sender<Message>,
    pub rows: Vec<Values>,
    /// Tree ids of `rows`, parallel to it, when tracking (else empty).
    pub ids: Vec<AnchorIds>,
    /// With a combiner on the route, the weight of each row, parallel to
    /// `rows` (rows past its end weigh 1); empty otherwise.
    pub weights: Vec<u64>,
}

impl OutBuffer {
    /// Takes every row, in order, as batches of at most `batch_size` rows
    /// (a combiner's drain may hold several batches' worth); each row is
    /// moved once. The buffer keeps room for one batch.
    fn take_batches(&mut self, source: &TupleSource, batch_size: usize) -> Vec<Batch> {
        // A fresh `Arc` per batch: the consumer clones it into every tuple,
        // and a source shared by the batches of several consumers would
        // make those reference counts bounce between cores.
        let batch =
            |rows, ids, weights| Batch { source: Arc::new(source.clone()), rows, ids, weights };
        let rows = std::mem::replace(&mut self.rows, Vec::with_capacity(batch_size));
        let ids = std::mem::take(&mut self.ids);
        let weights = std::mem::take(&mut self.weights);
        if rows.len() <= batch_size {
            return vec![batch(rows, ids, weights)];
        }
        let (mut rows, mut ids, mut weights) =
            (rows.into_iter(), ids.into_iter(), weights.into_iter());
        let mut batches = Vec::with_capacity(rows.len().div_ceil(batch_size));
        while rows.len() > 0 {
            let r = rows.by_ref().take(batch_size).collect();
            // Ids and weights are empty or parallel to the rows (weights
            // may end early: the rows past them weigh 1).
            let i = ids.by_ref().take(batch_size).collect();
            let w = weights.by_ref().take(batch_size).collect();
            batches.push(batch(r, i, w));
        }
        batches
    }
}

/// Where a route delivers.
pub(crate) enum RouteTarget {
    /// To an operator chained in the same executor (global task id
    /// `task`): tuples wait here until the executor runs that operator.
    Chained { task: usize, pending: Vec<Tuple> },
    /// To the consumer's tasks over channels; `first_task` is the consumer's
    /// lowest global task id, `outs[i]` goes to its task index i.
    Channels { first_task: usize, outs: Vec<OutBuffer> },
}

/// One consumer subscription of one output stream.
pub(crate) struct Route {
    pub consumer: String,
    pub partitioner: Partitioner,
    pub target: RouteTarget,
    /// Pre-aggregation before the shuffle, when the consumer allows it
    /// exactly (see [`crate::InputCombining`]).
    pub combiner: Option<Combiner>,
}

/// One declared output stream and its subscribers.
pub(crate) struct StreamOut {
    pub direct: bool,
    pub source: Arc<TupleSource>,
    pub routes: Vec<Route>,
}

/// Whether the downstream is still there after a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Open,
    /// The topology is being killed, or a consumer is gone (it failed).
    Stopped,
}

/// Emits tuples for one task. Spouts and bolts get one in every call.
///
/// Emitting never blocks and never drops: a tuple is buffered until the
/// executor sends its batch. Emits to an undeclared stream, with a number of
/// values other than the stream's fields, or `emit_direct` to a task the
/// stream's consumers do not own, are errors that name the component.
pub struct OutputCollector {
    component: String,
    task: usize,
    spout: bool,
    streams: Vec<StreamOut>,
    /// Index of the default stream, if declared (the common `emit`).
    default_stream: Option<usize>,
    batch_size: usize,
    /// Some channel buffer reached `batch_size`.
    pub(crate) has_full: bool,
    /// Tuples waiting in channel buffers.
    pub(crate) buffered: usize,
    /// Tuples emitted since the executor last published metrics.
    pub(crate) emitted: u64,
    /// Message ids to ack at once (no tracking in `at_most_once`).
    pub(crate) to_ack: Vec<MessageId>,
    /// The task's event-time clock: watermarks in and out, ticks.
    pub(crate) time: TaskTime,
    /// Tuple-tree bookkeeping, only when tracking (`at_least_once`).
    pub(crate) tracker: Option<Box<EmitTracker>>,
    /// Global ids of the tasks emits delivered to, while
    /// [`OutputCollector::delivered_to`] records them.
    targets: Option<Vec<usize>>,
}

impl OutputCollector {
    pub(crate) fn new(
        component: String,
        task: usize,
        spout: bool,
        streams: Vec<StreamOut>,
        batch_size: usize,
    ) -> Self {
        let default_stream = streams.iter().position(|s| s.source.stream == DEFAULT_STREAM);
        OutputCollector {
            component,
            task,
            spout,
            default_stream,
            streams,
            batch_size,
            has_full: false,
            buffered: 0,
            emitted: 0,
            to_ack: Vec::new(),
            time: TaskTime::default(),
            tracker: None,
            targets: None,
        }
    }

    /// Emits a watermark (event time, ms since the epoch): a promise that
    /// this task emits no more tuples with an event time at or below
    /// `watermark`. It travels to every consumer task behind the tuples
    /// emitted before it, when the current call into the component returns.
    /// Watermarks only move forward: a lower one than before is ignored.
    /// Spouts (and bolts that assign event time mid-stream) call it; a
    /// bolt's input watermark is forwarded for it.
    pub fn emit_watermark(&mut self, watermark: i64) {
        self.time.advance_output(watermark);
    }

    /// The watermark this task has emitted so far (event time ms), or
    /// `i64::MIN` if none.
    pub fn current_watermark(&self) -> i64 {
        self.time.output
    }

    /// Emits `values` on the default stream.
    ///
    /// # Errors
    /// [`Error::BadEmit`] if the component declared no default stream, or the
    /// number of values differs from its fields.
    pub fn emit(&mut self, values: Values) -> Result<()> {
        match self.default_stream {
            Some(s) if !self.streams[s].direct => {
                self.check_arity(s, &values)?;
                self.route(s, values, None, Anchoring::Input)
            }
            _ => self.emit_to(DEFAULT_STREAM, values),
        }
    }

    /// Emits a tuple of the one string value `text` on the default stream,
    /// as `emit(vec![Value::from(text)])` does, copying `text` only when the
    /// tuple is buffered: with the consumer's input combining on (see
    /// [`crate::InputCombining`]), a value this task already holds back for
    /// the route is merged into it without building a tuple. A word
    /// splitter's emit, in the common case that a word is one it has seen
    /// since the last flush, allocates nothing.
    ///
    /// # Errors
    /// As [`OutputCollector::emit`]: the default stream must be declared
    /// with one field.
    pub fn emit_str(&mut self, text: &str) -> Result<()> {
        let fast = self.default_stream.filter(|&s| {
            let out = &self.streams[s];
            !out.direct && out.source.fields.len() == 1
        });
        let Some(s) = fast.filter(|_| self.tracker.is_none() && self.targets.is_none()) else {
            return self.emit(vec![Value::from(text)]);
        };
        self.emitted += 1;
        for r in 0..self.streams[s].routes.len() {
            let route = &mut self.streams[s].routes[r];
            if let (Some(combiner), RouteTarget::Channels { .. }) =
                (route.combiner.as_mut(), &route.target)
            {
                if combiner.merge_word(text) {
                    self.buffered += 1;
                    continue;
                }
            }
            self.deliver(s, r, vec![Value::from(text)], None, Anchoring::Input);
        }
        Ok(())
    }

    /// Emits a copy of `values` on the default stream, as
    /// `emit(values.clone())` does, copying only when the tuple is
    /// buffered: with the consumer's input combining on (see
    /// [`crate::InputCombining`]), a tuple folded into one this task holds
    /// back for the route is not copied. A spout that parses each record
    /// into one reused row (the `csv` spout) then allocates nothing per
    /// record in the common case.
    ///
    /// # Errors
    /// As [`OutputCollector::emit`].
    pub fn emit_ref(&mut self, values: &Values) -> Result<()> {
        let fast = self.default_stream.filter(|&s| !self.streams[s].direct);
        let Some(s) = fast.filter(|_| self.tracker.is_none() && self.targets.is_none()) else {
            return self.emit(values.clone());
        };
        self.check_arity(s, values)?;
        self.emitted += 1;
        let sent = self.time.sent;
        for r in 0..self.streams[s].routes.len() {
            let route = &mut self.streams[s].routes[r];
            if let (Some(combiner), RouteTarget::Channels { .. }) =
                (route.combiner.as_mut(), &route.target)
            {
                if combiner.add_ref(values, sent) {
                    self.buffered += 1;
                    self.has_full |= combiner.is_full();
                    continue;
                }
            }
            self.deliver(s, r, values.clone(), None, Anchoring::Input);
        }
        Ok(())
    }

    /// Emits `values` on `stream`.
    ///
    /// # Errors
    /// [`Error::BadEmit`] if `stream` is undeclared or direct, or the number
    /// of values differs from its fields.
    pub fn emit_to(&mut self, stream: &str, values: Values) -> Result<()> {
        self.emit_with(stream, values, Anchoring::Input)
    }

    pub(crate) fn emit_with(
        &mut self,
        stream: &str,
        values: Values,
        anchoring: Anchoring<'_>,
    ) -> Result<()> {
        let s = self.stream_index(stream, &values)?;
        if self.streams[s].direct {
            return Err(self.bad(format!("stream '{stream}' is direct; use emit_direct")));
        }
        self.route(s, values, None, anchoring)
    }

    /// Emits `values` on `stream` with a message id, so that the spout is
    /// told through `ack`/`fail` what became of it. Without tracking
    /// (`at_most_once`), `ack(msg_id)` follows right after this call returns,
    /// as in Storm without ackers. With tracking, the tuple is the root of a
    /// tree: `ack` once every tuple of the tree is acked, `fail` when one
    /// fails or `message_timeout_ms` passes.
    ///
    /// # Errors
    /// As [`OutputCollector::emit_to`], and [`Error::BadEmit`] when called by
    /// a bolt (bolts do not own message ids).
    pub fn emit_with_id(&mut self, stream: &str, values: Values, msg_id: MessageId) -> Result<()> {
        self.emit_rooted("emit_with_id", msg_id, |c, a| c.emit_with(stream, values, a))
    }

    /// A spout's emit with message id `msg_id`, through `emit` (see
    /// [`OutputCollector::emit_with_id`]).
    fn emit_rooted(
        &mut self,
        what: &str,
        msg_id: MessageId,
        emit: impl FnOnce(&mut Self, Anchoring<'static>) -> Result<()>,
    ) -> Result<()> {
        if !self.spout {
            return Err(self.bad(format!("{what} is for spouts only")));
        }
        let Some(tracker) = self.tracker.as_mut() else {
            emit(self, Anchoring::Input)?;
            self.to_ack.push(msg_id);
            return Ok(());
        };
        let root = tracker.start_root();
        emit(self, Anchoring::Root(root))?;
        self.tracker.as_mut().expect("tracking").end_root(root, msg_id);
        Ok(())
    }

    /// Emits `values` on the direct `stream` to the consumer task with global
    /// id `task` (see `TopologyContext::component_tasks`).
    ///
    /// # Errors
    /// [`Error::BadEmit`] if `stream` is undeclared or not direct, the number
    /// of values is wrong, or no consumer of the stream owns task `task`.
    pub fn emit_direct(&mut self, task: usize, stream: &str, values: Values) -> Result<()> {
        self.emit_direct_with(task, stream, values, Anchoring::Input)
    }

    /// Emits `values` on the direct `stream` to task `task`, anchored to
    /// `anchors` as [`OutputCollector::emit_anchored_to`] does.
    ///
    /// # Errors
    /// As [`OutputCollector::emit_direct`].
    pub fn emit_direct_anchored(
        &mut self,
        task: usize,
        stream: &str,
        anchors: &[&Tuple],
        values: Values,
    ) -> Result<()> {
        self.emit_direct_with(task, stream, values, Anchoring::Tuples(anchors))
    }

    /// Emits `values` on the direct `stream` to task `task` with a message
    /// id, as [`OutputCollector::emit_with_id`] does for other streams.
    ///
    /// # Errors
    /// As [`OutputCollector::emit_direct`], and [`Error::BadEmit`] when
    /// called by a bolt.
    pub fn emit_direct_with_id(
        &mut self,
        task: usize,
        stream: &str,
        values: Values,
        msg_id: MessageId,
    ) -> Result<()> {
        let emit = |c: &mut Self, a| c.emit_direct_with(task, stream, values, a);
        self.emit_rooted("emit_direct_with_id", msg_id, emit)
    }

    fn emit_direct_with(
        &mut self,
        task: usize,
        stream: &str,
        values: Values,
        anchoring: Anchoring<'_>,
    ) -> Result<()> {
        let s = self.stream_index(stream, &values)?;
        if !self.streams[s].direct {
            return Err(self.bad(format!("stream '{stream}' is not declared direct")));
        }
        self.route(s, values, Some(task), anchoring)
    }

    /// Runs `emit` (any emits on this collector) and returns the global ids
    /// of the tasks that what it emitted was delivered to, in order, one per
    /// delivered copy: Storm's `emit` return value, which a multilang
    /// component asks for.
    ///
    /// # Errors
    /// The error of `emit`.
    pub fn delivered_to(
        &mut self,
        emit: impl FnOnce(&mut OutputCollector) -> Result<()>,
    ) -> Result<Vec<usize>> {
        let outer = self.targets.replace(Vec::new());
        let result = emit(self);
        let targets = std::mem::replace(&mut self.targets, outer).unwrap_or_default();
        if let Some(outer) = self.targets.as_mut() {
            outer.extend_from_slice(&targets);
        }
        result.map(|()| targets)
    }

    fn stream_index(&self, stream: &str, values: &Values) -> Result<usize> {
        let Some(s) = self.streams.iter().position(|s| s.source.stream == stream) else {
            return Err(self.bad(format!("stream '{stream}' is not declared")));
        };
        self.check_arity(s, values)?;
        Ok(s)
    }

    fn check_arity(&self, s: usize, values: &Values) -> Result<()> {
        let fields = &self.streams[s].source.fields;
        if values.len() != fields.len() {
            return Err(self.bad(format!(
                "stream '{}' declares {} fields {:?} but {} values were emitted",
                self.streams[s].source.stream,
                fields.len(),
                fields.names(),
                values.len()
            )));
        }
        Ok(())
    }

    fn bad(&self, reason: String) -> Error {
        Error::BadEmit { component: self.component.clone(), task: self.task, reason }
    }

    fn route(
        &mut self,
        s: usize,
        values: Values,
        direct: Option<usize>,
        anchoring: Anchoring<'_>,
    ) -> Result<()> {
        self.emitted += 1;
        let n = self.streams[s].routes.len();
        if n == 0 {
            return Ok(());
        }
        if let Some(task) = direct {
            // Resolve the task first so that a bad id delivers nowhere.
            let owned = self.streams[s].routes.iter().any(|r| match &r.target {
                RouteTarget::Channels { first_task, outs } => {
                    (*first_task..first_task + outs.len()).contains(&task)
                }
                RouteTarget::Chained { .. } => false,
            });
            if !owned {
                return Err(self.bad(format!(
                    "emit_direct to task {task}, which no consumer of this stream owns"
                )));
            }
        }
        let mut values = Some(values);
        for r in 0..n {
            let v = if r + 1 == n {
                values.take().expect("last route takes the values")
            } else {
                values.as_ref().expect("kept until last").clone()
            };
            self.deliver(s, r, v, direct, anchoring);
        }
        Ok(())
    }

    fn deliver(
        &mut self,
        s: usize,
        r: usize,
        values: Values,
        direct: Option<usize>,
        anchoring: Anchoring<'_>,
    ) {
        let batch_size = self.batch_size;
        let sent = self.time.sent;
        let stream = &mut self.streams[s];
        let route = &mut stream.routes[r];
        match &mut route.target {
            RouteTarget::Chained { task, pending } => {
                if let Some(targets) = self.targets.as_mut() {
                    targets.push(*task);
                }
                let ids = match &mut self.tracker {
                    Some(tracker) => tracker.ids_for(anchoring),
                    None => AnchorIds::new(),
                };
                pending.push(Tuple::with_ids(stream.source.clone(), values, ids));
            }
            RouteTarget::Channels { first_task, outs } => {
                let mut values = values;
                if let Some(combiner) = route.combiner.as_mut() {
                    if direct.is_none() && self.tracker.is_none() && self.targets.is_none() {
                        match combiner.add(values, sent) {
                            None => {
                                self.buffered += 1;
                                self.has_full |= combiner.is_full();
                                return;
                            }
                            Some(alone) => values = alone,
                        }
                    }
                }
                let target = match direct {
                    Some(task) if (*first_task..*first_task + outs.len()).contains(&task) => {
                        Target::One(task - *first_task)
                    }
                    Some(_) => return, // another consumer of the direct stream owns it
                    None => route.partitioner.select(&values),
                };
                let mut full = false;
                match target {
                    Target::One(i) => {
                        if let Some(targets) = self.targets.as_mut() {
                            targets.push(*first_task + i);
                        }
                        let out = &mut outs[i];
                        out.rows.push(values);
                        if let Some(tracker) = &mut self.tracker {
                            out.ids.push(tracker.ids_for(anchoring));
                        }
                        full = out.rows.len() >= batch_size;
                        self.buffered += 1;
                    }
                    Target::All => {
                        if let Some(targets) = self.targets.as_mut() {
                            targets.extend(*first_task..*first_task + outs.len());
                        }
                        let last = outs.len() - 1;
                        for out in &mut outs[..last] {
                            out.rows.push(values.clone());
                            full |= out.rows.len() >= batch_size;
                        }
                        outs[last].rows.push(values);
                        full |= outs[last].rows.len() >= batch_size;
                        if let Some(tracker) = &mut self.tracker {
                            // Every copy is its own tuple of the tree.
                            for out in outs.iter_mut() {
                                out.ids.push(tracker.ids_for(anchoring));
                            }
                        }
                        self.buffered += outs.len();
                    }
                }
                self.has_full |= full;
            }
        }
    }

    /// Takes the tuples waiting for the operator chained on route `r` of
    /// stream `s`.
    pub(crate) fn take_chained(&mut self, s: usize, r: usize) -> Vec<Tuple> {
        match &mut self.streams[s].routes[r].target {
            RouteTarget::Chained { pending, .. } => std::mem::take(pending),
            RouteTarget::Channels { .. } => Vec::new(),
        }
    }

    /// Finds the route feeding the chained `consumer`.
    pub(crate) fn chained_route(&self, consumer: &str) -> Option<(usize, usize)> {
        self.streams.iter().enumerate().find_map(|(s, out)| {
            out.routes
                .iter()
                .position(|r| {
                    r.consumer == consumer && matches!(r.target, RouteTarget::Chained { .. })
                })
                .map(|r| (s, r))
        })
    }

    /// Sends buffered batches: only the full ones, or all non-empty ones.
    /// Returns the time spent waiting on full channels.
    ///
    /// # Cancel safety
    /// Not cancel safe; it selects on `cancel` itself and returns
    /// `Flow::Stopped` when cancelled, dropping the batches not yet sent.
    pub(crate) async fn flush(
        &mut self,
        only_full: bool,
        cancel: &CancellationToken,
        waited: &mut Duration,
    ) -> Flow {
        if only_full && !self.has_full {
            return Flow::Open;
        }
        let batch_size = self.batch_size;
        let mut left = 0;
        for stream in &mut self.streams {
            for route in &mut stream.routes {
                let Route { partitioner, target, combiner, .. } = route;
                let RouteTarget::Channels { outs, .. } = target else {
                    continue;
                };
                let mut drained = false;
                if let Some(combiner) = combiner.as_mut() {
                    if combiner.len() > 0 && (!only_full || combiner.is_full()) {
                        drain_into(combiner, partitioner, outs);
                        drained = true;
                    }
                    left += combiner.len();
                }
                for out in outs.iter_mut() {
                    let n = out.rows.len();
                    if n == 0 || (only_full && !drained && n < batch_size) {
                        left += n;
                        continue;
                    }
                    for batch in out.take_batches(&stream.source, batch_size) {
                        if send(&out.tx, Message::Data(batch), cancel, waited).await
                            == Flow::Stopped
                        {
                            return Flow::Stopped;
                        }
                    }
                }
            }
        }
        self.buffered = left;
        self.has_full = false;
        Flow::Open
    }

    /// Tells every consumer task that this task has finished.
    pub(crate) async fn send_end(&self, cancel: &CancellationToken, waited: &mut Duration) -> Flow {
        self.broadcast(Message::End, cancel, waited).await
    }

    /// Sends `msg` once on every channel of this task (several streams to
    /// one consumer share a channel). Buffered tuples are not flushed first.
    pub(crate) async fn broadcast(
        &self,
        msg: Message,
        cancel: &CancellationToken,
        waited: &mut Duration,
    ) -> Flow {
        let mut channels: Vec<&Sender<Message>> = Vec::new();
        for stream in &self.streams {
            for route in &stream.routes {
                let RouteTarget::Channels { outs, .. } = &route.target else {
                    continue;
                };
                for out in outs {
                    if !channels.iter().any(|c| c.same_channel(&out.tx)) {
                        channels.push(&out.tx);
                    }
                }
            }
        }
        for tx in channels {
            if send(tx, msg.clone(), cancel, waited).await == Flow::Stopped {
                return Flow::Stopped;
            }
        }
        Flow::Open
    }
}

/// Moves a combiner's held-back tuples, with their weights, into the output
/// buffers of the tasks their keys go to.
fn drain_into(combiner: &mut Combiner, partitioner: &mut Partitioner, outs: &mut [OutBuffer]) {
    // Room for an even share of the rows, so that the buffers do not grow
    // (and copy themselves) row by row.
    let share = combiner.len().div_ceil(outs.len().max(1));
    for out in outs.iter_mut() {
        out.rows.reserve(share);
        out.weights.reserve((out.rows.len() + share).saturating_sub(out.weights.len()));
    }
    for (values, weight) in combiner.drain() {
        match partitioner.select(&values) {
            Target::One(i) => push_weighted(&mut outs[i], values, weight),
            Target::All => {
                for out in outs.iter_mut() {
                    push_weighted(out, values.clone(), weight);
                }
            }
        }
    }
}

/// Appends a row of `weight` to `out`, padding the weights of the rows
/// before it (sent uncombined) with 1.
fn push_weighted(out: &mut OutBuffer, values: Values, weight: u64) {
    out.weights.resize(out.rows.len(), 1);
    out.rows.push(values);
    out.weights.push(weight);
}

/// Sends `msg`, waiting while the channel is full (counted in `waited`).
async fn send(
    tx: &Sender<Message>,
    msg: Message,
    cancel: &CancellationToken,
    waited: &mut Duration,
) -> Flow {
    match tx.try_send(msg) {
        Ok(()) => Flow::Open,
        Err(TrySendError::Closed(_)) => Flow::Stopped,
        Err(TrySendError::Full(msg)) => {
            let start = Instant::now();
            let flow = tokio::select! {
                r = tx.send(msg) => if r.is_ok() { Flow::Open } else { Flow::Stopped },
                _ = cancel.cancelled() => Flow::Stopped,
            };
            *waited += start.elapsed();
            flow
        }
    }
}
