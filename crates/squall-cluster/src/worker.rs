//! Worker mode (`squall worker --assignment FILE`, started by a supervisor):
//! rebuilds the assigned topology from its YAML and runs it to the end.
//!
//! A topology on one worker runs whole in this process, as in local mode.
//! On several, each worker builds only its executors
//! ([`TopologyPart`]), publishes its data address in etcd, waits for its
//! peers' addresses and connects its remote channels ([`crate::link`]).

use std::path::Path;

use std::sync::Arc;
use std::time::{Duration, Instant};

use squall::runtime::TopologyPart;

use crate::link;
use crate::store::{Assignment, Store, TopologyRecord, WorkerAddress};
use crate::supervisor::{EXIT_CONFIG, EXIT_FAILED, EXIT_STOPPED};
use crate::wire::{WireConfig, WireStats};
use crate::ClusterConfig;

/// Runs the assignment in `file`, a YAML topology; returns the process exit
/// code: 0 when the topology finished, [`EXIT_CONFIG`] when it does not
/// load, [`EXIT_FAILED`] when a task failed, [`EXIT_STOPPED`] after a
/// rebalance's savepoint. Errors go to stderr (the slot's log), last line
/// first-class: the supervisor reports it as the failure's reason.
pub fn run(file: &Path) -> i32 {
    run_with(file, &|record| {
        squall::yaml::parse(&record.yaml, &record.overrides)
            .map(|l| l.topology)
            .map_err(|e| e.to_string())
    })
}

/// How a worker makes the topology of an assignment's record: from its YAML
/// ([`run`]), or by the user's code in a topology binary
/// ([`crate::binary::cluster_main`]).
pub type Build<'a> = &'a dyn Fn(&TopologyRecord) -> Result<squall::Topology, String>;

/// As [`run`], the topology made by `build`.
pub fn run_with(file: &Path, build: Build<'_>) -> i32 {
    // A worker does not outlive its supervisor: a supervisor that dies
    // takes its workers with it, so no orphan keeps writing.
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        eprintln!("cannot tie the worker to its supervisor: {e}");
    }
    let assignment: Assignment = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cannot read assignment {}: {e}", file.display());
            return EXIT_CONFIG;
        }
    };
    let record = &assignment.topology;
    let topology = match build(record) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_CONFIG;
        }
    };
    eprintln!(
        "worker for {} (epoch {}, {} tasks) on {} slot {}",
        record.name,
        assignment.epoch,
        assignment.tasks.len(),
        assignment.supervisor,
        assignment.slot
    );
    serve_metrics(&assignment);
    match crate::worker_control::run(&assignment, topology) {
        Ok(None) => {
            eprintln!("stopped after a savepoint");
            EXIT_STOPPED
        }
        Ok(Some(elapsed)) => {
            eprintln!("finished in {:.3} s", elapsed.as_secs_f64());
            0
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_FAILED
        }
    }
}

/// Serves this worker's Prometheus `/metrics` on its supervisor's data
/// host (an ephemeral port, published in its reports), every series
/// labelled `worker="{supervisor}-{slot}"`. A worker without it still runs
/// (said on stderr).
fn serve_metrics(a: &Assignment) {
    let host = match ClusterConfig::load(None) {
        Ok(c) => c.supervisor.data_host,
        Err(e) => return eprintln!("no metrics endpoint: {e}"),
    };
    let worker = format!("{}-{}", a.supervisor, a.slot);
    let served = std::net::TcpListener::bind((host, 0))
        .map_err(|e| format!("bind a metrics port: {e}"))
        .and_then(|l| crate::metrics_api::start(&[("worker", &worker)], l, axum::Router::new()));
    match served {
        Ok(addr) => eprintln!("metrics on http://{addr}/metrics"),
        Err(e) => eprintln!("no metrics endpoint: {e}"),
    }
}

