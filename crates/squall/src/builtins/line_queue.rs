//! [`LineQueue`]: lines read by a thread of their own (standard input, a
//! TCP connection) and emitted by the spout's task 0, with replay.
//!
//! One piece of code for every spout whose source blocks and cannot be
//! split: the reader runs on a plain OS thread, never on the runtime's
//! executor threads, and hands lines over through a bounded queue, so
//! `next_tuple` never blocks and a slow topology holds the reader back.

use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Mutex;

use crate::builtins::replay::Replay;
use crate::error::Result;
use crate::model::Value;
use crate::runtime::OutputCollector;
use crate::topology::{MessageId, SpoutStatus, TopologyContext};

/// Lines waiting between the reader thread and the task. When full, the
/// reader stops reading (backpressure reaches the source).
pub const QUEUE_LINES: usize = 4096;
/// Lines emitted per `next_tuple` call at most.
pub const LINES_PER_CALL: usize = 256;

/// The task side of a line-reading spout: the queue from its reader
/// thread, the lines in flight (tracking only, by line number from 0) and
/// the next line number.
///
/// Each line is emitted on the default stream as one string value; with
/// tracking (`at_least_once`) its line number is its message id, and it is
/// emitted again if it fails or times out.
#[derive(Debug, Default)]
pub struct LineQueue {
    /// In a mutex only so that the spout is `Sync`; reached with
    /// `get_mut`, never locked.
    lines: Option<Mutex<Receiver<Result<String>>>>,
    replay: Replay,
    next_id: MessageId,
}

impl LineQueue {
    /// Resets for a task of a topology configured as in `context`. On task
    /// 0 returns the sender that the reader thread fills (a line, or an
    /// error that fails the task; dropping it ends the input); other tasks
    /// get `None` and finish at once.
    pub fn open(&mut self, context: &TopologyContext) -> Option<SyncSender<Result<String>>> {
        self.replay.open(context);
        self.next_id = 0;
        self.lines = None;
        if context.task_index() != 0 {
            return None;
        }
        let (tx, rx) = mpsc::sync_channel(QUEUE_LINES);
        self.lines = Some(Mutex::new(rx));
        Some(tx)
    }

    /// Whether the queue is open (task 0, after `open`, before `close`).
    pub fn is_open(&self) -> bool {
        self.lines.is_some()
    }

    /// Emits failed lines again, else up to [`LINES_PER_CALL`] new ones.
    /// `Idle` while no line waits, `Finished` once the reader hung up (and
    /// on tasks other than 0).
    ///
    /// # Errors
    /// The error the reader sent, or as [`OutputCollector::emit_with_id`].
    pub fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        let Some(lines) = self.lines.as_mut() else {
            return Ok(SpoutStatus::Finished);
        };
        if self.replay.replay(collector, LINES_PER_CALL)? > 0 {
            return Ok(SpoutStatus::Active);
        }
        let rx = lines.get_mut().unwrap_or_else(|p| p.into_inner());
        for n in 0..LINES_PER_CALL {
            match rx.try_recv() {
                Ok(Ok(line)) => {
                    self.replay.emit(collector, self.next_id, vec![Value::String(line)])?;
                    self.next_id += 1;
                }
                Ok(Err(e)) => return Err(e),
                Err(TryRecvError::Empty) if n == 0 => return Ok(SpoutStatus::Idle),
                Err(TryRecvError::Empty) => return Ok(SpoutStatus::Active),
                Err(TryRecvError::Disconnected) => return Ok(SpoutStatus::Finished),
            }
        }
        Ok(SpoutStatus::Active)
    }

    /// The line `msg_id` was fully processed.
    pub fn ack(&mut self, msg_id: MessageId) {
        self.replay.ack(msg_id);
    }

    /// The line `msg_id` failed or timed out: it is emitted again.
    pub fn fail(&mut self, msg_id: MessageId) {
        self.replay.fail(msg_id);
    }

    /// Drops the queue: the reader thread exits at its next line.
    pub fn close(&mut self) {
        self.lines = None;
    }
}
