//! The data plane's wire: one TCP connection per remote channel (producer
//! task, consumer task), carrying that channel's messages in order.
//!
//! Framing is `tokio-util`'s [`LengthDelimitedCodec`] (a 4-byte big-endian
//! length, then the payload). The first frame is a [`Hello`] naming the
//! channel, the run it belongs to (its session: topology, epoch and
//! attempt, so that a stale worker reaching a port now used by another run
//! is refused) and whether the rest is compressed; every later frame is one
//! message encoded with postcard (the serde format the core already uses),
//! compressed with LZ4 (`lz4_flex`, size-prepended blocks) when the hello
//! says so.
//!
//! Backpressure crosses the network with bounded memory on both sides: the
//! sending side is a bounded queue drained by a task that waits for each
//! frame to reach the socket; the receiving side reads a frame only when its
//! bounded queue has room, so a slow consumer leaves data in the kernel's
//! socket buffers, the TCP window closes, the sender's writes wait, its queue
//! fills, and the producer's `send` waits, as on a local channel.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::{Error, Result};

/// What frames travel over: a TCP stream, or TLS over one
/// ([`crate::protocol::tls`]).
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection for S {}

/// The protocol's version, checked in the hello.
pub const VERSION: u32 = 2;

/// A listener on a free port of `host`, for `what` (named in the error),
/// and its address.
///
/// # Errors
/// [`Error::Io`] if no port can be bound.
pub async fn bind(host: IpAddr, what: &str) -> Result<(TcpListener, SocketAddr)> {
    let io = |source| Error::Io { what: format!("bind a {what} port on {host}"), source };
    let listener = TcpListener::bind((host, 0)).await.map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    Ok((listener, addr))
}

/// The session of attempt `attempt` of `topology` at `epoch`: what both
/// ends of its connections put in [`WireConfig::session`] (an XXH3 hash).
pub fn session(topology: &str, epoch: u64, attempt: u64) -> u64 {
    let mut bytes = topology.as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(&epoch.to_le_bytes());
    bytes.extend_from_slice(&attempt.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// Settings of one remote channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireConfig {
    /// Compress every message frame with LZ4.
    pub compression: bool,
    /// Messages queued on each side (the local channel's capacity).
    pub capacity: usize,
    /// Largest frame accepted, bytes; a larger one is an error, not an
    /// allocation.
    pub max_frame_bytes: usize,
    /// The run the connections belong to ([`session`]): sent in the hello,
    /// and a hello of another session is refused.
    pub session: u64,
}

impl Default for WireConfig {
    fn default() -> Self {
        WireConfig { compression: false, capacity: 16, max_frame_bytes: 64 << 20, session: 0 }
    }
}

/// The first frame on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`VERSION`] of the sender.
    pub version: u32,
    /// The sender's [`WireConfig::session`].
    pub session: u64,
    /// Global task id of the producer.
    pub producer: u64,
    /// Global task id of the consumer.
    pub consumer: u64,
    /// Whether message frames are LZ4-compressed.
    pub compression: bool,
}

/// Bytes and messages that went over one connection.
#[derive(Debug, Default)]
pub struct WireStats {
    /// Bytes on the wire, frames' length prefixes included.
    pub bytes: AtomicU64,
    /// Messages (not counting the hello).
    pub messages: AtomicU64,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { what: what.to_string(), source }
}

fn codec(config: &WireConfig) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(config.max_frame_bytes).new_codec()
}

fn encode<T: Serialize>(value: &T, compression: bool) -> Result<Vec<u8>> {
    let bytes = postcard::to_stdvec(value).map_err(|e| Error::Wire(format!("encode: {e}")))?;
    Ok(if compression { lz4_flex::compress_prepend_size(&bytes) } else { bytes })
}

/// LZ4 never inflates a block more than about 255 times; a frame that
/// claims more is refused before anything is allocated for it.
const MAX_LZ4_RATIO: usize = 255;

