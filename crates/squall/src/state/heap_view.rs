//! [`HeapView`]: queryable state that an operator keeps on its own heap
//! (a window bolt's open windows), not in the state backend; and
//! [`Mailbox`], how such an operator answers queries from its own task.
//!
//! Heap state is only touched by its task, between two records, with no
//! lock on the per-record path. A query is therefore a message: the query
//! thread posts it in the task's [`Mailbox`] and waits; the task looks at
//! the mailbox between records (one relaxed atomic load per look: on every
//! tick and watermark, see [`MAILBOX_TICK`]) and answers from its live
//! state. Committed reads need no task: [`HeapView::show`] turns the bytes
//! a checkpoint holds for a key into JSON on the query's thread.
//!
//! What this module does not own: routing a query to the task owning the
//! key ([`super::LiveStates`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Mutex;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::Value;
use crate::state::{QueriedEntry, Scan};

/// How often an operator with a mailbox looks at it while idle (its tick
/// interval is at most this).
pub const MAILBOX_TICK: Duration = Duration::from_millis(50);

/// How long a query waits for the task to answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// Keyed state an operator keeps on its heap, readable by queries.
pub trait HeapView: Send + Sync {
    /// The live value of `key` as JSON (`null` when it has none).
    ///
    /// # Errors
    /// [`Error::State`] if the task does not answer in time.
    fn get(&self, key: &[Value]) -> Result<serde_json::Value>;

    /// The live entries of this task whose key text ([`super::key_text`])
    /// matches `scan`, with that text, in text order, at most `scan.limit
    /// + 1` (one more tells the caller the answer was cut).
    ///
    /// # Errors
    /// As [`HeapView::get`].
    fn scan(&self, scan: &Scan) -> Result<Vec<(String, QueriedEntry)>>;

    /// A checkpointed entry's value (its bytes in the checkpoint) as JSON.
    ///
    /// # Errors
    /// [`Error::State`] if the bytes do not decode.
    fn show(&self, bytes: &[u8]) -> Result<serde_json::Value>;
}

/// What a query asks a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// The live value of one key.
    Key(Vec<Value>),
    /// The live entries whose key matches.
    Scan(Scan),
}

/// A task's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// To [`Ask::Key`].
    Value(serde_json::Value),
    /// To [`Ask::Scan`]: key texts and entries.
    Entries(Vec<(String, QueriedEntry)>),
}

type Posted = (Ask, SyncSender<Result<Answer>>);

/// Queries waiting for a task, answered by the task itself.
#[derive(Debug)]
pub struct Mailbox {
    /// Set while a query waits (read on the task's path).
    pending: AtomicBool,
    asks: Mutex<Vec<Posted>>,
    /// `task 1 of 'sums'`, for errors.
    label: String,
}

impl Mailbox {
    /// An empty mailbox of the task `label` names (`task 1 of 'sums'`).
    pub fn new(label: String) -> Self {
        Mailbox { pending: AtomicBool::new(false), asks: Mutex::new(Vec::new()), label }
    }

    /// Whether a query waits: the task's cheap check.
    #[inline]
    pub fn asked(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }

    /// Answers every waiting query with `answer` (on the task's thread).
    pub fn answer(&self, mut answer: impl FnMut(&Ask) -> Result<Answer>) {
        let posted = {
            let mut asks = self.asks.lock().unwrap_or_else(|p| p.into_inner());
            self.pending.store(false, Ordering::Relaxed);
            std::mem::take(&mut *asks)
        };
        for (ask, reply) in posted {
            let _ = reply.try_send(answer(&ask));
        }
    }

    /// Posts `ask` and waits for the task's answer, at most [`ANSWER_WAIT`]
    /// (on the query's thread).
    ///
    /// # Errors
    /// [`Error::State`] naming the task if it did not answer in time (busy
    /// on one record, blocked by backpressure, or gone), or the task's
    /// error.
    pub fn ask(&self, ask: Ask) -> Result<Answer> {
        let (reply, answer) = sync_channel(1);
        {
            let mut asks = self.asks.lock().unwrap_or_else(|p| p.into_inner());
            asks.push((ask, reply));
            self.pending.store(true, Ordering::Release);
        }
        answer.recv_timeout(ANSWER_WAIT).unwrap_or_else(|_| {
            Err(Error::State(format!(
                "{} did not answer the query within {} ms (busy, backpressured or stopped)",
                self.label,
                ANSWER_WAIT.as_millis()
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_query_is_answered_by_the_task_between_its_records() {
        let mailbox = Arc::new(Mailbox::new("task 0 of 'w'".into()));
        assert!(!mailbox.asked());
        let asker = mailbox.clone();
        let query = std::thread::spawn(move || asker.ask(Ask::Key(vec![Value::from("k")])));
        while !mailbox.asked() {
            std::thread::yield_now();
        }
        mailbox.answer(|ask| match ask {
            Ask::Key(k) => Ok(Answer::Value(serde_json::json!(k.len()))),
            Ask::Scan(_) => unreachable!(),
        });
        assert!(!mailbox.asked());
        assert_eq!(query.join().unwrap().unwrap(), Answer::Value(serde_json::json!(1)));
    }
}
