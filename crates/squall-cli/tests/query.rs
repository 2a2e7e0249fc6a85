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
use std::process::{Command, Stdio};
use std::sync::mpsc;

use squall_cluster::query_api::{ask, StateQuery};
use support::{read_counts, repeated_corpus, Cluster};

fn ask_now(server: &str, query: &StateQuery) -> squall_cluster::Result<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(ask(server, "word-count-queryable", "count", "count", query))
}

#[test]
fn counts_queried_while_running_only_grow_and_end_equal_to_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let (input, expected) = repeated_corpus(dir.path(), 3);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut run = Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(["run", "examples/word-count-queryable.yaml", "-q", "--query", "127.0.0.1:0"])
        .arg("--set")
        .arg(format!("input={}", input.display()))
        .arg("--set")
        .arg(format!("output={}", dir.path().join("out.csv").display()))
        .current_dir(&repo)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
    // Its workers are gone: a clear error, not a hang.
    let out = query(&["count", "hamlet"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not answer") && stderr.contains("(HTTP 503)"), "{stderr}");
}
