//! [`ShellBolt`]: a bolt whose work is done by a child process speaking
//! Storm's multilang protocol (a Python bolt written with Storm's
//! `storm.py` or with pystorm, unchanged).
//!
//! Owns the bolt side of the protocol: inputs become `tuple` messages, the
//! child's `emit`/`ack`/`fail` become anchored emits, acks and fails on the
//! engine's collector (the bolt is [`AckMode::Manual`]), heartbeats go out
//! when the bolt is idle, and a child that dies, hangs or breaks the
//! protocol fails the task ([`Error::TaskFailed`]). The process and its
//! pipes are [`super::shell_process`]'s.
//!
//! # When the child's answers are handled
//!
//! The engine hands the collector to a bolt only during its calls, so the
//! child's messages are handled then: after each input is sent (what has
//! arrived), on every tick (every [`TICK`]), and fully at a *barrier*: a
//! heartbeat tuple is sent and messages are handled until its `sync`,
//! which the child sends only after everything before it. A barrier runs
//! when `max_pending` inputs were sent since the last one (backpressure),
//! on a tick while inputs are pending or a heartbeat is due, in `finish`,
//! and after every input under `exactly_once` (so that an input's outputs
//! are emitted before the next checkpoint barrier can pass).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use squall::topology::{AckMode, Guarantee, OutputDeclarer, DEFAULT_STREAM};
use squall::{Bolt, Error, OutputCollector, Result, TopologyContext, Tuple};

use super::link::{live, ChildLink};
use super::protocol::{BoltTuple, ChildMessage, Emit, ToChild};
use super::spec::{shell_component, ShellSpec};
use crate::decode::ValuesAsJson;

/// How often an idle shell bolt looks at its child's messages.
pub const TICK: Duration = Duration::from_millis(20);

/// Runs a multilang child per task and passes it every input.
///
/// Outputs are declared here ([`ShellBolt::fields`], [`ShellBolt::stream`],
/// [`ShellBolt::direct_stream`]), as Storm's `ShellBolt` subclasses do in
/// `declareOutputFields`; a bolt that declares none is a sink.
///
/// Under `at_least_once` an input is acked or failed when the child says
/// so, and the child's emits are anchored to the inputs it names; a child
/// that never acks an input lets its tree time out. When the child fails
/// the task, the inputs it held are failed at once (replayed) and the task
/// is restarted with a new child; under `at_most_once` the topology stops.
///
/// # Examples
/// ```no_run
/// use squall::builtins::FileSpout;
/// use squall::TopologyBuilder;
/// use squall_connectors::ShellBolt;
///
/// let mut builder = TopologyBuilder::new("python-split");
/// builder.set_spout("lines", FileSpout::new("data/shakespeare").unwrap(), 1);
/// let split = ShellBolt::new(["python3", "split.py"]).cwd("examples/multilang").fields(["word"]);
/// builder.set_bolt("split", split, 2).shuffle_grouping("lines");
/// ```
pub struct ShellBolt {
    spec: ShellSpec,
    run: Option<BoltRun>,
    /// Why the child failed, once it has (every later call fails too).
    failed: Option<String>,
}

shell_component!(ShellBolt, "bolt");

impl ShellBolt {
    /// Ends the run after `error`: fails the inputs the child held (but
    /// `current`, which the engine fails) and stops the child.
    fn abandon(&mut self, error: Error, collector: &mut OutputCollector, current: &str) -> Error {
        if let Some(mut run) = self.run.take() {
            for (id, input) in run.pending.drain() {
                if id != current {
                    collector.fail(&input);
                }
            }
            run.child.process.close();
        }
        self.failed = Some(error.to_string());
        error
    }
}

/// One task's child and the inputs it holds.
struct BoltRun {
    child: ChildLink,
    /// Inputs sent to the child and not yet acked or failed, by the id
    /// they were sent with.
    pending: HashMap<String, Tuple>,
    next_id: u64,
    /// Inputs sent since the last barrier.
    since_barrier: usize,
    max_pending: usize,
    /// Heartbeat `sync`s not yet received.
    syncs: usize,
    last_heartbeat: Instant,
    heartbeat_interval: Duration,
    /// `exactly_once`: a barrier after every input.
    sync_each: bool,
}

impl BoltRun {
    fn next_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    fn execute(&mut self, id: String, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let tuple = BoltTuple {
            id: &id,
            comp: Some(input.source_component()),
            stream: input.source_stream(),
            task: input.source_task() as i64,
            tuple: ValuesAsJson(input.values()),
        };
        self.child.process.send(&ToChild::Tuple(tuple))?;
        self.pending.insert(id, input);
        self.since_barrier += 1;
        if self.sync_each || self.since_barrier >= self.max_pending {
            return self.barrier(c);
        }
        self.drain(c)
    }

    /// Handles the messages that have arrived, without waiting.
    fn drain(&mut self, c: &mut OutputCollector) -> Result<()> {
        while let Some(msg) = self.child.process.try_next()? {
            self.handle(msg, c)?;
        }
        Ok(())
    }

