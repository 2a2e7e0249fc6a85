//! [`SocketSpout`]: the lines of a TCP connection, the classic streaming
//! demo (`nc -lk 9999` in one terminal, the topology in another; Spark's
//! `socketTextStream`, Flink's `socketTextStream`).
//!
//! Owns the connection: connecting (retried with [`Backoff`] while nothing
//! listens), reading lines on a thread of its own (reads block, so never
//! on the engine's executor threads), reconnecting at end of stream when
//! asked, and the hand-off to the spout's task.

use std::io::{BufRead, BufReader};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use squall::builtins::LineQueue;
use squall::topology::{MessageId, OutputDeclarer};
use squall::{Error, Fields, OutputCollector, Result, Spout, SpoutStatus, TopologyContext};

use crate::retry::{Backoff, ConnectorStats, Failure};

/// Where a [`SocketSpout`] connects; the settings of YAML spout `socket`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketSpoutOptions {
    /// Host name or address. Default `127.0.0.1`.
    #[serde(default = "localhost")]
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// At the end of the stream, connect again (and keep running) instead
    /// of finishing. Default false.
    #[serde(default)]
    pub reconnect: bool,
    /// Retries while nothing listens on `host:port`.
    #[serde(default)]
    pub retry: Backoff,
}

fn localhost() -> String {
    "127.0.0.1".into()
}

impl SocketSpoutOptions {
    /// Lines from `host:port`, finishing at the end of the stream.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        SocketSpoutOptions { host: host.into(), port, reconnect: false, retry: Backoff::default() }
    }
}

/// Emits each line read from a TCP connection to `host:port` on the
/// default stream with the field `line` (a string). Lines end at `'\n'`, a
/// `'\r'` before it is stripped, invalid UTF-8 is decoded lossily; a last
/// line without `'\n'` is emitted at the end of the stream.
///
/// Only task 0 connects (a socket stream cannot be split); other tasks of
/// the component finish at once, so give it parallelism 1. While nothing
/// listens, connecting is retried as `retry` says, each failure logged and
/// counted in [`SocketSpout::stats`]; after `give_up_after_ms` the task
/// fails. At the end of the stream it finishes, or connects again with
/// `reconnect`.
///
/// A socket cannot rewind: with `at_least_once` a failed line is emitted
/// again from memory (kept until acked), but lines are not part of
/// checkpoints, so after a restore the lines read since the checkpoint are
/// not read again (at-most-once across restarts, as Spark's receiver
/// without a write-ahead log).
pub struct SocketSpout {
    options: SocketSpoutOptions,
    stats: ConnectorStats,
    /// Lines from the reader thread (task 0, after `open`), and those in
    /// flight.
    queue: LineQueue,
    /// The open connection, shut down by `close` to end a blocked read.
    connection: Arc<Mutex<Option<TcpStream>>>,
}

impl Clone for SocketSpout {
    /// An unopened copy sharing the stats.
    fn clone(&self) -> Self {
        SocketSpout {
            options: self.options.clone(),
            stats: self.stats.clone(),
            queue: LineQueue::default(),
            connection: Arc::default(),
        }
    }
}

impl SocketSpout {
    /// A spout reading as `options` say.
    pub fn new(options: SocketSpoutOptions) -> Self {
        SocketSpout {
            options,
            stats: ConnectorStats::default(),
            queue: LineQueue::default(),
            connection: Arc::default(),
        }
    }

    /// Lines read and connection retries, shared by every clone.
    pub fn stats(&self) -> ConnectorStats {
        self.stats.clone()
    }
}

/// The reader thread: connects, sends every line to `tx`, reconnects or
/// stops at the end of the stream; stops when the receiver is gone.
fn read_lines(
    options: SocketSpoutOptions,
    stats: ConnectorStats,
    connection: Arc<Mutex<Option<TcpStream>>>,
    tx: SyncSender<Result<String>>,
) {
    let address = format!("{}:{}", options.host, options.port);
    let what = format!("socket spout: connect to {address}");
    loop {
        let stream = options.retry.run(&what, &stats, || {
            if Arc::strong_count(&connection) == 1 {
                // The spout is gone (closed): stop retrying.
                return Err(Failure::Refused("the spout closed".into()));
            }
            TcpStream::connect(&address).map_err(|e| Failure::Unreachable(e.to_string()))
        });
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        tracing::info!("socket spout: connected to {address}");
        if let Ok(clone) = stream.try_clone() {
            *connection.lock().unwrap_or_else(|p| p.into_inner()) = Some(clone);
        }
        let mut reader = BufReader::with_capacity(64 * 1024, stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    let end = buf.strip_suffix(b"\n").unwrap_or(&buf);
                    let end = end.strip_suffix(b"\r").unwrap_or(end);
                    if tx.send(Ok(String::from_utf8_lossy(end).into_owned())).is_err() {
                        return;
                    }
                    stats.add_read(1);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(Error::io(address.clone(), e)));
                    return;
                }
            }
        }
        connection.lock().unwrap_or_else(|p| p.into_inner()).take();
        if !options.reconnect {
            return;
        }
        tracing::info!("socket spout: {address} closed the stream; connecting again");
    }
}

impl Spout for SocketSpout {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(Fields::new(["line"]));
    }

    /// Starts the reader thread on task 0 (it connects in the background).
    ///
    /// # Errors
    /// [`Error::Io`] if the thread cannot be started.
    fn open(&mut self, context: &TopologyContext) -> Result<()> {
        let Some(tx) = self.queue.open(context) else {
            return Ok(()); // not task 0
        };
        let (options, stats, connection) =
            (self.options.clone(), self.stats.clone(), self.connection.clone());
        std::thread::Builder::new()
            .name("squall-socket".into())
            .spawn(move || read_lines(options, stats, connection, tx))
            .map_err(|e| Error::io("socket reader thread", e))?;
        Ok(())
    }

    /// # Errors
    /// [`Error::Io`] naming `host:port` if reading failed; [`Error::Config`]
    /// if connecting failed for `give_up_after_ms`.
    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        self.queue.next_tuple(collector)
    }

    fn ack(&mut self, msg_id: MessageId) {
        self.queue.ack(msg_id);
    }

    fn fail(&mut self, msg_id: MessageId) {
        self.queue.fail(msg_id);
    }

    /// Stops the reader: drops the queue and shuts the connection down, so
    /// that a read blocked on a quiet connection returns (and a thread
    /// still trying to connect stops at its next attempt).
    fn close(&mut self) {
        self.queue.close();
        if let Some(c) = self.connection.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = c.shutdown(Shutdown::Both);
        }
        self.connection = Arc::default();
    }
}
