//! Connects a worker's [`TopologyPart`](squall::runtime::TopologyPart) to
//! the other workers: every [`RemoteOutput`] becomes a TCP connection to the
//! worker that runs its consumer task, and every connection accepted on the
//! worker's data listener feeds the [`RemoteInput`] its hello names. The
//! control planes (checkpoints, ackers) connect one worker, the hub, both
//! ways with every other, and run one loop on each side ([`Link::hub`],
//! [`Link::spoke`]). Frames,
//! compression and backpressure are [`crate::protocol::wire`]'s; TLS, when
//! configured, [`crate::protocol::tls`]'s.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::stream::{self, BoxStream, SelectAll, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use squall::runtime::{RemoteInput, RemoteMessage, RemoteOutput};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::protocol::tls::DataTls;
use crate::protocol::wire::{self, Hello, WireConfig, WireStats};
use crate::{Error, Result};

/// How a worker's connections (data channels, checkpoint events and
/// commands, acker traffic) are made: their wire settings and counters, and
/// the supervisor's TLS, if any.
#[derive(Clone)]
pub struct Link {
    /// Wire settings (session, compression).
    pub config: WireConfig,
    /// Bytes and frames counted.
    pub stats: Arc<WireStats>,
    /// Mutual TLS, as the data connections.
    pub tls: Option<DataTls>,
}

/// One frame of a control plane's connection ([`Link::hub`],
/// [`Link::spoke`]): an end says [`Frame::Done`], so that a connection that
/// merely closes is a lost worker, not the end of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Frame<T> {
    /// A message of the plane.
    Message(T),
    /// Nothing more follows.
    Done,
}

/// A connection's sending end and its writer task.
pub type Sending<T> = (tokio::sync::mpsc::Sender<T>, JoinHandle<Result<()>>);

/// A connection's receiving end: the peer's hello, its frames, and the
/// reader task.
pub type Receiving<T> = (Hello, tokio::sync::mpsc::Receiver<T>, JoinHandle<Result<()>>);

impl Link {
    /// The hello of a connection from task `producer` to task `consumer`
    /// (`u64::MAX`: not named).
    fn hello(&self, producer: u64, consumer: u64) -> Hello {
        let WireConfig { session, compression, .. } = self.config;
        Hello { version: wire::VERSION, session, producer, consumer, compression }
    }

    /// Connects to the listener at `addr` and sends `T`s on it, with
    /// `hello`.
    ///
    /// # Errors
    /// [`Error::Io`] if the worker cannot be reached; TLS's errors.
    pub async fn connect<T>(&self, addr: SocketAddr, hello: Hello) -> Result<Sending<T>>
    where
        T: serde::Serialize + Send + 'static,
    {
        let io = |what: String| move |source| Error::Io { what, source };
        let stream =
            TcpStream::connect(addr).await.map_err(io(format!("connect to worker {addr}")))?;
        stream.set_nodelay(true).map_err(io("set TCP_NODELAY".into()))?;
        let stream: Box<dyn wire::Connection> = match &self.tls {
            Some(tls) => Box::new(tls.connect(stream).await?),
            None => Box::new(stream),
        };
        Ok(wire::sender::<T, _>(stream, hello, self.config, self.stats.clone()))
    }

