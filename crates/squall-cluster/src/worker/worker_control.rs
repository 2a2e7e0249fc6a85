//! The worker's side of [`crate::nimbus::control`]: applies the topology's rescale
//! and switch before starting, then every [`REPORT_EVERY`] follows the
//! switch and publishes its [`records::WorkerReport`]; a savepoint it
//! restored is forgotten once checkpointed past.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use squall::runtime::MetricsHandle;
use squall::topology::Activation;
use squall::{LocalCluster, Topology};

use crate::protocol::fence::EtcdFence;
use crate::protocol::records::{self, Reporter, Rescale, REPORT_EVERY};
use crate::protocol::store::{Assignment, Store};
use crate::{ClusterConfig, Result};

/// When this worker process began running its assignment: the base of the
/// "workers joined after S s" and "finished in S s" lines.
static STARTED: OnceLock<Instant> = OnceLock::new();

/// Seconds since this worker began running its assignment.
pub(crate) fn uptime_secs() -> f64 {
    STARTED.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Runs `a` (whose submitted topology is `topology`) under the cluster's
/// controls, until it finished; how long it ran.
///
/// # Errors
/// [`crate::Error::Etcd`] when etcd cannot be reached at the start;
/// [`crate::Error::Topology`] when the rescaled topology is refused or the
/// topology failed.
pub(crate) fn run(a: &Assignment, topology: Topology) -> Result<Duration> {
    let started = *STARTED.get_or_init(Instant::now);
    let config = ClusterConfig::load(None)?;
    // One thread of its own: the etcd client's connection lives on this
    // runtime, and the fence uses it from the topology's.
    let runtime = crate::worker::runtime(Some(1))?;
    let store = runtime.block_on(Store::connect(&config))?;
    let name = &a.topology.name;
    let (rescale, switch) = runtime.block_on(async {
        let rescale: Option<Rescale> = store.get(&format!("rescale/{name}")).await?;
        Ok::<_, crate::Error>((rescale, records::activation(&store, name).await?))
    })?;
    let mut topology = match &rescale {
        Some(r) if !r.parallelism.is_empty() => records::build(&a.topology, r)?,
        _ => topology,
    };
    if let Some(location) = rescale.as_ref().and_then(|r| r.restore_from.clone()) {
        tracing::info!("restoring from savepoint {location}");
        topology = topology.restore_from(location)?;
    }
    let activation = Activation::new(switch.active);
    let mut topology = topology.with_activation(&activation);
    crate::worker::ui_publish::worker_started(&topology);
    if a.workers > 1 {
        drop(runtime);
        // The job driver with this worker's share of the tasks: one
        // coordinator (or one set of ackers) for all workers, fenced
        // commits, restarts of all ([`crate::worker::distributed`]).
        return crate::worker::run_distributed(a, &topology, &activation);
    }
    if topology.config().checkpointing() {
        // Completions recorded in etcd, fenced by this assignment.
        let fence = runtime.block_on(EtcdFence::new(&store, a))?;
        topology = topology.with_fence(Arc::new(fence));
    }
    let checkpoints = crate::protocol::query_api::checkpoints_of(&topology);
    let running = LocalCluster::submit(topology)?;
    let metrics = running.metrics_handle();
    let host = config.supervisor.data_host;
    let publish =
        crate::protocol::query_api::publish(&store, a, host, running.states(), checkpoints);
    let _queries = runtime.block_on(publish).map_err(|e| tracing::warn!("queries not served: {e}"));
    // Reports and the spouts' switch, as on several workers; users'
    // savepoints (`squall savepoint`, `squall stop`: nimbus kills the
    // topology itself after a stop).
    let ended = tokio_util::sync::CancellationToken::new();
    let (store2, a2) = (store.clone(), a.clone());
    let reports = runtime.spawn(follow(store2, a2, activation.clone(), metrics, ended.clone()));
    let serving = running.savepoint_trigger().map(|trigger| {
        runtime.spawn(crate::protocol::savepoint_requests::serve(store.clone(), a.clone(), trigger))
    });
    let mut restored = rescale.is_some_and(|r| r.restore_from.is_some());
    while !running.is_finished() {
        if restored && !running.checkpoints().is_empty() {
            // Checkpointed past the savepoint: a restart restores the
            // latest checkpoint, not the savepoint again. etcd unreachable
            // for a moment stops neither the topology nor this loop: the
            // supervisor's lease decides whether this worker may go on.
            match runtime.block_on(forget_savepoint(&store, name)) {
                Ok(()) => restored = false,
                Err(e) => tracing::warn!("etcd: {e}"),
            }
        }
        std::thread::sleep(REPORT_EVERY);
    }
    serving.inspect(|s| s.abort());
    // The final counts for the web UI, not a second late.
    ended.cancel();
    if let Err(e) = runtime.block_on(reports) {
        tracing::warn!("metrics task: {e}");
    }
    running.join()?;
    Ok(started.elapsed())
}

async fn forget_savepoint(store: &Store, name: &str) -> crate::Result<()> {
    let key = format!("rescale/{name}");
    if let Some(mut r) = store.get::<Rescale>(&key).await? {
        r.restore_from = None;
        store.put(&key, &r, None).await?;
    }
    Ok(())
}

/// Follows the switch, publishes this worker's report
/// ([`crate::worker::ui_publish::publish`]).
async fn look(
    store: &Store,
    a: &Assignment,
    activation: &Activation,
    reporter: &mut Reporter,
    last: bool,
) -> crate::Result<()> {
    let switch = records::activation(store, &a.topology.name).await?;
    if switch.active != activation.is_active() {
        tracing::info!("spouts {}", if switch.active { "activated" } else { "deactivated" });
        activation.set_active(switch.active);
    }
    crate::worker::ui_publish::publish(store, a, reporter, activation.is_active(), last).await
}

/// [`look`] every [`REPORT_EVERY`], and once more when `ended` fires.
pub(crate) async fn follow(
    store: Store,
    a: Assignment,
    activation: Activation,
    metrics: MetricsHandle,
    ended: tokio_util::sync::CancellationToken,
) {
    crate::protocol::metrics_api::watch(&metrics);
    let mut reporter = crate::worker::ui_publish::reporter(&metrics);
    loop {
        // Read once: `ended` firing while a throttled report is written
        // must still leave one forced write of the final counts.
        let last = ended.is_cancelled();
        if let Err(e) = look(&store, &a, &activation, &mut reporter, last).await {
            tracing::warn!("cannot publish metrics: {e}");
        }
        if last {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(REPORT_EVERY) => {}
            () = ended.cancelled() => {}
        }
    }
}
