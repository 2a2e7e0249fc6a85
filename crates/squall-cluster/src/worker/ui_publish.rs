//! What a cluster worker publishes (with its switch,
//! [`crate::worker::worker_control`]): its [`WorkerReport`] under
//! `NS/metrics/{topology}/{supervisor}-{slot}`, when it changed and at most
//! every [`crate::protocol::records::REPORT_WRITTEN_EVERY`], which nimbus reads for the REST metrics
//! route and the web UI ([`crate::nimbus::ui_cluster`]).

use std::sync::Mutex;

use squall::runtime::MetricsHandle;
use squall::Topology;

use crate::protocol::records::{now_ms, report_key, Reporter, Shape, WorkerReport, REPORTS};
use crate::protocol::store::{Assignment, Store};

/// Checkpoints a worker publishes in its history (the newest).
const CHECKPOINTS_PUBLISHED: usize = 30;

/// What this worker runs and when it started (ms since the Unix epoch):
/// one assignment per worker process.
static STARTED: Mutex<Option<(Shape, u64)>> = Mutex::new(None);

/// Remembers what the worker runs, for its reports: called once the
/// topology is final (rescaled, restored).
pub(crate) fn worker_started(topology: &Topology) {
    *STARTED.lock().unwrap_or_else(|e| e.into_inner()) = Some((Shape::of(topology), now_ms()));
}

/// The reporter of `metrics`, the counters of what [`worker_started`]
/// noted.
pub(crate) fn reporter(metrics: &MetricsHandle) -> Reporter {
    let started = STARTED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Reporter::new(started.unwrap_or_default().0, metrics)
}

/// Publishes the report of `reporter` as the worker of `a`, its spouts
/// polled if `active`, when [`REPORTS`] lets it (at once when `last`).
///
/// # Errors
/// [`crate::Error::Etcd`] or [`crate::Error::Record`].
pub(crate) async fn publish(
    store: &Store,
    a: &Assignment,
    reporter: &mut Reporter,
    active: bool,
    last: bool,
) -> crate::Result<()> {
    let started = STARTED.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|s| s.1);
    REPORTS
        .put(store, &report_key(a), last, || {
            let report = reporter.report(active);
            let drop = report.history.len().saturating_sub(CHECKPOINTS_PUBLISHED);
            WorkerReport {
                epoch: a.epoch,
                worker: format!("{}-{}", a.supervisor, a.slot),
                supervisor: Some(a.supervisor.clone()),
                slot: Some(a.slot),
                started_ms: started.unwrap_or(report.started_ms),
                assigned: a.tasks.clone(),
                history: report.history[drop..].to_vec(),
                ..report
            }
        })
        .await
}
