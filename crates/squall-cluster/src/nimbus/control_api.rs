//! The REST routes of [`crate::nimbus::control`], merged into [`crate::nimbus::api`]'s
//! router (same bearer token):
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /api/v1/topologies/{name}/deactivate` | | 200 [`TopologyStatus`]; 404; 400 over |
//! | `POST /api/v1/topologies/{name}/activate` | | as deactivate |
//! | `POST /api/v1/topologies/{name}/rebalance` | [`RebalanceRequest`] | 200 [`TopologyStatus`] (`pending`: its savepoint or checkpoint taken, to be scheduled again); 400 with the reason; 504 no savepoint in time |
//! | `GET /api/v1/topologies/{name}/metrics` | | 200 [`TopologyMetrics`]; 404 |
//! | `POST /api/v1/topologies/{name}/savepoint` | [`SavepointBody`] | 200 [`SavepointTaken`]; 400 with the reason; 404; 504 no answer in time |
//!
//! `DELETE /api/v1/topologies/{name}?wait_s=S` (kill after S seconds of
//! deactivation) is [`crate::nimbus::api`]'s kill route with [`KillQuery`].

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::nimbus::api::ApiState;
use crate::nimbus::control::{self, TopologyMetrics};
use crate::nimbus::NimbusError;
pub use crate::protocol::rest::{KillQuery, RebalanceRequest, SavepointBody, SavepointTaken};
use crate::protocol::store::TopologyStatus;

/// The routes, for [`crate::nimbus::api::router`].
pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/api/v1/topologies/{name}/deactivate", post(switch::<false>))
        .route("/api/v1/topologies/{name}/activate", post(switch::<true>))
        .route("/api/v1/topologies/{name}/rebalance", post(rebalance))
        .route("/api/v1/topologies/{name}/metrics", get(metrics))
        .route("/api/v1/topologies/{name}/savepoint", post(savepoint))
}

async fn savepoint(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Result<Json<SavepointBody>, JsonRejection>,
) -> Result<Json<SavepointTaken>, NimbusError> {
    let Json(body) = body.map_err(|e| NimbusError::BadTopology(e.body_text()))?;
    let location = crate::nimbus::savepoint::take(&state.store, &name, body.stop, body.dir).await?;
    Ok(Json(SavepointTaken { location, stopped: body.stop }))
}

/// `activate` (`ACTIVE`) or `deactivate`.
async fn switch<const ACTIVE: bool>(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<TopologyStatus>, NimbusError> {
    Ok(Json(control::set_active(&state.store, &name, ACTIVE).await?))
}

async fn rebalance(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Result<Json<RebalanceRequest>, JsonRejection>,
) -> Result<Json<TopologyStatus>, NimbusError> {
    let Json(request) = body.map_err(|e| NimbusError::BadTopology(e.body_text()))?;
    if request.parallelism.is_empty() && request.workers.is_none() {
        return Err(NimbusError::BadTopology(
            "rebalance changes nothing: give a parallelism".into(),
        ));
    }
    let status =
        control::rebalance(&state.store, &name, request.parallelism, request.workers).await?;
    Ok(Json(status))
}

async fn metrics(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<TopologyMetrics>, NimbusError> {
    Ok(Json(control::metrics(&state.store, &name).await?))
}
