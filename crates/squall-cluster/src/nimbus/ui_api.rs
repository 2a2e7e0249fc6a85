//! The JSON routes the web UI reads ([`crate::nimbus::ui`] serves its pages), in
//! the spirit of Storm UI's REST API and Flink's dashboard API, over two
//! backends: a cluster (nimbus reads what workers publish in etcd,
//! [`crate::nimbus::ui_cluster`]) and a topology in this process (`squall run
//! --ui`, [`crate::nimbus::ui_local`]). Same routes, same answers, same pages.
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /api/v1/health` (no token) | [`Health`] |
//! | `GET /api/v1/cluster` | [`ClusterOverview`]: nimbuses, supervisors with slots, topologies |
//! | `GET /api/v1/topologies/{name}/view` | [`TopologyView`]: graph, components with counts, rates, latency, watermarks, backpressure; checkpoints; last errors; workers |
//! | `GET /api/v1/topologies/{name}/components/{component}` | [`ComponentDetail`]: one row per task |
//! | `GET /api/v1/topologies/{name}/history?seconds=S` | [`History`]: rates and latency per component, one point a second, the last S seconds (at most 600) |
//! | `GET /api/v1/topologies/{name}/workers/{worker}/log?lines=N` | [`LogTail`]: the end of a worker's log, through its supervisor |
//! | `GET /api/openapi.json` | this API as OpenAPI 3.1 ([`ApiDoc`]) |
//!
//! Rates are per second over the last [`RATE_WINDOW_MS`], from samples a
//! background task takes every [`SAMPLE_EVERY`]; counts are as of the
//! request. Every route but the health check needs `Authorization: Bearer
//! TOKEN` ([`crate::protocol::auth::guard`]). The answers' shapes are in
//! [`crate::nimbus::ui_types`], how they are computed in [`crate::nimbus::ui_views`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use squall::runtime::{CheckpointRecord, TaskStats};
use utoipa::OpenApi;

use crate::nimbus::control::now_ms;
use crate::nimbus::ui_openapi::BearerAuth;
pub use crate::nimbus::ui_types::*;
use crate::nimbus::ui_views::{self, Sample};
use crate::nimbus::NimbusError;
use crate::protocol::records::{applied, tasks_of, Shape, WorkerReport};
use crate::protocol::rest::ErrorBody;
use crate::protocol::store::TopologyStatus;

/// How often the background task samples every live topology.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Samples kept per topology (10 minutes).
pub const SAMPLES_KEPT: usize = 600;
/// Rates are over about this much time (ms).
pub const RATE_WINDOW_MS: u64 = 5_000;

/// Everything a backend knows of one topology at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Its status (state, epoch, message).
    pub status: TopologyStatus,
    /// The spouts' switch.
    pub active: bool,
    /// Whether every worker applied it.
    pub applied: bool,
    /// The logical graph, guarantee and checkpoint interval.
    pub shape: Shape,
    /// When its current workers started (ms since the Unix epoch).
    pub started_ms: Option<u64>,
    /// Its workers.
    pub workers: Vec<WorkerInfo>,
    /// Every task, by global id, with the worker running it.
    pub tasks: Vec<TaskStats>,
    /// Checkpoints, oldest first.
    pub checkpoints: Vec<CheckpointRecord>,
    /// The metrics its components registered.
    pub user_metrics: Vec<UserMetric>,
}

impl Snapshot {
    /// The topology as one epoch's `reports` (by worker) have it, with its
    /// switch `active`; of the shape `shape` (the first report's, if any).
    pub(crate) fn of(
        status: TopologyStatus,
        active: bool,
        reports: &[WorkerReport],
        shape: Shape,
    ) -> Snapshot {
        let mut checkpoints: Vec<CheckpointRecord> =
            reports.iter().flat_map(|r| r.history.iter().cloned()).collect();
        checkpoints.sort_by_key(|c| c.id);
        let workers = reports
            .iter()
            .map(|r| WorkerInfo {
                id: r.worker.clone(),
                supervisor: r.supervisor.clone(),
                slot: r.slot,
                pid: Some(r.pid),
                tasks: r.assigned.clone(),
                at_ms: r.at_ms,
                process: r.process,
            })
            .collect();
        Snapshot {
            status,
            active,
            applied: applied(reports, active),
            shape,
            started_ms: reports.iter().map(|r| r.started_ms).min(),
            workers,
            tasks: tasks_of(reports),
            checkpoints,
            user_metrics: reports.iter().flat_map(|r| r.user_metrics.iter().cloned()).collect(),
        }
    }
}

