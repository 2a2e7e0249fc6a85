//! Cluster mode with real processes on 127.0.0.1: etcd (Debian's
//! `etcd-server`, started here), nimbus daemons and two supervisors, driven
//! through the `squall` CLI. Word counts on the Shakespeare corpus are
//! compared with a count computed here, independently of the engine.
//!
//! Needs `etcd` on PATH and the corpus in `data/shakespeare` (`.ci/run`
//! installs and fetches both).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

#[test]
fn word_counts_spread_over_two_supervisors_and_equal_the_reference() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let corpus = corpus();
    let a = cluster.submit_word_count("wc-a", &corpus);
    let b = cluster.submit_word_count("wc-b", &corpus);
    let sa = cluster.wait_for_state("wc-a", "finished");
    let sb = cluster.wait_for_state("wc-b", "finished");
    assert_ne!(
        sa["supervisor"], sb["supervisor"],
        "the scheduler spreads over supervisors: {sa} {sb}"
    );
    let expected = reference(&corpus);
    assert_eq!(read_counts(&a), expected);
    assert_eq!(read_counts(&b), expected);
    // The workers' last metrics: the split bolt emitted every word (the
    // example merges equal words before the count bolt, so that executes
    // fewer), per component and summed over its tasks.
    let words: u64 = expected.values().sum();
    let metrics = cluster.metrics("wc-a");
    let split = component(&metrics, "split");
    assert_eq!(split["emitted"].as_u64(), Some(words), "{metrics}");
    let per_task: u64 = metrics["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["component"] == "split")
        .map(|t| t["emitted"].as_u64().unwrap())
        .sum();
    assert_eq!(per_task, words, "{metrics}");
    let list = String::from_utf8_lossy(&cluster.squall(&["list"]).stdout).into_owned();
    assert!(list.contains("wc-a") && list.contains("finished"), "{list}");
}

#[test]
fn a_word_count_over_two_workers_exchanges_tuples_over_tcp_and_equals_the_reference() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let corpus = corpus();
    let output = cluster.submit_word_count_with("wc-two", &corpus, &["--workers", "2"]);
    cluster.wait_for_state("wc-two", "finished");
    let expected = reference(&corpus);
    assert_eq!(read_counts(&output), expected);
    // Both workers reported their tasks; the sums cover every word.
    let metrics = cluster.metrics("wc-two");
    assert_eq!(metrics["workers"].as_array().map(Vec::len), Some(2), "{metrics}");
    let split = component(&metrics, "split");
    assert_eq!(split["emitted"].as_u64(), Some(expected.values().sum()), "{metrics}");
    // Each supervisor ran one worker, and each worker sent and received
    // data over the network.
    for sup in ["sup-a", "sup-b"] {
        let log = cluster.dir.path().join("work").join(sup).join("wc-two-slot0.log");
        let log =
            std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let bytes: u64 = log
            .lines()
            .find_map(|l| l.strip_prefix("data plane: "))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no data plane line in {sup}'s worker log:\n{log}"));
        assert!(bytes > 100_000, "{sup}'s worker moved {bytes} bytes");
    }
}

