//! The REST API's bodies, shared by nimbus's handlers
//! ([`crate::nimbus::api`], [`crate::nimbus::control_api`],
//! [`crate::nimbus::binary`]) and their callers ([`crate::protocol::client`],
//! the DRPC and query clients), and the one way every HTTP service of the
//! cluster answers an error: `{"error": "..."}` ([`ErrorBody`], [`error`]).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

/// An error answer's body.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What was wrong.
    pub error: String,
}

/// An error answer: `code` with an [`ErrorBody`] of `message`.
pub fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(ErrorBody { error: message.into() })).into_response()
}

/// Body of a submission.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The topology's YAML text (see docs/yaml.md).
    pub yaml: String,
    /// `KEY=VALUE` parameter overrides, as `squall run --set`.
    #[serde(default)]
    pub overrides: Vec<(String, String)>,
    /// Worker processes to spread the topology over (Storm's
    /// `topology.workers`); 1 when absent.
    #[serde(default = "one")]
    pub workers: usize,
    /// Start from this savepoint (a folder printed by `squall savepoint` or
    /// `squall stop`, or by `squall run --savepoint-on-stop`); parallelisms
    /// may differ from the savepoint's.
    #[serde(default)]
    pub from_savepoint: Option<String>,
}

fn one() -> usize {
    1
}

/// Body of a rebalance (Storm's `rebalance -e component=N -n workers`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RebalanceRequest {
    /// New parallelism per component.
    #[serde(default)]
    pub parallelism: BTreeMap<String, usize>,
    /// New number of worker processes.
    #[serde(default)]
    pub workers: Option<usize>,
}

/// Body of a savepoint request (Flink's `savepoint` and `stop`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SavepointBody {
    /// Stop the topology with the savepoint: spouts paused first, killed
    /// after (Flink's stop-with-savepoint).
    #[serde(default)]
    pub stop: bool,
    /// The folder to put the savepoint in (an absolute path on the
    /// workers' machines, or a URL such as `s3://bucket/savepoints`); a
    /// new folder `savepoint-<topology>-<id>` is made inside it. Default:
    /// `<checkpoint_dir>/<topology>/savepoints/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

/// Answer of the savepoint route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SavepointTaken {
    /// The savepoint's folder, for `squall submit --from-savepoint`.
    pub location: String,
    /// Whether the topology was stopped.
    pub stopped: bool,
}

/// Query of the kill route.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KillQuery {
    /// Seconds between deactivation and the kill (Storm's `kill -w`).
    #[serde(default)]
    pub wait_s: u64,
}

/// What a topology binary says of itself (`PATH describe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryDescription {
    /// The topology's name.
    pub name: String,
    /// `(component, parallelism)`, producers first.
    pub components: Vec<(String, usize)>,
}

/// Answer to an upload: where nimbus keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// The blob's key.
    pub key: String,
}

/// Body of a binary topology's submission, after its upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinarySubmit {
    /// The key the upload answered.
    pub key: String,
    /// What the binary described.
    pub description: BinaryDescription,
    /// `KEY=VALUE` parameters handed to the user's code.
    #[serde(default)]
    pub overrides: Vec<(String, String)>,
    /// Worker processes.
    pub workers: usize,
}
