//! The data plane's wire over real loopback TCP: Shakespeare's lines in
//! batches arrive exactly, in order, with and without LZ4; a consumer that
//! stops reading holds the producer back with bounded memory.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use squall_cluster::wire::{self, Hello, WireConfig, WireStats};
use tokio::net::{TcpListener, TcpStream};

/// Batches of the corpus's lines, each about `bytes` long, in file order.
fn batches(bytes: usize) -> Vec<Vec<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/shakespeare");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus in data/shakespeare")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    let (mut batch, mut size) = (Vec::new(), 0);
    for f in files {
        for line in String::from_utf8_lossy(&std::fs::read(f).unwrap()).lines() {
            size += line.len();
            batch.push(line.to_string());
            if size >= bytes {
                out.push(std::mem::take(&mut batch));
                size = 0;
            }
        }
    }
    out.push(batch);
    out
}

/// A connected (producer, consumer) pair over 127.0.0.1.
async fn pair(
    config: WireConfig,
) -> (
    tokio::sync::mpsc::Sender<Vec<String>>,
    tokio::task::JoinHandle<squall_cluster::Result<()>>,
    tokio::sync::mpsc::Receiver<Vec<String>>,
    Hello,
    Arc<WireStats>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (outgoing, incoming) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let hello = Hello {
        version: wire::VERSION,
        session: config.session,
        producer: 3,
        consumer: 7,
        compression: config.compression,
    };
    let stats = Arc::new(WireStats::default());
    let (tx, send_task) = wire::sender(outgoing.unwrap(), hello, config, stats.clone());
    let (got, rx, _recv_task) =
        wire::receiver(incoming.unwrap().0, config, Arc::new(WireStats::default())).await.unwrap();
    (tx, send_task, rx, got, stats)
}

async fn round_trip(compression: bool) -> u64 {
    let sent = batches(16 * 1024);
    let config = WireConfig { compression, ..WireConfig::default() };
    let (tx, send_task, mut rx, hello, stats) = pair(config).await;
    assert_eq!((hello.producer, hello.consumer, hello.compression), (3, 7, compression));
    let to_send = sent.clone();
    let producer = tokio::spawn(async move {
        for b in to_send {
            tx.send(b).await.unwrap();
        }
    });
    let mut received = Vec::new();
    while let Some(b) = rx.recv().await {
        received.push(b);
    }
    producer.await.unwrap();
    send_task.await.unwrap().unwrap();
    assert_eq!(received, sent);
    assert_eq!(stats.messages.load(Ordering::Relaxed), sent.len() as u64);
    stats.bytes.load(Ordering::Relaxed)
}

#[tokio::test]
async fn batches_arrive_exactly_and_lz4_sends_fewer_bytes() {
    let plain = round_trip(false).await;
    let compressed = round_trip(true).await;
    let text: u64 = batches(16 * 1024).iter().flatten().map(|l| l.len() as u64).sum();
    eprintln!(
        "corpus {text} bytes of text: {plain} bytes on the wire plain, {compressed} with lz4"
    );
    assert!(plain >= text, "every byte of text travels: {plain} < {text}");
    assert!(compressed < plain * 3 / 4, "lz4 shrinks English text: {compressed} vs {plain}");
}

#[tokio::test]
async fn a_stalled_consumer_holds_the_producer_back_with_bounded_memory() {
    const BATCHES: usize = 2000; // about 128 MiB in all
    let all = batches(64 * 1024);
    let config = WireConfig { capacity: 8, ..WireConfig::default() };
    let (tx, send_task, mut rx, _, _) = pair(config).await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let to_send: Vec<Vec<String>> = all.iter().cycle().take(BATCHES).cloned().collect();
    let mut producer = tokio::spawn(async move {
        for b in to_send {
            tx.send(b).await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    // The consumer reads nothing: the producer must stop, not finish.
    let finished = tokio::time::timeout(Duration::from_secs(5), &mut producer).await;
    assert!(
        finished.is_err(),
        "the producer sent all {BATCHES} batches to a consumer that reads nothing"
    );
    let in_flight = accepted.load(Ordering::SeqCst);
    // Two queues of 8 plus the kernel's socket buffers (a few MiB).
    assert!((16..400).contains(&in_flight), "{in_flight} batches of 64 KiB accepted while stalled");
    // Once the consumer reads, everything arrives, in order.
    let mut n = 0;
    while let Some(b) = rx.recv().await {
        assert_eq!(b, all[n % all.len()]);
        n += 1;
    }
    assert_eq!(n, BATCHES);
    producer.await.unwrap();
    send_task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_connection_of_another_run_is_refused_naming_both_sessions() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (outgoing, incoming) = tokio::join!(TcpStream::connect(addr), listener.accept());
    // A stale worker of epoch 3 reaches a port that attempt 0 of epoch 4
    // now listens on.
    let (stale, current) = (wire::session("wc", 3, 2), wire::session("wc", 4, 0));
    assert_ne!(stale, current);
    assert_ne!(wire::session("wc", 4, 0), wire::session("wd", 4, 0));
    let sent = WireConfig { session: stale, ..WireConfig::default() };
    let hello = Hello {
        version: wire::VERSION,
        session: stale,
        producer: 1,
        consumer: 2,
        compression: false,
    };
    let (tx, _send_task) =
        wire::sender::<Vec<String>, _>(outgoing.unwrap(), hello, sent, Arc::default());
    tx.send(vec!["a record of the old run".into()]).await.unwrap();
    let expected = WireConfig { session: current, ..WireConfig::default() };
    let refused =
        wire::receiver::<Vec<String>, _>(incoming.unwrap().0, expected, Arc::default()).await;
    let message = refused.expect_err("refused").to_string();
    assert!(message.contains(&format!("{stale:016x}")), "{message}");
    assert!(message.contains(&format!("{current:016x}")), "{message}");
}

/// A compressed frame that declares a size LZ4 cannot reach from its
/// length is refused before anything is allocated for it (found by
/// reading the decoder for the fuzz target `wire_frame`: a 12-byte frame
/// declaring 4 GB made `lz4_flex` reserve them).
#[test]
fn a_compressed_frame_declaring_an_impossible_size_is_refused() {
    let mut frame = u32::MAX.to_le_bytes().to_vec();
    frame.extend_from_slice(&[0x10, 0x41, 0, 0, 0, 0, 0, 0]);
    let err = squall_cluster::wire::decode_frame::<squall_cluster::wire::Hello>(&frame, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot inflate to the 4294967295 bytes"), "{err}");
    let err = squall_cluster::wire::decode_frame::<squall_cluster::wire::Hello>(&[1, 2], true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("shorter than its size prefix"), "{err}");
}
