//! The DRPC server on the network (Storm's DRPC server): callers execute
//! functions over HTTP, and DRPC spouts on any worker take the requests by
//! long poll and send answers back by request id. Nimbus serves these
//! routes on its REST address (behind its token); `squall drpc-server`
//! serves them alone ([`serve`]).
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /drpc/{function}` | the args (text) | 200 the result (text); 504 no answer within the request timeout; 502 the topology failed the request |
//! | `GET /drpc/{function}/requests?wait_ms=N&taken=ID&holder=H` | | 200 a [`DrpcRequest`] (JSON); 204 none within `wait_ms` (default 1000, at most 30000) |
//! | `POST /drpc/{function}/holders/{H}` | | 204: the poller `H` is alive (between polls) |
//! | `POST /drpc/{function}/results/{id}` | the result (text) | 204 (also when no one waits for it any more) |
//! | `POST /drpc/{function}/failures/{id}` | the reason (text) | 204 (likewise) |
//!
//! A request is handed out on a lease ([`DrpcServer::with_lease_ms`],
//! [`DEFAULT_LEASE_MS`]): the spout confirms it has it with `taken=ID` on
//! its next poll; one not confirmed in time goes back first in line, so a
//! response lost with its connection or a worker killed before its spout
//! took the request costs the caller a lease, not its timeout.
//!
//! A poller that names itself (`holder=H`, any number unique to it) holds
//! the requests it confirms: each of its polls, or a `holders/H` beat,
//! says it is alive, and when it has been silent for the holder timeout
//! ([`DEFAULT_HOLDER_TIMEOUT_MS`], [`DrpcServer::with_holder_timeout_ms`])
//! its requests fail (HTTP 502, "stopped polling"): a worker killed with
//! requests in flight fails them then, not at the request timeout.
//!
//! Errors are `{"error": "..."}`. The request table, its timeouts and the
//! dropping of late answers are [`LocalDrpc`]'s: this module only carries
//! them over HTTP. What it does not own: the spouts' and callers' side
//! ([`crate::worker::drpc_client`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use squall::drpc::{DrpcFailure, DrpcRequest, LocalDrpc};

pub use crate::protocol::config::{
    DEFAULT_HOLDER_TIMEOUT_MS, DEFAULT_LEASE_MS, DEFAULT_REQUEST_TIMEOUT_MS,
};
use crate::protocol::rest::error;
use crate::{Error, Result};

/// Longest long poll a spout may ask for, ms.
pub const MAX_WAIT_MS: u64 = 30_000;

/// The server's state: the request table and the callers' timeout.
#[derive(Debug, Clone)]
pub struct DrpcServer {
    table: LocalDrpc,
    timeout: Duration,
    lease: Duration,
}

impl DrpcServer {
    /// A server whose callers wait at most `request_timeout_ms` ms
    /// (Storm's `drpc.request.timeout.secs`).
    ///
    /// # Errors
    /// [`Error::Config`] for a timeout of 0.
    pub fn new(request_timeout_ms: u64) -> Result<Self> {
        if request_timeout_ms == 0 {
            return Err(Error::Config("drpc request timeout must be above 0 ms".into()));
        }
        Ok(DrpcServer {
            table: LocalDrpc::with_holder_timeout(Duration::from_millis(DEFAULT_HOLDER_TIMEOUT_MS)),
            timeout: Duration::from_millis(request_timeout_ms),
            lease: Duration::from_millis(DEFAULT_LEASE_MS),
        })
    }

    /// The same with requests leased for `lease_ms` ms until confirmed.
    pub fn with_lease_ms(mut self, lease_ms: u64) -> Self {
        self.lease = Duration::from_millis(lease_ms.max(1));
        self
    }

    /// The same with held requests failing after their poller was silent
    /// for `holder_timeout_ms` ms. Call before serving: it starts a new,
    /// empty request table.
    pub fn with_holder_timeout_ms(mut self, holder_timeout_ms: u64) -> Self {
        let timeout = Duration::from_millis(holder_timeout_ms.max(1));
        self.table = LocalDrpc::with_holder_timeout(timeout);
        self
    }

    /// The request table (for tests and in-process topologies).
    pub fn table(&self) -> &LocalDrpc {
        &self.table
    }
}

/// Query of the long poll.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// How long to wait for a request, ms.
    #[serde(default = "default_wait")]
    pub wait_ms: u64,
    /// Requests the poller confirms it has (comma-separated ids).
    #[serde(default)]
    pub taken: Option<String>,
    /// The poller's id: the requests it confirms are held by it, and fail
    /// when it falls silent.
    #[serde(default)]
    pub holder: Option<u64>,
}

fn default_wait() -> u64 {
    1000
}

/// The DRPC routes over `server`, mergeable into any router (nimbus's API
/// puts its token guard over them).
pub fn routes<S: Clone + Send + Sync + 'static>(server: DrpcServer) -> Router<S> {
    Router::new()
        .route("/drpc/{function}", post(execute))
        .route("/drpc/{function}/requests", get(fetch))
        .route("/drpc/{function}/results/{id}", post(result))
        .route("/drpc/{function}/failures/{id}", post(failure))
        .route("/drpc/{function}/holders/{holder}", post(beat))
        .with_state(Arc::new(server))
}

/// Serves the DRPC routes alone on `listener` until the process ends
/// (`squall drpc-server`); with `token`, every route needs
/// `Authorization: Bearer TOKEN`.
///
/// # Errors
/// [`Error::Io`] if serving fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    server: DrpcServer,
    token: Option<String>,
) -> Result<()> {
    let mut app: Router = routes(server);
    if let Some(token) = token {
        let tokens = Arc::new(crate::protocol::auth::Tokens::full_only(&token));
        app = app.layer(middleware::from_fn_with_state(tokens, crate::protocol::auth::guard));
    }
    axum::serve(listener, app)
        .await
        .map_err(|source| Error::Io { what: "DRPC server".into(), source })
}

/// Binds `addr` (port 0 picks one).
///
/// # Errors
/// [`Error::Io`] naming the address.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Io { what: format!("bind {addr}"), source })
}

async fn execute(
    State(server): State<Arc<DrpcServer>>,
    Path(function): Path<String>,
    args: String,
) -> Response {
    let (table, timeout, name) = (server.table.clone(), server.timeout, function.clone());
    let called = tokio::task::spawn_blocking(move || table.call(&name, &args, timeout)).await;
    match called {
        Ok(Ok(result)) => (StatusCode::OK, result).into_response(),
        Ok(Err(failure @ DrpcFailure::TimedOut(_))) => {
            error(StatusCode::GATEWAY_TIMEOUT, format!("drpc function '{function}': {failure}"))
        }
        Ok(Err(failure @ DrpcFailure::Failed(_))) => {
            error(StatusCode::BAD_GATEWAY, format!("drpc function '{function}': {failure}"))
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("drpc call panicked: {e}")),
    }
}

async fn fetch(
    State(server): State<Arc<DrpcServer>>,
    Path(function): Path<String>,
    Query(query): Query<WaitQuery>,
) -> Response {
    let wait = Duration::from_millis(query.wait_ms.min(MAX_WAIT_MS));
    let table = server.table.clone();
    if let Some(holder) = query.holder {
        table.heartbeat(holder);
    }
    for id in query.taken.iter().flat_map(|t| t.split(',')) {
        match (id.trim().parse(), query.holder) {
            (Ok(id), Some(holder)) => table.confirm_held(id, holder),
            (Ok(id), None) => table.confirm(id),
            (Err(_), _) => {
                return error(StatusCode::BAD_REQUEST, format!("taken: '{id}' is not an id"))
            }
        }
    }
    let lease = server.lease;
    // The long poll blocks a thread; if the spout hangs up meanwhile, axum
    // drops this future and the request taken goes back to the queue
    // rather than to a connection no one reads.
    let (taken, handed) = tokio::sync::oneshot::channel();
    let holder = query.holder;
    tokio::task::spawn_blocking(move || {
        let fetched = table.fetch_leased(&function, wait, lease);
        if let Some(holder) = holder {
            table.heartbeat(holder);
        }
        if let Some(request) = fetched {
            if let Err(request) = taken.send(request) {
                table.requeue(&function, request);
            }
        }
    });
    match handed.await {
        Ok(request) => (StatusCode::OK, Json::<DrpcRequest>(request)).into_response(),
        Err(_) => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn result(
    State(server): State<Arc<DrpcServer>>,
    Path((_function, id)): Path<(String, u64)>,
    result: String,
) -> StatusCode {
    server.table.answer(id, result);
    StatusCode::NO_CONTENT
}

async fn beat(
    State(server): State<Arc<DrpcServer>>,
    Path((_function, holder)): Path<(String, u64)>,
) -> StatusCode {
    server.table.heartbeat(holder);
    StatusCode::NO_CONTENT
}

async fn failure(
    State(server): State<Arc<DrpcServer>>,
    Path((_function, id)): Path<(String, u64)>,
    reason: String,
) -> StatusCode {
    server.table.fail(id, reason);
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spout that hangs up during its long poll (its worker was killed)
    /// does not take the next request with it: either the dropped poll
    /// gives it back at once, or (when the server did not notice the
    /// hang-up and answered a dead connection) its lease ends.
    #[test]
    fn a_request_taken_for_a_long_poll_that_hung_up_goes_to_the_next_poll() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = DrpcServer::new(60_000).unwrap().with_lease_ms(500);
        let table = server.table().clone();
        let base = runtime.block_on(async {
            let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
            let base = format!("http://{}/drpc/f", listener.local_addr().unwrap());
            tokio::spawn(serve(listener, server, None));
            base
        });
        let (client, url) = (reqwest::Client::new(), format!("{base}/requests"));
        let hung_up = runtime.block_on(async {
            let poll = client.get(&url).query(&[("wait_ms", 20_000)]);
            poll.timeout(Duration::from_millis(300)).send().await
        });
        assert!(hung_up.unwrap_err().is_timeout());
        let caller = std::thread::spawn(move || table.call("f", "x", Duration::from_secs(60)));
        let request: DrpcRequest = runtime.block_on(async {
            // Polls of 1 s for as long as the caller waits: a lost request
            // never comes. Unconfirmed, its lease ends within 500 ms.
            for _ in 0..60 {
                let r = client.get(&url).query(&[("wait_ms", 1000)]).send().await.unwrap();
                if r.status() == StatusCode::OK {
                    return r.json().await.unwrap();
                }
            }
            panic!("the request went with the poll that hung up");
        });
        assert_eq!(request.args, "x");
        // Confirmed with the next poll, it is not handed out again.
        let again = runtime.block_on(async {
            let query = [("wait_ms", "1500".to_string()), ("taken", request.id.to_string())];
            client.get(&url).query(&query).send().await
        });
        assert_eq!(again.unwrap().status(), StatusCode::NO_CONTENT);
        let answer = format!("{base}/results/{}", request.id);
        runtime.block_on(async { client.post(&answer).body("y").send().await }).unwrap();
        assert_eq!(caller.join().unwrap(), Ok("y".to_string()));
    }
}