/// Runs this worker's part of a checkpointed or tracked topology spread
/// over several workers ([`crate::distributed`]).
pub(crate) fn run_distributed(
    a: &Assignment,
    topology: &squall::Topology,
    activation: &squall::topology::Activation,
) -> Result<Duration, String> {
    let started = Instant::now();
    let config = ClusterConfig::load(None).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(crate::distributed::run(a, topology, &config, activation))?;
    Ok(started.elapsed())
}

/// How long a worker waits for its peers to publish their addresses.
const PEER_PATIENCE: Duration = Duration::from_secs(120);

/// Runs this worker's part of a topology spread over several workers, its
/// spouts behind `activation`.
pub(crate) fn run_part(
    a: &Assignment,
    topology: squall::Topology,
    activation: &squall::topology::Activation,
) -> Result<Duration, String> {
    let started = Instant::now();
    let config = ClusterConfig::load(None).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = Store::connect(&config).await.map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind((config.supervisor.data_host, 0))
            .await
            .map_err(|e| format!("bind a data port: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let dir = format!("workers/{}/{}", a.topology.name, a.epoch);
        let me = WorkerAddress { addr, tasks: a.tasks.clone() };
        store
            .put(&format!("{dir}/{}-{}", a.supervisor, a.slot), &me, None)
            .await
            .map_err(|e| e.to_string())?;
        let peers = loop {
            let peers = store.list::<WorkerAddress>(&dir).await.map_err(|e| e.to_string())?;
            if peers.len() >= a.workers {
                break peers;
            }
            if started.elapsed() > PEER_PATIENCE {
                return Err(format!(
                    "only {} of {} workers published an address",
                    peers.len(),
                    a.workers
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        eprintln!("{} workers joined after {:.3} s", peers.len(), started.elapsed().as_secs_f64());
        let owner: std::collections::HashMap<usize, std::net::SocketAddr> =
            peers.iter().flat_map(|(_, p)| p.tasks.iter().map(move |&t| (t, p.addr))).collect();
        let mine: std::collections::HashSet<usize> = a.tasks.iter().copied().collect();
        let mut part = TopologyPart::build(&topology, |head| mine.contains(&head))
            .map_err(|e| e.to_string())?;
        let outputs = std::mem::take(&mut part.outputs);
        let inputs = std::mem::take(&mut part.inputs);
        let states = part.metrics_handle().states();
        let host = config.supervisor.data_host;
        let checkpoints = crate::query_route::checkpoints_of(&topology);
        let _queries = crate::query_route::publish(&store, a, host, states, checkpoints)
            .await
            .map_err(|e| eprintln!("queries not served: {e}"));
        // One attempt per epoch: a lost worker moves the topology whole.
        let wire = WireConfig {
            compression: config.supervisor.data_compression,
            session: crate::wire::session(&a.topology.name, a.epoch, 0),
            ..WireConfig::default()
        };
        let stats = Arc::new(WireStats::default());
        let ended = tokio_util::sync::CancellationToken::new();
        let reports = tokio::spawn(crate::worker_control::follow(
            store.clone(),
            a.clone(),
            activation.clone(),
            part.metrics_handle(),
            ended.clone(),
        ));
        let tls = crate::tls::of_worker(&config).map_err(|e| e.to_string())?;
        let (ran, served, sent) = tokio::join!(
            part.run(),
            link::serve_inputs(listener, inputs, wire, stats.clone(), tls.clone()),
            link::send_outputs(outputs, |task| owner[&task], wire, stats.clone(), tls),
        );
        ended.cancel();
        reports.await.map_err(|e| format!("metrics task: {e}"))?;
        ran.map_err(|e| e.to_string())?;
        served.map_err(|e| e.to_string())?;
        sent.map_err(|e| e.to_string())?;
        eprintln!(
            "data plane: {} bytes in {} messages",
            stats.bytes.load(std::sync::atomic::Ordering::Relaxed),
            stats.messages.load(std::sync::atomic::Ordering::Relaxed)
        );
        Ok(started.elapsed())
    })
}
