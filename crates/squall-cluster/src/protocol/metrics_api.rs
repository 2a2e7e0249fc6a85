//! Prometheus metrics: the exporter every Squall process installs
//! (`metrics-exporter-prometheus` behind the `metrics` facade), the thread
//! that gathers the runtime's counters into it every [`GATHER_EVERY`], and
//! the HTTP routes around it:
//!
//! | where | method and path | answer |
//! |---|---|---|
//! | `squall run --metrics ADDR`, each worker, each supervisor | `GET /metrics` | Prometheus text exposition (no token) |
//! | `squall run --metrics ADDR` | `GET /api/v1/topologies/{name}/metrics` | [`TopologyMetrics`] of the local run |
//! | nimbus (bearer token) | `GET /api/v1/metrics/targets` | Prometheus HTTP service discovery: [`TargetGroup`]s of every live worker and supervisor |
//!
//! On a cluster each worker process serves its own `/metrics` on its
//! supervisor's `data_host` (an ephemeral port, published in its
//! [`crate::nimbus::control::WorkerReport`]) and each supervisor serves its own
//! (published in [`SupervisorInfo`]); nimbus lists them for Prometheus's
//! `http_sd_configs` rather than gathering: a scrape then costs nimbus
//! nothing, and a worker's series carry the worker that ran them. See
//! docs/metrics.md.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use squall::runtime::{MetricsHandle, Publisher};

use crate::protocol::records::{local_status, Reporter, Shape, TopologyMetrics};
use crate::protocol::store::State as TopologyState;
use crate::{Error, Result};

/// How often the runtime's counters, the process's RSS and CPU are
/// gathered into the exporter.
pub const GATHER_EVERY: Duration = Duration::from_secs(1);

/// Bucket bounds (s) of the latency histograms: 10 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Bucket bounds (s) of checkpoint durations: 10 ms to 10 min.
const CHECKPOINT_BUCKETS: &[f64] =
    &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// The process's exporter, once installed.
struct Exporter {
    handle: PrometheusHandle,
    publishers: Mutex<Vec<Publisher>>,
    process: metrics_process::Collector,
    address: OnceLock<SocketAddr>,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Installs the Prometheus exporter as this process's `metrics` recorder,
/// with `labels` on every series (`worker`, or `supervisor`), starts the
/// gathering thread and serves `/metrics` (and `extra` routes) on
/// `listener` from a thread of its own, over HTTPS with this process's
/// `[api_tls]` ([`crate::protocol::api_tls::served`]). Returns the address served.
///
/// # Errors
/// [`Error::Metrics`] when a recorder is already installed;
/// [`Error::Io`] when the listener or the threads cannot be set up.
pub fn start(
    labels: &[(&str, &str)],
    listener: std::net::TcpListener,
    extra: Router,
) -> Result<SocketAddr> {
    let exporter = start_unserved(labels)?;
    let addr = listener
        .local_addr()
        .map_err(|source| Error::Io { what: "metrics listener".into(), source })?;
    let _ = exporter.address.set(addr);
    listener
        .set_nonblocking(true)
        .map_err(|source| Error::Io { what: "metrics listener".into(), source })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io { what: "metrics runtime".into(), source })?;
    let router = extra.merge(routes());
    let tls = crate::protocol::api_tls::served();
    std::thread::Builder::new()
        .name("squall-metrics-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                let served = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => crate::protocol::api_tls::serve_configured(l, router, &tls).await,
                    Err(source) => Err(Error::Io { what: "metrics listener".into(), source }),
                };
                if let Err(e) = served {
                    tracing::error!("metrics endpoint: {e}");
                }
            })
        })
        .map_err(|source| Error::Io { what: "metrics thread".into(), source })?;
    Ok(addr)
}

/// [`start`] on a free port of `host`, without extra routes: a worker's
/// or a supervisor's `/metrics`.
///
/// # Errors
/// As [`start`]; [`Error::Io`] when no port can be bound.
pub fn serve_on(host: std::net::IpAddr, labels: &[(&str, &str)]) -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind((host, 0))
        .map_err(|source| Error::Io { what: format!("bind a metrics port on {host}"), source })?;
    start(labels, listener, Router::new())
}

/// Installs the Prometheus exporter as [`start`] does, and starts the
/// gathering thread, without serving `/metrics`: for `squall run --ui`,
/// whose pages show the components' own metrics, the RSS and the CPU.
///
/// # Errors
/// As [`start`].
fn start_unserved(labels: &[(&str, &str)]) -> Result<&'static Exporter> {
    let exporter = install(labels)?;
    std::thread::Builder::new()
        .name("squall-metrics".into())
        .spawn(|| loop {
            gather();
            std::thread::sleep(GATHER_EVERY);
        })
        .map_err(|source| Error::Io { what: "metrics thread".into(), source })?;
    Ok(exporter)
}

