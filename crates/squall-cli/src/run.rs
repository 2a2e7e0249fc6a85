//! `squall run`: a YAML topology in local mode, with progress, Ctrl-C and a
//! summary.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use squall::checkpoint::CheckpointStorage;
use squall::topology::Topology;
use squall::{yaml, LocalCluster};

use crate::failure::Failure;
use crate::progress::{self, Progress};
use crate::summary;

/// How often the run loop checks for the end and for Ctrl-C.
const POLL: Duration = Duration::from_millis(20);

/// Exit code after Ctrl-C, as a shell reports SIGINT.
const KILLED: u8 = 130;

/// A second Ctrl-C sooner than this after the first is taken as the same
/// one (some tools deliver SIGINT to the process and its group).
const DEBOUNCE: Duration = Duration::from_millis(500);

/// How `squall run` runs.
#[derive(Debug, Default)]
pub struct Options {
    /// No progress, no summary table.
    pub quiet: bool,
    /// Start from this savepoint.
    pub from_savepoint: Option<String>,
    /// On Ctrl-C, take a savepoint before stopping.
    pub savepoint_on_stop: bool,
    /// Where that savepoint goes (a new folder inside this one), instead
    /// of beside the checkpoints.
    pub savepoint_dir: Option<String>,
    /// Serve queries of the topology's keyed state on this address, and
    /// keep serving after the topology finished, until Ctrl-C.
    pub query: Option<std::net::SocketAddr>,
    /// Serve Prometheus metrics (and the per-task JSON) on this address,
    /// and keep serving after the topology finished, until Ctrl-C.
    pub metrics: Option<std::net::SocketAddr>,
    /// Serve the web UI on this address (`crate::run_ui`), until Ctrl-C.
    pub ui: Option<std::net::SocketAddr>,
    /// The web UI's token (random when absent).
    pub ui_token: Option<String>,
}

/// Loads `file`, runs it until its input ends or Ctrl-C, and prints the
/// summary and the result files.
///
/// The first Ctrl-C kills the topology (after a savepoint, with
/// `savepoint_on_stop`) and waits for its tasks to stop; a second one exits
/// at once.
///
/// # Errors
/// [`Failure::config`] (exit 2) if the topology does not load, nothing
/// having run; [`Failure::runtime`] (exit 1) if a task fails.
pub fn run(
    file: &Path,
    overrides: &[(String, String)],
    options: &Options,
) -> Result<ExitCode, Failure> {
    let quiet = options.quiet;
    let loaded = yaml::load(file, overrides).map_err(Failure::config)?;
    let mut topology = loaded.topology;
    if let Some(savepoint) = &options.from_savepoint {
        topology = topology.restore_from(savepoint.clone()).map_err(Failure::config)?;
    }
    if options.savepoint_on_stop && !topology.config().checkpointing() {
        return Err(Failure::config(
            "--savepoint-on-stop needs checkpoints: set config.checkpoint_interval_ms and checkpoint_dir",
        ));
    }
    announce_resume(&topology);
    let interrupted = catch_ctrl_c()?;
    let listener = match options.query {
        Some(addr) => Some(bind("--query", addr)?),
        None => None,
    };
    let metrics = match (options.metrics, options.ui) {
        (Some(addr), _) => Some(serve_metrics(bind("--metrics", addr)?)?),
        // Gathered, not served: the UI's pages show the components' own
        // metrics, the RSS and the CPU.
        (None, Some(_)) => Some(
            squall_cluster::metrics_api::gather_local(&[("worker", "local")])
                .map_err(|e| Failure::runtime(format!("--ui: {e}")))?,
        ),
        (None, None) => None,
    };
    let ui_listener = match options.ui {
        Some(addr) => Some(crate::run_ui::bind(addr)?),
        None => None,
    };
    let activation = squall::topology::Activation::new(true);
    if ui_listener.is_some() {
        topology = topology.with_activation(&activation);
    }
    let name = topology.name().to_string();
    let checkpoints = squall_cluster::query_route::checkpoints_of(&topology);
    let shown = topology.clone();
    let running = Arc::new(LocalCluster::submit(topology).map_err(Failure::runtime)?);
    if let Some(local) = &metrics {
        local.set(running.metrics_handle());
    }
    if let Some(listener) = listener {
        serve_queries(listener, &name, running.states(), checkpoints)?;
    }
    let ui = match ui_listener {
        Some(listener) => {
            let token = options.ui_token.clone();
            Some(crate::run_ui::serve(listener, &shown, activation, running.clone(), token)?)
        }
        None => None,
    };
    let mut progress = Progress::new(!quiet);
    let mut next_update = Instant::now();
    while !running.is_finished() {
        if interrupted.load(Ordering::SeqCst) > 0 {
            if options.savepoint_on_stop {
                progress.stop_with("Ctrl-C: taking a savepoint, then stopping");
                match running.savepoint_to(options.savepoint_dir.clone()) {
                    Ok(location) => eprintln!("savepoint: {location}"),
                    Err(e) => eprintln!("error: no savepoint: {e}"),
                }
            } else {
                progress.stop_with("Ctrl-C: killing the topology (press again to exit at once)");
            }
            running.kill();
            break;
        }
        if Instant::now() >= next_update {
            progress.update(&running.metrics());
            next_update = Instant::now() + progress::INTERVAL;
        }
        std::thread::sleep(POLL);
    }
    let result = crate::run_ui::sole(running, ui.as_deref()).join();
    progress.clear();
    if let Some(ui) = &ui {
        crate::run_ui::ended(ui, &result);
        if let Err(e) = &result {
            // The page shows the failure and the tasks' errors: kept up.
            eprintln!("error: {e}\nfailed; the web UI stays up until Ctrl-C");
            while interrupted.load(Ordering::SeqCst) == 0 {
                std::thread::sleep(POLL);
            }
        }
    }
    let summary = result.map_err(Failure::runtime)?;
    if summary.killed {
        eprintln!("killed");
    }
    summary::print(&summary, quiet);
    summary::print_outputs(&loaded.outputs, summary.killed);
    squall_cluster::metrics_api::gather();
    let serving = match (options.query.is_some(), options.metrics.is_some()) {
        (true, true) => "its state stays queryable and its metrics served",
        (true, false) => "its state stays queryable",
        (false, true) => "its metrics stay served",
        (false, false) => "",
    };
    let ui_stays = ui.as_ref().is_some_and(|ui| !summary.killed || ui.killed_from_ui());
    if (!serving.is_empty() && !summary.killed) || ui_stays {
        match !serving.is_empty() && !summary.killed {
            true => eprintln!("finished; {serving} until Ctrl-C"),
            false => eprintln!("ended; the web UI stays up until Ctrl-C"),
        }
        while interrupted.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(POLL);
        }
    }
    Ok(if summary.killed { ExitCode::from(KILLED) } else { ExitCode::SUCCESS })
}

