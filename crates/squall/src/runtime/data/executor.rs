//! [`Executor`]: runs one task, or a chain of tasks, on the tokio runtime.
//!
//! The head of an executor is a spout task (polled with `next_tuple`) or a
//! bolt task (fed from its [`InputSet`]). Bolts chained behind the head run
//! in the same executor: their input is handed over in memory after every
//! call into the head, producers before consumers.
//!
//! Every call into user code goes through [`guarded`], which turns an error
//! or a panic into an [`Error`] naming the component and task. The executor
//! then returns it and the local cluster stops the topology.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::model::Tuple;
use crate::runtime::checkpointing::{completed, TaskCheckpointing};
use crate::runtime::collector::{Flow, OutputCollector};
use crate::runtime::event_time::sleep_until_opt;
use crate::runtime::inputs::{InputSet, Received};
use crate::runtime::metrics::TaskMetrics;
use crate::runtime::restart::Restarts;
use crate::runtime::spout_tracker::SpoutTracker;
use crate::runtime::tracking::execute_tracked;
use crate::state::{KeySelector, TaskState};
use crate::topology::{Bolt, Spout, TopologyContext};

/// How long an idle spout waits before it is polled again (Storm's default
/// sleep wait strategy).
pub(crate) const IDLE_WAIT: Duration = Duration::from_millis(1);

pub(crate) enum Op {
    Spout(Box<dyn Spout>),
    Bolt(Box<dyn Bolt>),
}

/// One task inside an executor.
pub(crate) struct Node {
    pub component: String,
    pub task: usize,
    pub op: Op,
    pub collector: OutputCollector,
    pub context: TopologyContext,
    pub metrics: Arc<TaskMetrics>,
    /// For a chained task: the (node, stream, route) that feeds it.
    pub feed: Option<(usize, usize, usize)>,
    /// The task's keyed and operator state.
    pub state: TaskState,
    /// How the current key is taken from an input tuple.
    pub keys: KeySelector,
    /// How to restart the task after a failure (`at_least_once` only).
    pub restarts: Option<Restarts>,
}

impl Node {
    /// Runs the bolt of this task on `tuples` (`n` of them). With tracking,
    /// a failure restarts the task (the rest of the batch is lost, and
    /// replayed after the timeout).
    fn execute_all(&mut self, tuples: impl Iterator<Item = Tuple>, n: u64) -> Result<()> {
        let Node { component, task, op, collector, metrics, state, keys, .. } = self;
        let Op::Bolt(bolt) = op else { unreachable!("only bolts have inputs") };
        let keyed = state.has_keyed();
        let started = metrics.add_executed(n).then(Instant::now);
        let result = guarded(component, *task, || {
            if collector.tracker.is_some() {
                let mut set_key = |tuple: &Tuple| match keyed {
                    true => state.set_current_key(keys, tuple),
                    false => Ok(()),
                };
                return execute_tracked(bolt.as_mut(), tuples, collector, &mut set_key);
            }
            for tuple in tuples {
                if keyed {
                    state.set_current_key(keys, &tuple)?;
                }
                bolt.execute(tuple, collector)?;
            }
            Ok(())
        });
        if let Some(started) = started {
            metrics.record_execute(started.elapsed(), n);
        }
        result.or_else(|e| self.recover(e))
    }
}

/// How an executor ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Its input ended and it drained everything downstream.
    Finished,
    /// It was killed, or a consumer went away because the topology failed.
    Stopped,
}

pub(crate) struct Executor {
    pub nodes: Vec<Node>,
    /// Input channels of a bolt head; `None` for a spout head.
    pub inputs: Option<InputSet>,
    /// A spout head's trees in flight, when tracking (`at_least_once`).
    pub spout_tracker: Option<SpoutTracker>,
    pub buffer_timeout: Duration,
    pub cancel: CancellationToken,
    /// The link to the checkpoint coordinator, when checkpoints are on.
    pub checkpoint: Option<TaskCheckpointing>,
}

