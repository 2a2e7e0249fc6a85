//! Connects a worker's [`TopologyPart`](squall::runtime::TopologyPart) to
//! the other workers: every [`RemoteOutput`] becomes a TCP connection to the
//! worker that runs its consumer task, and every connection accepted on the
//! worker's data listener feeds the [`RemoteInput`] its hello names. Frames,
//! compression and backpressure are [`crate::protocol::wire`]'s; TLS, when
//! configured, [`crate::protocol::tls`]'s.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use squall::runtime::{RemoteInput, RemoteMessage, RemoteOutput};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::protocol::tls::DataTls;
use crate::protocol::wire::{self, Hello, WireConfig, WireStats};
use crate::{Error, Result};

/// How a worker's control connections (checkpoint events and commands,
/// acker traffic) are made: their wire settings and counters, and the
/// supervisor's TLS, if any.
#[derive(Clone)]
pub struct Link {
    /// Wire settings (session, compression).
    pub config: WireConfig,
    /// Bytes and frames counted.
    pub stats: Arc<WireStats>,
    /// Mutual TLS, as the data connections.
    pub tls: Option<DataTls>,
}

/// A control connection's sending end and its writer task.
pub type Sending<T> = (tokio::sync::mpsc::Sender<T>, tokio::task::JoinHandle<Result<()>>);

impl Link {
    /// Connects to the control listener at `addr` and sends `T`s on it.
    ///
    /// # Errors
    /// [`Error::Io`] if the worker cannot be reached; TLS's errors.
    pub async fn connect<T>(&self, addr: SocketAddr, hello: Hello) -> Result<Sending<T>>
    where
        T: serde::Serialize + Send + 'static,
    {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| Error::Io { what: format!("connect to worker {addr}"), source })?;
        let stream = crate::protocol::tls::connect_maybe(self.tls.as_ref(), stream).await?;
        Ok(wire::sender::<T, _>(stream, hello, self.config, self.stats.clone()))
    }

    /// Accepts one control connection on `control`.
    ///
    /// # Errors
    /// [`Error::Io`] if accepting fails; TLS's errors.
    pub async fn accept(&self, control: &TcpListener) -> Result<Box<dyn wire::Connection>> {
        let (stream, _) = control
            .accept()
            .await
            .map_err(|source| Error::Io { what: "accept a control connection".into(), source })?;
        crate::protocol::tls::accept_maybe(self.tls.as_ref(), stream).await
    }
}

/// The hello of a control connection from the worker whose first task is
/// `first_task` (`usize::MAX`: not named).
pub fn hello(first_task: usize, config: WireConfig) -> Hello {
    Hello {
        version: wire::VERSION,
        session: config.session,
        producer: first_task as u64,
        consumer: u64::MAX,
        compression: config.compression,
    }
}

/// Accepts one connection per input on `listener` and feeds each input
/// until its producer's worker closes the connection.
///
/// # Errors
/// [`Error::Wire`] for a hello naming no expected channel, or a broken
/// frame; [`Error::Io`] if accepting fails.
pub async fn serve_inputs(
    listener: TcpListener,
    inputs: Vec<RemoteInput>,
    config: WireConfig,
    stats: Arc<WireStats>,
    tls: Option<DataTls>,
) -> Result<()> {
    let mut waiting: HashMap<(u64, u64), RemoteInput> =
        inputs.into_iter().map(|i| ((i.producer as u64, i.consumer as u64), i)).collect();
    let mut feeding = JoinSet::new();
    while !waiting.is_empty() {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|source| Error::Io { what: "accept a data connection".into(), source })?;
        let (hello, mut rx, reader) = match &tls {
            Some(tls) => {
                let stream = tls.accept(stream).await?;
                wire::receiver::<RemoteMessage, _>(stream, config, stats.clone()).await?
            }
            None => wire::receiver::<RemoteMessage, _>(stream, config, stats.clone()).await?,
        };
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

/// Connects every output to the worker at `address_of(consumer task)` and
/// forwards its messages until its producer stops.
///
/// # Errors
/// [`Error::Io`] if a worker cannot be reached; [`Error::Wire`].
pub async fn send_outputs(
    outputs: Vec<RemoteOutput>,
    address_of: impl Fn(usize) -> SocketAddr,
    config: WireConfig,
    stats: Arc<WireStats>,
    tls: Option<DataTls>,
) -> Result<()> {
    let mut sending = JoinSet::new();
    for mut output in outputs {
        let addr = address_of(output.consumer);
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| Error::Io { what: format!("connect to worker {addr}"), source })?;
        stream
            .set_nodelay(true)
            .map_err(|source| Error::Io { what: "set TCP_NODELAY".into(), source })?;
        let hello = Hello {
            version: wire::VERSION,
            session: config.session,
            producer: output.producer as u64,
            consumer: output.consumer as u64,
            compression: config.compression,
        };
        let (tx, writer) = match &tls {
            Some(tls) => {
                let stream = tls.connect(stream).await?;
                wire::sender::<RemoteMessage, _>(stream, hello, config, stats.clone())
            }
            None => wire::sender::<RemoteMessage, _>(stream, hello, config, stats.clone()),
        };
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
