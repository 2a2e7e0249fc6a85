//! Prometheus metrics on a cluster (real processes on 127.0.0.1: etcd,
//! nimbus, two supervisors): each worker and each supervisor serves its own
//! `/metrics`, nimbus lists them at `/api/v1/metrics/targets` (Prometheus
//! HTTP service discovery), and a real Prometheus server (Debian's
//! `prometheus`) discovers them there and scrapes both workers.
//!
//! Needs `etcd` and `prometheus` on PATH (scripts/setup.sh installs both).

mod support;

use std::collections::BTreeSet;

use support::prometheus::{get, label_values, scrape, sum_by, Prometheus};
use support::*;

#[test]
fn both_workers_of_a_topology_serve_metrics_that_nimbus_lists_and_prometheus_scrapes() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let yaml = cluster.dir.path().join("gen.yaml");
    std::fs::write(
        &yaml,
        r#"name: gen
spouts:
  - { id: lines, type: generator, parallelism: 2, settings: { rate_per_sec: 1000 } }
bolts:
  - { id: split, type: split_words, parallelism: 2, settings: { field: line } }
  - { id: count, type: count, parallelism: 2, settings: { fields: [word] } }
streams:
  - { from: lines, to: split, grouping: shuffle }
  - { from: split, to: count, grouping: { fields: [word] } }
"#,
    )
    .unwrap();
    let out = cluster.squall(&["submit", yaml.to_str().unwrap(), "--workers", "2"]);
    assert!(out.status.success(), "submit: {}", String::from_utf8_lossy(&out.stderr));
    cluster.wait_for_state("gen", "running");
    let port = cluster.nimbus[cluster.leader().expect("a leader")].0;
    let targets_url = format!("http://127.0.0.1:{port}/api/v1/metrics/targets");

    // Nimbus lists both workers and both supervisors; only with the token.
    assert!(get(&targets_url, None).is_err(), "the targets need the token");
    let mut groups = serde_json::Value::Null;
    let of_role = |groups: &serde_json::Value, role: &str| -> Vec<String> {
        let groups = groups.as_array().cloned().unwrap_or_default();
        groups
            .iter()
            .filter(|g| g["labels"]["job_role"] == role)
            .flat_map(|g| g["targets"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect()
    };
    wait_until("two workers and two supervisors among the targets", || {
        groups = get(&targets_url, Some(TOKEN))
            .ok()
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default();
        of_role(&groups, "worker").len() == 2 && of_role(&groups, "supervisor").len() == 2
    });

    // Each worker's own series: its worker label, its tasks, tuples flowing.
    let mut workers = BTreeSet::new();
    let mut tasks = Vec::new();
    for addr in of_role(&groups, "worker") {
        let mut s = scrape(&addr).unwrap();
        wait_until(&format!("tuples through the worker at {addr}"), || {
            s = scrape(&addr).unwrap();
            sum_by(&s, "squall_executed_total", "topology").get("gen").is_some_and(|n| *n > 0.0)
        });
        let labels = label_values(&s, "squall_emitted_total", "worker");
        assert_eq!(labels.len(), 1, "one worker label per process: {labels:?}");
        workers.extend(labels);
        tasks.extend(label_values(&s, "squall_emitted_total", "task"));
        assert!(!label_values(&s, "process_resident_memory_bytes", "worker").is_empty());
    }
    assert_eq!(workers.len(), 2, "{workers:?}");
    tasks.sort_by_key(|t| t.parse::<usize>().unwrap());
    let all: Vec<String> = (0..6).map(|t| t.to_string()).collect();
    assert_eq!(tasks, all, "each task is exported by exactly one worker");
    for addr in of_role(&groups, "supervisor") {
        let s = scrape(&addr).unwrap();
        let sups = label_values(&s, "squall_supervisor_slots", "supervisor");
        assert_eq!(sups.len(), 1, "{addr}: {sups:?}");
    }
    // The JSON the web UI reads names each task's worker.
    let metrics = cluster.metrics("gen");
    let named: BTreeSet<String> = metrics["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["worker"].as_str().map(str::to_string))
        .collect();
    assert_eq!(named.len(), 2, "{metrics}");

    // A real Prometheus discovers the targets through nimbus and scrapes
    // both workers. (Prometheus 2.42 sends an http_sd `authorization`
    // without its `type: Bearer` as the bare token.)
    let prometheus = Prometheus::start(
        cluster.dir.path(),
        &format!(
            "  - job_name: squall\n    http_sd_configs:\n      - url: {targets_url}\n        \
             refresh_interval: 1s\n        authorization:\n          type: Bearer\n          credentials: {TOKEN}\n"
        ),
    );
    let query = r#"count(sum by (worker) (rate(squall_emitted_total{topology="gen",component="lines"}[5s]) > 0))"#;
    let by_worker = r#"count(count by (worker) (squall_emitted_total{topology="gen"}))"#;
    let started = std::time::Instant::now();
    while prometheus.query(by_worker) != Some(2.0)
        || prometheus.query(query).is_none_or(|n| n < 1.0)
    {
        if started.elapsed() > PATIENCE {
            let log = cluster.dir.path().join("prometheus.log");
            panic!(
                "Prometheus did not scrape both workers: targets {}\n{}",
                prometheus.targets(),
                std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| !l.contains("level=info"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        std::thread::sleep(POLL);
    }
    let out = cluster.squall(&["kill", "gen"]);
    assert!(out.status.success(), "kill: {}", String::from_utf8_lossy(&out.stderr));
}
