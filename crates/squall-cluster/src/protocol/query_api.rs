//! Queryable state over HTTP (Kafka Streams' interactive queries): reads of
//! a running topology's keyed state by key, or scans by key prefix or range
//! with a limit, answered as JSON from the live state of the tasks
//! ([`squall::state::LiveStates`]). Served by `squall run --query ADDR` for
//! the topology it runs.
//!
//! | method and path | query | answer |
//! |---|---|---|
//! | `GET /query/{topology}/{component}/{state}` | `key=TEXT` (one text field) or `key_json=JSON` (`7`, `["a", 3]` for two fields) | 200 [`KeyAnswer`] (`value` null when the key has none) |
//! | same, with `read=committed` | as above | 200 [`KeyAnswer`] with `checkpoint`: the value of the latest completed checkpoint; 400 if the topology takes none |
//! | same | `prefix=P`, `from=A`, `to=B` (any of them, on the key's text), `limit=N` (default 100) | 200 [`ScanAnswer`] |
//!
//! 404 for a topology, component or state not here (the message names the
//! ones that are); 400 for bad parameters. Errors are `{"error": "..."}`.
//! Workers serve the same route for their own tasks, and nimbus routes
//! queries to them ([`crate::nimbus::query_route`]); a worker publishes
//! where it serves them ([`publish`], [`QueryAddress`]). What this module does not
//! own: reading the state ([`squall::state`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use squall::checkpoint::{CheckpointStorage, RestoredCheckpoint};
use squall::state::{json_key, KeyAnswer, LiveStates, Scan, ScanAnswer};
use squall::Value;

use crate::protocol::rest::error;
use crate::protocol::rest::ErrorBody;
use crate::protocol::store::{Assignment, Store};
use crate::{Error, Result};

/// Entries a scan returns when the query names no limit.
pub const DEFAULT_LIMIT: usize = 100;

/// The query string of a state query.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateQuery {
    /// A key of one text field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A key as JSON: an array for several fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_json: Option<String>,
    /// Scan: keys whose text starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Scan: keys whose text is at or after this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Scan: keys whose text is before this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Scan: at most this many entries ([`DEFAULT_LIMIT`] if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// `live` (the default: the value the task holds now) or `committed`
    /// (the value of the latest completed checkpoint; reads by key only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<String>,
}

/// What a query asks for, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Asked {
    /// One key's value, live or committed.
    Key {
        /// The key's fields.
        key: Vec<Value>,
        /// Read the latest completed checkpoint's value.
        committed: bool,
    },
    /// A scan.
    Scan(Scan),
}

impl StateQuery {
    /// What this query asks for.
    ///
    /// # Errors
    /// [`Error::Config`] naming the parameters that do not go together (a
    /// key and a scan, two keys), a `key_json` that is not JSON, or a limit
    /// of 0.
    pub fn asked(&self) -> Result<Asked> {
        let scanning = self.prefix.is_some() || self.from.is_some() || self.to.is_some();
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        let committed = match self.read.as_deref() {
            None | Some("live") => false,
            Some("committed") => true,
            Some(other) => {
                return Err(Error::Config(format!("read '{other}': say `live` or `committed`")))
            }
        };
        match (&self.key, &self.key_json) {
            (Some(_), Some(_)) => bad("give `key` or `key_json`, not both"),
            (Some(_), None) | (None, Some(_)) if scanning || self.limit.is_some() => {
                bad("a read by key takes no `prefix`, `from`, `to` or `limit`")
            }
            (Some(key), None) => {
                Ok(Asked::Key { key: vec![Value::String(key.clone())], committed })
            }
            (None, Some(json)) => {
                let parsed: serde_json::Value = serde_json::from_str(json)
                    .map_err(|e| Error::Config(format!("key_json '{json}' is not JSON: {e}")))?;
                let key = json_key(&parsed).map_err(|e| Error::Config(e.to_string()))?;
                Ok(Asked::Key { key, committed })
            }
            (None, None) if committed => bad("committed reads are by key only (scans read live)"),
            (None, None) => {
                let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
                if limit == 0 {
                    return bad("`limit` must be at least 1");
                }
                let (prefix, from, to) = (self.prefix.clone(), self.from.clone(), self.to.clone());
                Ok(Asked::Scan(Scan { prefix, from, to, limit }))
            }
        }
    }
}

