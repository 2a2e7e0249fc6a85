//! Storm's multilang protocol against clients nobody here wrote, unmodified:
//! pystorm 3.1.4 (PyPI) and Apache Storm's own `storm.py` and `storm.js`
//! (from the Maven Central jars `org.apache.storm:multilang-python` and
//! `multilang-javascript`, fetched by `scripts/fetch-storm-multilang.sh`;
//! `STORM_PY` overrides the path, storm.js beside it). The components are
//! the small Python and Node.js files in `tests/multilang/`, and the pystorm
//! split bolt of `examples/multilang/split.py`.
//!
//! Every word count is compared with a plain count of the same Shakespeare
//! plays (`support::plays`): a Python split bolt in the middle changes
//! nothing, a bolt that fails 5% of its lines or a child killed with SIGKILL
//! or hung loses nothing under `at_least_once`, a Python spout's failed
//! lines are replayed, and a malformed message fails the task with the
//! message quoted.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use squall::builtins::{CountBolt, FileSpout, StatefulCountBolt};
use squall::topology::{Guarantee, RestartStrategy, TopologyConfig};
use squall::{Bolt, Fields, LocalCluster, OutputCollector, RunSummary, Spout, TopologyBuilder};
use squall::{Grouping, TopologyContext, Tuple, Values};
use squall_connectors::multilang::{MsgpackSerializer, ShellMetrics, ShellOptions};
use squall_connectors::{ShellBolt, ShellSpout};
use support::LastCount;

/// The folder of the Python components.
fn components() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/multilang")
}

/// The folder holding Storm's `storm.py` and `storm.js`, fetched once if
/// needed; checks that pystorm is installed too.
fn storm_dir() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let pystorm = Command::new("python3").args(["-c", "import pystorm"]).status();
        assert!(
            pystorm.is_ok_and(|s| s.success()),
            "pystorm is missing: run scripts/setup.sh (pip install pystorm==3.1.4)"
        );
        let storm_py = std::env::var("STORM_PY").unwrap_or_else(|_| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../scripts/fetch-storm-multilang.sh");
            let out = Command::new("bash").arg(script).output().expect("bash runs");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        });
        let dir = Path::new(&storm_py).parent().expect("storm.py is in a folder");
        assert!(dir.join("storm.py").is_file(), "no storm.py at {storm_py}");
        assert!(dir.join("storm.js").is_file(), "no storm.js beside {storm_py}");
        dir.display().to_string()
    })
}

/// The pystorm split bolt of `examples/multilang/split.py`, emitting words,
/// speaking pystorm's serializer `serializer` (`json` or `msgpack`).
fn example_split(serializer: &str) -> ShellBolt {
    storm_dir();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/multilang");
    let bolt = ShellBolt::new(["python3", "split.py", serializer]).cwd(examples).fields(["word"]);
    match serializer {
        "msgpack" => bolt.serializer(MsgpackSerializer),
        _ => bolt,
    }
}

/// `python3 script` from `tests/multilang`, able to `import storm`,
/// emitting words.
fn python(script: &str) -> ShellBolt {
    ShellBolt::new(["python3", script])
        .cwd(components())
        .env("PYTHONPATH", storm_dir())
        .fields(["word"])
}

/// lines -> `split` (2 tasks, shuffled) -> count (fields) -> last count.
fn word_count(
    lines: impl Spout + Clone,
    split: ShellBolt,
    config: TopologyConfig,
) -> (TopologyBuilder, LastCount) {
    let counts = LastCount::default();
    let mut b = TopologyBuilder::new("multilang-word-count");
    b.set_spout("lines", lines, 1);
    b.set_bolt("split", split, 2).shuffle_grouping("lines");
    b.set_bolt("count", CountBolt::new(Fields::new(["word"])), 2)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", counts.clone(), 1).global_grouping("count");
    *b.config_mut() = config;
    (b, counts)
}