#[test]
fn workers_exchange_tuples_and_control_messages_over_mutual_tls_and_the_output_equals_the_reference(
) {
    let dir = tempfile::tempdir().unwrap();
    // A self-signed certificate for 127.0.0.1, made here, is the cluster's
    // certificate and its own CA.
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cluster.crt"), dir.path().join("cluster.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    let var =
        |k: &str, v: &Path| (format!("SQUALL__SUPERVISOR__DATA_TLS__{k}"), v.display().to_string());
    let env = vec![var("CERT", &cert), var("KEY", &key), var("CA", &cert)];
    let cluster = Cluster::start_in(dir, env, 1, &["sup-a", "sup-b"], &[]);
    let corpus = corpus();
    let output = cluster.submit_word_count_with("wc-tls", &corpus, &["--workers", "2"]);
    cluster.wait_for_state("wc-tls", "finished");
    assert_eq!(read_counts(&output), reference(&corpus));
    for sup in ["sup-a", "sup-b"] {
        let log = cluster.dir.path().join("work").join(sup).join("wc-tls-slot0.log");
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(log.contains("data plane: TLS"), "{sup}'s worker did not use TLS:\n{log}");
    }
    // The control connections too: the checkpoint coordinator's
    // (exactly-once) and the ackers' (at-least-once).
    let at_least_once = ["--set", "guarantee=at_least_once", "--workers", "2"];
    let tracked = cluster.submit_word_count_with("wc-tls-acked", &corpus, &at_least_once);
    cluster.wait_for_state("wc-tls-acked", "finished");
    assert_eq!(read_counts(&tracked), reference(&corpus));
    let (input, expected) = repeated_corpus(cluster.dir.path(), 1);
    let (_, output) = cluster.submit_exactly_once("wc-tls-eo", &input, &["--workers", "2"]);
    cluster.wait_for_state("wc-tls-eo", "finished");
    let (rows, want) = (committed_rows(&output), expected_rows(&expected));
    assert!(rows == want, "{} rows committed, {} expected", rows.len(), want.len());
    for (name, sup) in [("wc-tls-acked", "sup-a"), ("wc-tls-eo", "sup-b")] {
        let log = cluster.worker_log(sup, name);
        assert!(log.contains("control plane: TLS"), "{sup}'s {name} worker:\n{log}");
    }
}

/// Storm's multilang on a cluster: `examples/word-count-python.yaml`, its
/// split bolt a pystorm child per task, over two workers under
/// `at_least_once` (the children's acks cross the workers to the ackers),
/// counts the corpus exactly as a plain count does.
#[test]
fn a_python_split_bolt_on_two_workers_counts_like_a_plain_loop() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let corpus = corpus();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let output = cluster.dir.path().join("python.csv");
    let set = |k: &str, v: &Path| format!("{k}={}", v.display());
    let out = cluster.squall(&[
        "submit",
        repo.join("examples/word-count-python.yaml").to_str().unwrap(),
        "--workers",
        "2",
        "--set",
        &set("input", &corpus),
        "--set",
        &set("output", &output),
        "--set",
        &set("python_dir", &repo.join("examples/multilang")),
        "--set",
        "guarantee=at_least_once",
    ]);
    assert!(out.status.success(), "submit failed: {}", String::from_utf8_lossy(&out.stderr));
    cluster.wait_for_state("word-count-python", "finished");
    let expected = reference(&corpus);
    assert_eq!(read_counts(&output), expected);
    let metrics = cluster.metrics("word-count-python");
    assert_eq!(metrics["workers"].as_array().map(Vec::len), Some(2), "{metrics}");
    let split = component(&metrics, "split");
    assert_eq!(split["emitted"].as_u64(), Some(expected.values().sum()), "{metrics}");
    let lines = component(&metrics, "lines");
    assert_eq!(lines["acked"], lines["emitted"], "every line acked by the children: {metrics}");
}

