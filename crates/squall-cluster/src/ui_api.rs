//! The JSON routes the web UI reads ([`crate::ui`] serves its pages), in
//! the spirit of Storm UI's REST API and Flink's dashboard API, over two
//! backends: a cluster (nimbus reads what workers publish in etcd,
//! [`crate::ui_cluster`]) and a topology in this process (`squall run
//! --ui`, [`crate::ui_local`]). Same routes, same answers, same pages.
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
//! TOKEN` ([`crate::auth::guard`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use squall::runtime::{CheckpointRecord, LatencyQuantiles, TaskError, TaskStats, TopologyGraph};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::api::ErrorBody;
use crate::control::now_ms;
use crate::nimbus::NimbusError;
use crate::store::TopologyStatus;
use crate::ui_openapi::BearerAuth;

/// How often the background task samples every live topology.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Samples kept per topology (10 minutes).
pub const SAMPLES_KEPT: usize = 600;
/// Rates are over about this much time (ms).
pub const RATE_WINDOW_MS: u64 = 5_000;

/// `GET /api/v1/health`: answered without a token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// `leader`, `standby` (it redirects to the leader) or `local`
    /// (`squall run --ui`).
    pub role: String,
    /// The leading nimbus's URL, when known.
    pub leader: Option<String>,
}

/// A nimbus daemon in the election.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NimbusInfo {
    /// Its API URL.
    pub url: String,
    /// Whether it leads.
    pub leader: bool,
}

/// A live supervisor and the use of its slots.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SupervisorView {
    /// Its id.
    pub id: String,
    /// Worker slots it offers.
    pub slots: usize,
    /// Slots running a worker.
    pub used: usize,
    /// Slots free.
    pub free: usize,
    /// Whether it serves its workers' logs.
    pub serves_logs: bool,
}

/// One topology in the overview.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TopologySummary {
    /// Its name.
    pub name: String,
    /// `pending`, `assigned`, `running`, `rebalancing`, `finished`,
    /// `failed` or `killed`.
    pub state: String,
    /// Whether its spouts are switched on (deactivate/activate).
    pub active: bool,
    /// The assignment's epoch (raised at each move or restart).
    pub epoch: u64,
    /// Seconds since its current workers started.
    pub uptime_s: Option<u64>,
    /// Worker processes running it.
    pub workers: usize,
    /// Tasks over all components.
    pub tasks: usize,
    /// Worker restarts.
    pub restarts: u32,
    /// Why it failed, or what happened last.
    pub message: Option<String>,
    /// Tuples its spouts emitted.
    pub emitted: u64,
    /// Tuples its spouts emitted per second, lately.
    pub emitted_rate: f64,
}

/// `GET /api/v1/cluster`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClusterOverview {
    /// `cluster` (nimbus) or `local` (`squall run --ui`).
    pub mode: String,
    /// The server's clock (ms since the Unix epoch).
    pub now_ms: u64,
    /// Nimbus daemons, the leader first (none in local mode).
    pub nimbuses: Vec<NimbusInfo>,
    /// Live supervisors (none in local mode).
    pub supervisors: Vec<SupervisorView>,
    /// Topologies, by name.
    pub topologies: Vec<TopologySummary>,
}

/// A worker process of a topology.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkerInfo {
    /// `{supervisor}-{slot}` (`local` in local mode).
    pub id: String,
    /// Its supervisor.
    pub supervisor: Option<String>,
    /// Its slot.
    pub slot: Option<usize>,
    /// Its process id.
    pub pid: Option<u32>,
    /// The global task ids it runs.
    pub tasks: Vec<usize>,
    /// When it last reported (ms since the Unix epoch).
    pub at_ms: u64,
}