/// Runs `f`, turning an error or panic into an error naming the task.
pub(crate) fn guarded<T>(component: &str, task: usize, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(|e| e.in_task(component, task)),
        Err(payload) => Err(Error::ComponentPanicked {
            component: component.to_string(),
            task,
            message: panic_message(payload.as_ref()),
        }),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl Executor {
    /// A name for logs: the head's component and task.
    pub fn name(&self) -> String {
        format!("{}[{}]", self.nodes[0].component, self.nodes[0].task)
    }

    /// Runs the executor to its end, then closes every task in it.
    ///
    /// # Errors
    /// The first error or panic of a task, naming it.
    pub async fn run(mut self) -> Result<Exit> {
        let result = self.run_tasks().await;
        if let Some(tracker) = self.spout_tracker.as_mut() {
            self.nodes[0].metrics.merge_latency(&mut tracker.latency); // the last ones
        }
        if let Err(e) = &result {
            crate::runtime::metrics::live::record_executor_error(&self.nodes, e);
        }
        let mut closed = Ok(());
        for node in &mut self.nodes {
            let r = guarded(&node.component, node.task, || {
                match &mut node.op {
                    Op::Spout(s) => s.close(),
                    Op::Bolt(b) => b.cleanup(),
                }
                Ok(())
            });
            closed = closed.and(r);
        }
        tracing::debug!(executor = %self.name(), ?result, "executor stopped");
        let exit = result?;
        closed?;
        Ok(exit)
    }

    async fn run_tasks(&mut self) -> Result<Exit> {
        for node in &mut self.nodes {
            let Node { component, task, op, context, .. } = node;
            let opened = guarded(component, *task, || match op {
                Op::Spout(s) => s.open(context),
                Op::Bolt(b) => b.prepare(context),
            });
            opened.or_else(|e| node.recover(e))?;
        }
        self.start_ticks();
        let exit =
            if self.inputs.is_some() { self.run_bolt().await? } else { self.run_spout().await? };
        // A kill or a failure elsewhere may race with the end of input:
        // never finish (and so never commit a sink's result) once cancelled.
        match exit {
            Exit::Finished if !self.cancel.is_cancelled() => self.finish().await,
            _ => Ok(Exit::Stopped),
        }
    }

    async fn run_bolt(&mut self) -> Result<Exit> {
        let mut inputs = self.inputs.take().expect("a bolt head has inputs");
        let mut dirty_since: Option<Instant> = None;
        loop {
            let flush_at = dirty_since.map(|since| since + self.buffer_timeout);
            let tick_at = self.next_tick();
            let received = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Ok(Exit::Stopped),
                id = completed(&mut self.checkpoint) => {
                    self.notify_complete(id)?;
                    continue;
                }
                // Before the inputs, so that a busy input cannot starve ticks.
                _ = sleep_until_opt(tick_at) => {
                    self.run_due_ticks()?;
                    if self.after_step(&mut dirty_since).await? == Flow::Stopped {
                        return Ok(Exit::Stopped);
                    }
                    continue;
                }
                m = inputs.recv() => m,
                _ = sleep_until_opt(flush_at) => {
                    if self.flush(false).await == Flow::Stopped {
                        return Ok(Exit::Stopped);
                    }
                    dirty_since = None;
                    continue;
                }
            };
            let batch = match received {
                Received::Data(batch) => batch,
                Received::Barrier(barrier) => {
                    let alignment = inputs.last_alignment();
                    if self.on_barrier(barrier, alignment).await? == Flow::Stopped {
                        return Ok(Exit::Stopped);
                    }
                    dirty_since = None;
                    continue;
                }
                Received::Watermark(w) => {
                    self.deliver_watermark(0, w)?;
                    if self.after_step(&mut dirty_since).await? == Flow::Stopped {
                        return Ok(Exit::Stopped);
                    }
                    continue;
                }
                Received::AllEnded => return Ok(Exit::Finished),
                Received::Disconnected => return Ok(Exit::Stopped),
            };
            let n = batch.rows.len() as u64;
            let source = batch.source;
            let mut ids = batch.ids.into_iter();
            let mut weights = batch.weights.into_iter();
            let tuples = batch.rows.into_iter().map(|row| {
                let mut tuple =
                    Tuple::with_ids(source.clone(), row, ids.next().unwrap_or_default());
                tuple.weight = weights.next().unwrap_or(1);
                tuple
            });
            self.nodes[0].execute_all(tuples, n)?;
            if self.after_step(&mut dirty_since).await? == Flow::Stopped {
                return Ok(Exit::Stopped);
            }
        }
    }

    /// After each call into the head: run the chain, publish counters, send
    /// full buffers, and everything once `buffer_timeout` has passed since
    /// the oldest unsent tuple.
    pub(crate) async fn after_step(&mut self, dirty_since: &mut Option<Instant>) -> Result<Flow> {
        for m in 1..self.nodes.len() {
            self.run_chained(m)?;
            self.pass_watermark(m)?;
        }
        self.publish();
        if self.flush(true).await == Flow::Stopped || self.send_watermarks().await == Flow::Stopped
        {
            return Ok(Flow::Stopped);
        }
        if !self.nodes.iter().any(|n| n.collector.buffered > 0) {
            *dirty_since = None;
            return Ok(Flow::Open);
        }
        let now = Instant::now();
        let since = *dirty_since.get_or_insert(now);
        if now.duration_since(since) >= self.buffer_timeout {
            *dirty_since = None;
            return Ok(self.flush(false).await);
        }
        Ok(Flow::Open)
    }

    /// Before an idle spout waits [`IDLE_WAIT`]: sends every buffer if the
    /// oldest unsent tuple's `buffer_timeout` ends during the wait, so that
    /// no tuple waits out the sleep (with a `buffer_timeout_ms` of 1 it
    /// would otherwise wait up to twice as long, the timer's granularity
    /// being 1 ms).
    pub(crate) async fn flush_before_idle(&mut self, dirty_since: &mut Option<Instant>) -> Flow {
        match *dirty_since {
            Some(since) if since + self.buffer_timeout <= Instant::now() + IDLE_WAIT => {
                *dirty_since = None;
                self.flush(false).await
            }
            _ => Flow::Open,
        }
    }

    /// Feeds chained task `m` what its producer emitted for it.
    fn run_chained(&mut self, m: usize) -> Result<()> {
        let (p, s, r) = self.nodes[m].feed.expect("a chained task has a feed");
        let tuples = self.nodes[p].collector.take_chained(s, r);
        if tuples.is_empty() {
            return Ok(());
        }
        let n = tuples.len() as u64;
        self.nodes[m].execute_all(tuples.into_iter(), n)?;
        Ok(())
    }

    /// End of input: every task in order finishes (and may still emit), then
    /// all buffers are sent and every consumer is told `End`.
    async fn finish(&mut self) -> Result<Exit> {
        if matches!(self.nodes[0].op, Op::Spout(_)) {
            // A finished source's event time is over (Flink's MAX_WATERMARK).
            self.nodes[0].collector.emit_watermark(i64::MAX);
        }
        for m in 0..self.nodes.len() {
            if m > 0 {
                self.run_chained(m)?;
                self.pass_watermark(m)?;
            }
            loop {
                let node = &mut self.nodes[m];
                let Node { component, task, op, collector, .. } = node;
                let Op::Bolt(bolt) = op else { break };
                match guarded(component, *task, || bolt.finish(collector)) {
                    Ok(()) => break,
                    Err(e) => node.recover(e)?,
                }
            }
        }
        self.publish();
        if self.flush(false).await == Flow::Stopped || self.send_watermarks().await == Flow::Stopped
        {
            return Ok(Exit::Stopped);
        }
        let mut waited = Duration::ZERO;
        for node in &mut self.nodes {
            if node.collector.send_end(&self.cancel, &mut waited).await == Flow::Stopped {
                return Ok(Exit::Stopped);
            }
        }
        self.end_of_run().await
    }

    /// Publishes what the tasks counted since the last call, and sends
    /// their acker messages (never blocks).
    fn publish(&mut self) {
        for node in &mut self.nodes {
            node.metrics.add_emitted(std::mem::take(&mut node.collector.emitted));
            if let Some(tracker) = node.collector.tracker.as_mut() {
                tracker.send();
                TaskMetrics::add(&node.metrics.acked, std::mem::take(&mut tracker.acked));
                TaskMetrics::add(&node.metrics.failed, std::mem::take(&mut tracker.failed));
            }
        }
    }

    pub(crate) async fn flush(&mut self, only_full: bool) -> Flow {
        for node in &mut self.nodes {
            let mut waited = Duration::ZERO;
            let flow = node.collector.flush(only_full, &self.cancel, &mut waited).await;
            if !waited.is_zero() {
                node.metrics.add_backpressure(waited);
            }
            if flow == Flow::Stopped {
                return Flow::Stopped;
            }
        }
        Flow::Open
    }
}