#[test]
fn api_refuses_missing_or_wrong_tokens_and_bad_topologies() {
    let cluster = Cluster::start(1, &[]);
    let out = cluster.command(&["list"]).env("SQUALL__API_TOKEN", "wrong").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"), "{out:?}");
    let out = cluster.command(&["list"]).env("SQUALL__API_TOKEN", "").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"), "{out:?}");

    let bad = cluster.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nspouts:\n  - { id: s, type: no_such_spout, parallelism: 1 }\n",
    )
    .unwrap();
    let out = cluster.squall(&["submit", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("400") && stderr.contains("no_such_spout"), "{stderr}");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/word-count.yaml");
    let out = cluster.squall(&[
        "submit",
        example.to_str().unwrap(),
        "--set",
        &format!("input={}", corpus().display()),
        "--workers",
        "0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("400") && stderr.contains("workers must be at least 1"), "{stderr}");
    let list = String::from_utf8_lossy(&cluster.squall(&["list"]).stdout).into_owned();
    assert!(list.starts_with("no topologies"), "a refused topology changes nothing: {list}");
    for verb in ["deactivate", "activate", "status"] {
        let out = cluster.squall(&[verb, "nope"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("404") && stderr.contains("no topology 'nope'"),
            "{verb}: {stderr}"
        );
    }
}

#[test]
fn a_worker_killed_mid_run_is_restarted_and_the_output_equals_the_reference() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 6);
    let output = cluster.submit_word_count("wc-kill", &input);
    let running = cluster.wait_for_state("wc-kill", "running");
    // No checkpoints, so no savepoint: a rebalance is refused, saying why.
    let out = cluster.squall(&["rebalance", "wc-kill", "--parallelism", "count=3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("400") && stderr.contains("savepoint"), "{stderr}");
    let pid = running["worker_pid"].as_u64().expect("a running worker has a pid");
    let killed = Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let done = cluster.wait_for_state("wc-kill", "finished");
    assert!(done["restarts"].as_u64().unwrap() >= 1, "the worker was restarted: {done}");
    assert_eq!(done["supervisor"], running["supervisor"], "restarted in place: {done}");
    assert_eq!(read_counts(&output), expected);
}

/// The name of [`ExactlyOnce`]'s topology.
const EO_NAME: &str = "wc-exactly-once";

/// An exactly-once word count submitted to `cluster`: where it checkpoints
/// and commits, and the counts it must commit.
struct ExactlyOnce {
    checkpoints: PathBuf,
    output: PathBuf,
    expected: BTreeMap<String, u64>,
}

impl ExactlyOnce {
    /// Submits [`exactly_once_yaml`] over `copies` of the corpus, the count
    /// bolt with `count_tasks` tasks.
    fn submit(cluster: &Cluster, copies: u64, count_tasks: usize) -> ExactlyOnce {
        let (input, expected) = repeated_corpus(cluster.dir.path(), copies);
        let (checkpoints, output) =
            (cluster.dir.path().join("checkpoints"), cluster.dir.path().join("out"));
        std::fs::create_dir(&output).unwrap();
        let file = cluster.dir.path().join("eo.yaml");
        let yaml = exactly_once_yaml(EO_NAME, &checkpoints, &input, &output).replace(
            "type: stateful_count, parallelism: 2",
            &format!("type: stateful_count, parallelism: {count_tasks}"),
        );
        std::fs::write(&file, yaml).unwrap();
        let out = cluster.squall(&["submit", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        ExactlyOnce { checkpoints, output, expected }
    }

    /// The id of the newest complete checkpoint (0 before the first).
    fn latest_checkpoint(&self) -> u64 {
        completed_checkpoints(&self.checkpoints.join(EO_NAME)).last().copied().unwrap_or(0)
    }

    /// Waits until checkpoint `id` (or a later one) is complete.
    fn wait_for_checkpoint(&self, id: u64) {
        wait_until(&format!("checkpoint {id}"), || self.latest_checkpoint() >= id);
    }
}

#[test]
fn an_exactly_once_worker_killed_after_a_checkpoint_resumes_and_commits_exactly_the_reference() {
    let cluster = Cluster::start(1, &["sup-a"]);
    let eo = ExactlyOnce::submit(&cluster, 2, 2);
    let (output, expected) = (&eo.output, &eo.expected);
    let running = cluster.wait_for_state("wc-exactly-once", "running");
    eo.wait_for_checkpoint(1);
    let pid = running["worker_pid"].as_u64().unwrap().to_string();
    assert!(
        Command::new("kill").args(["-KILL", &pid]).status().unwrap().success(),
        "killed before the end"
    );
    let done = cluster.wait_for_state("wc-exactly-once", "finished");
    assert!(done["restarts"].as_u64().unwrap() >= 1, "{done}");
    assert_exactly_once(output, expected);
}

/// The sink's committed rows are (word, k) for k = 1..=count, each once.
/// Compared word by word: one sorted list of every row (~10^7 for ten
/// copies of the corpus) took over four minutes in a debug build on a
/// loaded machine.
fn assert_exactly_once(output: &Path, expected: &BTreeMap<String, u64>) {
    let mut committed: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for entry in std::fs::read_dir(output).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue; // not committed
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let (w, k) = line.rsplit_once(',').unwrap();
            let (w, k) = (w.trim_matches('"'), k.parse::<u64>().unwrap());
            match committed.get_mut(w) {
                Some(ks) => ks.push(k),
                None => {
                    committed.insert(w.to_string(), vec![k]);
                }
            }
        }
    }
    let rows: usize = committed.values().map(Vec::len).sum();
    let want: u64 = expected.values().sum();
    for (word, &count) in expected {
        let mut ks = committed.remove(word).unwrap_or_default();
        ks.sort_unstable();
        assert!(
            ks.iter().copied().eq(1..=count),
            "'{word}': committed {} counts, expected 1..={count}, each once ({rows} rows \
             committed, {want} expected)",
            ks.len()
        );
    }
    let unexpected: Vec<&String> = committed.keys().take(5).collect();
    assert!(unexpected.is_empty(), "words not in the input committed: {unexpected:?}");
}

#[test]
fn a_dead_supervisors_topology_moves_to_another_and_the_output_equals_the_reference() {
    let mut cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 6);
    let output = cluster.submit_word_count("wc-move", &input);
    let running = cluster.wait_for_state("wc-move", "running");
    let lost = running["supervisor"].as_str().unwrap().to_string();
    let index = if lost == "sup-a" { 0 } else { 1 };
    // SIGKILL: no goodbye to etcd; its worker dies with it.
    cluster.supervisors[index].kill().unwrap();
    cluster.supervisors[index].wait().unwrap();
    let killed_at = Instant::now();
    let orphan = format!("/proc/{}", running["worker_pid"].as_u64().unwrap());
    wait_until("its worker to die with it", || !Path::new(&orphan).exists());
    let mut moved = serde_json::Value::Null;
    wait_until("the topology to move", || {
        moved = cluster.status("wc-move");
        moved["epoch"].as_u64() > running["epoch"].as_u64()
    });
    eprintln!("moved after {:.1} s", killed_at.elapsed().as_secs_f64());
    let done = cluster.wait_for_state("wc-move", "finished");
    assert_ne!(done["supervisor"].as_str(), Some(lost.as_str()), "{done}");
    assert_eq!(read_counts(&output), expected);
}

#[test]
fn the_standby_nimbus_takes_over_when_the_leader_dies() {
    let mut cluster = Cluster::start(2, &["sup-a"]);
    let first = cluster.leader().expect("one nimbus serves the API");
    let (_, mut child) = cluster.nimbus.remove(first);
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = Instant::now();
    wait_until("the standby to lead", || cluster.squall(&["list"]).status.success());
    eprintln!("standby took over in {:.1} s", killed_at.elapsed().as_secs_f64());
    let corpus = corpus();
    let output = cluster.submit_word_count("wc-after", &corpus);
    cluster.wait_for_state("wc-after", "finished");
    assert_eq!(read_counts(&output), reference(&corpus));
}

/// Daemons started while etcd does not answer wait for it (as Storm's wait
/// for ZooKeeper) and register once it is back, instead of exiting.
#[test]
fn daemons_started_while_etcd_is_down_wait_for_it_and_register() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.stop_etcd();
    cluster.start_nimbus();
    cluster.start_supervisor("sup-late", cluster.command(&[]));
    let log =
        |name: &str| std::fs::read_to_string(cluster.dir.path().join(name)).unwrap_or_default();
    let nimbus_log = format!("nimbus-{}.log", cluster.nimbus[1].0);
    wait_until("both to say etcd is unreachable", || {
        log("sup-late.log").contains("etcd unreachable")
            && log(&nimbus_log).contains("etcd unreachable")
    });
    assert!(cluster.supervisors[0].try_wait().unwrap().is_none(), "the supervisor exited");
    cluster.restart_etcd();
    cluster.wait_for_supervisors(1);
    let corpus = corpus();
    let output = cluster.submit_word_count("wc-late", &corpus);
    cluster.wait_for_state("wc-late", "finished");
    assert_eq!(read_counts(&output), reference(&corpus));
}

/// Storm's nimbus is not on the data path: killing the leader mid-run
/// stops neither the workers nor their checkpoints, and the standby picks
/// the topology up from etcd without moving or restarting it.
#[test]
fn the_leading_nimbus_killed_mid_run_leaves_the_topology_running_and_exact() {
    let mut cluster = Cluster::start(2, &["sup-a", "sup-b"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 8);
    let (checkpoints, output) =
        cluster.submit_exactly_once("wc-nimbus", &input, &["--workers", "2"]);
    let running = cluster.wait_for_state("wc-nimbus", "running");
    wait_until("a first checkpoint", || !completed_checkpoints(&checkpoints).is_empty());
    let first = cluster.leader().expect("one nimbus serves the API");
    let (_, mut child) = cluster.nimbus.remove(first);
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = Instant::now();
    let at_kill = *completed_checkpoints(&checkpoints).last().unwrap();
    // While no nimbus leads, the workers go on checkpointing.
    wait_until("a checkpoint without a leader", || {
        completed_checkpoints(&checkpoints).last().is_some_and(|&id| id > at_kill)
    });
    wait_until("the standby to lead", || cluster.squall(&["list"]).status.success());
    eprintln!("standby took over in {:.1} s", killed_at.elapsed().as_secs_f64());
    let done = cluster.wait_for_state("wc-nimbus", "finished");
    assert_eq!(done["epoch"], running["epoch"], "the topology never moved: {done}");
    assert_eq!(done["restarts"].as_u64(), Some(0), "no worker restarted: {done}");
    assert_exactly_once(&output, &expected);
}

/// `component`'s totals in a `squall status --json` answer.
fn component(metrics: &serde_json::Value, id: &str) -> serde_json::Value {
    metrics["components"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["component"] == id))
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

/// Tuples the spouts emitted so far, as the workers last reported.
fn spout_emitted(metrics: &serde_json::Value) -> u64 {
    component(metrics, "lines")["emitted"].as_u64().unwrap_or(0)
}

impl Cluster {
    /// Runs `squall ARGS`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.squall(args);
        assert!(out.status.success(), "squall {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the workers of `name` report a switch of `active`.
    fn wait_for_switch(&self, name: &str, active: bool) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        wait_until(&format!("{name}'s spouts active = {active}"), || {
            last = self.metrics(name);
            assert_ne!(last["status"]["state"], "finished", "finished before the switch: {last}");
            last["active"] == active && last["applied"] == true
        });
        last
    }
}

#[test]
fn a_deactivated_topology_stops_emitting_and_resumes_when_activated() {
    let cluster = Cluster::start(1, &["sup-a"]);
    let eo = ExactlyOnce::submit(&cluster, 6, 2);
    wait_until("the spouts to emit", || spout_emitted(&cluster.metrics("wc-exactly-once")) > 0);
    let asked = Instant::now();
    cluster.ok(&["deactivate", "wc-exactly-once"]);
    let paused = cluster.wait_for_switch("wc-exactly-once", false);
    eprintln!("deactivation applied after {} ms", asked.elapsed().as_millis());
    // Checkpoints go on while paused. What was in flight drains and is
    // committed; then the spouts' counters and the committed output stop
    // growing: the same over two checkpoints, and still over two more.
    let stable = || {
        let mut last = (0, 0);
        let mut checkpoint = eo.latest_checkpoint();
        wait_until("the output to stop growing", || {
            let now = (
                spout_emitted(&cluster.metrics("wc-exactly-once")),
                committed_rows(&eo.output).len(),
            );
            let same = now == last && now.1 > 0;
            last = now;
            checkpoint = eo.latest_checkpoint().max(checkpoint) + 2;
            eo.wait_for_checkpoint(checkpoint);
            same
        });
        last
    };
    let (emitted, rows) = stable();
    eo.wait_for_checkpoint(eo.latest_checkpoint() + 2);
    let later = cluster.metrics("wc-exactly-once");
    assert_eq!(spout_emitted(&later), emitted, "the spouts emitted while inactive: {later}");
    assert!(emitted >= spout_emitted(&paused));
    assert_eq!(committed_rows(&eo.output).len(), rows, "the output grew while inactive");
    assert!(rows < eo.expected.values().sum::<u64>() as usize, "paused mid-run");
    // The switch is in etcd: a worker killed now starts again inactive.
    let pid = paused["status"]["worker_pid"].as_u64().unwrap().to_string();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    wait_until("the worker to restart", || {
        let m = cluster.metrics("wc-exactly-once");
        m["status"]["restarts"].as_u64() >= Some(1) && m["status"]["state"] == "running"
    });
    let restarted = cluster.wait_for_switch("wc-exactly-once", false);
    assert_eq!(restarted["status"]["restarts"], 1, "{restarted}");
    // The table shows both levels.
    let table = cluster.ok(&["status", "wc-exactly-once"]);
    assert!(table.contains("spouts: inactive"), "{table}");
    assert!(table.lines().filter(|l| l.starts_with("count ")).count() == 3, "{table}");
    cluster.ok(&["activate", "wc-exactly-once"]);
    cluster.wait_for_state("wc-exactly-once", "finished");
    assert_exactly_once(&eo.output, &eo.expected);
}

/// The switch and the metrics reach every worker of a topology spread
/// over two: deactivated, its spouts stop (their count holds while two
/// more checkpoints complete); activated, it finishes exactly.
#[test]
fn a_topology_over_two_workers_is_deactivated_and_activated() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 8);
    let name = "wc-switch";
    let (checkpoints, output) = cluster.submit_exactly_once(name, &input, &["--workers", "2"]);
    wait_until("the spouts to emit", || spout_emitted(&cluster.metrics(name)) > 0);
    cluster.ok(&["deactivate", name]);
    let paused = cluster.wait_for_switch(name, false);
    assert_eq!(paused["workers"].as_array().map(Vec::len), Some(2), "{paused}");
    let latest = || completed_checkpoints(&checkpoints).last().copied().unwrap_or(0);
    let mut last = u64::MAX;
    wait_until("the spouts to stop", || {
        let target = latest() + 2;
        wait_until("two more checkpoints", || latest() >= target);
        let now = spout_emitted(&cluster.metrics(name));
        let same = now == last;
        last = now;
        same
    });
    let words: u64 = expected.values().sum();
    assert!((committed_rows(&output).len() as u64) < words, "paused mid-run");
    cluster.ok(&["activate", name]);
    cluster.wait_for_state(name, "finished");
    assert_exactly_once(&output, &expected);
}

