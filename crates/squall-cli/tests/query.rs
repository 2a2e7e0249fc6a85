//! Queryable state through `squall run --query` and `squall query`: while
//! a word count over Shakespeare (three copies) runs, the counts read over
//! HTTP only grow and never pass the reference; once its input is done,
//! the whole `count` state equals a plain count, and `squall query`
//! prints a word's count and names a wrong state. On a cluster, nimbus
//! routes queries of a word count spread over two workers to the worker
//! owning the key; counts grow while it runs, and once its workers are
//! gone a query fails with a clear error.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;

use squall_cluster::query_api::{ask, StateQuery};
use support::{queryable_run, read_counts, repeated_corpus, Cluster};

fn ask_now(server: &str, query: &StateQuery) -> squall_cluster::Result<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(ask(server, "word-count-queryable", "count", "count", query))
}

#[test]
fn counts_queried_while_running_only_grow_and_end_equal_to_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let (input, expected) = repeated_corpus(dir.path(), 3);
    let mut run = queryable_run(&input, &dir.path().join("out.csv")).spawn().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stderr = BufReader::new(run.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let first = lines.recv().unwrap();
    let server = first
        .strip_prefix("query API on ")
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let watched = ["the", "hamlet", "love", "king", "denmark", "zounds"];
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut reads, mut between) = (0, 0);
    loop {
        match lines.try_recv() {
            Ok(line) if line.starts_with("finished") => break,
            Ok(line) => panic!("unexpected: {line}"),
            Err(mpsc::TryRecvError::Disconnected) => panic!("squall run ended: {:?}", run.wait()),
            Err(mpsc::TryRecvError::Empty) => {}
        }
        for word in watched {
            let query = StateQuery { key: Some(word.into()), ..StateQuery::default() };
            let Ok(answer) = ask_now(&server, &query) else {
                continue; // the count tasks are not built yet
            };
            let now = answer["value"].as_u64().unwrap_or(0);
            let before = last.insert(word, now).unwrap_or(0);
            assert!(now >= before, "'{word}' went from {before} to {now}");
            assert!(now <= expected[word], "'{word}' is {now}, above {}", expected[word]);
            between += usize::from(now > 0 && now < expected[word]);
            reads += 1;
        }
    }
    eprintln!("{reads} reads while running, {between} of a count in between");
    assert!(reads > 0);
    let all =
        ask_now(&server, &StateQuery { limit: Some(1_000_000), ..StateQuery::default() }).unwrap();
    assert_eq!(all["truncated"], false);
    let counts: BTreeMap<String, u64> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["key"][0].as_str().unwrap().to_string(), e["value"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, expected);

    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_squall"))
            .args(["query", "word-count-queryable", "count"])
            .args(args)
            .args(["--server", &server])
            .output()
            .unwrap()
    };
    let out = cli(&["count", "Hamlet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["value"], serde_json::Value::Null, "keys are the words as split: lowercase");
    let out = cli(&["count", "hamlet"]);
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["value"].as_u64(), Some(expected["hamlet"]));
    let out = cli(&["counts", "hamlet"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no keyed state 'counts' (it has [\"count\"]) (HTTP 404)"), "{stderr}");
    let out = cli(&["count", "hamlet", "--committed"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("takes no checkpoints: only live reads (HTTP 400)"), "{stderr}");
    run.kill().unwrap();
    run.wait().unwrap();
}

#[test]
fn nimbus_routes_queries_to_the_worker_owning_the_key() {
    routed_queries("at_most_once");
}

/// As above, a topology tracked by ackers over its workers (each attempt
/// of `squall_cluster::distributed` serves its state).
#[test]
fn nimbus_routes_queries_to_workers_of_a_tracked_topology() {
    routed_queries("at_least_once");
}

fn routed_queries(guarantee: &str) {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 6);
    let output = cluster.dir.path().join("out.csv");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let out = cluster.squall(&[
        "submit",
        repo.join("examples/word-count-queryable.yaml").to_str().unwrap(),
        "--workers",
        "2",
        "--set",
        &format!("input={}", input.display()),
        "--set",
        &format!("output={}", output.display()),
        "--set",
        &format!("guarantee={guarantee}"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let name = "word-count-queryable";
    let query = |args: &[&str]| {
        let mut all = vec!["query", name, "count"];
        all.extend_from_slice(args);
        cluster.squall(&all)
    };
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut answered, mut tasks) = (0, std::collections::BTreeSet::new());
    loop {
        let state = cluster.status(name)["state"].as_str().unwrap_or("").to_string();
        assert_ne!(state, "failed");
        if state == "finished" {
            break;
        }
        for word in ["the", "hamlet", "love", "king"] {
            let out = query(&["count", word]);
            if !out.status.success() {
                continue; // the workers are not serving yet, or just ended
            }
            let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let now = answer["value"].as_u64().unwrap_or(0);
            let before = last.insert(word, now).unwrap_or(0);
            assert!(now >= before && now <= expected[word], "'{word}': {before} then {now}");
            tasks.insert(answer["task"].as_u64().unwrap());
            answered += 1;
        }
        let out = query(&["count", "--prefix", "ham", "--limit", "3"]);
        if out.status.success() {
            let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let keys: Vec<&str> = answer["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["key"][0].as_str().unwrap())
                .collect();
            assert!(keys.len() <= 3 && keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
            assert!(keys.iter().all(|k| k.starts_with("ham")), "{keys:?}");
        }
    }
    eprintln!("{guarantee}: {answered} answers from tasks {tasks:?}");
    assert!(answered > 0, "no query was answered while the topology ran");
    assert_eq!(read_counts(&output), expected);
    // It is over and its workers are gone: a clear error, not a hang.
    let out = query(&["count", "hamlet"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is finished") && stderr.contains("(HTTP 404)"), "{stderr}");
}

/// A CSV spout that stays open after its file: idle, never finished, so
/// that the windows still open at its last watermark stay open.
#[derive(Clone)]
struct Endless(squall::builtins::CsvSpout, bool);

impl squall::Spout for Endless {
    fn declare_outputs(&self, declarer: &mut squall::topology::OutputDeclarer) {
        self.0.declare_outputs(declarer);
    }
    fn open(&mut self, context: &squall::TopologyContext) -> squall::Result<()> {
        self.0.open(context)
    }
    fn next_tuple(
        &mut self,
        collector: &mut squall::OutputCollector,
    ) -> squall::Result<squall::SpoutStatus> {
        if self.1 {
            return Ok(squall::SpoutStatus::Idle);
        }
        let status = self.0.next_tuple(collector)?;
        self.1 = status == squall::SpoutStatus::Finished;
        Ok(if self.1 { squall::SpoutStatus::Idle } else { status })
    }
    fn snapshot_state(&mut self, checkpoint_id: u64) -> squall::Result<()> {
        self.0.snapshot_state(checkpoint_id)
    }
    fn on_checkpoint_complete(&mut self, checkpoint_id: u64) -> squall::Result<()> {
        self.0.on_checkpoint_complete(checkpoint_id)
    }
    fn ack(&mut self, msg_id: squall::topology::MessageId) {
        self.0.ack(msg_id);
    }
    fn fail(&mut self, msg_id: squall::topology::MessageId) {
        self.0.fail(msg_id);
    }
    fn close(&mut self) {
        self.0.close();
    }
}

/// The open windows of every key once the sample events
/// (`examples/sums-per-10s-sample.csv`, 600 events of 20 keys over 60 s,
/// up to 2 s out of order) are read and the watermark is their largest
/// time less 2001 ms: per key, the 10 s windows that end after the
/// watermark, with the sum and number of their values, computed from the
/// file alone. No event of such a window can have been late, since the
/// watermark never passed its end.
fn expected_open_windows(sample: &Path) -> BTreeMap<String, serde_json::Value> {
    let mut reader = csv::Reader::from_path(sample).unwrap();
    let events: Vec<(i64, String, i64)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].parse().unwrap(), r[1].to_string(), r[2].parse().unwrap())
        })
        .collect();
    let watermark = events.iter().map(|e| e.0).max().unwrap() - 2000 - 1;
    let mut windows: BTreeMap<String, BTreeMap<i64, (i64, u64)>> = BTreeMap::new();
    for (ts, key, value) in events {
        let start = ts - ts.rem_euclid(10_000);
        if start + 10_000 - 1 > watermark {
            let w = windows.entry(key).or_default().entry(start).or_default();
            *w = (w.0 + value, w.1 + 1);
        }
    }
    windows
        .into_iter()
        .map(|(key, w)| {
            let rows = w.into_iter().map(|(start, (total, records))| {
                serde_json::json!({"window_start": start, "window_end": start + 10_000,
                    "records": records, "total": total})
            });
            (key, serde_json::Value::Array(rows.collect()))
        })
        .collect()
}

#[test]
fn open_windows_of_a_key_are_queried_live_and_committed_equal_to_the_events() {
    use squall::builtins::{CsvSpout, CsvSpoutOptions, WindowBolt, WindowSpec};
    use squall::time::{TimestampFormat, WatermarkStrategy};
    use squall::window::{AggregateKind, AggregateSpec, Trigger, WindowAssigner};

    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sample = repo.join("examples/sums-per-10s-sample.csv");
    let expected = expected_open_windows(&sample);
    assert_eq!(expected.len(), 20, "every key has an open window");
    let checkpoints = tempfile::tempdir().unwrap();
    let mut options = CsvSpoutOptions::new("ts_ms");
    options.time_format = TimestampFormat::UnixMillis;
    options.watermark = WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: 2000 };
    let spout = Endless(CsvSpout::new(&sample, options).unwrap(), false);
    let sums = WindowBolt::new(WindowSpec {
        window: WindowAssigner::Tumbling { size_ms: 10_000, offset_ms: 0 },
        trigger: Trigger::EventTime,
        early_every_ms: None,
        keys: vec!["key".into()],
        aggregates: vec![AggregateSpec::new(AggregateKind::Sum, Some("value"), "total")],
        time_field: squall::builtins::EVENT_TIME_FIELD.into(),
        allowed_lateness_ms: 0,
    })
    .unwrap();
    let mut b = squall::TopologyBuilder::new("sums-per-10s");
    b.set_spout("events", spout, 1);
    b.set_bolt("sums", sums, 2).fields_grouping("events", squall::Fields::new(["key"]));
    *b.config_mut() = squall::TopologyConfig {
        guarantee: squall::Guarantee::ExactlyOnce,
        checkpoint_interval_ms: 50,
        checkpoint_dir: Some(checkpoints.path().display().to_string()),
        buffer_timeout_ms: 1,
        ..Default::default()
    };
    let running = squall::LocalCluster::submit(b.build().unwrap()).unwrap();
    let storage = squall::checkpoint::CheckpointStorage::open(
        checkpoints.path().to_str().unwrap(),
        "sums-per-10s",
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    let states = running.states();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let served =
                squall_cluster::query_api::serve(listener, "sums-per-10s", states, Some(storage));
            served.await.unwrap();
        })
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let read = |key: &str, committed: bool| {
        let read = committed.then(|| "committed".to_string());
        let query = StateQuery { key: Some(key.into()), read, ..StateQuery::default() };
        runtime.block_on(ask(&server, "sums-per-10s", "sums", "windows", &query))
    };
    // Live: every key's open windows, once the last events are in.
    for (key, windows) in &expected {
        let mut last = None;
        support::wait_until(&format!("the live windows of {key}"), || {
            last = read(key, false).ok();
            last.as_ref().is_some_and(|a| &a["value"] == windows)
        });
        let answer = last.unwrap();
        assert!(answer.get("checkpoint").is_none(), "{answer}");
    }
    // Committed: the latest checkpoint holds the same windows.
    for (key, windows) in expected.iter().take(5) {
        let mut last = None;
        support::wait_until(&format!("the committed windows of {key}"), || {
            last = read(key, true).ok();
            last.as_ref().is_some_and(|a| &a["value"] == windows)
        });
        assert!(last.unwrap()["checkpoint"].as_u64().is_some());
    }
    // A key without events has no window; a scan by prefix finds k1, k10..k19.
    assert_eq!(read("k99", false).unwrap()["value"], serde_json::Value::Null);
    let scan = StateQuery { prefix: Some("k1".into()), ..StateQuery::default() };
    let found = runtime.block_on(ask(&server, "sums-per-10s", "sums", "windows", &scan)).unwrap();
    let entries = found["entries"].as_array().unwrap();
    let keys: Vec<&str> = entries.iter().map(|e| e["key"][0].as_str().unwrap()).collect();
    let wanted: Vec<&str> =
        expected.keys().map(String::as_str).filter(|k| k.starts_with("k1")).collect();
    assert_eq!(keys, wanted);
    for e in entries {
        assert_eq!(e["value"], expected[e["key"][0].as_str().unwrap()]);
    }
    // `squall query` prints the same, live and committed.
    for committed in [false, true] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_squall"));
        command.args(["query", "sums-per-10s", "sums", "windows", "k7", "--server", &server]);
        if committed {
            command.arg("--committed");
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed["value"], expected["k7"], "committed: {committed}");
    }
    running.kill();
    running.join().unwrap();
}
