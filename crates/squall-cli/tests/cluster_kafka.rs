//! Kafka exactly-once across cluster workers: Kafka -> word count with
//! `stateful_count` -> Kafka transactional sink, spread over two worker
//! processes on two supervisors, one worker SIGKILLed after a checkpoint.
//! A read_committed consumer of the output topic sees exactly the
//! reference: every (word, k) once, none missing.
//!
//! Needs Apache Kafka (`KAFKA_LIB=$(bash scripts/fetch-kafka.sh)`; on tansu,
//! whose read_committed readers see aborted records, it prints why and
//! skips), `etcd` on PATH and the corpus. Run by `scripts/test.sh` with
//! `--features kafka-tests`.
#![cfg(feature = "kafka-tests")]

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use squall_test_support::corpus;
use squall_test_support::kafka;
use support::*;

/// The first `n` plays, as Kafka records of up to 4 lines, and the
/// reference counts of their words.
fn plays(n: usize) -> (Vec<Vec<u8>>, BTreeMap<String, i64>) {
    let dir = corpus::shakespeare();
    let files: Vec<_> = corpus::files(&dir).into_iter().take(n).collect();
    let mut records = Vec::new();
    let mut counts = BTreeMap::new();
    for file in &files {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        records.extend(lines.chunks(4).map(|c| c.join("\n").into_bytes()));
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    (records, counts)
}

#[test]
fn kafka_word_count_over_two_workers_is_exactly_once_with_a_worker_sigkilled() {
    let broker = kafka::broker::start();
    if !broker.require_transactions("the two-worker Kafka word count with a worker killed") {
        return;
    }
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    kafka::create_topic(&broker.brokers, "lines", 4);
    kafka::create_topic(&broker.brokers, "counts", 2);
    let (records, counts) = plays(3);
    kafka::produce(&broker.brokers, "lines", &records);
    let name = "kafka-wc";
    let checkpoints = cluster.dir.path().join("checkpoints");
    // Unbounded: a finished spout task ends checkpointing, so the run is
    // killed once the reference's number of records is committed.
    let yaml = format!(
        r#"name: {name}
config:
  guarantee: exactly_once
  checkpoint_interval_ms: 200
  checkpoint_dir: "{}"
  restart_strategy: {{ type: fixed_delay, attempts: 5, delay_ms: 0 }}
spouts:
  - id: lines
    type: kafka
    parallelism: 2
    settings: {{ brokers: "{b}", topics: [lines], format: {{ type: lines }}, bounded: false, partition_discovery_ms: 0 }}
bolts:
  - {{ id: split, type: split_words, parallelism: 2, settings: {{ field: line }} }}
  - {{ id: count, type: stateful_count, parallelism: 2, settings: {{ fields: [word] }} }}
  - id: sink
    type: kafka
    parallelism: 2
    settings: {{ brokers: "{b}", topic: counts, delivery: exactly_once, key_field: word }}
streams:
  - {{ from: lines, to: split, grouping: shuffle }}
  - {{ from: split, to: count, grouping: {{ fields: [word] }} }}
  - {{ from: count, to: sink, grouping: shuffle }}
"#,
        checkpoints.display(),
        b = broker.brokers
    );
    let file = cluster.dir.path().join("kafka-wc.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = cluster.squall(&["submit", file.to_str().unwrap(), "--workers", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    cluster.wait_for_state(name, "running");
    let topology_dir = checkpoints.join(name);
    wait_until("a first checkpoint", || !completed_checkpoints(&topology_dir).is_empty());
    let pid = cluster.worker_pid("sup-b", name).or_else(|| cluster.worker_pid("sup-a", name));
    let pid = pid.expect("a running worker").to_string();
    let killed = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(killed.success(), "killed before the end");

    let mut expected: Vec<(String, i64)> =
        counts.iter().flat_map(|(w, &c)| (1..=c).map(move |k| (w.clone(), k))).collect();
    expected.sort();
    let committed = kafka::read_committed_until(
        &broker.brokers,
        "counts",
        expected.len(),
        Duration::from_secs(400),
    );
    let status = cluster.status(name);
    let _ = cluster.squall(&["kill", name]);
    let got = kafka::word_counts_of(&committed);
    assert_eq!(got.len(), expected.len(), "committed records vs reference");
    assert!(got == expected, "committed records differ from the reference");
    let log = cluster.worker_log("sup-a", name) + &cluster.worker_log("sup-b", name);
    eprintln!(
        "status after the kill: {status}; workers said:\n{}",
        log.lines().filter(|l| l.contains("attempt")).collect::<Vec<_>>().join("\n")
    );
    assert!(
        log.contains("restoring checkpoint") && status["restarts"].as_u64() > Some(0),
        "the workers did not restart from a checkpoint after the kill: {status}"
    );
}
