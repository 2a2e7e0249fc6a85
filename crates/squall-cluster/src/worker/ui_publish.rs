//! What a cluster worker publishes for the web UI: a [`WorkerView`] once a
//! second (with its switch and metrics report,
//! [`crate::worker::worker_control`]) under
//! `NS/ui/{topology}/{supervisor}-{slot}`, which nimbus merges
//! ([`crate::nimbus::ui_cluster`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use squall::runtime::{LiveStats, MetricsHandle, TopologyGraph};
use squall::Topology;

use crate::protocol::records::{guarantee_of, now_ms, WorkerView, PUBLISH_EVERY};
use crate::protocol::store::{Assignment, Store};

/// Checkpoints a worker publishes (the newest).
const CHECKPOINTS_PUBLISHED: usize = 30;

struct WorkerSide {
    graph: TopologyGraph,
    guarantee: String,
    checkpoint_interval_ms: u64,
    started_ms: u64,
    live: Option<LiveStats>,
    last: Option<Instant>,
}

/// This worker's side (one assignment per worker process).
static WORKER: Mutex<Option<WorkerSide>> = Mutex::new(None);

/// Remembers what the worker runs, for [`publish`]: called once the
/// topology is final (rescaled, restored).
pub(crate) fn worker_started(topology: &Topology) {
    let side = WorkerSide {
        graph: TopologyGraph::of(topology),
        guarantee: guarantee_of(topology),
        checkpoint_interval_ms: topology.config().checkpoint_interval_ms,
        started_ms: now_ms(),
        live: None,
        last: None,
    };
    *WORKER.lock().unwrap_or_else(|e| e.into_inner()) = Some(side);
}

/// Publishes this worker's [`WorkerView`], at most every
/// [`PUBLISH_EVERY`] (or at once when `last`); nothing before
/// [`worker_started`].
///
/// # Errors
/// [`crate::Error::Etcd`].
pub(crate) async fn publish(
    store: &Store,
    a: &Assignment,
    active: bool,
    metrics: &MetricsHandle,
    last: bool,
) -> crate::Result<()> {
    {
        let mut side = WORKER.lock().unwrap_or_else(|e| e.into_inner());
        let Some(side) = side.as_mut() else { return Ok(()) };
        if !last && side.last.is_some_and(|t| t.elapsed() < PUBLISH_EVERY) {
            return Ok(());
        }
        side.last = Some(Instant::now());
    }
    let exported = crate::protocol::metrics_read::read();
    let view = {
        let mut side = WORKER.lock().unwrap_or_else(|e| e.into_inner());
        let Some(side) = side.as_mut() else { return Ok(()) };
        let live = side.live.get_or_insert_with(|| LiveStats::new(metrics));
        let mut checkpoints = live.checkpoints();
        let drop = checkpoints.len().saturating_sub(CHECKPOINTS_PUBLISHED);
        checkpoints.drain(..drop);
        WorkerView {
            epoch: a.epoch,
            worker: format!("{}-{}", a.supervisor, a.slot),
            supervisor: a.supervisor.clone(),
            slot: a.slot,
            pid: std::process::id(),
            started_ms: side.started_ms,
            at_ms: now_ms(),
            active,
            assigned: a.tasks.clone(),
            graph: side.graph.clone(),
            guarantee: side.guarantee.clone(),
            checkpoint_interval_ms: side.checkpoint_interval_ms,
            tasks: live.tasks(),
            checkpoints,
            process: exported.as_ref().and_then(crate::protocol::metrics_read::process_stats),
            user_metrics: exported
                .map(|e| crate::protocol::metrics_read::user_metrics(&e, &a.topology.name))
                .unwrap_or_default(),
        }
    };
    VIEWS.put(store, &format!("ui/{}/{}", a.topology.name, view.worker), &view, last).await
}

/// The views this process wrote: only changed ones ([`crate::protocol::throttle`];
/// [`publish`] keeps the period).
static VIEWS: crate::protocol::throttle::Throttle =
    crate::protocol::throttle::Throttle::new(Duration::ZERO, &["at_ms"]);