/// Decodes one frame as received (after the length prefix): postcard,
/// LZ4-compressed (with its size prepended) when `compression` is set.
///
/// # Errors
/// [`Error::Wire`] naming what is wrong: a compressed frame whose declared
/// size is impossible for its length, bad LZ4 data, or bytes that are not
/// a `T`.
pub fn decode_frame<T: DeserializeOwned>(frame: &[u8], compression: bool) -> Result<T> {
    let inflated;
    let bytes = if compression {
        let declared = frame
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| Error::Wire("lz4: a frame shorter than its size prefix".into()))?;
        if declared > (frame.len() - 4).saturating_mul(MAX_LZ4_RATIO) + 16 {
            return Err(Error::Wire(format!(
                "lz4: a frame of {} bytes cannot inflate to the {declared} bytes it declares",
                frame.len()
            )));
        }
        inflated = lz4_flex::decompress_size_prepended(frame)
            .map_err(|e| Error::Wire(format!("lz4: {e}")))?;
        &inflated[..]
    } else {
        frame
    };
    postcard::from_bytes(bytes).map_err(|e| Error::Wire(format!("decode: {e}")))
}

/// The producer's end: sends `hello` on `stream`, then every message put in
/// the returned queue, in order, until the queue's senders are all dropped.
///
/// The task's result says whether the connection failed (the consumer's
/// side closed or a write failed).
pub fn sender<T: Serialize + Send + 'static, S: Connection>(
    stream: S,
    hello: Hello,
    config: WireConfig,
    stats: Arc<WireStats>,
) -> (mpsc::Sender<T>, JoinHandle<Result<()>>) {
    let (tx, mut rx) = mpsc::channel::<T>(config.capacity);
    let task = tokio::spawn(async move {
        let mut framed = Framed::new(stream, codec(&config));
        let first = encode(&Hello { version: VERSION, session: config.session, ..hello }, false)?;
        stats.bytes.fetch_add(first.len() as u64 + 4, Ordering::Relaxed);
        framed.send(bytes::Bytes::from(first)).await.map_err(io("send hello"))?;
        while let Some(message) = rx.recv().await {
            let frame = encode(&message, hello.compression)?;
            stats.bytes.fetch_add(frame.len() as u64 + 4, Ordering::Relaxed);
            stats.messages.fetch_add(1, Ordering::Relaxed);
            framed.send(bytes::Bytes::from(frame)).await.map_err(io("send frame"))?;
        }
        SinkExt::<bytes::Bytes>::close(&mut framed).await.map_err(io("close"))
    });
    (tx, task)
}

/// The consumer's end: reads the hello from `stream`, then delivers every
/// message to the returned queue until the producer closes the connection.
///
/// # Errors
/// [`Error::Wire`] if the first frame is not a hello of this [`VERSION`]
/// and of `config`'s session; [`Error::Io`] if the connection fails before
/// it. The task's result
/// reports a broken frame or connection later on.
pub async fn receiver<T: DeserializeOwned + Send + 'static, S: Connection>(
    stream: S,
    config: WireConfig,
    stats: Arc<WireStats>,
) -> Result<(Hello, mpsc::Receiver<T>, JoinHandle<Result<()>>)> {
    let mut framed = Framed::new(stream, codec(&config));
    let first = framed
        .next()
        .await
        .ok_or_else(|| Error::Wire("connection closed before its hello".into()))?
        .map_err(io("read hello"))?;
    let hello: Hello = decode_frame(&first, false)?;
    if hello.version != VERSION {
        return Err(Error::Wire(format!(
            "peer speaks version {}, this is {VERSION}",
            hello.version
        )));
    }
    if hello.session != config.session {
        return Err(Error::Wire(format!(
            "refused a connection of another run (session {:016x}; this run is {:016x}): a \
             stale worker, or a port reused",
            hello.session, config.session
        )));
    }
    let (tx, rx) = mpsc::channel::<T>(config.capacity);
    let task = tokio::spawn(async move {
        // Wait for room before reading the next frame, so that a full
        // queue leaves the bytes in the socket (TCP's window then closes).
        while let Ok(permit) = tx.reserve().await {
            let Some(frame) = framed.next().await else { return Ok(()) };
            let frame = frame.map_err(io("read frame"))?;
            stats.bytes.fetch_add(frame.len() as u64 + 4, Ordering::Relaxed);
            stats.messages.fetch_add(1, Ordering::Relaxed);
            permit.send(decode_frame(&frame, hello.compression)?);
        }
        Ok(())
    });
    Ok((hello, rx, task))
}