/// One component with its totals and rates.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComponentView {
    /// Component id.
    pub id: String,
    /// `spout` or `bolt`.
    pub kind: String,
    /// Number of tasks.
    pub parallelism: usize,
    /// Tuples emitted.
    pub emitted: u64,
    /// Tuples executed.
    pub executed: u64,
    /// Acked (with tracking).
    pub acked: u64,
    /// Failed (with tracking).
    pub failed: u64,
    /// Timed out (spouts, with tracking).
    pub timed_out: u64,
    /// Replayed (spouts, with tracking).
    pub replayed: u64,
    /// Task restarts.
    pub restarts: u64,
    /// Time blocked on full output channels, summed over tasks (ms).
    pub backpressure_ms: u64,
    /// Emitted per second.
    pub emitted_rate: f64,
    /// Executed per second.
    pub executed_rate: f64,
    /// Acked per second.
    pub acked_rate: f64,
    /// Failed per second.
    pub failed_rate: f64,
    /// Share of the last seconds its tasks spent blocked on full output
    /// channels (0 to 1, the average over tasks): backpressure.
    pub backpressure: f64,
    /// The lowest output watermark of its tasks (event time ms); absent
    /// without event time.
    pub watermark_ms: Option<i64>,
    /// How far that watermark is behind the wall clock (ms).
    pub watermark_lag_ms: Option<i64>,
    /// Complete latency (spouts with tracking) over the last seconds: the
    /// highest of its tasks' quantiles.
    pub complete_latency: Option<LatencyQuantiles>,
    /// Its newest error.
    pub last_error: Option<ComponentError>,
}

/// An error of a task.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComponentError {
    /// Component id.
    pub component: String,
    /// Global task id.
    pub task: usize,
    /// The worker running the task.
    pub worker: Option<String>,
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
    /// The error.
    pub message: String,
}

/// `GET /api/v1/topologies/{name}/view`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TopologyView {
    /// Its name.
    pub name: String,
    /// Its state (as in [`TopologySummary`]).
    pub state: String,
    /// Whether its spouts are switched on.
    pub active: bool,
    /// Whether every worker has applied the switch.
    pub applied: bool,
    /// The assignment's epoch.
    pub epoch: u64,
    /// Seconds since its current workers started.
    pub uptime_s: Option<u64>,
    /// Why it failed, or what happened last.
    pub message: Option<String>,
    /// `at_most_once`, `at_least_once` or `exactly_once`.
    pub guarantee: String,
    /// Checkpoint interval (ms); 0 without checkpoints.
    pub checkpoint_interval_ms: u64,
    /// The server's clock (ms since the Unix epoch).
    pub now_ms: u64,
    /// The logical graph.
    pub graph: TopologyGraph,
    /// Per component, producers first.
    pub components: Vec<ComponentView>,
    /// Its workers.
    pub workers: Vec<WorkerInfo>,
    /// Checkpoints, newest first.
    pub checkpoints: Vec<CheckpointRecord>,
    /// The last errors of every task, newest first.
    pub errors: Vec<ComponentError>,
}

/// One task with its counts and rates.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskRow {
    /// Its counters, watermark, latency and errors.
    #[serde(flatten)]
    pub stats: TaskStats,
    /// The worker running it.
    pub worker: Option<String>,
    /// Emitted per second.
    pub emitted_rate: f64,
    /// Executed per second.
    pub executed_rate: f64,
    /// Share of the last seconds blocked on full output channels.
    pub backpressure: f64,
}

/// `GET /api/v1/topologies/{name}/components/{component}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComponentDetail {
    /// The topology.
    pub topology: String,
    /// The topology's state.
    pub state: String,
    /// The component's totals.
    pub component: ComponentView,
    /// Its inputs and outputs.
    pub edges: Vec<squall::runtime::GraphEdge>,
    /// One row per task.
    pub tasks: Vec<TaskRow>,
}

/// One component's series in [`History`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComponentSeries {
    /// Component id.
    pub id: String,
    /// Emitted per second at each point.
    pub emitted: Vec<f64>,
    /// Executed per second.
    pub executed: Vec<f64>,
    /// Acked per second.
    pub acked: Vec<f64>,
    /// Failed per second.
    pub failed: Vec<f64>,
    /// Complete latency p50 (ms), when measured.
    pub latency_p50_ms: Vec<Option<f64>>,
    /// Complete latency p99 (ms), when measured.
    pub latency_p99_ms: Vec<Option<f64>>,
}

