//! The cluster tests' harness: etcd (Debian's `etcd-server`, started
//! here), nimbus daemons and supervisors as real processes in a temporary
//! folder, driven through the `squall` CLI; and references computed
//! without the engine.

#![allow(dead_code)] // each test binary uses a part of it

pub mod prometheus;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long any one condition may take on a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(120);
/// Between two looks at a condition.
pub const POLL: Duration = Duration::from_millis(100);
/// The longest a topology may take to reach a state while it still makes
/// progress ([`Cluster::wait_for_state`]): the bound of a run that moves
/// but never ends.
pub const CEILING: Duration = Duration::from_secs(900);
pub const TOKEN: &str = "test-token";

pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/shakespeare")
        .canonicalize()
        .expect("corpus in data/shakespeare")
}

/// Word counts of every non-hidden file in `dir`, computed without the
/// engine: a word is a maximal run of alphanumeric characters, lowercased.
pub fn reference(dir: &Path) -> BTreeMap<String, u64> {
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
pub fn read_counts(path: &Path) -> BTreeMap<String, u64> {
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// At most this many clusters live at once in one test process. Each is a
/// dozen processes; the sixteen tests of a suite starting theirs at once on
/// two cores stretched every wait past [`PATIENCE`] (a word count that
/// needs a minute alone took over two), and more at once finish no sooner.
const CONCURRENT_CLUSTERS: usize = 3;

/// Clusters alive now, and the wake-up of a test waiting for a turn.
static ALIVE: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// A turn to run a cluster: taken in [`Cluster::start_in`], given back
/// when the cluster (killed first) drops.
pub struct Turn(());

impl Turn {
    fn take() -> Turn {
        let (alive, freed) = &ALIVE;
        let mut alive = alive.lock().unwrap_or_else(|p| p.into_inner());
        while *alive >= CONCURRENT_CLUSTERS {
            alive = freed.wait(alive).unwrap_or_else(|p| p.into_inner());
        }
        *alive += 1;
        Turn(())
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let (alive, freed) = &ALIVE;
        *alive.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        freed.notify_one();
    }
}

/// etcd's TLS files ([`Cluster::start_secure`]): its certificate and key,
/// and the CA its clients' certificates must chain to.
pub struct EtcdTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// etcd, nimbus daemons and supervisors in a temporary folder; every
/// process is killed when it drops.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub etcd_url: String,
    pub etcd: Child,
    /// etcd's command line, to start it again on the same ports and data.
    pub etcd_args: Vec<String>,
    pub nimbus: Vec<(u16, Child)>,
    pub supervisors: Vec<Child>,
    /// More `SQUALL__*` variables for every process (TLS files, say).
    pub extra_env: Vec<(String, String)>,
    /// Dropped after the processes are killed (fields drop after `drop`).
    _turn: Turn,
}

impl Cluster {
    pub fn start(nimbus_count: usize, supervisors: &[&str]) -> Cluster {
        Self::start_with(nimbus_count, supervisors, &[])
    }

    /// The index in [`Cluster::nimbus`] of the daemon that leads: its
    /// health check says so (a standby answers too, and redirects the rest).
    pub fn leader(&self) -> Option<usize> {
        self.nimbus.iter().position(|(port, _)| {
            http_get(*port, "/api/v1/health").is_some_and(|r| r.contains("\"role\":\"leader\""))
        })
    }

    /// As [`Cluster::start`], with etcd also listening on `etcd_hosts`
    /// (addresses of this host that other network namespaces reach).
    pub fn start_with(nimbus_count: usize, supervisors: &[&str], etcd_hosts: &[&str]) -> Cluster {
        Self::start_in(
            tempfile::tempdir().unwrap(),
            Vec::new(),
            nimbus_count,
            supervisors,
            etcd_hosts,
        )
    }

    /// As [`Cluster::start_with`], in `dir`, with `extra_env` for every
    /// process.
    pub fn start_in(
        dir: tempfile::TempDir,
        extra_env: Vec<(String, String)>,
        nimbus_count: usize,
        supervisors: &[&str],
        etcd_hosts: &[&str],
    ) -> Cluster {
        Self::start_secure(dir, extra_env, None, nimbus_count, supervisors, etcd_hosts)
    }

    /// As [`Cluster::start_in`]; with `etcd_tls`, etcd serves its clients
    /// over TLS only and requires their certificates (`--client-cert-auth`).
    pub fn start_secure(
        dir: tempfile::TempDir,
        extra_env: Vec<(String, String)>,
        etcd_tls: Option<&EtcdTls>,
        nimbus_count: usize,
        supervisors: &[&str],
        etcd_hosts: &[&str],
    ) -> Cluster {
        let turn = Turn::take();
        let (client, peer) = (free_port(), free_port());
        let scheme = if etcd_tls.is_some() { "https" } else { "http" };
        let etcd_url = format!("{scheme}://127.0.0.1:{client}");
        let listen: Vec<String> = std::iter::once(etcd_url.clone())
            .chain(etcd_hosts.iter().map(|h| format!("{scheme}://{h}:{client}")))
            .collect();
        let tls_args = etcd_tls.map(|t| {
            let path = |p: &Path| p.display().to_string();
            vec![
                "--cert-file".into(),
                path(&t.cert),
                "--key-file".into(),
                path(&t.key),
                "--trusted-ca-file".into(),
                path(&t.ca),
                "--client-cert-auth".into(),
            ]
        });
        let etcd_args: Vec<String> = tls_args
            .into_iter()
            .flatten()
            .chain([
                "--data-dir".into(),
                dir.path().join("etcd").display().to_string(),
                "--listen-client-urls".into(),
                listen.join(","),
                "--advertise-client-urls".into(),
                etcd_url.clone(),
                "--listen-peer-urls".into(),
                format!("http://127.0.0.1:{peer}"),
            ])
            .collect();
        let etcd = spawn_etcd(dir.path(), &etcd_args, client);
        let mut cluster = Cluster {
            dir,
            etcd_url,
            etcd,
            etcd_args,
            nimbus: Vec::new(),
            supervisors: Vec::new(),
            extra_env,
            _turn: turn,
        };
        for _ in 0..nimbus_count {
            cluster.start_nimbus();
        }
        if nimbus_count > 0 {
            wait_until("a nimbus to lead", || cluster.squall(&["list"]).status.success());
        }
        for id in supervisors {
            cluster.start_supervisor(id, cluster.command(&[]));
        }
        cluster.wait_for_supervisors(supervisors.len());
        cluster
    }

    /// Stops etcd (SIGKILL): daemons lose their leases and watches.
    pub fn stop_etcd(&mut self) {
        self.etcd.kill().unwrap();
        self.etcd.wait().unwrap();
    }

    /// Starts etcd again on the same ports and data folder.
    pub fn restart_etcd(&mut self) {
        let port = self.etcd_url.rsplit(':').next().unwrap().parse().unwrap();
        self.etcd = spawn_etcd(self.dir.path(), &self.etcd_args, port);
    }

    /// Starts supervisor `id` with 2 slots through `command` (this
    /// cluster's `squall` command, or a wrapper such as `ip netns exec`
    /// with the same environment); its log goes to `{id}.log`.
    pub fn start_supervisor(&mut self, id: &str, mut command: Command) {
        let log = std::fs::File::create(self.dir.path().join(format!("{id}.log"))).unwrap();
        let child = command
            .args(["supervisor", "--id", id, "--slots", "2"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.supervisors.push(child);
    }

    /// Waits until `count` supervisors are registered.
    pub fn wait_for_supervisors(&self, count: usize) {
        wait_until("the supervisors to register", || {
            let out = self.squall(&["list"]);
            String::from_utf8_lossy(&out.stdout).matches(" slots)").count() == count
        });
    }

    /// The log of supervisor `sup`'s worker for `topology`.
    pub fn worker_log(&self, sup: &str, topology: &str) -> String {
        let path = self.dir.path().join("work").join(sup).join(format!("{topology}-slot0.log"));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// The pid of supervisor `sup`'s running worker for `topology`, found
    /// by its assignment file in its command line.
    pub fn worker_pid(&self, sup: &str, topology: &str) -> Option<u32> {
        let file = self.dir.path().join("work").join(sup).join(format!("{topology}-slot0.json"));
        let file = file.to_string_lossy().into_owned();
        std::fs::read_dir("/proc").ok()?.find_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.contains(&file.as_bytes()).then_some(pid)
        })
    }

    /// Submits the exactly-once word count ([`exactly_once_yaml`]) named
    /// `name` over `input` with `extra` submit arguments; returns its
    /// checkpoint folder and its sink's output folder.
    pub fn submit_exactly_once(
        &self,
        name: &str,
        input: &Path,
        extra: &[&str],
    ) -> (PathBuf, PathBuf) {
        let dir = self.dir.path().join(name);
        let (checkpoints, output) = (dir.join("checkpoints"), dir.join("out"));
        std::fs::create_dir_all(&output).unwrap();
        let file = dir.join("topology.yaml");
        std::fs::write(&file, exactly_once_yaml(name, &checkpoints, input, &output)).unwrap();
        let args: Vec<&str> =
            ["submit", file.to_str().unwrap()].into_iter().chain(extra.iter().copied()).collect();
        let out = self.squall(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (checkpoints.join(name), output)
    }

    pub fn start_nimbus(&mut self) {
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
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_squall"));
        c.args(args).envs(self.env()).stdin(Stdio::null());
        c
    }

    /// The environment of this cluster's daemons and CLI.
    pub fn env(&self) -> Vec<(String, String)> {
        let work = self.dir.path().join("work").to_string_lossy().into_owned();
        let blobs = self.dir.path().join("blobs").to_string_lossy().into_owned();
        [
            ("SQUALL__ETCD_ENDPOINTS", format!("[\"{}\"]", self.etcd_url)),
            ("SQUALL__API_TOKEN", TOKEN.to_string()),
            ("SQUALL__NIMBUS__LEASE_TTL_S", "2".to_string()),
            ("SQUALL__NIMBUS__RECONCILE_MS", "300".to_string()),
            ("SQUALL__SUPERVISOR__LEASE_TTL_S", "3".to_string()),
            ("SQUALL__SUPERVISOR__WORK_DIR", work),
            ("SQUALL__BLOB_STORE", blobs),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(self.extra_env.iter().cloned())
        .collect()
    }

    pub fn squall(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// A word count named `name` over `input` into a CSV in the temporary
    /// folder, submitted through `squall submit`; returns the CSV's path.
    pub fn submit_word_count(&self, name: &str, input: &Path) -> PathBuf {
        self.submit_word_count_with(name, input, &[])
    }

    /// As [`Cluster::submit_word_count`], with more `squall submit` arguments.
    pub fn submit_word_count_with(&self, name: &str, input: &Path, extra: &[&str]) -> PathBuf {
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

    /// The status of `name` as JSON (`squall status NAME --json`'s
    /// `status`); `Null` if the call failed.
    pub fn status(&self, name: &str) -> serde_json::Value {
        self.metrics(name)["status"].take()
    }

    /// `squall status NAME --json`: the status, the spouts' switch and the
    /// metrics per component and task; `Null` if the call failed.
    pub fn metrics(&self, name: &str) -> serde_json::Value {
        let out = self.squall(&["status", name, "--json"]);
        if !out.status.success() {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Waits until `name` is in `state` (its status), failing if it
    /// failed, or once it has gone [`PATIENCE`] without progress (see
    /// [`Progress`]) or [`CEILING`] in all. A run that keeps working is
    /// slow, not stuck: on a loaded machine the rebalance test's last epoch
    /// alone took over two minutes of steady work (issue 14).
    pub fn wait_for_state(&self, name: &str, state: &str) -> serde_json::Value {
        let start = Instant::now();
        let mut progress = Progress::start();
        loop {
            let metrics = self.metrics(name);
            let status = &metrics["status"];
            assert_ne!(status["state"], "failed", "{status}");
            if status["state"] == state {
                let waited = start.elapsed().as_secs_f64();
                eprintln!("{name} {state} after {waited:.1} s of waiting");
                return status.clone();
            }
            progress.see(&metrics);
            let (idle, waited) = (progress.since.elapsed(), start.elapsed());
            assert!(
                idle < PATIENCE && waited < CEILING,
                "timed out waiting for {name} to be {state}: {:.0} s without progress, {:.0} s \
                 in all; last seen: {metrics}",
                idle.as_secs_f64(),
                waited.as_secs_f64()
            );
            std::thread::sleep(POLL);
        }
    }
}

/// The work a topology has done, as `squall status NAME --json` reports
/// it: a high-water mark that moves when the epoch is newer, when its tasks
/// emitted or executed more tuples than ever before in that epoch (a
/// restarted attempt's counts start again, and count once they pass the
/// old ones), or when a newer checkpoint completed.
pub struct Progress {
    /// Epoch, tuples emitted and executed, newest completed checkpoint.
    best: (u64, u64, u64),
    /// When the mark last moved.
    pub since: Instant,
}

impl Progress {
    /// No work seen yet; the clock of [`Progress::since`] starts now.
    pub fn start() -> Progress {
        Progress { best: (0, 0, 0), since: Instant::now() }
    }

    /// Looks at `metrics` (`squall status NAME --json`); whether the mark
    /// moved.
    pub fn see(&mut self, metrics: &serde_json::Value) -> bool {
        let epoch = metrics["status"]["epoch"].as_u64().unwrap_or(0);
        let components = metrics["components"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let tuples: u64 = components
            .iter()
            .map(|c| c["emitted"].as_u64().unwrap_or(0) + c["executed"].as_u64().unwrap_or(0))
            .sum();
        let checkpoints = metrics["checkpoints"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let newest = checkpoints.iter().filter_map(|c| c["id"].as_u64()).max().unwrap_or(0);
        let (e, t, c) = self.best;
        let moved = epoch > e || (epoch == e && tuples > t) || newest > c;
        if moved {
            let tuples = if epoch > e { tuples } else { tuples.max(t) };
            self.best = (epoch.max(e), tuples, newest.max(c));
            self.since = Instant::now();
        }
        moved
    }
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.0, no token): the whole
/// answer, head and body; `None` if nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// Starts `etcd ARGS` (its log appended to `dir/etcd.log`) and waits until
/// it listens on `port`.
fn spawn_etcd(dir: &Path, args: &[String], port: u16) -> Child {
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(dir.join("etcd.log")).unwrap();
    let etcd = Command::new("etcd")
        .args(args)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("etcd on PATH (apt-get install etcd-server)");
    wait_until("etcd to listen", || TcpStream::connect(("127.0.0.1", port)).is_ok());
    etcd
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.supervisors.iter_mut().chain(self.nimbus.iter_mut().map(|(_, c)| c)) {
            c.kill().ok();
            c.wait().ok();
        }
        self.etcd.kill().ok();
        self.etcd.wait().ok();
        if std::thread::panicking() {
            keep_logs(self.dir.path());
        }
    }
}

/// After a failed test: copies every daemon and worker log under `dir` to
/// a folder that outlives the test, and prints the end of each (a CI run
/// keeps only the test's output).
fn keep_logs(dir: &Path) {
    let kept = std::env::temp_dir().join(format!("squall-failed-{}", std::process::id()));
    let mut logs = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                logs.push(path);
            }
        }
    }
    logs.sort();
    for log in logs {
        let relative = log.strip_prefix(dir).unwrap_or(&log);
        let copy = kept.join(relative);
        std::fs::create_dir_all(copy.parent().unwrap()).ok();
        std::fs::copy(&log, &copy).ok();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        eprintln!(
            "----- {} (last {} lines) -----\n{}",
            relative.display(),
            tail.len(),
            tail.join("\n")
        );
    }
    eprintln!("logs kept in {}", kept.display());
}

/// The corpus `copies` times over (links) in `dir/input`, so that a run
/// lasts long enough to be broken in the middle; and its reference.
pub fn repeated_corpus(dir: &Path, copies: u64) -> (PathBuf, BTreeMap<String, u64>) {
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

/// An exactly-once word count: checkpointed counts, a transactional sink.
pub fn exactly_once_yaml(name: &str, checkpoints: &Path, input: &Path, output: &Path) -> String {
    format!(
        r#"name: {name}
config:
  guarantee: exactly_once
  checkpoint_interval_ms: 200
  checkpoint_dir: "{}"
  restart_strategy: {{ type: fixed_delay, attempts: 5, delay_ms: 0 }}
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

/// Ids of the checkpoints in `dir` known to be complete: those with
/// metadata, but the newest. A checkpoint completes when the coordinator
/// records it in etcd, just after it writes its metadata, and it records
/// one before it triggers the next: a checkpoint with a newer one beside it
/// was recorded, the newest may still be in flight.
pub fn completed_checkpoints(dir: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut ids: Vec<u64> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let id = e.file_name().to_str()?.strip_prefix("chk-")?.parse().ok()?;
            e.path().join("_metadata").exists().then_some(id)
        })
        .collect();
    ids.sort_unstable();
    ids.pop();
    ids
}

/// The rows the exactly-once sink committed in `output`: (word, k), sorted.
pub fn committed_rows(output: &Path) -> Vec<(String, u64)> {
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

/// What an exactly-once word count with counts `expected` commits: (word,
/// k) for k = 1..=count, each once, sorted.
pub fn expected_rows(expected: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut want: Vec<(String, u64)> =
        expected.iter().flat_map(|(w, &c)| (1..=c).map(move |k| (w.clone(), k))).collect();
    want.sort();
    want
}

/// `squall run examples/word-count-queryable.yaml --query 127.0.0.1:0`
/// over `input` into `output`, from the repository's root, its stderr
/// piped (the first line announces the query API).
pub fn queryable_run(input: &Path, output: &Path) -> Command {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut run = Command::new(env!("CARGO_BIN_EXE_squall"));
    run.args(["run", "examples/word-count-queryable.yaml", "-q", "--query", "127.0.0.1:0"])
        .arg("--set")
        .arg(format!("input={}", input.display()))
        .arg("--set")
        .arg(format!("output={}", output.display()))
        .current_dir(repo)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    run
}