/// Where the routes read from.
#[derive(Clone)]
pub enum Backend {
    /// A cluster, through etcd.
    Cluster(Box<crate::nimbus::ui_cluster::ClusterBackend>),
    /// A topology in this process.
    Local(Arc<crate::nimbus::ui_local::LocalBackend>),
}

impl Backend {
    async fn names(&self) -> Result<Vec<(String, bool)>, NimbusError> {
        match self {
            Backend::Cluster(c) => c.live_names().await,
            Backend::Local(l) => Ok(vec![(l.name().to_string(), !l.is_over())]),
        }
    }

    async fn snapshot(&self, name: &str) -> Result<Snapshot, NimbusError> {
        match self {
            Backend::Cluster(c) => c.snapshot(name).await,
            Backend::Local(l) => l.snapshot(name),
        }
    }
}

/// The routes' state: the backend and the samples of each topology.
pub struct UiState {
    pub(crate) backend: Backend,
    samples: Mutex<HashMap<String, VecDeque<Sample>>>,
    token: String,
}

impl UiState {
    /// The state over `backend`, its routes guarded by `token`; starts
    /// the sampling task (on the current tokio runtime), which ends when
    /// the state is dropped.
    pub fn start(backend: Backend, token: String) -> Arc<UiState> {
        let state = Arc::new(UiState { backend, samples: Mutex::new(HashMap::new()), token });
        let weak = Arc::downgrade(&state);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(state) = weak.upgrade() else { return };
                state.sample().await;
            }
        });
        state
    }

    /// The bearer token the routes need.
    pub fn token(&self) -> &str {
        &self.token
    }

    async fn sample(&self) {
        let names = match self.backend.names().await {
            Ok(names) => names,
            Err(e) => return tracing::debug!(error = %e, "UI: cannot list topologies"),
        };
        for (name, live) in names {
            let known = self.samples.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&name);
            if !live && known {
                continue; // over: its last samples stay
            }
            let Ok(snapshot) = self.backend.snapshot(&name).await else { continue };
            self.push(&name, Sample { at_ms: now_ms(), tasks: snapshot.tasks });
        }
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let stale = now_ms().saturating_sub(SAMPLES_KEPT as u64 * SAMPLE_EVERY.as_millis() as u64);
        samples.retain(|_, s| s.back().is_some_and(|last| last.at_ms >= stale));
    }

    fn push(&self, name: &str, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let kept = samples.entry(name.to_string()).or_default();
        if kept.len() == SAMPLES_KEPT {
            kept.pop_front();
        }
        kept.push_back(sample);
    }

    /// The sample about [`RATE_WINDOW_MS`] before `at_ms`, if any.
    fn sample_before(&self, name: &str, at_ms: u64) -> Option<Sample> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let kept = samples.get(name)?;
        let target = at_ms.saturating_sub(RATE_WINDOW_MS);
        kept.iter()
            .rev()
            .find(|s| s.at_ms <= target)
            .or_else(|| kept.front().filter(|s| s.at_ms + 500 <= at_ms))
            .cloned()
    }
}

/// The UI's read routes (not guarded: the caller adds the token layer).
pub fn routes<S: Clone + Send + Sync + 'static>(state: Arc<UiState>) -> Router<S> {
    Router::new()
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/topologies/{name}/view", get(view))
        .route("/api/v1/topologies/{name}/components/{component}", get(component))
        .route("/api/v1/topologies/{name}/history", get(history))
        .route("/api/v1/topologies/{name}/workers/{worker}/log", get(log))
        .route("/api/openapi.json", get(openapi))
        .with_state(state)
}

/// The health route (no token).
pub fn health_route<S: Clone + Send + Sync + 'static>(role: crate::nimbus::ui::Role) -> Router<S> {
    Router::new().route("/api/v1/health", get(move || health(role.clone())))
}

#[utoipa::path(get, path = "/api/v1/health", tag = "ui", security(),
    responses((status = 200, body = Health)))]
async fn health(role: crate::nimbus::ui::Role) -> Json<Health> {
    let (role, leader) = role.describe().await;
    Json(Health { status: "ok".into(), role, leader })
}

#[utoipa::path(get, path = "/api/v1/cluster", tag = "ui",
    responses((status = 200, body = ClusterOverview), (status = 401, body = ErrorBody)))]
async fn cluster(State(state): State<Arc<UiState>>) -> Result<Json<ClusterOverview>, NimbusError> {
    let (mode, nimbuses, supervisors) = match &state.backend {
        Backend::Cluster(c) => ("cluster", c.nimbuses().await?, c.supervisors().await?),
        Backend::Local(_) => ("local", Vec::new(), Vec::new()),
    };
    let mut topologies = Vec::new();
    let now = now_ms();
    for (name, _) in state.backend.names().await? {
        let Ok(s) = state.backend.snapshot(&name).await else { continue };
        topologies.push(ui_views::summary(&s, state.sample_before(&name, now).as_ref(), now));
    }
    Ok(Json(ClusterOverview { mode: mode.into(), now_ms: now, nimbuses, supervisors, topologies }))
}