    /// Sends a heartbeat and handles messages until its `sync`: the child
    /// has then dealt with every input sent before.
    fn barrier(&mut self, c: &mut OutputCollector) -> Result<()> {
        let id = self.next_id();
        self.child.process.send(&ToChild::Tuple(BoltTuple::heartbeat(&id)))?;
        self.syncs += 1;
        self.since_barrier = 0;
        self.last_heartbeat = Instant::now();
        while self.syncs > 0 {
            let msg = self.child.process.next()?;
            self.handle(msg, c)?;
        }
        Ok(())
    }

    fn tick(&mut self, c: &mut OutputCollector) -> Result<()> {
        if !self.pending.is_empty() || self.last_heartbeat.elapsed() >= self.heartbeat_interval {
            self.barrier(c)
        } else {
            self.drain(c)
        }
    }

    fn handle(&mut self, msg: ChildMessage, c: &mut OutputCollector) -> Result<()> {
        let Some(msg) = self.child.report(msg) else { return Ok(()) };
        match msg {
            ChildMessage::Emit(emit) => self.emit(emit, c),
            ChildMessage::Ack { id } => {
                let input = self.take(&id, "ack")?;
                c.ack(&input);
                Ok(())
            }
            ChildMessage::Fail { id } => {
                let input = self.take(&id, "fail")?;
                c.fail(&input);
                Ok(())
            }
            ChildMessage::Sync => {
                self.syncs = self.syncs.saturating_sub(1);
                Ok(())
            }
            other => Err(self.child.process.protocol_error(format!("unexpected {other:?}"))),
        }
    }

    fn take(&mut self, id: &str, what: &str) -> Result<Tuple> {
        self.pending.remove(id).ok_or_else(|| {
            self.child.process.protocol_error(format!(
                "{what} of tuple id {id:?}, which is not pending (never sent, acked or failed)"
            ))
        })
    }

    fn emit(&mut self, emit: Emit, c: &mut OutputCollector) -> Result<()> {
        let stream = emit.stream.as_deref().unwrap_or(DEFAULT_STREAM);
        let mut anchors = Vec::with_capacity(emit.anchors.len());
        for id in &emit.anchors {
            match self.pending.get(id) {
                Some(input) => anchors.push(input),
                None => {
                    return Err(self.child.process.protocol_error(format!(
                        "emit anchored to tuple id {id:?}, which is not pending (never sent, \
                         acked or failed)"
                    )))
                }
            }
        }
        let values = emit.tuple;
        let emitted = match emit.task {
            Some(task) => match usize::try_from(task) {
                Ok(task) => c.emit_direct_anchored(task, stream, &anchors, values).map(|()| None),
                Err(_) => Err(Error::Other(format!("no task {task}"))),
            },
            None if emit.need_task_ids => {
                c.delivered_to(|c| c.emit_anchored_to(stream, &anchors, values)).map(Some)
            }
            None => c.emit_anchored_to(stream, &anchors, values).map(|()| None),
        };
        self.child.answer_emit(stream, emitted)
    }
}

impl Bolt for ShellBolt {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        self.spec.declare(declarer);
    }

    /// Starts the child and makes the handshake.
    ///
    /// # Errors
    /// [`Error::TaskFailed`] if the child cannot be started or does not
    /// answer the handshake with its pid within the timeout.
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        let options = self.spec.options;
        let child = ChildLink::launch(&self.spec, context)?;
        self.run = Some(BoltRun {
            child,
            pending: HashMap::new(),
            next_id: 0,
            since_barrier: 0,
            max_pending: options.max_pending,
            syncs: 0,
            last_heartbeat: Instant::now(),
            heartbeat_interval: options.heartbeat_interval(),
            sync_each: context.config().guarantee == Guarantee::ExactlyOnce,
        });
        self.failed = None;
        Ok(())
    }

    /// Sends `input` to the child and handles what it has answered.
    ///
    /// # Errors
    /// [`Error::TaskFailed`] if the child died, hung past the timeout, or
    /// sent a malformed message or one that breaks the protocol (quoted).
    fn execute(&mut self, input: Tuple, collector: &mut OutputCollector) -> Result<()> {
        let run = live(&mut self.run, &self.failed)?;
        let id = run.next_id();
        let result = run.execute(id.clone(), input, collector);
        result.map_err(|e| self.abandon(e, collector, &id))
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(TICK.min(self.spec.options.heartbeat_interval()))
    }

    /// Handles what the child sent; a barrier (heartbeat) when inputs are
    /// pending or a heartbeat is due.
    ///
    /// # Errors
    /// As [`ShellBolt::execute`].
    fn on_tick(&mut self, _now_ms: i64, collector: &mut OutputCollector) -> Result<()> {
        let result = live(&mut self.run, &self.failed)?.tick(collector);
        result.map_err(|e| self.abandon(e, collector, ""))
    }

    /// Waits until the child has dealt with every input (a barrier).
    ///
    /// # Errors
    /// As [`ShellBolt::execute`].
    fn finish(&mut self, collector: &mut OutputCollector) -> Result<()> {
        let result = live(&mut self.run, &self.failed)?.barrier(collector);
        result.map_err(|e| self.abandon(e, collector, ""))
    }

    fn cleanup(&mut self) {
        if let Some(mut run) = self.run.take() {
            run.child.process.close();
        }
    }

    fn ack_mode(&self) -> AckMode {
        AckMode::Manual
    }
}
