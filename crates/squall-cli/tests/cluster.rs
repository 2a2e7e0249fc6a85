//! Cluster mode with real processes on 127.0.0.1: etcd (Debian's
//! `etcd-server`, started here), nimbus daemons and two supervisors, driven
//! through the `squall` CLI. Word counts on the Shakespeare corpus are
//! compared with a count computed here, independently of the engine.
//!
//! Needs `etcd` on PATH and the corpus in `data/shakespeare` (`.ci/run`
//! installs and fetches both).

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any one condition may take on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(120);
/// Between two looks at a condition.
const POLL: Duration = Duration::from_millis(100);
const TOKEN: &str = "test-token";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/shakespeare")
        .canonicalize()
        .expect("corpus in data/shakespeare")
}

/// Word counts of every non-hidden file in `dir`, computed without the
/// engine: a word is a maximal run of alphanumeric characters, lowercased.
fn reference(dir: &Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}

/// The `word,count` CSV a word count wrote.
fn read_counts(path: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("word,count"));
    lines
        .map(|l| {
            let (w, c) = l.rsplit_once(',').unwrap();
            (w.trim_matches('"').to_string(), c.parse().unwrap())
        })
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// etcd, nimbus daemons and supervisors in a temporary folder; every
/// process is killed when it drops.
struct Cluster {
    dir: tempfile::TempDir,
    etcd_url: String,
    etcd: Child,
    nimbus: Vec<(u16, Child)>,
    supervisors: Vec<Child>,
    /// More `SQUALL__*` variables for every process.
    env: Vec<(String, String)>,
}

impl Cluster {
    fn start(nimbus_count: usize, supervisors: &[&str]) -> Cluster {
        Cluster::start_in(tempfile::tempdir().unwrap(), Vec::new(), nimbus_count, supervisors)
    }