#[utoipa::path(get, path = "/api/v1/topologies/{name}/view", tag = "ui",
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = TopologyView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn view(
    State(state): State<Arc<UiState>>,
    Path(name): Path<String>,
) -> Result<Json<TopologyView>, NimbusError> {
    let s = state.backend.snapshot(&name).await?;
    let now = now_ms();
    let before = state.sample_before(&name, now);
    Ok(Json(ui_views::topology_view(s, before.as_ref(), now)))
}

#[utoipa::path(get, path = "/api/v1/topologies/{name}/components/{component}", tag = "ui",
    params(("name" = String, Path, description = "the topology"), ("component" = String, Path, description = "the component")),
    responses((status = 200, body = ComponentDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn component(
    State(state): State<Arc<UiState>>,
    Path((name, component)): Path<(String, String)>,
) -> Result<Json<ComponentDetail>, NimbusError> {
    let s = state.backend.snapshot(&name).await?;
    let now = now_ms();
    let before = state.sample_before(&name, now);
    ui_views::component_detail(&s, &component, before.as_ref(), now)
        .map(Json)
        .ok_or_else(|| NimbusError::NotFound(format!("{name}/{component}")))
}

#[utoipa::path(get, path = "/api/v1/topologies/{name}/history", tag = "ui",
    params(("name" = String, Path, description = "the topology"), HistoryQuery),
    responses((status = 200, body = History), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn history(
    State(state): State<Arc<UiState>>,
    Path(name): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<History>, NimbusError> {
    let seconds = q.seconds.unwrap_or(300).min(SAMPLES_KEPT as u64);
    let samples: Vec<Sample> = {
        let all = state.samples.lock().unwrap_or_else(|e| e.into_inner());
        all.get(&name).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    };
    if samples.is_empty() {
        // Unknown, or not sampled yet: 404 only for the unknown.
        state.backend.snapshot(&name).await?;
    }
    let from = now_ms().saturating_sub(seconds * 1000);
    Ok(Json(ui_views::history(&samples, from)))
}

#[utoipa::path(get, path = "/api/v1/topologies/{name}/workers/{worker}/log", tag = "ui",
    params(("name" = String, Path, description = "the topology"), ("worker" = String, Path, description = "`{supervisor}-{slot}`, as in the view's workers"), LogQuery),
    responses((status = 200, body = LogTail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn log(
    State(state): State<Arc<UiState>>,
    Path((name, worker)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> Result<Json<LogTail>, NimbusError> {
    let lines = q.lines.unwrap_or(200).clamp(1, 5000);
    match &state.backend {
        Backend::Cluster(c) => c.log(&name, &worker, lines).await.map(Json),
        Backend::Local(_) => Err(NimbusError::NotFound(format!(
            "{name}/{worker}: in local mode the log is the terminal running `squall run`"
        ))),
    }
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "ui",
    responses((status = 200, description = "this document", content_type = "application/json"), (status = 401, body = ErrorBody)))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The REST API as OpenAPI: the UI's routes here and the control routes
/// of [`crate::nimbus::api`] and [`crate::nimbus::control_api`] ([`crate::nimbus::ui_openapi`]).
#[derive(OpenApi)]
#[openapi(
    info(title = "Squall REST API", description = "Nimbus's REST API (and `squall run --ui`'s). Every route but /api/v1/health needs `Authorization: Bearer TOKEN`: the full `api_token`, or the read-only `api_read_token` for GETs outside /drpc (403 otherwise)."),
    paths(health, cluster, view, component, history, log, openapi,
        crate::nimbus::ui_openapi::list, crate::nimbus::ui_openapi::submit, crate::nimbus::ui_openapi::status,
        crate::nimbus::ui_openapi::kill, crate::nimbus::ui_openapi::supervisors, crate::nimbus::ui_openapi::activate,
        crate::nimbus::ui_openapi::deactivate, crate::nimbus::ui_openapi::rebalance, crate::nimbus::ui_openapi::metrics,
        crate::nimbus::ui_openapi::savepoint, crate::nimbus::ui_openapi::upload_binary,
        crate::nimbus::ui_openapi::submit_binary, crate::nimbus::ui_openapi::query, crate::nimbus::ui_openapi::drpc_execute,
        crate::nimbus::ui_openapi::drpc_requests, crate::nimbus::ui_openapi::drpc_result, crate::nimbus::ui_openapi::drpc_failure,
        crate::nimbus::ui_openapi::metrics_targets),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;