#[test]
fn kill_with_wait_deactivates_first_and_kills_after_the_wait() {
    let cluster = Cluster::start(1, &["sup-a"]);
    let eo = ExactlyOnce::submit(&cluster, 6, 2);
    wait_until("the spouts to emit", || spout_emitted(&cluster.metrics("wc-exactly-once")) > 0);
    let asked = Instant::now();
    let said = cluster.ok(&["kill", "wc-exactly-once", "--wait", "4"]);
    assert!(said.contains("killed in 4 s"), "{said}");
    let paused = cluster.wait_for_switch("wc-exactly-once", false);
    assert_eq!(paused["status"]["state"], "running", "not killed before the wait: {paused}");
    let killed = cluster.wait_for_state("wc-exactly-once", "killed");
    let waited = asked.elapsed();
    eprintln!("killed {} ms after `kill --wait 4`", waited.as_millis());
    assert!(waited >= Duration::from_secs(4), "killed after {waited:?}: {killed}");
    // At most the `next_tuple` call each spout task had begun when the
    // switch flipped (2 tasks, 256 lines a call) completes after it.
    let last = cluster.metrics("wc-exactly-once");
    let grew = spout_emitted(&last) - spout_emitted(&paused);
    assert!(grew <= 2 * 256, "emitted {grew} during the wait: {last}");
    // What was committed is a prefix of each word's counts, nothing twice.
    let rows = committed_rows(&eo.output);
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    for (w, k) in &rows {
        let n = seen.entry(w).or_insert(0);
        *n += 1;
        assert_eq!(*k, *n, "{w}: count {k} committed out of order or twice");
    }
    assert!(rows.len() < eo.expected.values().sum::<u64>() as usize);
}