    /// As [`Cluster::start`], in `dir`, with `env` for every process.
    fn start_in(
        dir: tempfile::TempDir,
        env: Vec<(String, String)>,
        nimbus_count: usize,
        supervisors: &[&str],
    ) -> Cluster {
        let (client, peer) = (free_port(), free_port());
        let etcd_url = format!("http://127.0.0.1:{client}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
        let etcd = Command::new("etcd")
            .arg("--data-dir")
            .arg(dir.path().join("etcd"))
            .args(["--listen-client-urls", &etcd_url, "--advertise-client-urls", &etcd_url])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("etcd on PATH (apt-get install etcd-server)");
        wait_until("etcd to listen", || TcpStream::connect(("127.0.0.1", client)).is_ok());
        let mut cluster =
            Cluster { dir, etcd_url, etcd, nimbus: Vec::new(), supervisors: Vec::new(), env };
        for _ in 0..nimbus_count {
            cluster.start_nimbus();
        }
        wait_until("a nimbus to lead", || cluster.squall(&["list"]).status.success());
        for id in supervisors {
            let log = std::fs::File::create(cluster.dir.path().join(format!("{id}.log"))).unwrap();
            let child = cluster
                .command(&["supervisor", "--id", id, "--slots", "2"])
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            cluster.supervisors.push(child);
        }
        let all = supervisors.len();
        wait_until("the supervisors to register", || {
            let out = cluster.squall(&["list"]);
            String::from_utf8_lossy(&out.stdout).matches(" slots)").count() == all
        });
        cluster
    }

    fn start_nimbus(&mut self) {
        let port = free_port();
        let log =
            std::fs::File::create(self.dir.path().join(format!("nimbus-{port}.log"))).unwrap();
        let child = self
            .command(&["nimbus"])
            .env("SQUALL__NIMBUS__API_ADDR", format!("127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.nimbus.push((port, child));
    }

    /// `squall ARGS` with this cluster's configuration in the environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_squall"));
        c.args(args)
            .env("SQUALL__ETCD_ENDPOINTS", format!("[\"{}\"]", self.etcd_url))
            .env("SQUALL__API_TOKEN", TOKEN)
            .env("SQUALL__NIMBUS__LEASE_TTL_S", "2")
            .env("SQUALL__NIMBUS__RECONCILE_MS", "300")
            .env("SQUALL__SUPERVISOR__LEASE_TTL_S", "3")
            .env("SQUALL__SUPERVISOR__WORK_DIR", self.dir.path().join("work"))
            .env("SQUALL__BLOB_STORE", self.dir.path().join("blobs"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    fn squall(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// A word count named `name` over `input` into a CSV in the temporary
    /// folder, submitted through `squall submit`; returns the CSV's path.
    fn submit_word_count(&self, name: &str, input: &Path) -> PathBuf {
        self.submit_word_count_with(name, input, &[])
    }

    /// As [`Cluster::submit_word_count`], with more `squall submit` arguments.
    fn submit_word_count_with(&self, name: &str, input: &Path, extra: &[&str]) -> PathBuf {
        let output = self.dir.path().join(format!("{name}.csv"));
        let yaml = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/word-count.yaml"),
        )
        .unwrap()
        .replace("name: word-count", &format!("name: {name}"));
        let file = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        let out = self.squall(
            &[
                "submit",
                file.to_str().unwrap(),
                "--set",
                &format!("input={}", input.display()),
                "--set",
                &format!("output={}", output.display()),
            ]
            .into_iter()
            .chain(extra.iter().copied())
            .collect::<Vec<_>>(),
        );
        assert!(out.status.success(), "submit failed: {}", String::from_utf8_lossy(&out.stderr));
        output
    }

    /// The status of `name` as JSON.
    fn status(&self, name: &str) -> serde_json::Value {
        self.metrics(name)["status"].take()
    }

    /// `squall status NAME --json`: the status, the spouts' switch and the
    /// metrics per component and task; `Null` if the call failed.
    fn metrics(&self, name: &str) -> serde_json::Value {
        let out = self.squall(&["status", name, "--json"]);
        if !out.status.success() {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn wait_for_state(&self, name: &str, state: &str) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        wait_until(&format!("{name} to be {state}"), || {
            last = self.status(name);
            assert_ne!(last["state"], "failed", "{last}");
            last["state"] == state
        });
        last
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.supervisors.iter_mut().chain(self.nimbus.iter_mut().map(|(_, c)| c)) {
            c.kill().ok();
            c.wait().ok();
        }
        self.etcd.kill().ok();
        self.etcd.wait().ok();
    }
}

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
    // The workers' last metrics: every word went through the count bolt,
    // per component and summed over its tasks.
    let words: u64 = expected.values().sum();
    let metrics = cluster.metrics("wc-a");
    let count = component(&metrics, "count");
    assert_eq!(count["executed"].as_u64(), Some(words), "{metrics}");
    let per_task: u64 = metrics["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["component"] == "count")
        .map(|t| t["executed"].as_u64().unwrap())
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
    let count = component(&metrics, "count");
    assert_eq!(count["executed"].as_u64(), Some(expected.values().sum()), "{metrics}");
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
fn workers_exchange_tuples_over_mutual_tls_and_the_output_equals_the_reference() {
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
    let cluster = Cluster::start_in(dir, env, 1, &["sup-a", "sup-b"]);
    let corpus = corpus();
    let output = cluster.submit_word_count_with("wc-tls", &corpus, &["--workers", "2"]);
    cluster.wait_for_state("wc-tls", "finished");
    assert_eq!(read_counts(&output), reference(&corpus));
    for sup in ["sup-a", "sup-b"] {
        let log = cluster.dir.path().join("work").join(sup).join("wc-tls-slot0.log");
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(log.contains("data plane: TLS"), "{sup}'s worker did not use TLS:\n{log}");
    }
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

/// The corpus `copies` times over (links) in `dir/input`, so that a run
/// lasts long enough to be broken in the middle; and its reference.
fn repeated_corpus(dir: &Path, copies: u64) -> (PathBuf, BTreeMap<String, u64>) {
    let input = dir.join("input");
    std::fs::create_dir(&input).unwrap();
    let corpus = corpus();
    for copy in 0..copies {
        for entry in std::fs::read_dir(&corpus).unwrap() {
            let path = entry.unwrap().path();
            let name = format!("{copy}-{}", path.file_name().unwrap().to_string_lossy());
            std::os::unix::fs::symlink(&path, input.join(name)).unwrap();
        }
    }
    let expected = reference(&corpus).into_iter().map(|(w, c)| (w, c * copies)).collect();
    (input, expected)
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

/// An exactly-once word count: checkpointed counts, a transactional sink.
fn exactly_once_yaml(checkpoints: &Path, input: &Path, output: &Path) -> String {
    format!(
        r#"name: wc-exactly-once
config:
  guarantee: exactly_once
  checkpoint_interval_ms: 200
  checkpoint_dir: "{}"
  restart_strategy: {{ type: none }}
spouts:
  - {{ id: lines, type: file, parallelism: 2, settings: {{ path: "{}" }} }}
bolts:
  - {{ id: split, type: split_words, parallelism: 2, settings: {{ field: line }} }}
  - {{ id: count, type: stateful_count, parallelism: 2, settings: {{ fields: [word] }} }}
  - {{ id: sink, type: transactional_file, settings: {{ path: "{}" }} }}
streams:
  - {{ from: lines, to: split, grouping: local_or_shuffle }}
  - {{ from: split, to: count, grouping: {{ fields: [word] }} }}
  - {{ from: count, to: sink, grouping: shuffle }}
"#,
        checkpoints.display(),
        input.display(),
        output.display()
    )
}

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
        let yaml = exactly_once_yaml(&checkpoints, &input, &output).replace(
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
        let Ok(dir) = std::fs::read_dir(self.checkpoints.join("wc-exactly-once")) else {
            return 0;
        };
        dir.filter_map(|e| {
            let path = e.ok()?.path();
            let id = path.file_name()?.to_str()?.strip_prefix("chk-")?.parse().ok()?;
            path.join("_metadata").exists().then_some(id)
        })
        .max()
        .unwrap_or(0)
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

/// The rows the transactional sink committed under `output`, sorted.
fn committed_rows(output: &Path) -> Vec<(String, u64)> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(output).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let (w, k) = line.rsplit_once(',').unwrap();
            rows.push((w.trim_matches('"').to_string(), k.parse::<u64>().unwrap()));
        }
    }
    rows.sort();
    rows
}

/// The sink's committed rows are (word, k) for k = 1..=count, each once.
fn assert_exactly_once(output: &Path, expected: &BTreeMap<String, u64>) {
    let rows = committed_rows(output);
    let mut want: Vec<(String, u64)> =
        expected.iter().flat_map(|(w, &c)| (1..=c).map(move |k| (w.clone(), k))).collect();
    want.sort();
    assert!(rows == want, "{} rows committed, {} expected", rows.len(), want.len());
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
    let leader = |c: &Cluster| -> Option<usize> {
        c.nimbus.iter().position(|(port, _)| TcpStream::connect(("127.0.0.1", *port)).is_ok())
    };
    let first = leader(&cluster).expect("one nimbus serves the API");
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
