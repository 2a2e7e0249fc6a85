//! Prometheus metrics of `squall run --metrics` (the binary, in local mode):
//! a word count over the Shakespeare corpus scraped while it runs and after
//! it finished, the exposition read with the `prometheus-parse` crate and
//! its counts compared with references computed here without the engine;
//! and a real Prometheus server (Debian's `prometheus`) scraping an
//! unbounded topology, whose PromQL rate of emitted tuples must be the
//! spout's configured rate.
//!
//! Needs the corpus in `data/shakespeare` and `prometheus` on PATH
//! (scripts/setup.sh fetches and installs both).

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prometheus_parse::Value;
use support::prometheus::{family, label_values, scrape, sum_by, value, Prometheus};
use support::{corpus, reference, wait_until};

/// Writes `text` to `dir/NAME.yaml`; its path.
fn write_yaml(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// `squall run --metrics 127.0.0.1:0 FILE`, its stderr in `dir/run.log`;
/// the metrics address it printed.
fn run_with_metrics(dir: &Path, yaml: &Path) -> (Child, String) {
    let log = dir.join("run.log");
    let child = Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(["run", "--quiet", "--metrics", "127.0.0.1:0"])
        .arg(yaml)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut addr = String::new();
    wait_until("the metrics URL on stderr", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let found = text.lines().find_map(|l| l.strip_prefix("metrics on http://"));
        if let Some(a) = found {
            addr = a.trim_end_matches("/metrics").to_string();
        }
        !addr.is_empty()
    });
    (child, addr)
}

/// Ctrl-C, then the exit.
fn interrupt(mut child: Child) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Lines of every non-hidden file in `dir`, as the file spout reads them
/// (a last line without a newline counts).
fn line_count(dir: &Path) -> u64 {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        n += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        n += u64::from(bytes.last().is_some_and(|&b| b != b'\n'));
    }
    n
}

/// Asserts that every family of `names` is present and each sample has the
/// labels of a task.
fn assert_task_labels(s: &prometheus_parse::Scrape, names: &[&str], topology: &str) {
    for name in names {
        let samples = family(s, name);
        assert!(!samples.is_empty(), "no {name} in the exposition");
        for sample in samples {
            for label in ["topology", "component", "task", "worker"] {
                assert!(sample.labels.get(label).is_some(), "{name} without {label}: {sample:?}");
            }
            assert_eq!(sample.labels.get("topology"), Some(topology));
            assert_eq!(sample.labels.get("worker"), Some("local"));
        }
    }
}

/// Event times of the CSV branch (ms since the epoch).
const FIRST_EVENT_MS: i64 = 1_700_000_000_000;
const EVENTS: i64 = 20;