/// Counts the words of the first `plays` plays with `split`; returns the
/// counts, the reference and the run's summary.
fn count_plays(
    plays: usize,
    split: ShellBolt,
    config: TopologyConfig,
) -> (HashMap<String, i64>, HashMap<String, i64>, RunSummary) {
    let (input, reference) = support::plays(plays);
    let (b, counts) = word_count(FileSpout::new(input.path()).unwrap(), split, config);
    let summary = LocalCluster::run(b.build().unwrap()).unwrap();
    let counts = counts.0.lock().unwrap().clone();
    (counts, reference, summary)
}

fn at_least_once() -> TopologyConfig {
    TopologyConfig {
        guarantee: Guarantee::AtLeastOnce,
        message_timeout_ms: 60_000,
        max_spout_pending: Some(500),
        ..TopologyConfig::default()
    }
}

#[test]
fn a_storm_js_split_bolt_counts_like_a_plain_loop_under_at_least_once() {
    let node = ShellBolt::new(["node", "split_storm.js"])
        .cwd(components())
        .env("NODE_PATH", storm_dir())
        .fields(["word"]);
    let (counts, reference, summary) = count_plays(2, node, at_least_once());
    assert_eq!(counts, reference);
    let lines = summary.metrics.component("lines").unwrap();
    assert_eq!((lines.acked, lines.failed), (lines.emitted, 0), "every line acked by storm.js");
}

#[test]
fn a_pystorm_split_bolt_counts_shakespeare_like_a_plain_loop() {
    let (counts, reference, summary) =
        count_plays(usize::MAX, example_split("json"), TopologyConfig::default());
    assert!(reference.len() > 20_000, "the whole corpus has many distinct words");
    assert_eq!(counts, reference);
    let split = summary.metrics.component("split").unwrap();
    assert_eq!(split.emitted, reference.values().sum::<i64>() as u64);
}

/// The same unmodified pystorm bolt with pystorm's `MsgpackSerializer`
/// (`serializer="msgpack"`) against Squall's, under at-least-once so that
/// every ack crosses as MessagePack too.
#[test]
fn a_pystorm_split_bolt_speaking_msgpack_counts_shakespeare_like_a_plain_loop() {
    let msgpack = Command::new("python3").args(["-c", "import msgpack"]).status();
    assert!(
        msgpack.is_ok_and(|s| s.success()),
        "msgpack is missing: run scripts/setup.sh (pip install msgpack==1.2.4)"
    );
    let config = TopologyConfig { max_spout_pending: Some(5000), ..at_least_once() };
    let (counts, reference, summary) = count_plays(usize::MAX, example_split("msgpack"), config);
    assert!(reference.len() > 20_000, "the whole corpus has many distinct words");
    assert_eq!(counts, reference);
    let lines = summary.metrics.component("lines").unwrap();
    assert_eq!((lines.acked, lines.failed), (lines.emitted, 0), "every line acked over msgpack");
}

#[test]
fn a_storm_py_split_bolt_counts_like_a_plain_loop_under_at_least_once() {
    let (counts, reference, summary) = count_plays(2, python("split_storm.py"), at_least_once());
    assert_eq!(counts, reference);
    let lines = summary.metrics.component("lines").unwrap();
    assert_eq!((lines.acked, lines.failed), (lines.emitted, 0), "every line acked by storm.py");
}

#[test]
fn a_python_bolt_failing_5_percent_of_lines_loses_nothing_under_at_least_once() {
    let flaky = python("flaky_split.py").env("FAIL_ONE_IN", "20");
    let (counts, reference, summary) = count_plays(3, flaky, at_least_once());
    assert_eq!(counts, reference);
    let (lines, split) =
        (summary.metrics.component("lines").unwrap(), summary.metrics.component("split").unwrap());
    assert!(split.failed > 0 && lines.replayed >= split.failed, "{split:?} {lines:?}");
    assert!(split.failed * 10 < lines.emitted, "about 5% fail: {split:?} {lines:?}");
}

