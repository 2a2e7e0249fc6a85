//! The socket spout against a TCP listener in the test: two Shakespeare
//! plays sent over the connection, counted by a word-count topology, equal
//! the reference counts; a listener that comes up after the topology
//! started is reached by the spout's retries.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use squall::builtins::{CountBolt, SplitWordsBolt};
use squall::{Fields, LocalCluster, TopologyBuilder};
use squall_connectors::{SocketSpout, SocketSpoutOptions};

/// Serves the files of `dir` (in name order, each ending with a newline,
/// so that no line spans two plays) to the first connection on `listener`,
/// in 1000-byte writes, then closes it.
fn serve(listener: TcpListener, dir: &Path) -> std::thread::JoinHandle<u64> {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut sent = 0;
        for f in files {
            let mut bytes = std::fs::read(f).unwrap();
            if bytes.last() != Some(&b'\n') {
                bytes.push(b'\n');
            }
            for chunk in bytes.chunks(1000) {
                conn.write_all(chunk).unwrap();
                sent += chunk.len() as u64;
            }
        }
        sent
    })
}

fn word_count(spout: SocketSpout) -> HashMap<String, i64> {
    let last = support::LastCount::default();
    let mut b = TopologyBuilder::new("socket-word-count");
    b.set_spout("lines", spout, 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
    b.set_bolt("count", CountBolt::new(Fields::new(["word"])), 2)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("last", last.clone(), 1).shuffle_grouping("count");
    LocalCluster::run(b.build().unwrap()).unwrap();
    let counts = last.0.lock().unwrap().clone();
    counts
}

#[test]
fn lines_from_a_connection_count_to_the_reference() {
    let (input, reference) = support::plays(2);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve(listener, input.path());
    let spout = SocketSpout::new(SocketSpoutOptions::new("127.0.0.1", port));
    let stats = spout.stats();
    let got = word_count(spout);
    let sent = server.join().unwrap();
    assert!(sent > 100_000, "sent {sent} bytes");
    assert_eq!(got.len(), reference.len(), "distinct words");
    assert!(got == reference, "counts differ from the reference");
    assert_eq!(stats.retries(), 0);
    assert!(stats.records() > 1000, "{} lines", stats.records());
}

#[test]
fn connecting_is_retried_until_the_listener_is_up() {
    let (input, reference) = support::plays(1);
    let port = support::free_port();
    let mut options = SocketSpoutOptions::new("127.0.0.1", port);
    options.retry.max_ms = 100;
    let spout = SocketSpout::new(options);
    let stats = spout.stats();
    let run = std::thread::spawn(move || word_count(spout));
    let deadline = Instant::now() + Duration::from_secs(120);
    while stats.retries() < 2 {
        assert!(Instant::now() < deadline, "no retry within 120 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(stats.last_error().unwrap().contains("refused"), "{:?}", stats.last_error());
    let server = serve(TcpListener::bind(("127.0.0.1", port)).unwrap(), input.path());
    let got = run.join().unwrap();
    server.join().unwrap();
    assert!(got == reference, "counts differ from the reference");
}
