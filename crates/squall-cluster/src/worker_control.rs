//! The worker's side of [`crate::control`]: applies the topology's rescale
//! and switch before starting, then every [`REPORT_EVERY`] follows the
//! switch, publishes its [`WorkerReport`] and answers a rebalance's
//! savepoint request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use squall::runtime::MetricsHandle;
use squall::topology::Activation;
use squall::{LocalCluster, RunningTopology, Topology};

use crate::control::{
    self, report_key, RebalanceRecord, Rescale, SavepointAnswer, WorkerReport, REPORT_EVERY,
};
use crate::fence::EtcdFence;
use crate::store::{Assignment, Store};
use crate::ClusterConfig;

/// Runs `a` (whose submitted topology is `topology`) under the cluster's
/// controls. `Ok(Some(elapsed))` when it finished, `Ok(None)` when it
/// stopped after a savepoint for a rebalance.
///
/// # Errors
/// A message for the slot's log: etcd unreachable, the rescaled topology
/// refused, a task failed.
pub(crate) fn run(a: &Assignment, topology: Topology) -> Result<Option<Duration>, String> {
    let started = Instant::now();
    let config = ClusterConfig::load(None).map_err(|e| e.to_string())?;
    // One thread of its own: the etcd client's connection lives on this
    // runtime, and the fence uses it from the topology's.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let store = runtime.block_on(Store::connect(&config)).map_err(|e| e.to_string())?;
    let name = &a.topology.name;
    let (rescale, switch) = runtime
        .block_on(async {
            let rescale: Option<Rescale> = store.get(&format!("rescale/{name}")).await?;
            Ok::<_, crate::Error>((rescale, control::activation(&store, name).await?))
        })
        .map_err(|e| e.to_string())?;
    let mut topology = match &rescale {
        Some(r) if !r.parallelism.is_empty() => control::build(&a.topology, r)?,
        _ => topology,
    };
    if let Some(location) = rescale.as_ref().and_then(|r| r.restore_from.clone()) {
        eprintln!("restoring from savepoint {location}");
        topology = topology.restore_from(location).map_err(|e| e.to_string())?;
    }
    let activation = Activation::new(switch.active);
    let mut topology = topology.with_activation(&activation);
    crate::ui_cluster::worker_started(&topology);
    if a.workers > 1 {
        drop(runtime);
        // The job driver with this worker's share of the tasks: one
        // coordinator (or one set of ackers) for all workers, fenced
        // commits, restarts of all ([`crate::distributed`]).
        return crate::worker::run_distributed(a, &topology, &activation).map(Some);
    }
    if topology.config().checkpointing() {
        // Completions recorded in etcd, fenced by this assignment.
        let fence = runtime.block_on(EtcdFence::new(&store, a)).map_err(|e| e.to_string())?;
        topology = topology.with_fence(Arc::new(fence));
    }
    let checkpoints = crate::query_route::checkpoints_of(&topology);
    let running = Arc::new(LocalCluster::submit(topology).map_err(|e| e.to_string())?);
    let metrics = running.metrics_handle();
    crate::metrics_api::watch(&metrics);
    let host = config.supervisor.data_host;
    let publish = crate::query_route::publish(&store, a, host, running.states(), checkpoints);
    let _queries = runtime.block_on(publish).map_err(|e| eprintln!("queries not served: {e}"));
    let mut restored = rescale.is_some_and(|r| r.restore_from.is_some());
    let mut stopped = false;
    // etcd unreachable for a moment stops neither the topology nor this
    // loop: the supervisor's lease decides whether this worker may go on.
    let warn = |e: crate::Error| eprintln!("etcd: {e}");
    while !running.is_finished() {
        let request =
            runtime.block_on(look(&store, a, &activation, &metrics)).unwrap_or_else(|e| {
                warn(e);
                None
            });
        if restored && !running.checkpoints().is_empty() {
            // Checkpointed past the savepoint: a restart restores the
            // latest checkpoint, not the savepoint again.
            match runtime.block_on(forget_savepoint(&store, name)) {
                Ok(()) => restored = false,
                Err(e) => warn(e),
            }
        }
        if request.is_some_and(|r| r.epoch == a.epoch) {
            stopped = savepoint_and_stop(&runtime, &store, a, &running)?;
            if stopped {
                break;
            }
        }
        // A user's savepoint (`squall savepoint`, `squall stop`): nimbus
        // kills the topology itself after a stop.
        match runtime.block_on(crate::savepoint::pending(&store, a)) {
            Ok(Some(request)) => {
                let outcome = running.savepoint_to(request.dir.clone()).map_err(|e| e.to_string());
                eprintln!("savepoint asked by nimbus: {outcome:?}");
                let answered = crate::savepoint::answer(&store, a, request, outcome);
                if let Err(e) = runtime.block_on(answered) {
                    warn(e);
                }
            }
            Ok(None) => {}
            Err(e) => warn(e),
        }
        std::thread::sleep(REPORT_EVERY);
    }
    if let Err(e) = runtime.block_on(look(&store, a, &activation, &metrics)) {
        warn(e);
    }
    // The final counts for the web UI, not a second late.
    let last = crate::ui_cluster::publish(&store, a, activation.is_active(), &metrics, true);
    if let Err(e) = runtime.block_on(last) {
        warn(e);
    }
    let running = Arc::into_inner(running).expect("the only handle");
    running.join().map_err(|e| e.to_string())?;
    Ok((!stopped).then(|| started.elapsed()))
}