#[test]
fn rebalancing_the_count_bolt_from_one_to_two_tasks_keeps_the_output_exact() {
    let cluster = Cluster::start(1, &["sup-a"]);
    let eo = ExactlyOnce::submit(&cluster, 6, 1);
    let before = cluster.wait_for_state("wc-exactly-once", "running");
    eo.wait_for_checkpoint(1);
    // A rebalance that cannot be done is refused with the reason.
    let out = cluster.squall(&["rebalance", "wc-exactly-once", "--parallelism", "nope=2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no component 'nope'"), "{out:?}");
    let asked = Instant::now();
    cluster.ok(&["rebalance", "wc-exactly-once", "--parallelism", "count=2"]);
    let mut after = serde_json::Value::Null;
    wait_until("the rebalanced topology to run", || {
        after = cluster.metrics("wc-exactly-once");
        assert_ne!(after["status"]["state"], "finished", "finished before the rebalance: {after}");
        after["status"]["epoch"].as_u64() > before["epoch"].as_u64()
            && component(&after, "count")["tasks"] == 2
    });
    eprintln!("rebalanced and running again after {} ms", asked.elapsed().as_millis());
    assert!(after["status"]["message"].as_str().unwrap_or("").contains("savepoint"), "{after}");
    cluster.wait_for_state("wc-exactly-once", "finished");
    assert_exactly_once(&eo.output, &eo.expected);
}