/// `GET /api/v1/topologies/{name}/history`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct History {
    /// The points' times (ms since the Unix epoch).
    pub t_ms: Vec<u64>,
    /// Per component.
    pub components: Vec<ComponentSeries>,
}

/// `GET /api/v1/topologies/{name}/workers/{worker}/log`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogTail {
    /// The topology.
    pub topology: String,
    /// The worker.
    pub worker: String,
    /// The log file, on the supervisor's host.
    pub path: String,
    /// Its last lines.
    pub text: String,
}

/// Query of the history route.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Seconds of history (default 300, at most 600).
    pub seconds: Option<u64>,
}

/// Query of the log route.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Lines from the end (default 200, at most 5000).
    pub lines: Option<usize>,
}

/// Everything a backend knows of one topology at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Its status (state, epoch, message).
    pub status: TopologyStatus,
    /// The spouts' switch.
    pub active: bool,
    /// Whether every worker applied it.
    pub applied: bool,
    /// The logical graph.
    pub graph: TopologyGraph,
    /// The guarantee's YAML name.
    pub guarantee: String,
    /// Checkpoint interval (ms), 0 without.
    pub checkpoint_interval_ms: u64,
    /// When its current workers started (ms since the Unix epoch).
    pub started_ms: Option<u64>,
    /// Its workers.
    pub workers: Vec<WorkerInfo>,
    /// Every task, by global id, with the worker running it.
    pub tasks: Vec<(TaskStats, Option<String>)>,
    /// Checkpoints, oldest first.
    pub checkpoints: Vec<CheckpointRecord>,
}

/// Where the routes read from.
#[derive(Clone)]
pub enum Backend {
    /// A cluster, through etcd.
    Cluster(Box<crate::ui_cluster::ClusterBackend>),
    /// A topology in this process.
    Local(Arc<crate::ui_local::LocalBackend>),
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

#[derive(Debug, Clone)]
struct Sample {
    at_ms: u64,
    tasks: Vec<TaskStats>,
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
            let tasks = snapshot.tasks.into_iter().map(|(t, _)| t).collect();
            self.push(&name, Sample { at_ms: now_ms(), tasks });
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

pub(crate) fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(ErrorBody { error: message.into() })).into_response()
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
pub fn health_route<S: Clone + Send + Sync + 'static>(role: crate::ui::Role) -> Router<S> {
    Router::new().route("/api/v1/health", get(move || health(role.clone())))
}

#[utoipa::path(get, path = "/api/v1/health", tag = "ui", security(),
    responses((status = 200, body = Health)))]
async fn health(role: crate::ui::Role) -> Json<Health> {
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
        let spouts: Vec<&str> = s
            .graph
            .components
            .iter()
            .filter(|c| c.kind == "spout")
            .map(|c| c.id.as_str())
            .collect();
        let is_spout = |t: &TaskStats| spouts.contains(&t.component.as_str());
        let emitted: u64 =
            s.tasks.iter().map(|(t, _)| t).filter(|t| is_spout(t)).map(|t| t.emitted).sum();
        let before = state.sample_before(&name, now);
        let emitted_rate = before.map_or(0.0, |b| {
            let was: u64 = b.tasks.iter().filter(|t| is_spout(t)).map(|t| t.emitted).sum();
            rate(was, emitted, b.at_ms, now)
        });
        let over = s.status.state.is_over();
        topologies.push(TopologySummary {
            name: name.clone(),
            state: state_name(&s.status),
            active: s.active,
            epoch: s.status.epoch,
            uptime_s: s.started_ms.filter(|_| !over).map(|t| now.saturating_sub(t) / 1000),
            workers: s.workers.len(),
            tasks: s.tasks.len(),
            restarts: s.status.restarts,
            message: s.status.message.clone(),
            emitted,
            emitted_rate: if over { 0.0 } else { emitted_rate },
        });
    }
    Ok(Json(ClusterOverview { mode: mode.into(), now_ms: now, nimbuses, supervisors, topologies }))
}

