//! [`StdinSpout`]: the lines of standard input, as they arrive.
//!
//! Owns the reader thread and the hand-off to the spout's task. Reading
//! blocks, so it runs on a plain OS thread of its own, never on the
//! runtime's executor threads.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::SyncSender;
#[cfg(test)]
use std::sync::Arc;

use crate::builtins::line_queue::LineQueue;
use crate::error::{Error, Result};
use crate::model::Fields;
use crate::runtime::OutputCollector;
use crate::topology::{MessageId, OutputDeclarer, Spout, SpoutStatus, TopologyContext};

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
    /// Lines from the reader thread (after `open`, task 0 only), and those
    /// in flight.
    queue: LineQueue,
}

impl Clone for StdinSpout {
    /// A fresh, unopened copy.
    fn clone(&self) -> Self {
        StdinSpout::with_source(self.source.clone())
    }
}

impl std::fmt::Debug for StdinSpout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdinSpout").field("open", &self.queue.is_open()).finish()
    }
}

impl Default for StdinSpout {
    fn default() -> Self {
        StdinSpout::new()
    }
}

impl StdinSpout {
    fn with_source(source: Source) -> StdinSpout {
        StdinSpout { source, queue: LineQueue::default() }
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
fn pump(input: impl Read, tx: SyncSender<Result<String>>) {
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
                let _ = tx.send(Err(Error::io("stdin", e)));
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
        let Some(tx) = self.queue.open(context) else {
            return Ok(()); // not task 0
        };
        let source = self.source.clone();
        std::thread::Builder::new()
            .name("squall-stdin".into())
            .spawn(move || match source {
                Source::Stdin => pump(std::io::stdin().lock(), tx),
                #[cfg(test)]
                Source::Bytes(b) => pump(&b[..], tx),
            })
            .map_err(|e| Error::io("stdin reader thread", e))?;
        Ok(())
    }

    /// # Errors
    /// [`Error::Io`] on `stdin` if reading failed.
    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        self.queue.next_tuple(collector)
    }

    fn ack(&mut self, msg_id: MessageId) {
        self.queue.ack(msg_id);
    }

    fn fail(&mut self, msg_id: MessageId) {
        self.queue.fail(msg_id);
    }

    fn close(&mut self) {
        // Dropping the receiver makes the reader thread exit at its next line.
        self.queue.close();
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
