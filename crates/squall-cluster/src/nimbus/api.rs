//! Nimbus's REST API (axum), used by the CLI and the web UI: every route
//! but the health check (`GET /api/v1/health`, [`crate::nimbus::ui_api`]) needs
//! `Authorization: Bearer TOKEN` (401 otherwise; the read-only token gets
//! 403 on what is not a read, [`crate::protocol::auth`]); HTTPS when nimbus has a
//! certificate ([`crate::protocol::api_tls`]); a malformed submission
//! gets 400 with the reason and changes nothing. The whole API is described
//! as OpenAPI at `/api/openapi.json` ([`crate::nimbus::ui_api::ApiDoc`]); the web
//! UI's pages and JSON routes are [`crate::nimbus::ui`]'s and [`crate::nimbus::ui_api`]'s.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /api/v1/topologies` | [`SubmitRequest`] | 201 [`TopologyStatus`]; 400 bad topology; 409 name running |
//! | `GET /api/v1/topologies` | | 200 list of [`TopologyStatus`] |
//! | `GET /api/v1/topologies/{name}` | | 200 [`TopologyStatus`]; 404 |
//! | `DELETE /api/v1/topologies/{name}[?wait_s=S]` | | 200 [`TopologyStatus`] (killed, or deactivated and killed S s later); 404 |
//! | `GET /api/v1/supervisors` | | 200 list of live [`SupervisorInfo`] |
//! | `GET /api/v1/metrics/targets` | | 200 Prometheus HTTP service discovery ([`crate::protocol::metrics_api`]) |
//!
//! Deactivate, activate, rebalance and metrics: [`crate::nimbus::control_api`];
//! topology binaries: [`crate::nimbus::binary`]; DRPC (`/drpc/...`, same token):
//! [`crate::nimbus::drpc_server`]; queries of keyed state
//! (`/api/v1/topologies/{name}/query/...`): [`crate::nimbus::query_route`].
//!
//! Errors are `{"error": "..."}`.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::nimbus::{self, NimbusError};
use crate::protocol::rest::error;
pub use crate::protocol::rest::{ErrorBody, SubmitRequest};
use crate::protocol::store::{Store, SupervisorInfo, TopologyStatus};

pub(crate) struct ApiState {
    pub(crate) store: Store,
    pub(crate) blobs: crate::protocol::blobs::BlobStore,
}

/// The API's routes over `store`, guarded by `tokens` ([`crate::protocol::auth`]);
/// uploaded binaries go to `blobs`; DRPC calls to `drpc`.
pub fn router(
    store: Store,
    tokens: Arc<crate::protocol::auth::Tokens>,
    blobs: crate::protocol::blobs::BlobStore,
    drpc: crate::nimbus::drpc_server::DrpcServer,
) -> Router {
    let state = Arc::new(ApiState { store, blobs });
    Router::new()
        .route("/api/v1/topologies", get(list).post(submit))
        .route("/api/v1/topologies/{name}", get(status).delete(kill))
        .route("/api/v1/supervisors", get(supervisors))
        .merge(crate::nimbus::control_api::routes())
        .merge(crate::nimbus::binary::routes())
        .merge(crate::nimbus::drpc_server::routes(drpc))
        .merge(crate::nimbus::query_route::routes())
        .merge(crate::nimbus::metrics_targets::nimbus_routes())
        .layer(middleware::from_fn_with_state(tokens, crate::protocol::auth::guard))
        .with_state(state)
}

/// Middleware: an error answer in plain text (axum's own, for a path or
/// query string that does not parse) becomes `{"error": TEXT}`, as every
/// other error of the API, so that every 4xx is [`ErrorBody`] as the
/// OpenAPI document says.
pub async fn json_errors(request: axum::extract::Request, next: middleware::Next) -> Response {
    let response = next.run(request).await;
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(response.status().is_client_error() && plain) {
        return response;
    }
    let code = response.status();
    match axum::body::to_bytes(response.into_body(), 64 * 1024).await {
        Ok(text) => error(code, String::from_utf8_lossy(&text)),
        Err(e) => error(code, format!("unreadable error: {e}")),
    }
}

impl IntoResponse for NimbusError {
    fn into_response(self) -> Response {
        let code = match &self {
            NimbusError::BadTopology(_) => StatusCode::BAD_REQUEST,
            NimbusError::Exists(_) => StatusCode::CONFLICT,
            NimbusError::NotFound(_) => StatusCode::NOT_FOUND,
            NimbusError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            NimbusError::Cluster(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        error(code, self.to_string())
    }
}

async fn submit(
    State(state): State<Arc<ApiState>>,
    body: Result<Json<SubmitRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<TopologyStatus>), NimbusError> {
    let Json(request) = body.map_err(|e| NimbusError::BadTopology(e.body_text()))?;
    let status = nimbus::submit(&state.store, &request).await?;
    Ok((StatusCode::CREATED, Json(status)))
}

async fn list(
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Vec<TopologyStatus>>, NimbusError> {
    Ok(Json(nimbus::list(&state.store).await?))
}

async fn status(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<TopologyStatus>, NimbusError> {
    Ok(Json(nimbus::status(&state.store, &name).await?))
}

async fn kill(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    Query(q): Query<crate::nimbus::control_api::KillQuery>,
) -> Result<Json<TopologyStatus>, NimbusError> {
    let wait = std::time::Duration::from_secs(q.wait_s);
    Ok(Json(crate::nimbus::control::kill_after(&state.store, &name, wait).await?))
}

async fn supervisors(
    State(state): State<Arc<ApiState>>,
) -> Result<Json<Vec<SupervisorInfo>>, NimbusError> {
    let live =
        state.store.list::<SupervisorInfo>("supervisors").await.map_err(NimbusError::Cluster)?;
    Ok(Json(live.into_iter().map(|(_, s)| s).collect()))
}