/// Word count under `at_least_once` whose lines come from the Python spout
/// `script` (reading LINES_FILE, the lines of two plays) through the flaky
/// split bolt (5% of lines failed once): runs until the spout's metric
/// `acked` says every line was acked, then checks the counts. With
/// `msgpack` the spout speaks MessagePack (pystorm's serializer) and the
/// split bolt (storm.py) JSON.
fn python_spout_replays(script: &str, msgpack: bool) -> (ShellMetrics, RunSummary) {
    let (input, reference) = support::plays(2);
    let lines_file = input.path().join("all.lines");
    let mut text = String::new();
    let mut files: Vec<_> =
        std::fs::read_dir(input.path()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        // One line per `\n` (Python would also split at a lone `\r`).
        for line in String::from_utf8_lossy(&std::fs::read(f).unwrap()).lines() {
            text.push_str(&line.replace('\r', " "));
            text.push('\n');
        }
    }
    std::fs::write(&lines_file, &text).unwrap();
    let total = text.lines().count() as u64;
    let mut spout = ShellSpout::new(["python3", script])
        .cwd(components())
        .env("PYTHONPATH", storm_dir())
        .env("LINES_FILE", lines_file.display().to_string())
        .fields(["line"]);
    if msgpack {
        spout = spout.serializer(MsgpackSerializer).env("PYSTORM_SERIALIZER", "msgpack");
    }
    let metrics = spout.metrics();
    let flaky = python("flaky_split.py").env("FAIL_ONE_IN", "20");
    let (b, counts) = word_count(spout, flaky, at_least_once());
    let running = LocalCluster::submit(b.build().unwrap()).unwrap();
    let acked =
        metrics.wait_until("acked", Duration::from_secs(300), |n| n.as_u64() == Some(total));
    running.kill();
    let summary = running.join().unwrap();
    assert_eq!(acked.and_then(|n| n.as_u64()), Some(total), "the spout saw every line acked");
    assert_eq!(*counts.0.lock().unwrap(), reference);
    assert!(summary.metrics.component("split").unwrap().failed > 0, "lines failed");
    (metrics, summary)
}

#[test]
fn a_storm_py_spout_with_acks_and_fails_is_replayed() {
    let (metrics, summary) = python_spout_replays("numbered_lines_spout.py", false);
    let failed = metrics.get("failed").and_then(|n| n.as_u64()).unwrap_or(0);
    let split = summary.metrics.component("split").unwrap();
    assert_eq!(split.failed, failed, "every fail of the bolt reached the Python spout");
}

#[test]
fn a_pystorm_reliable_spout_is_replayed() {
    python_spout_replays("reliable_spout.py", false);
}

#[test]
fn a_pystorm_reliable_spout_speaking_msgpack_is_replayed() {
    python_spout_replays("reliable_spout.py", true);
}

/// What the tracing subscriber of this test binary wrote.
fn captured_log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let writer = move || Captured(sink.clone());
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(writer);
        subscriber.with_max_level(tracing::Level::INFO).try_init().expect("the only subscriber");
        log
    })
}

/// Appends to the captured log.
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_childs_stderr_and_log_commands_reach_the_workers_log_and_metrics_are_kept() {
    let log = captured_log();
    let noisy = python("noisy_split.py");
    let metrics = noisy.metrics();
    let (counts, reference, summary) = count_plays(1, noisy, TopologyConfig::default());
    assert_eq!(counts, reference);
    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    let line = |marker: &str| text.lines().find(|l| l.contains(marker)).map(str::to_string);
    let stderr = line("noisy: a line on stderr").expect("stderr reached the log");
    assert!(stderr.contains("INFO") && stderr.contains("component 'split' task"), "{stderr}");
    let logged = line("noisy: a log command").expect("the log command reached the log");
    assert!(logged.contains("WARN") && logged.contains("component=\"split\""), "{logged}");
    let lines = summary.metrics.component("split").unwrap().executed;
    // Each of the two tasks reports how many lines it split; the metric
    // keeps the last report.
    let reported = metrics.get("lines").and_then(|n| n.as_u64()).expect("the metric arrived");
    assert!(reported > 0 && reported <= lines, "{reported} of {lines}");
}

