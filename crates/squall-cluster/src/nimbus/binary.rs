//! Rust topologies shipped as binaries, as Storm ships a topology's jar: a
//! user's program links Squall and hands its topology to `cluster_main`
//! ([`crate::worker::binary_main`]);
//! `squall submit --binary PATH` asks it to describe itself, uploads it to
//! nimbus, which keeps it in the blob store ([`crate::protocol::blobs`]); each
//! supervisor fetches it and runs it in worker mode
//! (`PATH worker --assignment FILE`) in place of `squall worker`.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `PUT /api/v1/binaries/{name}` | the executable (bytes) | 201 [`Uploaded`] |
//! | `POST /api/v1/topologies/{name}/binary` | [`BinarySubmit`] | 201 [`TopologyStatus`]; 400 with the reason; 409 running |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};

use crate::nimbus::api::ApiState;
use crate::nimbus::NimbusError;
pub use crate::protocol::rest::{BinaryDescription, BinarySubmit, Uploaded};
use crate::protocol::store::{TopologyRecord, TopologyStatus};

/// Largest binary nimbus takes (bytes).
pub const MAX_BINARY_BYTES: usize = 1 << 30;

/// The routes, for [`crate::nimbus::api::router`].
pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route(
            "/api/v1/binaries/{name}",
            put(upload).layer(DefaultBodyLimit::max(MAX_BINARY_BYTES)),
        )
        .route("/api/v1/topologies/{name}/binary", post(submit))
}

async fn upload(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Uploaded>), NimbusError> {
    if body.is_empty() {
        return Err(NimbusError::BadTopology("the uploaded binary is empty".into()));
    }
    let key = format!("{name}/{}", crate::nimbus::control::now_ms());
    state.blobs.put(&key, body).await?;
    tracing::info!(topology = %name, %key, "binary stored");
    Ok((StatusCode::CREATED, Json(Uploaded { key })))
}

async fn submit(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Result<Json<BinarySubmit>, JsonRejection>,
) -> Result<(StatusCode, Json<TopologyStatus>), NimbusError> {
    let Json(request) = body.map_err(|e| NimbusError::BadTopology(e.body_text()))?;
    let bad = |why: String| Err(NimbusError::BadTopology(why));
    let d = &request.description;
    if d.name != name {
        return bad(format!("the binary built topology '{}', not '{name}'", d.name));
    }
    if !request.key.starts_with(&format!("{name}/")) {
        return bad(format!("'{}' is not an upload of '{name}'", request.key));
    }
    if d.components.is_empty() || d.components.iter().any(|(_, p)| *p == 0) {
        return bad(format!("topology '{name}' has no component, or one with no task"));
    }
    if request.workers == 0 {
        return bad("workers must be at least 1".into());
    }
    let record = TopologyRecord {
        name: name.clone(),
        yaml: String::new(),
        overrides: request.overrides.clone(),
        tasks: d.components.iter().map(|(_, p)| p).sum(),
        workers: request.workers,
        binary: Some(request.key.clone()),
    };
    let status = crate::nimbus::register(&state.store, record, None).await?;
    Ok((StatusCode::CREATED, Json(status)))
}