/// A topology over two workers rescales from its latest completed
/// checkpoint (Flink's rescale from a retained checkpoint): a new epoch
/// fences the old workers, the new ones restore the counts spread over
/// three count tasks, and the committed output stays exact.
#[test]
fn rebalancing_a_topology_over_two_workers_restarts_it_from_its_latest_checkpoint() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 10);
    let (checkpoints, output) =
        cluster.submit_exactly_once("wc-rescale", &input, &["--workers", "2"]);
    let mut before = cluster.wait_for_state("wc-rescale", "running");
    // Twice (issue 20: after a rebalance the new epoch once fenced itself
    // as stale and restarted until the test timed out), each time after a
    // checkpoint of the epoch running.
    for count in [3, 2] {
        let committed = completed_checkpoints(&checkpoints).last().copied().unwrap_or(0);
        wait_until("a committed checkpoint of this epoch", || {
            completed_checkpoints(&checkpoints).last().is_some_and(|&id| id > committed)
                && !committed_rows(&output).is_empty()
        });
        assert_ne!(
            cluster.status("wc-rescale")["state"],
            "finished",
            "the run must still be going when it is rebalanced; use more input"
        );
        let asked = Instant::now();
        let parallelism = format!("count={count}");
        cluster.ok(&["rebalance", "wc-rescale", "--parallelism", &parallelism]);
        // The new epoch's workers report the new count tasks (while they
        // run, and once more when they finish).
        let mut after = serde_json::Value::Null;
        wait_until("the rebalanced topology to run", || {
            after = cluster.metrics("wc-rescale");
            assert_ne!(after["status"]["state"], "failed", "{after}");
            after["status"]["epoch"].as_u64() > before["epoch"].as_u64()
                && component(&after, "count")["tasks"] == count
        });
        eprintln!(
            "rebalanced to {parallelism}, running again after {} ms",
            asked.elapsed().as_millis()
        );
        before = after["status"].clone();
    }
    cluster.wait_for_state("wc-rescale", "finished");
    // The last epoch ran one attempt on each worker: nothing fenced it.
    for sup in ["sup-a", "sup-b"] {
        let log = cluster.worker_log(sup, "wc-rescale");
        assert!(log.contains(&format!("(epoch {}", before["epoch"])), "{sup}: {log}");
        for restart in ["stale", "attempt 0 ended"] {
            assert!(!log.contains(restart), "{sup}'s worker logged '{restart}':\n{log}");
        }
    }
    // Counts committed before each rebalance are not counted again: the
    // new workers went on from the checkpoint, not from the start.
    assert_exactly_once(&output, &expected);
}