/// A local run's metrics gathered, not served (`squall run --ui` without
/// `--metrics`): set the topology in the returned [`LocalTopology`].
///
/// # Errors
/// As [`start`].
pub fn gather_local(labels: &[(&str, &str)]) -> Result<LocalTopology> {
    start_unserved(labels)?;
    Ok(LocalTopology::default())
}

fn install(labels: &[(&str, &str)]) -> Result<&'static Exporter> {
    if EXPORTER.get().is_some() {
        return Err(Error::Metrics("already installed in this process".into()));
    }
    let mut builder = PrometheusBuilder::new();
    for (k, v) in labels {
        builder = builder.add_global_label(*k, *v);
    }
    let handle = builder
        .set_buckets_for_metric(Matcher::Suffix("latency_seconds".into()), LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("squall_checkpoint_duration_seconds".into()),
                CHECKPOINT_BUCKETS,
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("squall_checkpoint_alignment_seconds".into()),
                LATENCY_BUCKETS,
            )
        })
        .map_err(|e| Error::Metrics(e.to_string()))?
        .install_recorder()
        .map_err(|e| Error::Metrics(e.to_string()))?;
    let process = metrics_process::Collector::default();
    process.describe();
    describe();
    let exporter =
        Exporter { handle, publishers: Mutex::new(Vec::new()), process, address: OnceLock::new() };
    Ok(EXPORTER.get_or_init(|| exporter))
}

/// Publishes a running topology's counters through this process's
/// exporter from now on, instead of those of an earlier attempt of the same
/// topology; nothing when no exporter is installed.
pub fn watch(handle: &MetricsHandle) {
    if let Some(e) = EXPORTER.get() {
        let mut publishers = e.publishers.lock().unwrap_or_else(|p| p.into_inner());
        publishers.retain(|p| p.topology() != handle.topology());
        publishers.push(handle.publisher());
    }
}

/// Gathers everything now (the thread does every [`GATHER_EVERY`]): the
/// watched topologies' counters, the process's RSS and CPU; then the
/// exporter's upkeep (histogram samples into buckets).
pub fn gather() {
    let Some(e) = EXPORTER.get() else { return };
    for p in e.publishers.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
        p.publish();
    }
    e.process.collect();
    e.handle.run_upkeep();
}

/// The exposition with the process's RSS and CPU gathered now (not the
/// topologies' counters): what the web UI reads back
/// ([`crate::protocol::metrics_read`]); `None` without an exporter.
pub(crate) fn render_process() -> Option<String> {
    let e = EXPORTER.get()?;
    e.process.collect();
    Some(e.handle.render())
}

/// The address this process serves `/metrics` on, once [`start`]ed.
pub fn address() -> Option<SocketAddr> {
    EXPORTER.get().and_then(|e| e.address.get().copied())
}

/// `GET /metrics`.
fn routes() -> Router {
    Router::new().route("/metrics", get(serve_render))
}

/// The exposition `/metrics` serves, gathered now; `None` before
/// [`start`].
pub fn render() -> Option<String> {
    let e = EXPORTER.get()?;
    gather();
    Some(e.handle.render())
}

async fn serve_render() -> Response {
    match render() {
        Some(text) => {
            let content = [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")];
            (content, text).into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "no metrics exporter").into_response(),
    }
}

/// The topology of a local run, set once it is submitted (the exporter is
/// installed before, so that metrics registered in `open`/`prepare` are
/// exported).
#[derive(Debug, Clone, Default)]
pub struct LocalTopology(Arc<OnceLock<MetricsHandle>>);

impl LocalTopology {
    /// Serves `handle`'s topology from now on, and publishes its counters.
    pub fn set(&self, handle: MetricsHandle) {
        watch(&handle);
        let _ = self.0.set(handle);
    }
}

/// The routes of a local run (`squall run --metrics`): `GET
/// /api/v1/topologies/{name}/metrics`, shaped as nimbus's, for the
/// topology set in `topology` (404 for another name, 503 before it is set).
pub fn local_routes(topology: LocalTopology) -> Router {
    let started = std::time::Instant::now();
    let state = Arc::new((topology, started));
    Router::new().route("/api/v1/topologies/{name}/metrics", get(local_metrics)).with_state(state)
}

async fn local_metrics(
    State(state): State<Arc<(LocalTopology, std::time::Instant)>>,
    Path(name): Path<String>,
) -> Response {
    let error = |code: StatusCode, error: String| {
        (code, Json(crate::protocol::rest::ErrorBody { error })).into_response()
    };
    let Some(handle) = state.0 .0.get() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the topology has not started yet".into());
    };
    if name != handle.topology() {
        return error(StatusCode::NOT_FOUND, format!("no topology '{name}' runs here"));
    }
    let report = Reporter::new(Shape::default(), handle).report(true);
    let status = local_status(name, TopologyState::Running, None);
    Json(TopologyMetrics::of(status, true, &[report])).into_response()
}

