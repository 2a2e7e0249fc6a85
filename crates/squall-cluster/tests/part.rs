//! A word count split over two topology parts (as two workers would run
//! it), their remote channels carried over loopback TCP by the data plane:
//! the output equals a count computed here, with and without LZ4, and over
//! mutual TLS with a certificate made here; a renewed certificate is used
//! for new connections without a restart.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use squall::runtime::{PartOptions, TopologyPart};
use squall_cluster::link::Link;
use squall_cluster::tls::{DataTls, DataTlsConfig};
use squall_cluster::wire::{WireConfig, WireStats};
use tokio::net::TcpListener;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Word counts of the corpus, computed without the engine.
fn reference(dir: &Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text =
            String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).into_owned();
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}

async fn split_word_count(compression: bool, tls: Option<DataTls>) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let corpus =
        root().join("data/shakespeare").canonicalize().expect("corpus in data/shakespeare");
    let output = dir.path().join("counts.csv");
    let yaml = std::fs::read_to_string(root().join("examples/word-count.yaml")).unwrap();
    let overrides = [
        ("input".to_string(), corpus.display().to_string()),
        ("output".to_string(), output.display().to_string()),
        ("parallelism".to_string(), "2".to_string()),
    ];
    // Worker 0 runs the even executor heads, worker 1 the odd ones: every
    // fields-grouped and global edge crosses between them.
    let mut parts = Vec::new();
    let mut listeners = Vec::new();
    for w in 0..2 {
        let topology = squall::yaml::parse(&yaml, &overrides).unwrap().topology;
        let local = move |task| task % 2 == w;
        parts.push(TopologyPart::build(&topology, local, PartOptions::default()).unwrap());
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let config = WireConfig { compression, ..WireConfig::default() };
    let stats = Arc::new(WireStats::default());
    let mut workers = Vec::new();
    for (mut part, listener) in parts.into_iter().zip(listeners) {
        let outputs = std::mem::take(&mut part.outputs);
        let inputs = std::mem::take(&mut part.inputs);
        assert!(!outputs.is_empty() && !inputs.is_empty(), "both parts talk to each other");
        let addrs = addrs.clone();
        let net = Link { config, stats: stats.clone(), tls: tls.clone() };
        workers.push(tokio::spawn(async move {
            let (ran, served, sent) = tokio::join!(
                part.run(),
                net.serve_inputs(listener, inputs),
                net.send_outputs(outputs, move |task| addrs[task % 2]),
            );
            ran.unwrap();
            served.unwrap();
            sent.unwrap();
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let text = std::fs::read_to_string(&output).expect("one part's sink wrote the counts");
    let got: BTreeMap<String, u64> = text
        .lines()
        .skip(1)
        .map(|l| {
            let (w, c) = l.rsplit_once(',').unwrap();
            (w.trim_matches('"').to_string(), c.parse().unwrap())
        })
        .collect();
    assert_eq!(got, reference(&corpus));
    stats.bytes.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_count_over_two_parts_equals_the_reference() {
    let plain = split_word_count(false, None).await;
    let compressed = split_word_count(true, None).await;
    // Both ends of every connection count into the same stats: halve.
    eprintln!("bytes sent between the parts: plain {}, lz4 {}", plain / 2, compressed / 2);
    assert!(plain > 0 && compressed < plain, "plain {plain}, lz4 {compressed}");
}

/// A self-signed certificate for 127.0.0.1, written as PEM files in `dir`;
/// the configuration naming them (the certificate is its own CA).
fn self_signed(dir: &Path, name: &str) -> DataTlsConfig {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    DataTlsConfig { cert: cert.clone(), key, ca: cert, server_name: String::new() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_count_over_two_parts_over_mutual_tls_equals_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let tls = DataTls::load(&self_signed(dir.path(), "cluster")).unwrap();
    let bytes = split_word_count(false, Some(tls)).await;
    assert!(bytes > 0);
}

/// A handshake of `client` with `server` over loopback: (the server's
/// side, the client's side).
async fn handshake(
    server: &DataTls,
    client: &DataTls,
) -> (squall_cluster::Result<()>, squall_cluster::Result<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = server.clone();
    let accepted = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        server.accept(stream).await.map(|_| ())
    });
    let client = client.connect(tokio::net::TcpStream::connect(addr).await.unwrap()).await;
    (accepted.await.unwrap(), client.map(|_| ()))
}

#[tokio::test]
async fn a_peer_without_the_cluster_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = DataTls::load(&self_signed(dir.path(), "cluster")).unwrap();
    let stranger = DataTls::load(&self_signed(dir.path(), "stranger")).unwrap();
    let (server, client) = handshake(&cluster, &stranger).await;
    let e = client.expect_err("the stranger does not trust the worker's certificate");
    assert!(e.to_string().contains("TLS handshake"), "{e}");
    assert!(server.is_err(), "the worker does not accept the stranger");
    // Files that are not PEM are refused, naming the file.
    let mut bad = self_signed(dir.path(), "x");
    bad.key = dir.path().join("missing.key");
    let e = DataTls::load(&bad).err().unwrap().to_string();
    assert!(e.contains("missing.key"), "{e}");
}

#[tokio::test]
async fn a_renewed_certificate_is_used_for_new_connections_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let files = self_signed(dir.path(), "cluster");
    let (a, b) = (DataTls::load(&files).unwrap(), DataTls::load(&files).unwrap());
    // A process that keeps the old certificate (copied before the renewal).
    let mut old_files = files.clone();
    (old_files.cert, old_files.key) = (dir.path().join("old.crt"), dir.path().join("old.key"));
    old_files.ca = old_files.cert.clone();
    std::fs::copy(&files.cert, &old_files.cert).unwrap();
    std::fs::copy(&files.key, &old_files.key).unwrap();
    let old = DataTls::load(&old_files).unwrap();
    let (server, client) = handshake(&a, &old).await;
    assert!(server.is_ok() && client.is_ok(), "before the renewal both are one cluster");
    // The files are renewed in place (renamed whole), by a new self-signed
    // certificate: a and b, still running, use it for their next
    // connections, and no longer accept the old one.
    let renewed = self_signed(dir.path(), "renewed");
    std::fs::rename(&renewed.key, &files.key).unwrap();
    std::fs::rename(&renewed.cert, &files.cert).unwrap();
    let (server, client) = handshake(&a, &b).await;
    assert!(server.is_ok() && client.is_ok(), "renewed on both sides: {server:?} {client:?}");
    let (server, client) = handshake(&a, &old).await;
    assert!(server.is_err() && client.is_err(), "the old certificate is still accepted");
}