/// What [`Cluster::wait_for_state`] takes for progress, on reports shaped as
/// `squall status --json` writes them: more tuples, a newer checkpoint or
/// epoch; not the counts of a restarted attempt until they pass the old.
#[test]
fn progress_is_new_work_not_a_restart_counting_again() {
    let report = |epoch: u64, emitted: u64, checkpoint: u64| {
        serde_json::json!({
            "status": { "epoch": epoch },
            "components": [
                { "component": "lines", "emitted": emitted, "executed": 0 },
                { "component": "sink", "emitted": 0, "executed": emitted / 2 },
            ],
            "checkpoints": [{ "id": checkpoint }],
        })
    };
    let mut progress = Progress::start();
    assert!(progress.see(&report(1, 100, 1)), "the first report");
    assert!(!progress.see(&report(1, 100, 1)), "the same counts");
    assert!(!progress.see(&serde_json::Value::Null), "no answer");
    assert!(progress.see(&report(1, 100, 2)), "a newer checkpoint");
    assert!(progress.see(&report(1, 150, 2)), "more tuples");
    assert!(!progress.see(&report(1, 40, 2)), "a restarted attempt counting again");
    assert!(!progress.see(&report(1, 150, 2)), "back where it was");
    assert!(progress.see(&report(1, 151, 2)), "past it");
    assert!(progress.see(&report(2, 10, 2)), "a new epoch, its counts from 0");
    assert!(progress.see(&report(2, 11, 2)), "and on from there");
}

