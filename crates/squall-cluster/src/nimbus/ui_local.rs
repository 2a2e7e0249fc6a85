//! The web UI of `squall run --ui`: one topology in this process
//! ([`crate::nimbus::ui_api::Backend::Local`]), read from its counters as a
//! cluster worker reports them ([`Reporter`]), and the action routes nimbus has, on the same paths
//! (activate, deactivate, kill with wait, savepoint; a rebalance is refused:
//! one process has no workers to spread over).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use squall::topology::Activation;
use squall::{RunningTopology, Topology};

use crate::nimbus::control_api::{KillQuery, SavepointBody, SavepointTaken};
use crate::nimbus::ui_api::Snapshot;
use crate::nimbus::NimbusError;
use crate::protocol::records::{local_status, Reporter, Shape};
use crate::protocol::store::{State as TopologyState, TopologyStatus};

/// A topology running in this process, as the UI sees it.
pub struct LocalBackend {
    name: String,
    reporter: Mutex<Reporter>,
    activation: Activation,
    running: Mutex<Option<Arc<RunningTopology>>>,
    /// How it ended, once it has.
    outcome: Mutex<Option<(TopologyState, Option<String>)>>,
    killing: AtomicBool,
}

impl LocalBackend {
    /// The UI's view of `running`, which runs `topology` with its spouts
    /// switched by `activation`. Call [`LocalBackend::release`] when it
    /// ends, before joining it.
    pub fn new(
        topology: &Topology,
        activation: Activation,
        running: Arc<RunningTopology>,
    ) -> Arc<Self> {
        Arc::new(LocalBackend {
            name: topology.name().to_string(),
            reporter: Mutex::new(Reporter::new(Shape::of(topology), &running.metrics_handle())),
            activation,
            running: Mutex::new(Some(running)),
            outcome: Mutex::new(None),
            killing: AtomicBool::new(false),
        })
    }

    /// The topology's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn running(&self) -> Option<Arc<RunningTopology>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether it has ended.
    pub fn is_over(&self) -> bool {
        self.outcome.lock().unwrap_or_else(|e| e.into_inner()).is_some()
            || self.running().is_none_or(|r| r.is_finished())
    }

    /// Whether it was killed from the UI.
    pub fn killed_from_ui(&self) -> bool {
        self.killing.load(Ordering::SeqCst)
    }

    /// The run ended: the UI lets go of the running topology (so that it
    /// can be joined). An action in progress (a savepoint) may still hold
    /// it for a moment.
    pub fn release(&self) -> Option<Arc<RunningTopology>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// How the run ended (`message` for a failure), once joined.
    pub fn set_outcome(&self, state: TopologyState, message: Option<String>) {
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some((state, message));
    }

    fn status(&self) -> TopologyStatus {
        let outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (state, message) = match outcome {
            Some(o) => o,
            None if self.killing.load(Ordering::SeqCst) && self.is_over() => {
                (TopologyState::Killed, None)
            }
            None => (TopologyState::Running, None),
        };
        local_status(self.name.clone(), state, message)
    }

    fn check(&self, name: &str) -> Result<(), NimbusError> {
        match name == self.name {
            true => Ok(()),
            false => {
                Err(NimbusError::NotFound(format!("{name} (this process runs '{}')", self.name)))
            }
        }
    }

    fn live(&self, name: &str) -> Result<Arc<RunningTopology>, NimbusError> {
        self.check(name)?;
        match self.running() {
            Some(r) if !r.is_finished() && !self.killing.load(Ordering::SeqCst) => Ok(r),
            _ => Err(NimbusError::BadTopology(format!("topology '{name}' is over"))),
        }
    }

