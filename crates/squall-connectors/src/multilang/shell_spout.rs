//! [`ShellSpout`]: a spout whose tuples come from a child process speaking
//! Storm's multilang protocol (a Python spout written with `storm.py` or
//! pystorm, unchanged).
//!
//! Owns the spout side of the protocol: `next_tuple` sends `next` and
//! handles the child's messages until its `sync`; the child's message ids
//! (any JSON) get Squall message ids, and the engine's `ack`/`fail` go back
//! to the child with the id it emitted. A child that dies, hangs or breaks
//! the protocol fails the task ([`Error::TaskFailed`]).
//!
//! `ack` and `fail` get no collector from the engine, so they only send
//! the command; what the child emits while handling it (a reliable spout
//! emits failed tuples again) and its `sync` are handled at the next
//! `next_tuple`, in order. Storm's `activate`/`deactivate` commands are not
//! sent: Squall's spouts have no such calls.

use std::collections::HashMap;

use squall::topology::{MessageId, OutputDeclarer, DEFAULT_STREAM};
use squall::{Error, OutputCollector, Result, Spout, SpoutStatus, TopologyContext};

use super::link::{live, ChildLink};
use super::protocol::{ChildMessage, Emit, SpoutCommand, ToChild};
use super::spec::{shell_component, ShellSpec};

/// Runs a multilang child per task and asks it for tuples.
///
/// The child's spout never finishes (Storm's multilang spouts have no end
/// of input): the topology runs until it is killed. Message ids are the
/// child's to keep: a child restarted after a failure starts afresh, so
/// replaying across a restart is up to it. Under `exactly_once` it has no
/// position to checkpoint and rewind: its tuples are at-least-once at best.
///
/// # Examples
/// ```no_run
/// use squall::TopologyBuilder;
/// use squall_connectors::ShellSpout;
///
/// let mut builder = TopologyBuilder::new("python-spout");
/// let sentences = ShellSpout::new(["python3", "sentences.py"]).fields(["sentence"]);
/// builder.set_spout("sentences", sentences, 1);
/// ```
pub struct ShellSpout {
    spec: ShellSpec,
    run: Option<SpoutRun>,
    /// Why the child failed, once it has.
    failed: Option<String>,
}

shell_component!(ShellSpout, "spout");

impl ShellSpout {
    /// Sends `ack` or `fail` for `msg_id` if the child emitted it; a
    /// failure is kept for the next `next_tuple` to report.
    fn tell(&mut self, command: &str, msg_id: MessageId) {
        let Some(run) = self.run.as_mut() else { return };
        let Some(id) = run.ids.remove(&msg_id) else {
            // Emitted by a child that has since been replaced.
            return;
        };
        if let Err(e) = run.command(command, &id) {
            self.stop(e);
        }
    }

    fn stop(&mut self, error: Error) -> Error {
        if let Some(mut run) = self.run.take() {
            run.child.process.close();
        }
        self.failed = Some(error.to_string());
        error
    }
}

/// One task's child and the message ids it emitted.
struct SpoutRun {
    child: ChildLink,
    /// The child's message id of each Squall message id in flight.
    ids: HashMap<MessageId, serde_json::Value>,
    next_msg_id: MessageId,
    /// `sync`s not yet received (one per command sent).
    syncs: usize,
    /// Tuples emitted during the current `next_tuple`.
    emitted: usize,
}

impl SpoutRun {
    fn command(&mut self, command: &str, id: &serde_json::Value) -> Result<()> {
        self.child.process.send(&ToChild::Command(SpoutCommand { command, id }))?;
        self.syncs += 1;
        Ok(())
    }

    fn next_tuple(&mut self, c: &mut OutputCollector) -> Result<SpoutStatus> {
        self.emitted = 0;
        self.command("next", &serde_json::Value::from(""))?;
        while self.syncs > 0 {
            let msg = self.child.process.next()?;
            self.handle(msg, c)?;
        }
        Ok(if self.emitted > 0 { SpoutStatus::Active } else { SpoutStatus::Idle })
    }

    fn handle(&mut self, msg: ChildMessage, c: &mut OutputCollector) -> Result<()> {
        let Some(msg) = self.child.report(msg) else { return Ok(()) };
        match msg {
            ChildMessage::Emit(emit) => self.emit(emit, c),
            ChildMessage::Sync => {
                self.syncs = self.syncs.saturating_sub(1);
                Ok(())
            }
            other => Err(self.child.process.protocol_error(format!("a spout sent {other:?}"))),
        }
    }

    fn emit(&mut self, emit: Emit, c: &mut OutputCollector) -> Result<()> {
        let stream = emit.stream.as_deref().unwrap_or(DEFAULT_STREAM);
        let values = emit.tuple;
        let msg_id = emit.id.map(|id| {
            self.next_msg_id += 1;
            self.ids.insert(self.next_msg_id, id);
            self.next_msg_id
        });
        let direct = emit.task.map(|t| usize::try_from(t).map_err(|_| format!("no task {t}")));
        let emitted = match (direct, msg_id) {
            (Some(Err(e)), _) => Err(Error::Other(e)),
            (Some(Ok(task)), Some(m)) => {
                c.emit_direct_with_id(task, stream, values, m).map(|()| None)
            }
            (Some(Ok(task)), None) => c.emit_direct(task, stream, values).map(|()| None),
            (None, Some(m)) if emit.need_task_ids => {
                c.delivered_to(|c| c.emit_with_id(stream, values, m)).map(Some)
            }
            (None, Some(m)) => c.emit_with_id(stream, values, m).map(|()| None),
            (None, None) if emit.need_task_ids => {
                c.delivered_to(|c| c.emit_to(stream, values)).map(Some)
            }
            (None, None) => c.emit_to(stream, values).map(|()| None),
        };
        self.emitted += 1;
        self.child.answer_emit(stream, emitted)
    }
}

impl Spout for ShellSpout {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        self.spec.declare(declarer);
    }

    /// Starts the child and makes the handshake.
    ///
    /// # Errors
    /// [`Error::TaskFailed`] if the child cannot be started or does not
    /// answer the handshake with its pid within the timeout.
    fn open(&mut self, context: &TopologyContext) -> Result<()> {
        let child = ChildLink::launch(&self.spec, context)?;
        self.run =
            Some(SpoutRun { child, ids: HashMap::new(), next_msg_id: 0, syncs: 0, emitted: 0 });
        self.failed = None;
        Ok(())
    }

    /// Sends `next` and handles the child's messages until its `sync`
    /// (and those left from earlier `ack`/`fail` commands). Idle when the
    /// child emitted nothing.
    ///
    /// # Errors
    /// [`Error::TaskFailed`] if the child died, hung past the timeout, or
    /// sent a malformed message or one that breaks the protocol (quoted).
    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        let result = live(&mut self.run, &self.failed)?.next_tuple(collector);
        result.map_err(|e| self.stop(e))
    }

    fn ack(&mut self, msg_id: MessageId) {
        self.tell("ack", msg_id);
    }

    fn fail(&mut self, msg_id: MessageId) {
        self.tell("fail", msg_id);
    }

    fn close(&mut self) {
        if let Some(mut run) = self.run.take() {
            run.child.process.close();
        }
    }
}