/// The `cluster_word_count` example binary, built by `cargo test -p
/// squall-cli` (or `cargo build -p squall-cli --example cluster_word_count`).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("examples/cluster_word_count");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p squall-cli --example cluster_word_count` (cargo test builds it without --test)",
        path.display()
    );
    path
}

#[test]
fn a_rust_topology_binary_is_uploaded_fetched_by_a_supervisor_and_run_in_worker_mode() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let binary = example_binary();
    let corpus = corpus();
    let output = cluster.dir.path().join("binary.csv");
    let said = cluster.ok(&[
        "submit",
        "--binary",
        binary.to_str().unwrap(),
        "--name",
        "wc-binary",
        "--set",
        &format!("input={}", corpus.display()),
        "--set",
        &format!("output={}", output.display()),
    ]);
    assert!(said.contains("submitted 'wc-binary'"), "{said}");
    let done = cluster.wait_for_state("wc-binary", "finished");
    assert_eq!(read_counts(&output), reference(&corpus));
    // The supervisor ran its own copy, fetched from the blob store.
    let sup = done["supervisor"].as_str().unwrap();
    let fetched = std::fs::read_dir(cluster.dir.path().join("work").join(sup).join("bin"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("wc-binary-"))
        .expect("a fetched binary");
    assert_eq!(std::fs::read(&fetched).unwrap(), std::fs::read(&binary).unwrap());

    // Not a topology binary, or one whose code refuses its parameters:
    // refused with the reason, nothing submitted.
    let out = cluster.squall(&["submit", "--binary", "/bin/true", "--name", "bad"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a Squall topology binary"), "{stderr}");
    let out = cluster.squall(&["submit", "--binary", binary.to_str().unwrap(), "--name", "bad"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("parameter 'input' is required"), "{stderr}");
    let list = cluster.ok(&["list"]);
    assert!(!list.contains("bad"), "{list}");
}