/// HELP lines and units of the runtime's families (`squall::runtime::Publisher`
/// and the checkpoint coordinator record them).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "squall_emitted_total",
        Unit::Count,
        "Tuples emitted by the task (before fan-out)."
    );
    describe_counter!("squall_executed_total", Unit::Count, "Tuples executed by the task (bolts).");
    describe_counter!(
        "squall_acked_total",
        Unit::Count,
        "With tracking: spout trees or bolt inputs acked."
    );
    describe_counter!(
        "squall_failed_total",
        Unit::Count,
        "With tracking: spout trees or bolt inputs failed."
    );
    describe_counter!(
        "squall_replayed_total",
        Unit::Count,
        "With tracking: spout tuples emitted again after a fail or timeout."
    );
    describe_counter!(
        "squall_timed_out_total",
        Unit::Count,
        "With tracking: spout trees not complete within message_timeout_ms."
    );
    describe_counter!(
        "squall_restarts_total",
        Unit::Count,
        "Restarts of the task after a failure (at_least_once)."
    );
    describe_counter!(
        "squall_error_records_total",
        Unit::Count,
        "Records the task sent to an error stream."
    );
    describe_counter!(
        "squall_backpressure_milliseconds_total",
        Unit::Milliseconds,
        "Time the task was blocked on full output channels."
    );
    describe_gauge!("squall_backpressure_ratio", "Share of the last gathering interval the task was blocked on full output channels (0 to 1).");
    describe_gauge!(
        "squall_input_queue_fill_ratio",
        "Batches queued on the task's input channels over their capacity (0 to 1)."
    );
    describe_gauge!(
        "squall_input_queue_batches",
        Unit::Count,
        "Batches queued on the task's input channels."
    );
    describe_gauge!(
        "squall_watermark_milliseconds",
        Unit::Milliseconds,
        "The task's event time (watermark), ms since the Unix epoch."
    );
    describe_gauge!(
        "squall_watermark_lag_seconds",
        Unit::Seconds,
        "Wall clock minus the task's watermark."
    );
    describe_histogram!(
        "squall_execute_latency_seconds",
        Unit::Seconds,
        "Time in the bolt per tuple, of sampled batches."
    );
    describe_histogram!(
        "squall_complete_latency_seconds",
        Unit::Seconds,
        "From a spout tuple's emit to its tree being acked (tracking), sampled."
    );
    describe_counter!(
        "squall_topology_restarts_total",
        Unit::Count,
        "Restarts of the topology from its last completed checkpoint."
    );
    describe_counter!(
        "squall_checkpoints_total",
        Unit::Count,
        "Checkpoints completed or failed (aborted, not recorded), by status."
    );
    describe_histogram!(
        "squall_checkpoint_duration_seconds",
        Unit::Seconds,
        "From a checkpoint's trigger to the last task's acknowledgement."
    );
    describe_histogram!(
        "squall_checkpoint_alignment_seconds",
        Unit::Seconds,
        "A checkpoint's longest barrier alignment: from a task's first input barrier to its last."
    );
    describe_gauge!(
        "squall_checkpoint_last_alignment_seconds",
        Unit::Seconds,
        "The longest barrier alignment of the last completed checkpoint."
    );
    describe_gauge!("squall_checkpoint_last_id", "Id of the last completed checkpoint.");
    describe_gauge!(
        "squall_checkpoint_last_duration_seconds",
        Unit::Seconds,
        "Duration of the last completed checkpoint."
    );
    describe_gauge!(
        "squall_checkpoint_last_size_bytes",
        Unit::Bytes,
        "State size of the last completed checkpoint."
    );
    describe_gauge!(
        "squall_checkpoint_last_uploaded_bytes",
        Unit::Bytes,
        "Bytes the last completed checkpoint wrote."
    );
    describe_gauge!("squall_supervisor_slots", Unit::Count, "Worker slots the supervisor offers.");
    describe_gauge!("squall_supervisor_slots_used", Unit::Count, "Worker slots running a worker.");
    describe_counter!(
        "squall_supervisor_worker_restarts_total",
        Unit::Count,
        "Worker processes started again after dying."
    );
}
