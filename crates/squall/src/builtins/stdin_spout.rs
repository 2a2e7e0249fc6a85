//! [`StdinSpout`]: the lines of standard input, as they arrive.
//!
//! Owns the reader thread and the hand-off to the spout's task. Reading
//! blocks, so it runs on a plain OS thread of its own, never on the
//! runtime's executor threads.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
#[cfg(test)]
use std::sync::Arc;
use std::sync::Mutex;

use crate::builtins::replay::Replay;
use crate::error::{Error, Result};
use crate::model::{Fields, Value};
use crate::runtime::OutputCollector;
use crate::topology::{MessageId, OutputDeclarer, Spout, SpoutStatus, TopologyContext};

/// Lines waiting between the reader thread and the task. When full, the
/// reader stops reading (backpressure reaches the pipe).
const QUEUE_LINES: usize = 4096;
/// Lines emitted per `next_tuple` call at most.
const LINES_PER_CALL: usize = 256;

/// Where the lines come from.
#[derive(Clone)]
enum Source {
    Stdin,
    /// Fixed bytes, for tests.
    #[cfg(test)]
    Bytes(Arc<[u8]>),
}

/// Emits each line of standard input on the default stream with the field
/// `line` (a string), and finishes at end of input.
///
/// Lines end at `'\n'`, a `'\r'` before it is stripped, invalid UTF-8 is
/// decoded lossily. Only task 0 reads (standard input cannot be shared);
/// other tasks of the component finish at once, so give it parallelism 1.
///
/// A reader thread started in `open` reads ahead by at most 4096 lines;
/// `next_tuple` never blocks, it returns [`SpoutStatus::Idle`] while no line
/// is there. When the topology is killed the thread stays blocked in `read`
/// until the next line or end of input, then exits; it never keeps the
/// process alive.
///
/// With tracking (`at_least_once`), each line is emitted with its line
/// number (from 0) as message id, kept until acked, and emitted again if it
/// fails or times out.
///
/// # Examples
/// ```
/// use squall::builtins::StdinSpout;
/// use squall::TopologyBuilder;
///
/// let mut builder = TopologyBuilder::new("echo");
/// builder.set_spout("stdin", StdinSpout::new(), 1);
/// ```
pub struct StdinSpout {
    source: Source,
    /// Lines from the reader thread (after `open`, task 0 only). In a mutex
    /// only so that the spout is `Sync`; reached with `get_mut`, never
    /// locked.
    lines: Option<Mutex<Receiver<std::io::Result<String>>>>,
    /// Lines in flight (tracking only), by line number from 0.
    replay: Replay,
    next_id: MessageId,
}

impl Clone for StdinSpout {
    /// A fresh, unopened copy.
    fn clone(&self) -> Self {
        StdinSpout::with_source(self.source.clone())
    }
}

impl std::fmt::Debug for StdinSpout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdinSpout").field("open", &self.lines.is_some()).finish()
    }
}

impl Default for StdinSpout {
    fn default() -> Self {
        StdinSpout::new()
    }
}

impl StdinSpout {
    fn with_source(source: Source) -> StdinSpout {
        StdinSpout { source, lines: None, replay: Replay::default(), next_id: 0 }
    }

    /// A spout over this process's standard input.
    pub fn new() -> StdinSpout {
        StdinSpout::with_source(Source::Stdin)
    }

    #[cfg(test)]
    fn from_bytes(bytes: &[u8]) -> StdinSpout {
        StdinSpout::with_source(Source::Bytes(bytes.into()))
    }
}

/// Reads lines from `input` into `tx` until end of input, an error (sent
/// on), or the receiver is gone.
fn pump(input: impl Read, tx: SyncSender<std::io::Result<String>>) {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                let line = String::from_utf8_lossy(&buf).into_owned();
                if tx.send(Ok(line)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

impl Spout for StdinSpout {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(Fields::new(["line"]));
    }

    /// Starts the reader thread on task 0.
    ///
    /// # Errors
    /// [`Error::Io`] if the thread cannot be started.
    fn open(&mut self, context: &TopologyContext) -> Result<()> {
        self.replay.open(context);
        self.next_id = 0;
        if context.task_index() != 0 {
            return Ok(());
        }
        let (tx, rx) = mpsc::sync_channel(QUEUE_LINES);
        let source = self.source.clone();
        std::thread::Builder::new()
            .name("squall-stdin".into())
            .spawn(move || match source {
                Source::Stdin => pump(std::io::stdin().lock(), tx),
                #[cfg(test)]
                Source::Bytes(b) => pump(&b[..], tx),
            })
            .map_err(|e| Error::io("stdin reader thread", e))?;
        self.lines = Some(Mutex::new(rx));
        Ok(())
    }

    /// # Errors
    /// [`Error::Io`] on `stdin` if reading failed.
    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        let Some(lines) = self.lines.as_mut() else {
            return Ok(SpoutStatus::Finished); // not task 0
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
                Ok(Err(e)) => return Err(Error::io("stdin", e)),
                Err(TryRecvError::Empty) if n == 0 => return Ok(SpoutStatus::Idle),
                Err(TryRecvError::Empty) => return Ok(SpoutStatus::Active),
                Err(TryRecvError::Disconnected) => return Ok(SpoutStatus::Finished),
            }
        }
        Ok(SpoutStatus::Active)
    }

    fn ack(&mut self, msg_id: MessageId) {
        self.replay.ack(msg_id);
    }

    fn fail(&mut self, msg_id: MessageId) {
        self.replay.fail(msg_id);
    }

    fn close(&mut self) {
        // Dropping the receiver makes the reader thread exit at its next line.
        self.lines = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::test_support::Collect;
    use crate::{LocalCluster, TopologyBuilder};

    #[test]
    fn emits_every_line_once_from_task_zero_only() {
        let mut input = String::new();
        let mut expected = Vec::new();
        for i in 0..10_000 {
            input.push_str(&format!("line {i}\r\n"));
            expected.push(format!("line {i}"));
        }
        input.push_str("tail");
        expected.push("tail".into());
        let sink = Collect::default();
        let mut builder = TopologyBuilder::new("stdin-test");
        builder.set_spout("in", StdinSpout::from_bytes(input.as_bytes()), 3);
        builder.set_bolt("sink", sink.clone(), 1).shuffle_grouping("in");
        LocalCluster::run(builder.build().unwrap()).unwrap();
        let got: Vec<String> =
            sink.rows().into_iter().map(|v| v[0].as_str().unwrap().to_string()).collect();
        assert_eq!(got, expected, "one reader, order kept");
    }

    #[test]
    fn is_send_and_sync_before_open() {
        fn check<T: Send + Sync>() {}
        check::<StdinSpout>();
    }
}
