//! A word count split over two topology parts (as two workers would run
//! it), their remote channels carried over loopback TCP by the data plane:
//! the output equals a count computed here, with and without LZ4.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use squall::runtime::TopologyPart;
use squall_cluster::link;
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

async fn split_word_count(compression: bool) -> u64 {
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
        parts.push(TopologyPart::build(&topology, move |task| task % 2 == w).unwrap());
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
        let stats = stats.clone();
        workers.push(tokio::spawn(async move {
            let (ran, served, sent) = tokio::join!(
                part.run(),
                link::serve_inputs(listener, inputs, config, stats.clone()),
                link::send_outputs(outputs, move |task| addrs[task % 2], config, stats),
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
    let plain = split_word_count(false).await;
    let compressed = split_word_count(true).await;
    // Both ends of every connection count into the same stats: halve.
    eprintln!("bytes sent between the parts: plain {}, lz4 {}", plain / 2, compressed / 2);
    assert!(plain > 0 && compressed < plain, "plain {plain}, lz4 {compressed}");
}
