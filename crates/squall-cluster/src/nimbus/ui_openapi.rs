//! The OpenAPI description of the control routes that [`crate::nimbus::api`] and
//! [`crate::nimbus::control_api`] serve (the web UI's actions use them): one
//! documented stub per route, gathered with the UI's own routes in
//! [`crate::nimbus::ui_api::ApiDoc`]. The handlers themselves stay where they are.

#![allow(dead_code)] // stubs: only their annotations are used

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::Modify;

use crate::nimbus::control_api::{KillQuery, RebalanceRequest, SavepointBody, SavepointTaken};
use crate::protocol::records::TopologyMetrics;
use crate::protocol::rest::{ErrorBody, SubmitRequest};
use crate::protocol::store::{SupervisorInfo, TopologyStatus};

/// Adds the bearer-token scheme every route but the health check uses
/// (the full `api_token`, or the read-only `api_read_token` for `GET`s
/// outside DRPC: 403 otherwise, [`crate::protocol::auth`]).
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[utoipa::path(get, path = "/api/v1/topologies", tag = "topologies",
    responses((status = 200, body = Vec<TopologyStatus>), (status = 401, body = ErrorBody)))]
pub(crate) fn list() {}

#[utoipa::path(post, path = "/api/v1/topologies", tag = "topologies", request_body = SubmitRequest,
    responses((status = 201, body = TopologyStatus), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) fn submit() {}

#[utoipa::path(get, path = "/api/v1/topologies/{name}", tag = "topologies",
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = TopologyStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn status() {}

#[utoipa::path(delete, path = "/api/v1/topologies/{name}", tag = "topologies",
    description = "Kills the topology; with `wait_s`, deactivates its spouts now and kills it that many seconds later (Storm's `kill -w`).",
    params(("name" = String, Path, description = "the topology"), KillQuery),
    responses((status = 200, body = TopologyStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn kill() {}

#[utoipa::path(get, path = "/api/v1/supervisors", tag = "cluster",
    responses((status = 200, body = Vec<SupervisorInfo>), (status = 401, body = ErrorBody)))]
pub(crate) fn supervisors() {}

#[utoipa::path(post, path = "/api/v1/topologies/{name}/activate", tag = "topologies",
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = TopologyStatus), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn activate() {}

#[utoipa::path(post, path = "/api/v1/topologies/{name}/deactivate", tag = "topologies",
    description = "Pauses the spouts (tuples in flight complete).",
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = TopologyStatus), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn deactivate() {}

#[utoipa::path(post, path = "/api/v1/topologies/{name}/rebalance", tag = "topologies",
    request_body = RebalanceRequest,
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = TopologyStatus), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn rebalance() {}

#[utoipa::path(get, path = "/api/v1/topologies/{name}/metrics", tag = "topologies",
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = TopologyMetrics), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn metrics() {}

#[utoipa::path(post, path = "/api/v1/topologies/{name}/savepoint", tag = "topologies",
    request_body = SavepointBody,
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = SavepointTaken), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) fn savepoint() {}

#[utoipa::path(put, path = "/api/v1/binaries/{name}", tag = "topologies",
    description = "Uploads a topology binary (`squall submit --binary`) into the blob store.",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    params(("name" = String, Path, description = "the binary's name")),
    responses((status = 201, description = "stored: `{\"key\": ...}`, its key in the blob store", content_type = "application/json"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) fn upload_binary() {}

#[utoipa::path(post, path = "/api/v1/topologies/{name}/binary", tag = "topologies",
    description = "Submits an uploaded topology binary (`squall submit --binary`).",
    params(("name" = String, Path, description = "the topology")),
    responses((status = 201, body = TopologyStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) fn submit_binary() {}

#[utoipa::path(get, path = "/api/v1/topologies/{name}/query/{component}/{state}", tag = "queries",
    description = "Reads a running topology's keyed state (docs/queryable-state.md): `key`, `key_json`, `prefix`, `from`, `to`, `limit`, `read=committed`.",
    params(("name" = String, Path, description = "the topology"), ("component" = String, Path, description = "the component"), ("state" = String, Path, description = "the state")),
    responses((status = 200, description = "the answer of the worker owning the key"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "the worker owning the key does not answer (restarting, or the topology ended)")))]
pub(crate) fn query() {}

#[utoipa::path(post, path = "/drpc/{function}", tag = "drpc",
    description = "Calls a DRPC function (docs/drpc.md): the body is the argument, the answer the result.",
    request_body(content = String, content_type = "text/plain"),
    params(("function" = String, Path, description = "the function")),
    responses((status = 200, description = "the result", content_type = "text/plain"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 502, body = ErrorBody, description = "the topology failed the request"), (status = 504, body = ErrorBody, description = "no answer in time")))]
pub(crate) fn drpc_execute() {}

#[utoipa::path(get, path = "/drpc/{function}/requests", tag = "drpc",
    description = "DRPC spouts take requests (long poll); the read-only token may not (403).",
    params(("function" = String, Path, description = "the function"),
        ("wait_ms" = Option<u64>, Query, description = "how long to wait for a request, ms (default 1000, at most 30000)"),
        ("taken" = Option<String>, Query, description = "ids of requests taken, comma-separated")),
    responses((status = 200, description = "a request", content_type = "application/json"), (status = 204, description = "none within wait_ms"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) fn drpc_requests() {}

#[utoipa::path(post, path = "/drpc/{function}/results/{id}", tag = "drpc",
    description = "A return bolt answers request `id`.",
    params(("function" = String, Path, description = "the function"), ("id" = u64, Path, description = "the request")),
    responses((status = 204, description = "taken"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) fn drpc_result() {}

#[utoipa::path(post, path = "/drpc/{function}/failures/{id}", tag = "drpc",
    description = "The topology fails request `id`.",
    params(("function" = String, Path, description = "the function"), ("id" = u64, Path, description = "the request")),
    responses((status = 204, description = "taken"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) fn drpc_failure() {}

#[utoipa::path(get, path = "/api/v1/metrics/targets", tag = "cluster",
    description = "Prometheus HTTP service discovery (`http_sd_configs`): every live worker's and supervisor's `/metrics` address and labels (docs/metrics.md).",
    responses((status = 200, body = Vec<crate::nimbus::metrics_targets::TargetGroup>), (status = 401, body = ErrorBody)))]
pub(crate) fn metrics_targets() {}
