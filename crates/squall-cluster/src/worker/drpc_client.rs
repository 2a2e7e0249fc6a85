//! The clients of a DRPC server on the network ([`crate::nimbus::drpc_server`]):
//! [`execute`] for callers (the CLI's `squall drpc`), and [`HttpDrpc`],
//! where a topology's [`DrpcSpout`] takes requests and its
//! [`ReturnResults`] sends answers, on any worker. [`register`] adds the
//! YAML kinds `drpc` (spout) and `drpc_return` (bolt).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Client, RequestBuilder, StatusCode};
use serde::Deserialize;
use squall::builtins::extensions::{register_bolt, register_spout};
use squall::builtins::registry::{bolt_factory, settings, spout_factory, BuiltBolt, BuiltSpout};
use squall::drpc::{DrpcInvocations, DrpcRequest, DrpcSpout, ReturnResults};
use tokio::sync::{mpsc, Notify};
use tokio::task::AbortHandle;

use crate::protocol::rest::ErrorBody;
use crate::{Error, Result};

/// The environment variable a worker's DRPC spouts and bolts read their
/// bearer token from when their YAML names none (the cluster's
/// `api_token`).
pub const TOKEN_VAR: &str = "SQUALL__API_TOKEN";

/// How long a spout's long poll waits on the server, ms.
const LONG_POLL_MS: u64 = 1000;

/// How long a fetcher waits before asking again after an error, ms.
const RETRY_MS: u64 = 500;

fn base_url(server: &str) -> Result<String> {
    let url = url::Url::parse(server)
        .map_err(|e| Error::Config(format!("drpc server '{server}' is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::Config(format!(
            "drpc server '{server}' must be an http(s)://HOST:PORT URL"
        )));
    }
    Ok(server.trim_end_matches('/').to_string())
}

fn with_token(request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
    match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    }
}

/// Calls `function` with `args` on the DRPC server at `server`
/// (`http://HOST:PORT`, nimbus's API or `squall drpc-server`) and waits for
/// the answer; the server's request timeout bounds the wait.
///
/// # Errors
/// [`Error::Config`] for a bad URL; [`Error::Drpc`] with the server's
/// reason and HTTP status (the function timed out: 504; the topology
/// failed it: 502; a wrong token: 401) or why it could not be reached.
pub async fn execute(
    server: &str,
    token: Option<&str>,
    function: &str,
    args: &str,
) -> Result<String> {
    let url = format!("{}/drpc/{function}", base_url(server)?);
    let request =
        with_token(crate::protocol::api_tls::client()?.post(&url).body(args.to_string()), token);
    let unreachable = |e: reqwest::Error| Error::Drpc(format!("drpc server {url}: {e}"));
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let text = response.text().await.map_err(unreachable)?;
    if status == StatusCode::OK {
        return Ok(text);
    }
    let reason = serde_json::from_str::<ErrorBody>(&text).map(|b| b.error).unwrap_or(text);
    Err(Error::Drpc(format!("{reason} (HTTP {})", status.as_u16())))
}

/// A DRPC server on the network as seen from a topology (Storm's
/// `DRPCInvocationsClient`): [`DrpcInvocations::fetch`] takes requests a
/// background task long-polls for (one per function, started at the first
/// fetch, on the tokio runtime of the caller, stopped when this value is
/// dropped); answers and failures are posted in the background.
///
/// The background task asks for the next request only once the spout has
/// taken the last one, so a spout holds at most one request it has not
/// emitted: what a killed worker loses is what it was working on.
///
/// Each clone has its own fetchers: a task's spout takes only what it
/// fetched. Each fetcher names itself to the server as the holder of what
/// it took, and beats while its spout has not taken the last request, so
/// that a request fetched by a worker that dies before answering fails
/// after the server's holder timeout, not the caller's whole timeout.
pub struct HttpDrpc {
    base: String,
    token: Option<String>,
    client: Client,
    fetchers: Mutex<HashMap<String, Fetcher>>,
}

struct Fetcher {
    requests: mpsc::Receiver<DrpcRequest>,
    /// Told when the spout took a request: fetch the next.
    demand: Arc<Notify>,
    task: AbortHandle,
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for HttpDrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpDrpc").field("server", &self.base).finish()
    }
}

