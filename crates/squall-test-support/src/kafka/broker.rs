//! The broker the Kafka tests run against, one per test, on free loopback
//! ports, killed when dropped:
//!
//! - **Apache Kafka** when `$KAFKA_LIB` names the folder of its jars
//!   (`scripts/fetch-kafka.sh` prints it): a single KRaft node that is
//!   broker and controller, its storage formatted fresh in a temporary
//!   folder (`kafka.tools.StorageTool format --standalone`), then
//!   `java -cp 'lib/*' kafka.Kafka server.properties`. The real thing:
//!   transactions, `read_committed`, the aborted-transaction index.
//! - **tansu** otherwise (`$TANSU_BIN`, else `tansu` on PATH;
//!   `scripts/fetch-tansu.sh`), in-memory. It shows the records of aborted
//!   transactions to `read_committed` readers, so the tests that need real
//!   transactions ask [`Broker::require_transactions`] and skip on it.
//!
//! One test at a time holds a broker ([`start`] waits for the previous
//! one to be dropped): on a 2-core machine three word counts and three JVMs
//! side by side completed one checkpoint in 40 s, too few for the failure
//! tests to hit their windows.
//!
//! Not here: topics and records (the parent module).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

/// Which broker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Apache Kafka's own broker (`$KAFKA_LIB`).
    Apache,
    /// tansu (`$TANSU_BIN`).
    Tansu,
}

/// Held by the test that has a broker: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A broker on 127.0.0.1, killed (and its log folder deleted) when dropped.
pub struct Broker {
    child: Child,
    /// Released after `child` is killed (fields drop after `drop`).
    _turn: MutexGuard<'static, ()>,
    /// `127.0.0.1:port`.
    pub brokers: String,
    /// Which broker it is.
    pub kind: Kind,
    /// Apache Kafka's configuration and log folder (kept until drop).
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    /// True when the broker honours transactions for `read_committed`
    /// readers. When it does not, prints why the calling test skips, so
    /// that a skip never reads as a pass.
    pub fn require_transactions(&self, test: &str) -> bool {
        if self.kind == Kind::Apache {
            return true;
        }
        eprintln!(
            "SKIPPED {test}: needs real Kafka transactions; tansu 0.6 shows the records of \
             aborted transactions to read_committed readers (set KAFKA_LIB, see \
             scripts/fetch-kafka.sh)"
        );
        false
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the broker `$KAFKA_LIB` or `$TANSU_BIN` names (see the module
/// docs) and waits (120 s at most) until it answers a metadata request
/// listing itself.
pub fn start() -> Broker {
    // A test that failed while holding the lock poisons it: the broker it
    // held is gone all the same.
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let broker = match std::env::var_os("KAFKA_LIB") {
        Some(lib) => apache(Path::new(&lib), turn),
        None => tansu(turn),
    };
    wait_ready(broker)
}

fn tansu(turn: MutexGuard<'static, ()>) -> Broker {
    let bin = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".into());
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(&bin)
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {bin} ({e}): run scripts/fetch-tansu.sh and set TANSU_BIN")
        });
    Broker {
        child,
        _turn: turn,
        brokers: format!("127.0.0.1:{port}"),
        kind: Kind::Tansu,
        _dir: None,
    }
}

/// The settings of a one-node test cluster: every replication factor and
/// ISR minimum 1, one partition for the internal topics (each is made on
/// first use, and 50 partitions take seconds), no delay before the first
/// group rebalance, short transaction clean-ups.
fn server_properties(dir: &Path, port: u16, controller: u16) -> String {
    format!(
        "process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={logs}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
min.insync.replicas=1
default.replication.factor=1
group.initial.rebalance.delay.ms=0
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
transaction.remove.expired.transaction.cleanup.interval.ms=60000
log.flush.interval.messages=9223372036854775807
auto.create.topics.enable=false
",
        logs = dir.join("logs").display()
    )
}

/// `java` with a small heap, quick to start.
fn java(lib: &Path) -> Command {
    let mut c = Command::new("java");
    c.args(["-Xmx512m", "-Xms64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .args(["-Djava.awt.headless=true", "-cp"])
        .arg(format!("{}/*", lib.display()));
    c
}

fn apache(lib: &Path, turn: MutexGuard<'static, ()>) -> Broker {
    assert!(
        lib.join(".").is_dir() && std::fs::read_dir(lib).unwrap().count() > 0,
        "KAFKA_LIB={} holds no jars: run scripts/fetch-kafka.sh",
        lib.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let (port, controller) = (free_port(), free_port());
    let config: PathBuf = dir.path().join("server.properties");
    std::fs::write(&config, server_properties(dir.path(), port, controller)).unwrap();
    // Any 16 bytes, base64url without padding: the storage is new each run.
    let cluster_id = "c3F1YWxsLXRlc3RjbHVzdA";
    let format = java(lib)
        .args(["kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id, "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run java: install a JDK 17+ (scripts/setup.sh)");
    assert!(
        format.status.success(),
        "kafka-storage format failed: {}{}",
        String::from_utf8_lossy(&format.stdout),
        String::from_utf8_lossy(&format.stderr)
    );
    let log = std::fs::File::create(dir.path().join("broker.log")).unwrap();
    let child = java(lib)
        .arg("kafka.Kafka")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("cannot start java kafka.Kafka");
    Broker {
        child,
        _turn: turn,
        brokers: format!("127.0.0.1:{port}"),
        kind: Kind::Apache,
        _dir: Some(dir),
    }
}

/// Returns `broker` once a metadata request lists a broker (so topics can
/// be made), panicking if it exits first or takes over 120 s.
fn wait_ready(mut broker: Broker) -> Broker {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", &broker.brokers).create().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(m) = consumer.fetch_metadata(None, Duration::from_secs(2)) {
            if !m.brokers().is_empty() {
                return broker;
            }
        }
        if let Ok(Some(status)) = broker.child.try_wait() {
            panic!("the {:?} broker exited before answering: {status}", broker.kind);
        }
        assert!(
            Instant::now() < deadline,
            "the {:?} broker did not answer on {}",
            broker.kind,
            broker.brokers
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