    /// Accepts one connection on `listener` and reads its hello.
    ///
    /// # Errors
    /// [`Error::Io`] if accepting fails; TLS's errors; [`Error::Wire`] for
    /// a bad hello.
    pub async fn accept<T>(&self, listener: &TcpListener) -> Result<Receiving<T>>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|source| Error::Io { what: "accept a connection".into(), source })?;
        let stream: Box<dyn wire::Connection> = match &self.tls {
            Some(tls) => Box::new(tls.accept(stream).await?),
            None => Box::new(stream),
        };
        wire::receiver::<T, _>(stream, self.config, self.stats.clone()).await
    }

    /// The hub of a control plane in which one worker (the checkpoint
    /// coordinator's, the ackers') talks to every other: connects to each
    /// of `followers` (control address, first task) and accepts one
    /// connection from each, hands every message that comes up to `up`,
    /// and sends each of `down`'s items to its follower (`Some(i)`: the
    /// `i`th; `None`: all). A follower that said [`Frame::Done`] is answered
    /// `Done` and sent nothing more. Ends once every follower said `Done`,
    /// or when `down` ends (then with `Done` to the others).
    ///
    /// # Errors
    /// [`Error::Attempt`] when a follower's connection closes before its
    /// `Done`, or one comes from an unknown worker; as [`Link::connect`]
    /// and [`Link::accept`].
    pub async fn hub<Up, Down>(
        &self,
        listener: &TcpListener,
        followers: &[(SocketAddr, usize)],
        down: impl Stream<Item = (Option<usize>, Down)>,
        mut up: impl FnMut(Up),
    ) -> Result<()>
    where
        Up: serde::de::DeserializeOwned + Send + 'static,
        Down: serde::Serialize + Clone + Send + 'static,
    {
        let hello = self.hello(u64::MAX, u64::MAX);
        let outgoing = futures_util::future::try_join_all(
            followers.iter().map(|&(a, _)| self.connect::<Frame<Down>>(a, hello)),
        );
        let incoming = async {
            let mut accepted = Vec::new();
            for _ in followers {
                accepted.push(self.accept::<Frame<Up>>(listener).await?);
            }
            Ok::<_, Error>(accepted)
        };
        // Both ways at once: a TLS handshake needs the other end's accept.
        let (downs, accepted) = tokio::try_join!(outgoing, incoming)?;
        let mut downs: Vec<_> = downs.into_iter().map(Some).collect();
        let mut ups = SelectAll::new();
        for (hello, rx, reader) in accepted {
            let i = followers.iter().position(|&(_, first)| first as u64 == hello.producer);
            let unknown = || Error::Attempt("a control connection from an unknown worker".into());
            ups.push(frames(i.ok_or_else(unknown)?, rx, reader));
        }
        let mut open = followers.len();
        tokio::pin!(down);
        while open > 0 {
            tokio::select! {
                Some((i, frame)) = ups.next() => match frame {
                    Some(Frame::Message(message)) => up(message),
                    Some(Frame::Done) => {
                        open -= 1;
                        finish(downs[i].take()).await?;
                    }
                    None if downs[i].is_none() => {}
                    None => return Err(Error::Attempt(format!(
                        "the worker of task {} closed its control connection before its end",
                        followers[i].1
                    ))),
                },
                next = down.next() => match next {
                    Some((Some(i), message)) => {
                        if let Some((tx, _)) = &downs[i] {
                            tx.send(Frame::Message(message)).await.map_err(closed)?;
                        }
                    }
                    Some((None, message)) => {
                        for (tx, _) in downs.iter().flatten() {
                            tx.send(Frame::Message(message.clone())).await.map_err(closed)?;
                        }
                    }
                    None => break,
                },
            }
        }
        for sending in downs {
            finish(sending).await?;
        }
        Ok(())
    }

    /// Any other worker's side of [`Link::hub`]: connects to the hub's
    /// listener at `hub` (saying this worker's first task is `first_task`)
    /// and accepts the hub's connection on `listener`; sends `up`'s items
    /// and then [`Frame::Done`], and hands every message that comes down
    /// to `down`, until the hub says `Done`.
    ///
    /// # Errors
    /// [`Error::Attempt`] when the hub's connection closes before its
    /// `Done`; as [`Link::connect`] and [`Link::accept`].
    pub async fn spoke<Up, Down>(
        &self,
        listener: &TcpListener,
        hub: SocketAddr,
        first_task: usize,
        up: impl Stream<Item = Up>,
        mut down: impl FnMut(Down),
    ) -> Result<()>
    where
        Up: serde::Serialize + Send + 'static,
        Down: serde::de::DeserializeOwned + Send + 'static,
    {
        let hello = self.hello(first_task as u64, u64::MAX);
        let ((tx, writer), (_, mut rx, reader)) = tokio::try_join!(
            self.connect::<Frame<Up>>(hub, hello),
            self.accept::<Frame<Down>>(listener)
        )?;
        let send_up = async move {
            tokio::pin!(up);
            while let Some(message) = up.next().await {
                tx.send(Frame::Message(message)).await.map_err(closed)?;
            }
            finish(Some((tx, writer))).await?;
            std::future::pending::<Result<()>>().await
        };
        let take_down = async move {
            while let Some(frame) = rx.recv().await {
                match frame {
                    Frame::Message(message) => down(message),
                    Frame::Done => return Ok(()),
                }
            }
            reader.await??;
            let gone = "the hub's worker closed its control connection before its end";
            Err(Error::Attempt(gone.into()))
        };
        // The hub's `Done` follows everything it needed from this side.
        tokio::select! {
            ended = take_down => ended,
            failed = send_up => failed,
        }
    }

    /// Accepts one connection per input on `listener` and feeds each input
    /// until its producer's worker closes the connection.
    ///
    /// # Errors
    /// [`Error::Wire`] for a hello naming no expected channel, or a broken
    /// frame; [`Error::Io`] if accepting fails.
    pub async fn serve_inputs(
        &self,
        listener: TcpListener,
        inputs: Vec<RemoteInput>,
    ) -> Result<()> {
        let mut waiting: HashMap<(u64, u64), RemoteInput> =
            inputs.into_iter().map(|i| ((i.producer as u64, i.consumer as u64), i)).collect();
        let mut feeding = JoinSet::new();
        while !waiting.is_empty() {
            let (hello, mut rx, reader) = self.accept::<RemoteMessage>(&listener).await?;
            let input = waiting.remove(&(hello.producer, hello.consumer)).ok_or_else(|| {
                Error::Wire(format!("unexpected channel {} -> {}", hello.producer, hello.consumer))
            })?;
            feeding.spawn(async move {
                let mut ended = false;
                while let Some(message) = rx.recv().await {
                    ended = message.is_end();
                    if !input.send(message).await {
                        return Ok(()); // the consumer stopped
                    }
                }
                reader.await.map_err(|e| Error::Wire(format!("reader task: {e}")))??;
                match ended {
                    true => Ok(()),
                    false => Err(Error::Wire(format!(
                        "the worker of task {} closed channel {} -> {} before its end",
                        input.producer, input.producer, input.consumer
                    ))),
                }
            });
        }
        while let Some(done) = feeding.join_next().await {
            done.map_err(|e| Error::Wire(format!("input task: {e}")))??;
        }
        Ok(())
    }

    /// Connects every output to the worker at `address_of(consumer task)`
    /// and forwards its messages until its producer stops.
    ///
    /// # Errors
    /// [`Error::Io`] if a worker cannot be reached; [`Error::Wire`].
    pub async fn send_outputs(
        &self,
        outputs: Vec<RemoteOutput>,
        address_of: impl Fn(usize) -> SocketAddr,
    ) -> Result<()> {
        let mut sending = JoinSet::new();
        for mut output in outputs {
            let hello = self.hello(output.producer as u64, output.consumer as u64);
            let (tx, writer) =
                self.connect::<RemoteMessage>(address_of(output.consumer), hello).await?;
            sending.spawn(async move {
                while let Some(message) = output.recv().await {
                    if tx.send(message).await.is_err() {
                        break;
                    }
                }
                drop(tx);
                writer.await.map_err(|e| Error::Wire(format!("writer task: {e}")))?
            });
        }
        while let Some(done) = sending.join_next().await {
            done.map_err(|e| Error::Wire(format!("output task: {e}")))??;
        }
        Ok(())
    }
}

/// The frames of the `i`th follower, then `(i, None)` once its connection
/// closed.
fn frames<T: Send + 'static>(
    i: usize,
    rx: tokio::sync::mpsc::Receiver<T>,
    reader: JoinHandle<Result<()>>,
) -> BoxStream<'static, (usize, Option<T>)> {
    let frames = stream::unfold(rx, |mut rx| async { rx.recv().await.map(|f| (Some(f), rx)) });
    let ended = stream::once(async {
        let _ = reader.await;
        None
    });
    frames.chain(ended).map(move |frame| (i, frame)).boxed()
}

/// A control connection that closed under its sender.
fn closed<E>(_: E) -> Error {
    Error::Attempt("a worker's control connection closed".into())
}

/// Says [`Frame::Done`] on `sending`, if open, and waits for its writer.
async fn finish<T: Send>(sending: Option<Sending<Frame<T>>>) -> Result<()> {
    if let Some((tx, writer)) = sending {
        tx.send(Frame::Done).await.map_err(closed)?;
        drop(tx);
        writer.await??;
    }
    Ok(())
}