impl Clone for HttpDrpc {
    fn clone(&self) -> Self {
        HttpDrpc {
            base: self.base.clone(),
            token: self.token.clone(),
            client: self.client.clone(),
            fetchers: Mutex::default(),
        }
    }
}

impl HttpDrpc {
    /// The server at `server` (`http://HOST:PORT`), with `token` as bearer
    /// token if given.
    ///
    /// # Errors
    /// [`Error::Config`] if `server` is not an `http(s)://` URL, or the
    /// CA of `SQUALL__API_TLS__CA` does not load ([`crate::protocol::api_tls::client`]).
    pub fn new(server: &str, token: Option<String>) -> Result<Self> {
        Ok(HttpDrpc {
            base: base_url(server)?,
            token,
            client: crate::protocol::api_tls::client()?,
            fetchers: Mutex::default(),
        })
    }

    fn post(&self, path: String, body: String) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(server = %self.base, %path, "drpc answer dropped: no tokio runtime");
            return;
        };
        let url = format!("{}/drpc/{path}", self.base);
        let request = with_token(self.client.post(&url).body(body), self.token.as_deref());
        runtime.spawn(async move {
            match request.send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(%url, status = %r.status(), "drpc server refused an answer")
                }
                Err(e) => tracing::warn!(%url, error = %e, "drpc answer not delivered"),
            }
        });
    }
}

/// Waits for `demand`, telling the server at `beat` every long-poll period
/// that this holder is alive meanwhile.
async fn wait_for_demand(demand: &Notify, client: &Client, beat: &str, token: Option<&str>) {
    loop {
        let period = tokio::time::sleep(Duration::from_millis(LONG_POLL_MS));
        tokio::select! {
            () = demand.notified() => return,
            () = period => {
                if let Err(e) = with_token(client.post(beat), token).send().await {
                    tracing::warn!(%beat, error = %e, "drpc holder beat not delivered");
                }
            }
        }
    }
}

/// Long-polls `url` for a request each time `demand` is notified and hands
/// it to `requests`, until the receiver is gone; names itself `holder` so
/// that the server fails what it holds if it falls silent.
async fn fetch_loop(
    client: Client,
    url: String,
    token: Option<String>,
    requests: mpsc::Sender<DrpcRequest>,
    demand: Arc<Notify>,
) {
    let holder = fastrand::u64(..);
    let beat = format!("{}/holders/{holder}", url.trim_end_matches("/requests"));
    wait_for_demand(&demand, &client, &beat, token.as_deref()).await;
    // The request the spout took last, confirmed with the next poll (the
    // server leases what it hands out until then).
    let mut taken: Option<u64> = None;
    loop {
        let mut poll =
            client.get(&url).query(&[("wait_ms", LONG_POLL_MS)]).query(&[("holder", holder)]);
        if let Some(id) = taken {
            poll = poll.query(&[("taken", id)]);
        }
        let answer = with_token(poll, token.as_deref()).send().await;
        let error = match answer {
            Ok(r) if r.status() == StatusCode::NO_CONTENT => {
                taken = None;
                continue;
            }
            Ok(r) if r.status() == StatusCode::OK => match r.json::<DrpcRequest>().await {
                Ok(request) => {
                    let id = request.id;
                    if requests.send(request).await.is_err() {
                        return;
                    }
                    wait_for_demand(&demand, &client, &beat, token.as_deref()).await;
                    taken = Some(id);
                    continue;
                }
                Err(e) => format!("bad request body: {e}"),
            },
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => e.to_string(),
        };
        tracing::warn!(%url, %error, "drpc fetch failed; asking again");
        tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
    }
}