/// Binds the address of `flag` (the query API's, the metrics') before
/// anything runs, so that a taken port is a configuration error.
fn bind(flag: &str, addr: std::net::SocketAddr) -> Result<std::net::TcpListener, Failure> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| Failure::config(format!("{flag} {addr}: cannot listen: {e}")))?;
    listener.set_nonblocking(true).map_err(|e| Failure::config(format!("{flag} {addr}: {e}")))?;
    Ok(listener)
}

/// Installs the Prometheus exporter (every series labelled
/// `worker="local"`) and serves it on `listener` before the topology
/// starts, so that the metrics its components register are exported;
/// prints the URL on stderr.
fn serve_metrics(
    listener: std::net::TcpListener,
) -> Result<squall_cluster::metrics_api::LocalTopology, Failure> {
    use squall_cluster::metrics_api;
    let local = metrics_api::LocalTopology::default();
    let routes = metrics_api::local_routes(local.clone());
    let addr = metrics_api::start(&[("worker", "local")], listener, routes)
        .map_err(|e| Failure::runtime(format!("--metrics: {e}")))?;
    eprintln!("metrics on http://{addr}/metrics");
    Ok(local)
}

/// Serves queries of `states` on `listener` from a thread of its own
/// (`squall_cluster::query_api`); prints where on stderr.
fn serve_queries(
    listener: std::net::TcpListener,
    name: &str,
    states: squall::state::LiveStates,
    checkpoints: Option<squall::checkpoint::CheckpointStorage>,
) -> Result<(), Failure> {
    let bound = listener.local_addr().map_err(Failure::runtime)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("query API runtime: {e}")))?;
    let name = name.to_string();
    let scheme = squall_cluster::api_tls::served().scheme();
    eprintln!("query API on {scheme}://{bound} (GET /query/{name}/COMPONENT/STATE?key=K)");
    std::thread::Builder::new()
        .name("squall-query".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => return eprintln!("error: query API: {e}"),
                };
                let served = squall_cluster::query_api::serve(listener, &name, states, checkpoints);
                if let Err(e) = served.await {
                    eprintln!("error: {e}");
                }
            })
        })
        .map_err(|e| Failure::runtime(format!("query API thread: {e}")))?;
    Ok(())
}

/// Installs the Ctrl-C handler. The flag it returns holds the time of the
/// first Ctrl-C (ms since the handler was installed, plus one), or 0. A
/// second Ctrl-C, at least [`DEBOUNCE`] after the first, exits at once.
fn catch_ctrl_c() -> Result<Arc<AtomicU64>, Failure> {
    let first = Arc::new(AtomicU64::new(0));
    let seen = first.clone();
    let start = Instant::now();
    ctrlc::set_handler(move || {
        let now = start.elapsed().as_millis() as u64 + 1;
        match seen.compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => {}
            Err(at) if now.saturating_sub(at) >= DEBOUNCE.as_millis() as u64 => {
                eprintln!("interrupted again: exiting without waiting for the tasks");
                std::process::exit(i32::from(KILLED));
            }
            Err(_) => {}
        }
    })
    .map_err(|e| Failure::runtime(format!("cannot catch Ctrl-C: {e}")))?;
    Ok(first)
}

/// Says so when `topology` will resume from a checkpoint an earlier run
/// left in its `checkpoint_dir` (a run restores the newest complete one),
/// with when it was taken and how to start fresh. A storage that cannot be
/// read is left for the run to report.
fn announce_resume(topology: &Topology) {
    let config = topology.config();
    let Some(dir) = config.checkpoint_dir.as_deref() else { return };
    if !config.checkpointing() || config.restore_from.is_some() {
        return;
    }
    let Ok(storage) = CheckpointStorage::open(dir, topology.name()) else { return };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return;
    };
    let latest = runtime.block_on(async {
        match storage.completed().await?.last() {
            Some(&id) => storage.read_metadata(id).await.map(Some),
            None => Ok(None),
        }
    });
    let Ok(Some(metadata)) = latest else { return };
    let taken = chrono::DateTime::from_timestamp_millis(metadata.triggered_at_ms as i64)
        .map_or_else(
            || "at an unknown time".to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        );
    let folder = format!("{}/{}", storage.location().trim_end_matches('/'), topology.name());
    eprintln!(
        "resuming from checkpoint {} of an earlier run of '{}' (taken {taken}) in {folder}; to \
         start fresh, delete that folder or set checkpoint_dir elsewhere",
        metadata.checkpoint_id,
        topology.name(),
    );
}