    /// The topology now: this process's report ([`Reporter`]), merged as
    /// nimbus merges its workers'.
    pub(crate) fn snapshot(&self, name: &str) -> Result<Snapshot, NimbusError> {
        self.check(name)?;
        let mut reporter = self.reporter.lock().unwrap_or_else(|e| e.into_inner());
        let report = reporter.report(self.activation.is_active());
        let shape = report.shape.clone();
        Ok(Snapshot::of(self.status(), report.active, &[report], shape))
    }

    fn kill(&self) {
        self.killing.store(true, Ordering::SeqCst);
        if let Some(r) = self.running() {
            r.kill();
        }
    }
}

/// The action routes, on nimbus's paths (same bodies and answers).
pub(crate) fn action_routes<S: Clone + Send + Sync + 'static>(
    local: Arc<LocalBackend>,
) -> Router<S> {
    Router::new()
        .route("/api/v1/topologies", get(list))
        .route("/api/v1/topologies/{name}", get(status).delete(kill))
        .route(
            "/api/v1/supervisors",
            get(|| async { Json(Vec::<crate::protocol::store::SupervisorInfo>::new()) }),
        )
        .route("/api/v1/topologies/{name}/activate", post(switch::<true>))
        .route("/api/v1/topologies/{name}/deactivate", post(switch::<false>))
        .route("/api/v1/topologies/{name}/rebalance", post(rebalance))
        .route("/api/v1/topologies/{name}/savepoint", post(savepoint))
        .with_state(local)
}

type Local = State<Arc<LocalBackend>>;

async fn list(State(local): Local) -> Json<Vec<TopologyStatus>> {
    Json(vec![local.status()])
}

async fn status(
    State(local): Local,
    Path(name): Path<String>,
) -> Result<Json<TopologyStatus>, NimbusError> {
    local.check(&name)?;
    Ok(Json(local.status()))
}

/// `activate` (`ACTIVE`) or `deactivate`.
async fn switch<const ACTIVE: bool>(
    State(local): Local,
    Path(name): Path<String>,
) -> Result<Json<TopologyStatus>, NimbusError> {
    local.live(&name)?;
    local.activation.set_active(ACTIVE);
    crate::announce!("web UI: spouts {}", if ACTIVE { "activated" } else { "deactivated" });
    Ok(Json(local.status()))
}

async fn kill(
    State(local): Local,
    Path(name): Path<String>,
    Query(q): Query<KillQuery>,
) -> Result<Json<TopologyStatus>, NimbusError> {
    local.live(&name)?;
    if q.wait_s == 0 {
        crate::announce!("web UI: killing the topology");
        local.kill();
    } else {
        crate::announce!("web UI: spouts deactivated; killing the topology in {} s", q.wait_s);
        local.activation.set_active(false);
        let later = local.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(q.wait_s)).await;
            later.kill();
        });
    }
    Ok(Json(local.status()))
}

async fn rebalance(
    State(local): Local,
    Path(name): Path<String>,
) -> Result<Json<TopologyStatus>, NimbusError> {
    local.check(&name)?;
    Err(NimbusError::BadTopology(
        "local mode runs one process: rebalance on a cluster, or stop with a savepoint and run \
         again with other parallelisms (`squall run --from-savepoint DIR --set ...`)"
            .into(),
    ))
}

async fn savepoint(
    State(local): Local,
    Path(name): Path<String>,
    body: Result<Json<SavepointBody>, JsonRejection>,
) -> Result<Json<SavepointTaken>, NimbusError> {
    let Json(body) = body.map_err(|e| NimbusError::BadTopology(e.body_text()))?;
    let running = local.live(&name)?;
    let dir = body.dir.clone();
    let taken = tokio::task::spawn_blocking(move || running.savepoint_to(dir))
        .await
        .map_err(|e| NimbusError::BadTopology(format!("savepoint: {e}")))?
        .map_err(|e| NimbusError::BadTopology(e.to_string()))?;
    crate::announce!("web UI: savepoint {taken}");
    if body.stop {
        local.kill();
    }
    Ok(Json(SavepointTaken { location: taken, stopped: body.stop }))
}
