//! Worker mode (`squall worker --assignment FILE`, started by a supervisor):
//! rebuilds the assigned topology from its YAML and runs it to the end.
//!
//! A topology on one worker runs whole in this process, as in local mode.
//! On several, each worker builds only its executors
//! (`squall::runtime::TopologyPart`), publishes its addresses in etcd, waits
//! for its peers' and connects its remote channels ([`crate::worker::link`]): both
//! through the core's one job driver ([`crate::worker::distributed`]).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::protocol::store::{Assignment, TopologyRecord};
use crate::worker::supervisor::{EXIT_CONFIG, EXIT_FAILED};
use crate::{ClusterConfig, Error, Result};

/// Runs the assignment in `file`, a YAML topology; returns the process exit
/// code: 0 when the topology finished, [`EXIT_CONFIG`] when it does not
/// load, [`EXIT_FAILED`] when a task failed. The log goes to stderr (the
/// slot's log); the last line is the outcome, which the supervisor reports
/// as a failure's reason.
pub fn run(file: &Path) -> i32 {
    run_with(file, &|record| {
        squall::yaml::parse(&record.yaml, &record.overrides).map(|l| l.topology)
    })
}

/// How a worker makes the topology of an assignment's record: from its YAML
/// ([`run`]), or by the user's code in a topology binary
/// ([`crate::nimbus::binary::cluster_main`]).
pub type Build<'a> = &'a dyn Fn(&TopologyRecord) -> squall::Result<squall::Topology>;

/// A worker's log on stderr: `RUST_LOG`, else warnings and the steps of
/// this crate and the job driver (attempts, restores, the run's end, the
/// data plane's totals). Does nothing when
/// the process has a subscriber already.
pub fn init_log() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(WORKER_LOG));
    let log = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A file, not a terminal: no colour codes.
    let log = log.with_ansi(false);
    let _ = log.try_init();
}

/// A worker's log filter when `RUST_LOG` is not set.
const WORKER_LOG: &str = "warn,squall_cluster=info,squall::runtime::driver=info";

/// As [`run`], the topology made by `build`.
pub fn run_with(file: &Path, build: Build<'_>) -> i32 {
    init_log();
    // A worker does not outlive its supervisor: a supervisor that dies
    // takes its workers with it, so no orphan keeps writing.
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        tracing::warn!("cannot tie the worker to its supervisor: {e}");
    }
    let assignment: Assignment = match std::fs::read(file)
        .map_err(|source| Error::Io { what: format!("read assignment {}", file.display()), source })
        .and_then(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| Error::record("assignment", e))
        }) {
        Ok(a) => a,
        Err(e) => {
            crate::announce!("{e}");
            return EXIT_CONFIG;
        }
    };
    let record = &assignment.topology;
    let topology = match build(record) {
        Ok(t) => t,
        Err(e) => {
            crate::announce!("{e}");
            return EXIT_CONFIG;
        }
    };
    tracing::info!(
        "worker for {} (epoch {}, {} tasks) on {} slot {}",
        record.name,
        assignment.epoch,
        assignment.tasks.len(),
        assignment.supervisor,
        assignment.slot
    );
    serve_metrics(&assignment);
    // The outcome is the log's last line, plain.
    match crate::worker::worker_control::run(&assignment, topology) {
        Ok(elapsed) => {
            crate::announce!("finished in {:.3} s", elapsed.as_secs_f64());
            0
        }
        Err(e) => {
            crate::announce!("{e}");
            EXIT_FAILED
        }
    }
}

/// Serves this worker's Prometheus `/metrics` on its supervisor's data
/// host (an ephemeral port, published in its reports), every series
/// labelled `worker="{supervisor}-{slot}"`. A worker without it still runs
/// (said in its log).
fn serve_metrics(a: &Assignment) {
    let host = match ClusterConfig::load(None) {
        Ok(c) => c.supervisor.data_host,
        Err(e) => return tracing::warn!("no metrics endpoint: {e}"),
    };
    let worker = format!("{}-{}", a.supervisor, a.slot);
    match crate::protocol::metrics_api::serve_on(host, &[("worker", &worker)]) {
        Ok(addr) => tracing::info!("metrics on http://{addr}/metrics"),
        Err(e) => tracing::warn!("no metrics endpoint: {e}"),
    }
}

/// A runtime for the worker's tasks.
///
/// # Errors
/// [`Error::Io`] if its threads cannot be started.
pub(crate) fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n);
    }
    builder
        .enable_all()
        .build()
        .map_err(|source| Error::Io { what: "tokio runtime".into(), source })
}

/// Runs this worker's part of a topology spread over several workers
/// ([`crate::worker::distributed`]).
///
/// # Errors
/// As [`crate::worker::distributed::run`].
pub(crate) fn run_distributed(
    a: &Assignment,
    topology: &squall::Topology,
    activation: &squall::topology::Activation,
) -> Result<Duration> {
    let started = Instant::now();
    let config = ClusterConfig::load(None)?;
    runtime(None)?.block_on(crate::worker::distributed::run(a, topology, &config, activation))?;
    Ok(started.elapsed())
}
