//! The OpenAPI description of the control routes that [`crate::api`] and
//! [`crate::control_api`] serve (the web UI's actions use them): one
//! documented stub per route, gathered with the UI's own routes in
//! [`crate::ui_api::ApiDoc`]. The handlers themselves stay where they are.

#![allow(dead_code)] // stubs: only their annotations are used

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::Modify;

use crate::api::{ErrorBody, SubmitRequest};
use crate::control::TopologyMetrics;
use crate::control_api::{KillQuery, RebalanceRequest, SavepointBody, SavepointTaken};
use crate::store::{SupervisorInfo, TopologyStatus};

/// Adds the bearer-token scheme every route but the health check uses.
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
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) fn submit() {}

#[utoipa::path(get, path = "/api/v1/topologies/{name}", tag = "topologies",
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = TopologyStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn status() {}

#[utoipa::path(delete, path = "/api/v1/topologies/{name}", tag = "topologies",
    description = "Kills the topology; with `wait_s`, deactivates its spouts now and kills it that many seconds later (Storm's `kill -w`).",
    params(("name" = String, Path, description = "the topology"), KillQuery),
    responses((status = 200, body = TopologyStatus), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn kill() {}

#[utoipa::path(get, path = "/api/v1/supervisors", tag = "cluster",
    responses((status = 200, body = Vec<SupervisorInfo>), (status = 401, body = ErrorBody)))]
pub(crate) fn supervisors() {}

#[utoipa::path(post, path = "/api/v1/topologies/{name}/activate", tag = "topologies",
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = TopologyStatus), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn activate() {}

#[utoipa::path(post, path = "/api/v1/topologies/{name}/deactivate", tag = "topologies",
    description = "Pauses the spouts (tuples in flight complete).",
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = TopologyStatus), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn deactivate() {}

#[utoipa::path(post, path = "/api/v1/topologies/{name}/rebalance", tag = "topologies",
    request_body = RebalanceRequest,
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = TopologyStatus), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn rebalance() {}

#[utoipa::path(get, path = "/api/v1/topologies/{name}/metrics", tag = "topologies",
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = TopologyMetrics), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) fn metrics() {}

#[utoipa::path(post, path = "/api/v1/topologies/{name}/savepoint", tag = "topologies",
    request_body = SavepointBody,
    params(("name" = String, Path, description = "the topology")),
    responses((status = 200, body = SavepointTaken), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub(crate) fn savepoint() {}
