//! Workers' logs for the web UI, tailed through their supervisor (Storm's
//! logviewer): each supervisor with an `api_token` serves
//! `GET /logs/{topology}?slot=N&lines=N` (same bearer tokens, the
//! read-only one too) on its data
//! host, port chosen at start, and registers the address in its
//! [`crate::protocol::store::SupervisorInfo`]; nimbus asks it for the UI's log route
//! ([`crate::nimbus::ui_cluster::ClusterBackend::log`]).

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::protocol::rest::error;

/// Bytes read from the end of a log at most.
const TAIL_BYTES: u64 = 1 << 20;

struct Served {
    work_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
struct TailQuery {
    slot: usize,
    lines: Option<usize>,
}

/// A log's end.
#[derive(Debug, Serialize, Deserialize)]
struct Tail {
    path: String,
    text: String,
}

/// Starts serving the logs of `work_dir` on the supervisor's data host
/// (a port of its own); their URL, or `None` without an `api_token` or
/// when the port cannot be bound (said on stderr).
pub(crate) async fn start(
    config: &crate::ClusterConfig,
    work_dir: &std::path::Path,
) -> Option<String> {
    let tokens = match crate::protocol::auth::Tokens::new(&config.api_token, &config.api_read_token)
    {
        Ok(t) => Arc::new(t),
        Err(_) if config.api_token.is_empty() => return None,
        Err(e) => {
            tracing::warn!("workers' logs not served: {e}");
            return None;
        }
    };
    let addr = std::net::SocketAddr::new(config.supervisor.data_host, 0);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("workers' logs not served: cannot listen on {addr}: {e}");
            return None;
        }
    };
    let url = format!("{}://{}", config.api_tls.scheme(), listener.local_addr().ok()?);
    let app = app(work_dir.to_path_buf(), tokens);
    let tls = config.api_tls.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::protocol::api_tls::serve_configured(listener, app, &tls).await {
            tracing::warn!("workers' logs not served: {e}");
        }
    });
    Some(url)
}

/// The logs of `work_dir` (the supervisor's own folder), to either token.
fn app(work_dir: PathBuf, tokens: Arc<crate::protocol::auth::Tokens>) -> Router {
    let served = Arc::new(Served { work_dir });
    Router::new()
        .route("/logs/{topology}", get(tail))
        .layer(middleware::from_fn_with_state(tokens, crate::protocol::auth::guard))
        .with_state(served)
}

async fn tail(
    State(served): State<Arc<Served>>,
    Path(topology): Path<String>,
    Query(q): Query<TailQuery>,
) -> Result<Json<Tail>, Response> {
    if topology.contains(['/', '\\']) || topology.starts_with('.') {
        return Err(error(StatusCode::BAD_REQUEST, "bad topology name"));
    }
    let path = served.work_dir.join(format!("{topology}-slot{}.log", q.slot));
    let lines = q.lines.unwrap_or(200).clamp(1, 5000);
    let shown = path.display().to_string();
    let text = tokio::task::spawn_blocking(move || last_lines(&path, lines))
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| error(StatusCode::NOT_FOUND, format!("{shown}: {e}")))?;
    Ok(Json(Tail { path: shown, text }))
}

/// The last `lines` lines of the file at `path` (of its last MB).
fn last_lines(path: &std::path::Path, lines: usize) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    Ok(all[all.len().saturating_sub(lines)..].join("\n"))
}

/// Asks the supervisor at `url` for the last `lines` lines of the log of
/// `topology`'s worker in `slot`: (its path, its text).
pub(crate) async fn fetch(
    url: &str,
    token: &str,
    topology: &str,
    slot: usize,
    lines: usize,
) -> crate::Result<(String, String)> {
    let failed = |e: &dyn std::fmt::Display| crate::Error::Logs(e.to_string());
    let response = crate::protocol::api_tls::client()?
        .get(format!("{}/logs/{topology}", url.trim_end_matches('/')))
        .query(&[("slot", slot), ("lines", lines)])
        .bearer_auth(token)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| failed(&e))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| failed(&e))?;
    if !status.is_success() {
        return Err(failed(&format!("HTTP {}: {text}", status.as_u16())));
    }
    let tail: Tail = serde_json::from_str(&text).map_err(|e| failed(&e))?;
    Ok((tail.path, tail.text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn last_lines_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.log");
        std::fs::write(&path, "a\nb\nc\nd\n").unwrap();
        assert_eq!(super::last_lines(&path, 2).unwrap(), "c\nd");
        assert_eq!(super::last_lines(&path, 10).unwrap(), "a\nb\nc\nd");
    }
}