#[test]
fn a_word_count_run_with_metrics_exports_every_family_and_its_counts_equal_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus();
    let yaml = write_yaml(
        dir.path(),
        "wc",
        &format!(
            r#"name: wc-metrics
config:
  buffer_timeout_ms: 10
  guarantee: at_least_once
  message_timeout_ms: 600000
  checkpoint_interval_ms: 300
  checkpoint_dir: "{d}/checkpoints"
spouts:
  - {{ id: lines, type: file, parallelism: 2, settings: {{ path: "{corpus}" }} }}
bolts:
  - {{ id: split, type: split_words, parallelism: 2, settings: {{ field: line }} }}
  - {{ id: count, type: count, parallelism: 2, settings: {{ fields: [word] }} }}
  - {{ id: sink, type: counts_csv, parallelism: 1, settings: {{ path: "{d}/counts.csv", key: word, count: count, print_top: 3 }} }}
streams:
  - {{ from: lines, to: split, grouping: local_or_shuffle }}
  - {{ from: split, to: count, grouping: {{ fields: [word] }} }}
  - {{ from: count, to: sink, grouping: global }}
"#,
            d = dir.path().display(),
            corpus = corpus.display()
        ),
    );
    let lines = line_count(&corpus) as f64;
    let words = reference(&corpus).values().sum::<u64>() as f64;

    let (child, addr) = run_with_metrics(dir.path(), &yaml);
    let log = dir.path().join("run.log");
    let finished = || std::fs::read_to_string(&log).unwrap_or_default().contains("finished;");
    // While it runs: the spouts' counts are there and still short of the end.
    let mut mid_run = None;
    wait_until("a scrape while the topology runs", || {
        let Ok(s) = scrape(&addr) else { return false };
        let emitted = sum_by(&s, "squall_emitted_total", "component");
        let lines_so_far = emitted.get("lines").copied().unwrap_or(0.0);
        if lines_so_far > 0.0 && lines_so_far < lines && !finished() {
            mid_run = Some(lines_so_far);
        }
        mid_run.is_some() || finished()
    });
    assert!(mid_run.is_some(), "the run ended before a scrape saw it running");
    wait_until("the run to finish", finished);
    let s = scrape(&addr).unwrap();

    // Every family, with the labels of a task.
    let per_task = [
        "squall_emitted_total",
        "squall_executed_total",
        "squall_acked_total",
        "squall_failed_total",
        "squall_replayed_total",
        "squall_timed_out_total",
        "squall_restarts_total",
        "squall_error_records_total",
        "squall_backpressure_milliseconds_total",
        "squall_backpressure_ratio",
        "squall_input_queue_fill_ratio",
        "squall_execute_latency_seconds",
        "squall_complete_latency_seconds",
    ];
    assert_task_labels(&s, &per_task, "wc-metrics");
    for name in ["squall_execute_latency_seconds", "squall_complete_latency_seconds"] {
        let counted: f64 = family(&s, name)
            .iter()
            .map(|h| match &h.value {
                Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
                other => panic!("{name} is not a histogram: {other:?}"),
            })
            .sum();
        assert!(counted > 0.0, "{name} recorded nothing");
    }
    let per_topology = [
        "squall_checkpoints_total",
        "squall_checkpoint_last_id",
        "squall_checkpoint_last_duration_seconds",
        "squall_checkpoint_last_size_bytes",
        "squall_checkpoint_last_uploaded_bytes",
        "squall_checkpoint_duration_seconds",
        "squall_checkpoint_alignment_seconds",
        "squall_checkpoint_last_alignment_seconds",
        "squall_topology_restarts_total",
    ];
    for name in per_topology {
        let samples = family(&s, name);
        assert!(!samples.is_empty(), "no {name} in the exposition");
        assert!(samples.iter().all(|x| x.labels.get("topology") == Some("wc-metrics")), "{name}");
    }
    let completed = family(&s, "squall_checkpoints_total")
        .into_iter()
        .find(|x| x.labels.get("status") == Some("completed"))
        .map(value);
    assert!(completed.is_some_and(|n| n >= 1.0), "no completed checkpoint: {completed:?}");
    assert!(label_values(&s, "squall_checkpoints_total", "status").contains("failed"));
    for name in ["process_resident_memory_bytes", "process_cpu_seconds_total"] {
        let v = family(&s, name).first().map(|x| value(x));
        assert!(v.is_some_and(|v| v > 0.0), "{name}: {v:?}");
    }
    // Tasks are the global ids 0..7.
    let tasks = label_values(&s, "squall_emitted_total", "task");
    assert_eq!(tasks, (0..7).map(|t| t.to_string()).collect());

    // The counts, against the references.
    let emitted = sum_by(&s, "squall_emitted_total", "component");
    let executed = sum_by(&s, "squall_executed_total", "component");
    let acked = sum_by(&s, "squall_acked_total", "component");
    assert_eq!(emitted["lines"], lines, "lines read");
    assert_eq!(acked["lines"], lines, "every line's tree acked");
    assert_eq!(executed["split"], lines);
    assert_eq!(emitted["split"], words, "words split");
    assert_eq!(executed["count"], words);
    assert_eq!(emitted["count"], words);
    assert_eq!(executed["sink"], words);
    for name in [
        "squall_failed_total",
        "squall_replayed_total",
        "squall_restarts_total",
        "squall_error_records_total",
    ] {
        assert_eq!(family(&s, name).iter().map(|x| value(x)).sum::<f64>(), 0.0, "{name}");
    }

    // The JSON the web UI reads says the same.
    let json = support::prometheus::get(
        &format!("http://{addr}/api/v1/topologies/wc-metrics/metrics"),
        None,
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let component = |id: &str| {
        json["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["component"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(component("split")["emitted"].as_f64(), Some(words), "{json}");
    assert!(json["checkpoints"].as_array().is_some_and(|c| !c.is_empty()), "{json}");
    let tasks = json["tasks"].as_array().unwrap();
    let sink = tasks.iter().find(|t| t["component"] == "sink").unwrap();
    assert_eq!(sink["worker"], "local");
    assert!(sink["execute_latency"]["p99_us"].as_u64().is_some(), "{sink}");

    interrupt(child);
    let counts = std::fs::read_to_string(dir.path().join("counts.csv")).unwrap();
    assert_eq!(counts.lines().count() as u64 - 1, reference(&corpus).len() as u64, "words");
}

#[test]
fn an_event_time_run_exports_watermarks_their_lag_and_error_records() {
    let dir = tempfile::tempdir().unwrap();
    // Event times one second apart, and one bad line for the errors stream.
    let mut csv = String::from("key,at\n");
    for i in 0..EVENTS {
        csv.push_str(&format!("k{},{}\n", i % 3, FIRST_EVENT_MS + i * 1000));
    }
    csv.push_str("k0,not-a-time\n");
    std::fs::write(dir.path().join("events.csv"), csv).unwrap();
    let yaml = write_yaml(
        dir.path(),
        "events",
        &format!(
            r#"name: events
spouts:
  - {{ id: events, type: csv, settings: {{ path: "{d}/events.csv", time_field: at, time_format: unix_millis, watermark_every: 1 }} }}
bolts:
  - {{ id: per_key, type: count, settings: {{ fields: [key] }} }}
streams:
  - {{ from: events, to: per_key, grouping: shuffle }}
"#,
            d = dir.path().display()
        ),
    );
    let (child, addr) = run_with_metrics(dir.path(), &yaml);
    let log = dir.path().join("run.log");
    wait_until("the run to finish", || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("finished;")
    });
    let s = scrape(&addr).unwrap();
    interrupt(child);
    let names = ["squall_watermark_milliseconds", "squall_watermark_lag_seconds"];
    assert_task_labels(&s, &names, "events");
    assert_eq!(sum_by(&s, "squall_executed_total", "component")["per_key"], EVENTS as f64);
    let errors = sum_by(&s, "squall_error_records_total", "component");
    assert_eq!(errors["events"], 1.0, "the bad line went to the errors stream");
    assert_eq!(errors["per_key"], 0.0);
    // The bolt's watermark stays the spout's last one (monotonous: the
    // highest event time less 1 ms) after the input ended.
    let of_bolt = |name: &str| {
        family(&s, name)
            .into_iter()
            .find(|x| x.labels.get("component") == Some("per_key"))
            .map(value)
            .unwrap_or_else(|| panic!("per_key has no {name}"))
    };
    let watermark = of_bolt("squall_watermark_milliseconds");
    let last = (FIRST_EVENT_MS + (EVENTS - 1) * 1000) as f64;
    assert!(watermark > FIRST_EVENT_MS as f64 && watermark <= last, "{watermark}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let lag = of_bolt("squall_watermark_lag_seconds");
    assert!((lag - (now.as_secs_f64() - watermark / 1e3)).abs() < 60.0, "lag {lag}");
}

#[test]
fn a_real_prometheus_scrapes_squall_run_and_its_promql_rate_is_the_spouts_rate() {
    const RATE: f64 = 2000.0;
    let dir = tempfile::tempdir().unwrap();
    let yaml = write_yaml(
        dir.path(),
        "gen",
        &format!(
            r#"name: gen
spouts:
  - {{ id: lines, type: generator, parallelism: 2, settings: {{ rate_per_sec: {RATE} }} }}
bolts:
  - {{ id: split, type: split_words, parallelism: 2, settings: {{ field: line }} }}
  - {{ id: count, type: count, parallelism: 2, settings: {{ fields: [word] }} }}
streams:
  - {{ from: lines, to: split, grouping: shuffle }}
  - {{ from: split, to: count, grouping: {{ fields: [word] }} }}
"#
        ),
    );
    let (child, addr) = run_with_metrics(dir.path(), &yaml);
    let prometheus = Prometheus::start(
        dir.path(),
        &format!("  - job_name: squall\n    static_configs:\n      - targets: ['{addr}']\n"),
    );
    let query = r#"sum(rate(squall_emitted_total{topology="gen",component="lines"}[5s]))"#;
    let mut rate = None;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(45) {
        rate = prometheus.query(query).filter(|r| *r > 0.0);
        if rate.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let targets = prometheus.targets();
    interrupt(child);
    let rate =
        rate.unwrap_or_else(|| panic!("no emitted rate from Prometheus; targets: {targets}"));
    assert!(rate > RATE / 4.0 && rate < RATE * 2.0, "PromQL rate {rate}/s for a spout at {RATE}/s");
}