struct Served {
    topology: String,
    states: LiveStates,
    /// Where its checkpoints are, when it takes any (committed reads).
    checkpoints: Option<CheckpointStorage>,
    /// The latest completed checkpoint, read once per id.
    latest: tokio::sync::Mutex<Option<Arc<RestoredCheckpoint>>>,
}

/// The query route for topology `topology`, whose states are `states` and
/// whose checkpoints (for committed reads) are in `checkpoints`.
pub fn routes<S: Clone + Send + Sync + 'static>(
    topology: &str,
    states: LiveStates,
    checkpoints: Option<CheckpointStorage>,
) -> Router<S> {
    let served = Arc::new(Served {
        topology: topology.to_string(),
        states,
        checkpoints,
        latest: tokio::sync::Mutex::new(None),
    });
    Router::new().route("/query/{topology}/{component}/{state}", get(query)).with_state(served)
}

/// Serves [`routes`] on `listener` until the process ends, over HTTPS with
/// this process's `[api_tls]` ([`crate::protocol::api_tls::served`]).
///
/// # Errors
/// [`Error::Config`] for TLS files that do not load; [`Error::Io`] if
/// serving fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    topology: &str,
    states: LiveStates,
    checkpoints: Option<CheckpointStorage>,
) -> Result<()> {
    let app: Router = routes(topology, states, checkpoints);
    crate::protocol::api_tls::serve_configured(listener, app, &crate::protocol::api_tls::served())
        .await
}

async fn query(
    State(served): State<Arc<Served>>,
    Path((topology, component, state)): Path<(String, String, String)>,
    query: std::result::Result<Query<StateQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if topology != served.topology {
        let message = format!("no topology '{topology}' here (this runs '{}')", served.topology);
        return error(StatusCode::NOT_FOUND, message);
    }
    let asked = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| q.asked().map_err(|e| e.to_string()))
    {
        Ok(asked) => asked,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let checkpoint = match &asked {
        Asked::Key { committed: true, .. } => match latest(&served).await {
            Ok(c) => Some(c),
            Err((code, message)) => return error(code, message),
        },
        _ => None,
    };
    let states = served.states.clone();
    let answered = tokio::task::spawn_blocking(move || match asked {
        Asked::Key { key, .. } => match &checkpoint {
            Some(c) => states.get_committed(&component, &state, &key, c),
            None => states.get(&component, &state, &key),
        }
        .map(|a: KeyAnswer| Json(a).into_response()),
        Asked::Scan(scan) => {
            states.scan(&component, &state, &scan).map(|a: ScanAnswer| Json(a).into_response())
        }
    })
    .await;
    match answered {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("query panicked: {e}")),
    }
}

