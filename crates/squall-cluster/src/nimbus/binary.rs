//! Rust topologies shipped as binaries, as Storm ships a topology's jar: a
//! user's program links Squall and hands its topology to [`cluster_main`];
//! `squall submit --binary PATH` asks it to describe itself, uploads it to
//! nimbus, which keeps it in the blob store ([`crate::protocol::blobs`]); each
//! supervisor fetches it and runs it in worker mode
//! (`PATH worker --assignment FILE`) in place of `squall worker`.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `PUT /api/v1/binaries/{name}` | the executable (bytes) | 201 [`Uploaded`] |
//! | `POST /api/v1/topologies/{name}/binary` | [`BinarySubmit`] | 201 [`TopologyStatus`]; 400 with the reason; 409 running |

use std::process::ExitCode;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};
use clap::Parser;
use squall::Topology;

use crate::nimbus::api::ApiState;
use crate::nimbus::NimbusError;
pub use crate::protocol::rest::{BinaryDescription, BinarySubmit, Uploaded};
use crate::protocol::store::{TopologyRecord, TopologyStatus};

/// Largest binary nimbus takes (bytes).
pub const MAX_BINARY_BYTES: usize = 1 << 30;

/// The modes of a topology binary.
#[derive(Parser)]
#[command(about = "A Squall topology binary: run it locally, or let a cluster run it")]
enum Mode {
    /// Print the topology's name and components as JSON (used by
    /// `squall submit --binary`).
    Describe(Params),
    /// Run the topology in this process (local mode) and print a summary.
    Run(Params),
    /// Run one assignment (started by a supervisor).
    #[command(hide = true)]
    Worker {
        /// The assignment file the supervisor wrote.
        #[arg(long)]
        assignment: std::path::PathBuf,
    },
}

#[derive(clap::Args)]
struct Params {
    /// The topology's name.
    #[arg(long)]
    name: String,
    /// A parameter for the topology's code. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
    set: Vec<(String, String)>,
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("'{s}' is not KEY=VALUE"))?;
    Ok((k.trim().to_string(), v.to_string()))
}

/// The `main` of a topology binary: `build(name, params)` makes the
/// topology (`params` are `squall submit --set KEY=VALUE`); the command
/// line picks the mode (`describe`, `run`, or `worker` when a supervisor
/// starts it). Exit codes as `squall worker`.
///
/// # Examples
/// ```no_run
/// use squall::builtins::GeneratorSpout;
/// use squall::TopologyBuilder;
///
/// fn main() -> std::process::ExitCode {
///     squall_cluster::binary::cluster_main(|name, _params| {
///         let mut b = TopologyBuilder::new(name);
///         b.set_spout("numbers", GeneratorSpout::sentences(10).with_limit(100), 1);
///         b.build()
///     })
/// }
/// ```
pub fn cluster_main<F>(build: F) -> ExitCode
where
    F: Fn(&str, &[(String, String)]) -> squall::Result<Topology>,
{
    match Mode::parse() {
        Mode::Describe(p) => match build(&p.name, &p.set) {
            Ok(t) => {
                let components = t
                    .component_ids()
                    .map(|c| (c.to_string(), t.parallelism(c).unwrap_or(0)))
                    .collect();
                let d = BinaryDescription { name: t.name().to_string(), components };
                println!("{}", serde_json::to_string(&d).expect("a description serializes"));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(crate::worker::supervisor::EXIT_CONFIG as u8)
            }
        },
        Mode::Run(p) => match build(&p.name, &p.set).and_then(squall::LocalCluster::run) {
            Ok(s) => {
                eprintln!("{} finished in {:.1} s", s.name, s.elapsed.as_secs_f64());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(crate::worker::supervisor::EXIT_FAILED as u8)
            }
        },
        Mode::Worker { assignment } => {
            let code = crate::worker::run_with(&assignment, &|record: &TopologyRecord| {
                build(&record.name, &record.overrides)
            });
            ExitCode::from(code as u8)
        }
    }
}

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