/// Word count of `plays` plays under `at_least_once` with the flaky split
/// bolt misbehaving once (`setting` = `KILL_AT` or `HANG_AT` at its 300th
/// line): the task was restarted once, nothing is lost, and what the bad
/// child held was replayed at once, not after the message timeout.
fn misbehaves_once(setting: &str, options: ShellOptions) {
    let marker = tempfile::tempdir().unwrap();
    let marker = marker.path().join("done");
    let bolt = python("flaky_split.py")
        .env(setting, "300")
        .env("MARKER", marker.display().to_string())
        .options(options);
    let (counts, reference, summary) = count_plays(2, bolt, at_least_once());
    assert!(marker.exists(), "a child misbehaved ({setting})");
    assert_eq!(summary.metrics.component("split").unwrap().restarts, 1);
    assert_eq!(counts, reference);
    assert_eq!(summary.metrics.component("lines").unwrap().timed_out, 0);
}

#[test]
fn a_child_killed_with_sigkill_is_restarted_and_nothing_is_lost() {
    misbehaves_once("KILL_AT", ShellOptions::default());
}

#[test]
fn a_child_that_stops_answering_is_replaced_after_the_timeout_and_nothing_is_lost() {
    // Long enough for a loaded machine to start Python, short for a test.
    let quick = ShellOptions { heartbeat_interval_ms: 200, timeout_ms: 5000, max_pending: 100 };
    misbehaves_once("HANG_AT", quick);
}

#[test]
fn a_killed_child_under_exactly_once_restarts_the_topology_and_counts_exactly() {
    let (input, reference) = support::plays(2);
    let checkpoints = tempfile::tempdir().unwrap();
    let marker = checkpoints.path().join("killed");
    let killer =
        python("flaky_split.py").env("KILL_AT", "2000").env("MARKER", marker.display().to_string());
    let counts = LastCount::default();
    let mut b = TopologyBuilder::new("multilang-exactly-once");
    b.set_spout("lines", FileSpout::new(input.path()).unwrap(), 1);
    b.set_bolt("split", killer, 2).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", counts.clone(), 1).global_grouping("count");
    let c = b.config_mut();
    c.guarantee = Guarantee::ExactlyOnce;
    c.checkpoint_interval_ms = 50;
    c.checkpoint_dir = Some(checkpoints.path().join("cp").display().to_string());
    c.restart_strategy = RestartStrategy::FixedDelay { attempts: 3, delay_ms: 0 };
    // Backpressure keeps the spout from reading everything at once (a
    // finished spout ends the checkpoints).
    c.channel_capacity = 2;
    c.batch_size = 16;
    let summary = LocalCluster::run(b.build().unwrap()).unwrap();
    assert!(marker.exists(), "a child killed itself");
    assert!(!summary.checkpoints.is_empty(), "no checkpoint in {:?}", summary.elapsed);
    assert_eq!(*counts.0.lock().unwrap(), reference);
}

/// Records `(its task id, values)` of every input.
#[derive(Clone, Default)]
struct TaskRecorder {
    task: usize,
    seen: Arc<Mutex<Vec<(usize, Values)>>>,
}

impl Bolt for TaskRecorder {
    fn prepare(&mut self, context: &TopologyContext) -> squall::Result<()> {
        self.task = context.task_id();
        Ok(())
    }
    fn execute(&mut self, input: Tuple, _: &mut OutputCollector) -> squall::Result<()> {
        self.seen.lock().unwrap().push((self.task, input.values().to_vec()));
        Ok(())
    }
}