/// Takes the savepoint a rebalance asked for and answers it; stops the
/// topology when it was taken. Whether it was.
fn savepoint_and_stop(
    runtime: &tokio::runtime::Runtime,
    store: &Store,
    a: &Assignment,
    running: &RunningTopology,
) -> Result<bool, String> {
    let taken = Instant::now();
    let outcome = running.savepoint().map_err(|e| e.to_string());
    eprintln!("savepoint for a rebalance in {} ms: {outcome:?}", taken.elapsed().as_millis());
    let ok = outcome.is_ok();
    if ok {
        running.kill();
    }
    let answer = SavepointAnswer { epoch: a.epoch, outcome };
    runtime
        .block_on(store.put(&format!("savepoints/{}", a.topology.name), &answer, None))
        .map_err(|e| e.to_string())?;
    Ok(ok)
}

async fn forget_savepoint(store: &Store, name: &str) -> crate::Result<()> {
    let key = format!("rescale/{name}");
    if let Some(mut r) = store.get::<Rescale>(&key).await? {
        r.restore_from = None;
        store.put(&key, &r, None).await?;
    }
    Ok(())
}

/// Follows the switch, publishes this worker's report; returns a pending
/// rebalance request, if any.
async fn look(
    store: &Store,
    a: &Assignment,
    activation: &Activation,
    metrics: &MetricsHandle,
) -> crate::Result<Option<RebalanceRecord>> {
    let name = &a.topology.name;
    let switch = control::activation(store, name).await?;
    if switch.active != activation.is_active() {
        eprintln!("spouts {}", if switch.active { "activated" } else { "deactivated" });
        activation.set_active(switch.active);
    }
    let worker = format!("{}-{}", a.supervisor, a.slot);
    let checkpoints = metrics.checkpoints();
    let addr = crate::metrics_api::address();
    let report =
        WorkerReport::of(&worker, a.epoch, activation.is_active(), metrics, &checkpoints, addr);
    store.put(&report_key(a), &report, None).await?;
    crate::ui_cluster::publish(store, a, report.active, metrics, false).await?;
    store.get(&format!("rebalance/{name}")).await
}

/// [`look`] every [`REPORT_EVERY`], and once more when `ended` fires, for
/// a worker of a topology spread over several (nimbus rebalances those
/// without asking a worker for a savepoint: [`control::rebalance`]).
pub(crate) async fn follow(
    store: Store,
    a: Assignment,
    activation: Activation,
    metrics: MetricsHandle,
    ended: tokio_util::sync::CancellationToken,
) {
    crate::metrics_api::watch(&metrics);
    loop {
        if let Err(e) = look(&store, &a, &activation, &metrics).await {
            eprintln!("cannot publish metrics: {e}");
        }
        if ended.is_cancelled() {
            let last =
                crate::ui_cluster::publish(&store, &a, activation.is_active(), &metrics, true);
            if let Err(e) = last.await {
                eprintln!("cannot publish metrics: {e}");
            }
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(REPORT_EVERY) => {}
            () = ended.cancelled() => {}
        }
    }
}