fn state_name(status: &TopologyStatus) -> String {
    serde_json::to_value(status.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn rate(was: u64, is: u64, from_ms: u64, to_ms: u64) -> f64 {
    if to_ms <= from_ms {
        return 0.0;
    }
    is.saturating_sub(was) as f64 * 1000.0 / (to_ms - from_ms) as f64
}

/// Per task: (emitted/s, executed/s, acked/s, failed/s, backpressure share).
fn task_rates(now: &[TaskStats], now_ms: u64, before: Option<&Sample>) -> Vec<[f64; 5]> {
    now.iter()
        .map(|t| {
            let Some(b) = before else { return [0.0; 5] };
            let Some(p) = b.tasks.iter().find(|p| p.task == t.task && p.component == t.component)
            else {
                return [0.0; 5];
            };
            let span = now_ms.saturating_sub(b.at_ms);
            let bp = match span {
                0 => 0.0,
                s => {
                    (t.backpressure_ms.saturating_sub(p.backpressure_ms) as f64 / s as f64).min(1.0)
                }
            };
            [
                rate(p.emitted, t.emitted, b.at_ms, now_ms),
                rate(p.executed, t.executed, b.at_ms, now_ms),
                rate(p.acked, t.acked, b.at_ms, now_ms),
                rate(p.failed, t.failed, b.at_ms, now_ms),
                bp,
            ]
        })
        .collect()
}

fn component_view(
    node: &squall::runtime::GraphNode,
    tasks: &[(&TaskStats, Option<&String>, [f64; 5])],
    now: u64,
    live: bool,
) -> ComponentView {
    let mine: Vec<_> = tasks.iter().filter(|(t, _, _)| t.component == node.id).collect();
    let sum = |f: fn(&TaskStats) -> u64| mine.iter().map(|(t, _, _)| f(t)).sum::<u64>();
    let rsum = |i: usize| if live { mine.iter().map(|(_, _, r)| r[i]).sum::<f64>() } else { 0.0 };
    let watermark = mine.iter().filter_map(|(t, _, _)| t.watermark_ms).min();
    let latency = mine.iter().filter_map(|(t, _, _)| t.complete_latency).fold(
        None,
        |acc: Option<LatencyQuantiles>, l| {
            Some(match acc {
                None => l,
                Some(a) => LatencyQuantiles {
                    count: a.count + l.count,
                    p50_us: a.p50_us.max(l.p50_us),
                    p99_us: a.p99_us.max(l.p99_us),
                    p999_us: a.p999_us.max(l.p999_us),
                    max_us: a.max_us.max(l.max_us),
                },
            })
        },
    );
    let last_error = mine
        .iter()
        .flat_map(|(t, w, _)| t.errors.iter().map(move |e| error_of(t, *w, e)))
        .max_by_key(|e| e.at_ms);
    ComponentView {
        id: node.id.clone(),
        kind: node.kind.clone(),
        parallelism: if mine.is_empty() { node.parallelism } else { mine.len() },
        emitted: sum(|t| t.emitted),
        executed: sum(|t| t.executed),
        acked: sum(|t| t.acked),
        failed: sum(|t| t.failed),
        timed_out: sum(|t| t.timed_out),
        replayed: sum(|t| t.replayed),
        restarts: sum(|t| t.restarts),
        backpressure_ms: sum(|t| t.backpressure_ms),
        emitted_rate: rsum(0),
        executed_rate: rsum(1),
        acked_rate: rsum(2),
        failed_rate: rsum(3),
        backpressure: if mine.is_empty() || !live { 0.0 } else { rsum(4) / mine.len() as f64 },
        watermark_ms: watermark,
        watermark_lag_ms: watermark.filter(|w| *w < i64::MAX / 2).map(|w| now as i64 - w),
        complete_latency: latency,
        last_error,
    }
}

fn error_of(t: &TaskStats, worker: Option<&String>, e: &TaskError) -> ComponentError {
    ComponentError {
        component: t.component.clone(),
        task: t.task,
        worker: worker.cloned(),
        at_ms: e.at_ms,
        message: e.message.clone(),
    }
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
    let stats: Vec<TaskStats> = s.tasks.iter().map(|(t, _)| t.clone()).collect();
    let before = state.sample_before(&name, now);
    let rates = task_rates(&stats, now, before.as_ref());
    let rows: Vec<_> = s.tasks.iter().zip(rates).map(|((t, w), r)| (t, w.as_ref(), r)).collect();
    let live = !s.status.state.is_over();
    let components =
        s.graph.components.iter().map(|n| component_view(n, &rows, now, live)).collect();
    let mut errors: Vec<ComponentError> = rows
        .iter()
        .flat_map(|(t, w, _)| t.errors.iter().map(move |e| error_of(t, *w, e)))
        .collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
    errors.truncate(50);
    let mut checkpoints = s.checkpoints.clone();
    checkpoints.reverse();
    Ok(Json(TopologyView {
        name: s.status.name.clone(),
        state: state_name(&s.status),
        active: s.active,
        applied: s.applied,
        epoch: s.status.epoch,
        uptime_s: s.started_ms.filter(|_| live).map(|t| now.saturating_sub(t) / 1000),
        message: s.status.message.clone(),
        guarantee: s.guarantee.clone(),
        checkpoint_interval_ms: s.checkpoint_interval_ms,
        now_ms: now,
        graph: s.graph.clone(),
        components,
        workers: s.workers.clone(),
        checkpoints,
        errors,
    }))
}

#[utoipa::path(get, path = "/api/v1/topologies/{name}/components/{component}", tag = "ui",
    params(("name" = String, Path, description = "the topology"), ("component" = String, Path, description = "the component")),
    responses((status = 200, body = ComponentDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn component(
    State(state): State<Arc<UiState>>,
    Path((name, component)): Path<(String, String)>,
) -> Result<Json<ComponentDetail>, NimbusError> {
    let s = state.backend.snapshot(&name).await?;
    let Some(node) = s.graph.components.iter().find(|c| c.id == component) else {
        return Err(NimbusError::NotFound(format!("{name}/{component}")));
    };
    let now = now_ms();
    let stats: Vec<TaskStats> = s.tasks.iter().map(|(t, _)| t.clone()).collect();
    let before = state.sample_before(&name, now);
    let live = !s.status.state.is_over();
    let rates = task_rates(&stats, now, before.as_ref());
    let rows: Vec<_> = s.tasks.iter().zip(rates).map(|((t, w), r)| (t, w.as_ref(), r)).collect();
    let view = component_view(node, &rows, now, live);
    let tasks = rows
        .iter()
        .filter(|(t, _, _)| t.component == component)
        .map(|(t, w, r)| TaskRow {
            stats: (*t).clone(),
            worker: w.cloned(),
            emitted_rate: if live { r[0] } else { 0.0 },
            executed_rate: if live { r[1] } else { 0.0 },
            backpressure: if live { r[4] } else { 0.0 },
        })
        .collect();
    let edges = s
        .graph
        .edges
        .iter()
        .filter(|e| e.from == component || e.to == component)
        .cloned()
        .collect();
    Ok(Json(ComponentDetail {
        topology: name,
        state: state_name(&s.status),
        component: view,
        edges,
        tasks,
    }))
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
    let mut ids: Vec<String> = Vec::new();
    for t in samples.iter().flat_map(|s| &s.tasks) {
        if !ids.contains(&t.component) {
            ids.push(t.component.clone());
        }
    }
    let mut out = History { t_ms: Vec::new(), components: Vec::new() };
    let mut series: BTreeMap<&str, ComponentSeries> = BTreeMap::new();
    for pair in samples.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.at_ms < from {
            continue;
        }
        out.t_ms.push(b.at_ms);
        for id in &ids {
            let total = |s: &Sample, f: fn(&TaskStats) -> u64| {
                s.tasks.iter().filter(|t| &t.component == id).map(f).sum::<u64>()
            };
            let r = |f: fn(&TaskStats) -> u64| rate(total(a, f), total(b, f), a.at_ms, b.at_ms);
            let latency = b
                .tasks
                .iter()
                .filter(|t| &t.component == id)
                .filter_map(|t| t.complete_latency)
                .fold(None, |acc: Option<(u64, u64)>, l| {
                    Some(acc.map_or((l.p50_us, l.p99_us), |(p50, p99)| {
                        (p50.max(l.p50_us), p99.max(l.p99_us))
                    }))
                });
            let e = series.entry(id.as_str()).or_insert_with(|| ComponentSeries {
                id: id.clone(),
                emitted: Vec::new(),
                executed: Vec::new(),
                acked: Vec::new(),
                failed: Vec::new(),
                latency_p50_ms: Vec::new(),
                latency_p99_ms: Vec::new(),
            });
            e.emitted.push(r(|t| t.emitted));
            e.executed.push(r(|t| t.executed));
            e.acked.push(r(|t| t.acked));
            e.failed.push(r(|t| t.failed));
            e.latency_p50_ms.push(latency.map(|(p50, _)| p50 as f64 / 1000.0));
            e.latency_p99_ms.push(latency.map(|(_, p99)| p99 as f64 / 1000.0));
        }
    }
    out.components = ids.iter().filter_map(|id| series.remove(id.as_str())).collect();
    Ok(Json(out))
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
/// of [`crate::api`] and [`crate::control_api`] ([`crate::ui_openapi`]).
#[derive(OpenApi)]
#[openapi(
    info(title = "Squall REST API", description = "Nimbus's REST API (and `squall run --ui`'s). Every route but /api/v1/health needs `Authorization: Bearer TOKEN`: the full `api_token`, or the read-only `api_read_token` for GETs outside /drpc (403 otherwise)."),
    paths(health, cluster, view, component, history, log, openapi,
        crate::ui_openapi::list, crate::ui_openapi::submit, crate::ui_openapi::status,
        crate::ui_openapi::kill, crate::ui_openapi::supervisors, crate::ui_openapi::activate,
        crate::ui_openapi::deactivate, crate::ui_openapi::rebalance, crate::ui_openapi::metrics,
        crate::ui_openapi::savepoint, crate::ui_openapi::upload_binary,
        crate::ui_openapi::submit_binary, crate::ui_openapi::query, crate::ui_openapi::drpc_execute,
        crate::ui_openapi::drpc_requests, crate::ui_openapi::drpc_result, crate::ui_openapi::drpc_failure,
        crate::ui_openapi::metrics_targets),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;

    fn task(component: &str, task: usize, emitted: u64, backpressure_ms: u64) -> TaskStats {
        TaskStats {
            component: component.into(),
            task,
            emitted,
            executed: 0,
            acked: 0,
            failed: 0,
            timed_out: 0,
            replayed: 0,
            restarts: 0,
            backpressure_ms,
            watermark_ms: None,
            complete_latency: None,
            errors: Vec::new(),
        }
    }

    #[test]
    fn rates_and_backpressure_over_the_window() {
        assert_eq!(rate(100, 600, 1_000, 6_000), 100.0);
        assert_eq!(rate(600, 100, 1_000, 6_000), 0.0, "a restart's counts start again");
        assert_eq!(rate(0, 10, 5_000, 5_000), 0.0);
        let before = Sample { at_ms: 1_000, tasks: vec![task("a", 0, 0, 0), task("a", 1, 0, 0)] };
        let now = [task("a", 0, 5_000, 2_500), task("a", 1, 1_000, 0)];
        let r = task_rates(&now, 6_000, Some(&before));
        assert_eq!(r[0][0], 1000.0);
        assert_eq!(r[0][4], 0.5, "blocked half of the 5 s");
        assert_eq!(r[1][0], 200.0);
        assert_eq!(task_rates(&now, 6_000, None)[0], [0.0; 5]);
    }
}