impl DrpcInvocations for HttpDrpc {
    fn fetch(&self, function: &str) -> Option<DrpcRequest> {
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|p| p.into_inner());
        if !fetchers.contains_key(function) {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                tracing::warn!(server = %self.base, "drpc fetch needs a tokio runtime");
                return None;
            };
            let (tx, rx) = mpsc::channel(1);
            let demand = Arc::new(Notify::new());
            demand.notify_one();
            let url = format!("{}/drpc/{function}/requests", self.base);
            let fetch =
                fetch_loop(self.client.clone(), url, self.token.clone(), tx, demand.clone());
            let task = runtime.spawn(fetch);
            let fetcher = Fetcher { requests: rx, demand, task: task.abort_handle() };
            fetchers.insert(function.to_string(), fetcher);
        }
        let fetcher = fetchers.get_mut(function)?;
        let request = fetcher.requests.try_recv().ok()?;
        fetcher.demand.notify_one();
        Some(request)
    }

    fn answer(&self, id: u64, result: String) {
        self.post(format!("-/results/{id}"), result);
    }

    fn fail(&self, id: u64, reason: String) {
        self.post(format!("-/failures/{id}"), reason);
    }
}

/// Settings of the YAML kinds `drpc` and `drpc_return`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrpcSettings {
    /// The server, `http://HOST:PORT`.
    server: String,
    /// The function (spout only).
    #[serde(default)]
    function: Option<String>,
    /// The bearer token; `SQUALL__API_TOKEN` when absent.
    #[serde(default)]
    token: Option<String>,
}

impl DrpcSettings {
    fn server(&self, what: &str) -> squall::Result<HttpDrpc> {
        let token = self.token.clone().or_else(|| std::env::var(TOKEN_VAR).ok());
        HttpDrpc::new(&self.server, token)
            .map_err(|e| squall::Error::config(format!("{what}: {e}")))
    }
}

/// Registers the YAML kinds: spout `drpc` (`server`, `function`, optional
/// `token`; emits `(args, return-info)`) and bolt `drpc_return` (`server`,
/// optional `token`; answers each input's `return-info` with its
/// `result`). Call once before loading YAML topologies.
pub fn register() {
    register_spout("drpc", drpc_spout);
    register_bolt("drpc_return", drpc_return);
}

fn drpc_spout(value: &serde_yaml_ng::Value) -> squall::Result<BuiltSpout> {
    let settings: DrpcSettings = settings("spout 'drpc'", value)?;
    let Some(function) = settings.function.clone() else {
        return Err(squall::Error::config("spout 'drpc': name the `function` it serves"));
    };
    let server = settings.server("spout 'drpc'")?;
    let description = format!("drpc requests for '{function}' from {}", server.base);
    Ok(BuiltSpout { factory: spout_factory(DrpcSpout::new(&server, &function)), description })
}

fn drpc_return(value: &serde_yaml_ng::Value) -> squall::Result<BuiltBolt> {
    let settings: DrpcSettings = settings("bolt 'drpc_return'", value)?;
    if settings.function.is_some() {
        return Err(squall::Error::config(
            "bolt 'drpc_return': `function` is for the spout only (answers go by request id)",
        ));
    }
    let server = settings.server("bolt 'drpc_return'")?;
    let description = format!("drpc answers to {}", server.base);
    let bolt = ReturnResults::new(&server);
    Ok(BuiltBolt { factory: bolt_factory(bolt), output: None, description })
}

#[cfg(test)]
mod tests {
    use squall::builtins::registry;

    fn yaml(text: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn the_yaml_kinds_name_what_is_wrong() {
        super::register();
        let spout = registry::spout("drpc", &yaml("{server: 'http://h:1', function: reach}"));
        assert_eq!(spout.unwrap().description, "drpc requests for 'reach' from http://h:1");
        let no_function = registry::spout("drpc", &yaml("{server: 'http://h:1'}"));
        let message = no_function.err().expect("refused").to_string();
        assert!(message.contains("spout 'drpc'") && message.contains("function"), "{message}");
        let bad_url = registry::bolt("drpc_return", &yaml("{server: 'h:1'}"));
        let message = bad_url.err().expect("refused").to_string();
        assert!(message.contains("bolt 'drpc_return'") && message.contains("'h:1'"), "{message}");
        let typo = registry::bolt("drpc_return", &yaml("{server: 'http://h:1', tokn: x}"));
        assert!(typo.err().expect("refused").to_string().contains("tokn"));
    }
}