#[test]
fn a_python_bolt_emits_on_named_and_direct_streams_and_gets_its_task_ids() {
    let (input, reference) = support::plays(1);
    let router = ShellBolt::new(["python3", "router.py"])
        .cwd(components())
        .env("PYTHONPATH", storm_dir())
        .stream("lengths", ["length"])
        .direct_stream("words", ["word", "task"]);
    let metrics = router.metrics();
    let (lengths, by_task) = (TaskRecorder::default(), TaskRecorder::default());
    let mut b = TopologyBuilder::new("multilang-streams");
    b.set_spout("lines", FileSpout::new(input.path()).unwrap(), 1);
    b.set_bolt("router", router, 1).shuffle_grouping("lines");
    b.set_bolt("lengths", lengths.clone(), 2).grouping_stream(
        "router",
        "lengths",
        Grouping::Shuffle,
    );
    b.set_bolt("by_task", by_task.clone(), 3).direct_grouping("router", "words");
    let summary = LocalCluster::run(b.build().unwrap()).unwrap();
    let lines = summary.metrics.component("lines").unwrap().emitted as usize;
    let length_tasks: Vec<usize> = lengths.seen.lock().unwrap().iter().map(|(t, _)| *t).collect();
    assert_eq!(length_tasks.len(), lines, "one length per line");
    let reported = metrics.get("length_tasks").expect("the child reported the task ids");
    let expected: BTreeSet<usize> = length_tasks.into_iter().collect();
    assert_eq!(reported, serde_json::json!(expected), "emit replies name the tasks");
    let mut words = HashMap::new();
    for (task, values) in by_task.seen.lock().unwrap().iter() {
        assert_eq!(values[1].as_i64(), Some(*task as i64), "a direct emit went to its task");
        *words.entry(values[0].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    assert_eq!(words, reference);
}

#[test]
fn a_malformed_message_fails_the_task_with_the_message_quoted() {
    let (input, _) = support::plays(1);
    let (b, _) = word_count(
        FileSpout::new(input.path()).unwrap(),
        python("malformed.py"),
        TopologyConfig::default(),
    );
    let error = LocalCluster::run(b.build().unwrap()).expect_err("the topology fails").to_string();
    assert!(error.contains("component 'split' task"), "{error}");
    assert!(
        error.contains(r#"malformed message "{\"command\": \"emit\", \"tuple\": [\"half a""#),
        "{error}"
    );
    assert!(error.contains("EOF while parsing"), "{error}");
}

#[test]
fn the_python_word_count_example_counts_like_a_plain_loop_with_either_serializer() {
    squall_connectors::register();
    storm_dir();
    let (input, reference) = support::plays(2);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for serializer in ["json", "msgpack"] {
        let out = tempfile::tempdir().unwrap();
        let overrides = [
            ("input".to_string(), input.path().display().to_string()),
            ("output".to_string(), out.path().join("counts.csv").display().to_string()),
            ("python_dir".to_string(), root.join("examples/multilang").display().to_string()),
            ("guarantee".to_string(), "at_least_once".to_string()),
            ("serializer".to_string(), serializer.to_string()),
        ];
        let example = root.join("examples/word-count-python.yaml");
        let loaded = squall::yaml::load(&example, &overrides).unwrap();
        LocalCluster::run(loaded.topology).unwrap();
        let csv = std::fs::read_to_string(out.path().join("counts.csv")).unwrap();
        let counts: HashMap<String, i64> = csv
            .lines()
            .skip(1)
            .map(|l| l.rsplit_once(',').unwrap())
            .map(|(w, c)| (w.to_string(), c.parse().unwrap()))
            .collect();
        assert_eq!(counts, reference, "{serializer}");
    }
}

/// A child that speaks JSON to a bolt that expects MessagePack fails its
/// task with what it sent quoted, not a hang.
#[test]
fn a_child_speaking_another_serializer_fails_the_task_with_its_message_quoted() {
    let options = ShellOptions { heartbeat_interval_ms: 500, timeout_ms: 2000, max_pending: 100 };
    let bolt = example_split("json").serializer(MsgpackSerializer).options(options);
    let mut b = TopologyBuilder::new("mismatch");
    let (input, _) = support::plays(1);
    b.set_spout("lines", FileSpout::new(input.path()).unwrap(), 1);
    b.set_bolt("split", bolt, 1).shuffle_grouping("lines");
    b.config_mut().restart_strategy = RestartStrategy::None;
    let error = LocalCluster::run(b.build().unwrap()).unwrap_err().to_string();
    assert!(error.contains("component 'split'"), "{error}");
    // The child either dies on bytes that are not its JSON lines, or waits
    // for an `end` line and is killed after the timeout.
    assert!(error.contains("speaking msgpack"), "{error}");
    assert!(error.contains("exited") || error.contains("2000 ms"), "{error}");
}
