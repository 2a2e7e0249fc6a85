//! Queryable state on a cluster: each worker serves queries of its own
//! tasks' state ([`crate::protocol::query_api`]) on a port of its data host and
//! publishes the address in etcd (`queries/{topology}/{supervisor}-{slot}`);
//! nimbus answers
//! `GET /api/v1/topologies/{name}/query/{component}/{state}` (same query
//! string as [`crate::protocol::query_api`], behind the API token) by asking the
//! workers of the topology's newest epoch: a read by key is answered by the
//! worker that runs the task owning the key's key group (the others say
//! they do not run it), a scan merges every worker's entries in key order
//! up to the limit.
//!
//! When no worker answers while the topology runs (one died and is being
//! restarted), nimbus says so with 503 and the workers' reasons: the
//! caller may ask again once the worker is back. A topology that is over
//! (finished, failed or killed) has no state to query any more: 404,
//! naming its state.
//!
//! Every way a worker runs serves queries: one worker alone, a part of a
//! topology over several, and each attempt of a checkpointed or tracked
//! one ([`crate::worker::distributed`]; an attempt's restart publishes anew).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::nimbus::api::ApiState;
use crate::protocol::query_api::{ask_url, Asked, StateQuery};
pub use crate::protocol::query_api::{checkpoints_of, QueryAddress};
use crate::protocol::rest::error;
use crate::protocol::store::TopologyStatus;
use crate::Result;

/// The nimbus route, for [`crate::nimbus::api::router`].
pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new().route("/api/v1/topologies/{name}/query/{component}/{state}", get(query))
}

async fn query(
    State(state): State<Arc<ApiState>>,
    Path((name, component, state_name)): Path<(String, String, String)>,
    query: std::result::Result<Query<StateQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let asked = match query.asked() {
        Ok(asked) => asked,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let status: Option<TopologyStatus> = match state.store.get(&format!("status/{name}")).await {
        Ok(s) => s,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    if let Some(over) = status.filter(|s| s.state.is_over()) {
        let message = format!(
            "topology '{name}' is {}: its workers and their state are gone",
            format!("{:?}", over.state).to_lowercase()
        );
        return error(StatusCode::NOT_FOUND, message);
    }
    let workers = match state.store.list::<QueryAddress>(&format!("queries/{name}")).await {
        Ok(w) => w,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let newest = workers.iter().map(|(_, w)| w.epoch).max();
    let urls: Vec<String> = workers
        .iter()
        .filter(|(_, w)| Some(w.epoch) == newest)
        .map(|(_, w)| {
            let scheme = if w.https { "https" } else { "http" };
            format!("{scheme}://{}/query/{name}/{component}/{state_name}", w.addr)
        })
        .collect();
    if urls.is_empty() {
        let message = format!("no worker of topology '{name}' serves queries (is it running?)");
        return error(StatusCode::NOT_FOUND, message);
    }
    let mut answers = Vec::with_capacity(urls.len());
    for url in &urls {
        answers.push(ask_url(url, None, &query).await);
    }
    match asked {
        Asked::Key { .. } => key_answer(answers),
        Asked::Scan(scan) => scan_answer(answers, scan.limit),
    }
}

/// The one worker's answer that has the key, or why none has.
fn key_answer(answers: Vec<Result<serde_json::Value>>) -> Response {
    let mut reasons = Vec::new();
    for answer in answers {
        match answer {
            Ok(value) => return Json(value).into_response(),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    // A worker that runs the owning task but refused (unknown state) says
    // why; "does not run here" from every worker means the owner is gone.
    let owned: Vec<&String> = reasons.iter().filter(|r| !r.contains("does not run here")).collect();
    match owned.first() {
        Some(reason) if !reason.contains("query API http") => {
            error(StatusCode::NOT_FOUND, reason.to_string())
        }
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the worker that owns the key does not answer (restarting?): {}",
                reasons.join("; ")
            ),
        ),
    }
}

/// Every worker's entries merged in key order, up to `limit`.
fn scan_answer(answers: Vec<Result<serde_json::Value>>, limit: usize) -> Response {
    let mut entries = Vec::new();
    let mut truncated = false;
    for answer in answers {
        match answer {
            Ok(value) => {
                truncated |= value["truncated"].as_bool().unwrap_or(false);
                if let Some(found) = value["entries"].as_array() {
                    entries.extend(found.iter().cloned());
                }
            }
            Err(e) => {
                let message = format!("a worker did not answer the scan (restarting?): {e}");
                return error(StatusCode::SERVICE_UNAVAILABLE, message);
            }
        }
    }
    let text = |e: &serde_json::Value| {
        e["key"].as_array().map(|k| {
            k.iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    entries.sort_by_key(|e| text(e));
    if entries.len() > limit {
        entries.truncate(limit);
        truncated = true;
    }
    Json(serde_json::json!({ "entries": entries, "truncated": truncated })).into_response()
}