/// The latest completed checkpoint, read again only when a newer one
/// completed.
async fn latest(
    served: &Served,
) -> std::result::Result<Arc<RestoredCheckpoint>, (StatusCode, String)> {
    let Some(storage) = &served.checkpoints else {
        let message = format!("'{}' takes no checkpoints: only live reads", served.topology);
        return Err((StatusCode::BAD_REQUEST, message));
    };
    let unavailable = |e: squall::Error| (StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    let none = || (StatusCode::NOT_FOUND, "no checkpoint has completed yet".to_string());
    let newest = storage.completed().await.map_err(unavailable)?.last().copied();
    let mut cached = served.latest.lock().await;
    match (newest, cached.as_ref()) {
        (None, _) => Err(none()),
        (Some(id), Some(c)) if c.id() == id => Ok(c.clone()),
        _ => {
            let loaded = storage.load_latest(0).await.map_err(unavailable)?.ok_or_else(none)?;
            let loaded = Arc::new(loaded);
            *cached = Some(loaded.clone());
            Ok(loaded)
        }
    }
}

/// Asks the query API at `server` (`http://HOST:PORT`) for state `state`
/// of `component` of `topology`; returns the JSON answer.
///
/// # Errors
/// [`Error::Query`] with the server's reason and status, or why it could not
/// be reached.
pub async fn ask(
    server: &str,
    topology: &str,
    component: &str,
    state: &str,
    query: &StateQuery,
) -> Result<serde_json::Value> {
    let url = format!("{}/query/{topology}/{component}/{state}", server.trim_end_matches('/'));
    ask_url(&url, None, query).await
}

/// Asks `url`: a query route of `squall run --query` or of a worker, or
/// nimbus's `/api/v1/topologies/{name}/query/...` with its `token`.
///
/// # Errors
/// As [`ask`].
pub async fn ask_url(
    url: &str,
    token: Option<&str>,
    query: &StateQuery,
) -> Result<serde_json::Value> {
    let unreachable = |e: reqwest::Error| Error::Query(format!("query API {url}: {e}"));
    let client = crate::protocol::api_tls::client().map_err(|e| Error::Query(e.to_string()))?;
    let mut request = client.get(url).query(query);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let text = response.text().await.map_err(unreachable)?;
    if status.is_success() {
        return serde_json::from_str(&text)
            .map_err(|e| Error::Query(format!("query API {url}: not JSON: {e}")));
    }
    let reason = serde_json::from_str::<ErrorBody>(&text).map(|b| b.error).unwrap_or(text);
    Err(Error::Query(format!("{reason} (HTTP {})", status.as_u16())))
}

/// Where a worker serves queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryAddress {
    /// The query API's address.
    pub addr: SocketAddr,
    /// The assignment epoch of the worker.
    pub epoch: u64,
    /// Whether it serves HTTPS ([`crate::protocol::api_tls::served`]).
    #[serde(default)]
    pub https: bool,
}

/// A worker's query server: stopped when dropped.
#[derive(Debug)]
#[must_use = "the query server stops when this guard is dropped"]
pub struct QueryServer(tokio::task::AbortHandle);

impl Drop for QueryServer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves queries of `states` (this worker's tasks) on a free port of
/// `host`, on the current tokio runtime, until the returned server is
/// dropped, and publishes the address for nimbus (a later call, for a
/// restarted attempt, replaces it).
///
/// # Errors
/// [`Error::Io`] if no port can be bound; an etcd error.
pub async fn publish(
    store: &Store,
    a: &Assignment,
    host: std::net::IpAddr,
    states: LiveStates,
    checkpoints: Option<squall::checkpoint::CheckpointStorage>,
) -> Result<QueryServer> {
    let (listener, addr) = crate::protocol::wire::bind(host, "query").await?;
    let name = a.topology.name.clone();
    let task = tokio::spawn(async move {
        if let Err(e) =
            crate::protocol::query_api::serve(listener, &name, states, checkpoints).await
        {
            tracing::warn!("query API: {e}");
        }
    });
    let server = QueryServer(task.abort_handle());
    let key = format!("queries/{}/{}-{}", a.topology.name, a.supervisor, a.slot);
    let https = crate::protocol::api_tls::served().cert.is_some();
    store.put(&key, &QueryAddress { addr, epoch: a.epoch, https }, None).await?;
    crate::announce!("query API on {}://{addr}", if https { "https" } else { "http" });
    Ok(server)
}

/// Where `topology` keeps its checkpoints, if it takes any (for committed
/// reads).
pub fn checkpoints_of(
    topology: &squall::Topology,
) -> Option<squall::checkpoint::CheckpointStorage> {
    let config = topology.config();
    let dir = config.checkpoint_dir.as_ref().filter(|_| config.checkpointing())?;
    match squall::checkpoint::CheckpointStorage::open(dir, topology.name()) {
        Ok(storage) => Some(storage),
        Err(e) => {
            tracing::warn!("committed reads not served: {e}");
            None
        }
    }
}
