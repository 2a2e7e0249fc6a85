//! HTTPS for nimbus's REST API (and the web UI it serves), as Flink's
//! `security.ssl.rest.*` and Storm UI's `ui.https.*`: nimbus serves TLS
//! when `api_tls.cert` and `api_tls.key` are set (rustls through
//! `axum-server`), and every HTTP client of this code base that calls nimbus
//! (the `squall` CLI, workers' DRPC spouts and bolts, `squall query` and
//! `squall drpc`) trusts the CA in `api_tls.ca` through [`client`].
//!
//! Every other HTTP server of a Squall process serves HTTPS the same way
//! with the same `[api_tls]` ([`serve_configured`]): supervisors' log
//! servers, workers' query servers, `/metrics` of every process, and
//! `squall run --ui`/`--query`. A supervisor hands its `[api_tls]` to its
//! workers ([`crate::protocol::config::worker_env`]); a worker or a local run reads it from the
//! `SQUALL__API_TLS__*` variables ([`served`]).
//!
//! The certificate and key are read again when either file changes (checked
//! every `api_tls.reload_ms`), so a renewed certificate is served without a
//! restart; a renewal that does not load (a half-written file, a key of
//! another certificate) is logged and the previous certificate kept.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The environment variable with the CA file that [`client`] trusts when
/// [`trust`] was not called (how a supervisor hands it to its workers).
pub const CA_VAR: &str = "SQUALL__API_TLS__CA";

/// `[api_tls]`: HTTPS on the REST API. Nimbus reads `cert` and `key`;
/// clients read `ca`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTlsConfig {
    /// Nimbus's certificate chain (PEM); with `key`, nimbus serves HTTPS.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Nimbus's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// The certificate authority clients check nimbus's certificate
    /// against (PEM); the system's roots when absent.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// How often nimbus checks `cert` and `key` for a change, ms (0: never).
    #[serde(default = "reload_ms")]
    pub reload_ms: u64,
}

fn reload_ms() -> u64 {
    5_000
}

impl Default for ApiTlsConfig {
    fn default() -> Self {
        ApiTlsConfig { cert: None, key: None, ca: None, reload_ms: reload_ms() }
    }
}

impl ApiTlsConfig {
    /// The certificate and key nimbus serves, or `None` for plain HTTP.
    ///
    /// # Errors
    /// [`Error::Config`] when only one of the two is set.
    pub fn served(&self) -> Result<Option<(&Path, &Path)>> {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Ok(Some((cert, key))),
            (None, None) => Ok(None),
            _ => Err(Error::Config(
                "api_tls.cert and api_tls.key go together: set both for HTTPS, or neither".into(),
            )),
        }
    }

    /// `https` when nimbus serves TLS, `http` otherwise.
    pub fn scheme(&self) -> &'static str {
        if self.cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// Loads nimbus's certificate and key; `None` without `api_tls.cert`.
///
/// # Errors
/// [`Error::Config`] naming the file that is missing, not PEM, or a key
/// that does not match.
pub async fn server_config(config: &ApiTlsConfig) -> Result<Option<RustlsConfig>> {
    let Some((cert, key)) = config.served()? else { return Ok(None) };
    let loaded = RustlsConfig::from_pem_file(cert, key).await.map_err(|e| {
        Error::Config(format!("api_tls: {} / {}: {e}", cert.display(), key.display()))
    })?;
    if config.reload_ms > 0 {
        let every = Duration::from_millis(config.reload_ms);
        tokio::spawn(reload(loaded.clone(), cert.to_path_buf(), key.to_path_buf(), every));
    }
    Ok(Some(loaded))
}

fn modified(paths: [&Path; 2]) -> [Option<SystemTime>; 2] {
    paths.map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

/// Reads `cert` and `key` again into `tls` whenever either file's time of
/// modification changes (checked every `every`); new connections get the
/// new certificate, open ones keep theirs.
async fn reload(tls: RustlsConfig, cert: PathBuf, key: PathBuf, every: Duration) {
    let mut seen = modified([&cert, &key]);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = modified([&cert, &key]);
        if now == seen {
            continue;
        }
        match tls.reload_from_pem_file(&cert, &key).await {
            Ok(()) => {
                seen = now;
                crate::announce!("REST API certificate reloaded from {}", cert.display());
            }
            // Tried again at the next tick (the files may be half-written).
            Err(e) => tracing::warn!(cert = %cert.display(), error = %e,
                "REST API certificate not reloaded; serving the previous one"),
        }
    }
}

/// Serves `app` on `listener`, over TLS when `tls` is given.
///
/// # Errors
/// If the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<RustlsConfig>,
) -> std::io::Result<()> {
    match tls {
        None => axum::serve(listener, app).await,
        Some(tls) => {
            let listener = listener.into_std()?;
            axum_server::from_tcp_rustls(listener, tls)?.serve(app.into_make_service()).await
        }
    }
}

/// [`serve`] with the certificate and key of `config` (reloaded when they
/// change), or plain HTTP without: the one way every HTTP server of this
/// code base is served.
///
/// # Errors
/// [`Error::Config`] for TLS files that do not load (nothing is served
/// then: never plain HTTP in place of HTTPS); [`Error::Io`] if the listener
/// fails.
pub async fn serve_configured(
    listener: tokio::net::TcpListener,
    app: Router,
    config: &ApiTlsConfig,
) -> Result<()> {
    let tls = server_config(config).await?;
    serve(listener, app, tls)
        .await
        .map_err(|source| Error::Io { what: "HTTP server".into(), source })
}

static SERVED: OnceLock<ApiTlsConfig> = OnceLock::new();

/// Makes `config` the `[api_tls]` this process's servers use ([`served`]);
/// the first call wins (a daemon calls it once, after loading its
/// configuration).
pub fn serve_as(config: &ApiTlsConfig) {
    let _ = SERVED.set(config.clone());
}

/// The `[api_tls]` this process's servers use: the one given to
/// [`serve_as`], else the `SQUALL__API_TLS__*` variables alone (a worker's,
/// set by its supervisor through
/// [`crate::protocol::config::worker_env`], or a local run's); plain
/// HTTP when unset or unreadable (said on stderr).
pub fn served() -> ApiTlsConfig {
    if let Some(config) = SERVED.get() {
        return config.clone();
    }
    match crate::ClusterConfig::load(None) {
        Ok(config) => config.api_tls,
        Err(e) => {
            tracing::warn!("api_tls: configuration not read, serving plain HTTP: {e}");
            ApiTlsConfig::default()
        }
    }
}

static TRUSTED: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Makes `ca` (the configuration's `api_tls.ca`) the CA that [`client`]
/// trusts in this process; the first call wins (the CLI and workers call it
/// once, after loading their configuration).
pub fn trust(ca: Option<PathBuf>) {
    let _ = TRUSTED.set(ca);
}

/// An HTTP client for nimbus (and any server of this code base): it trusts
/// the CA given to [`trust`], else the file named by [`CA_VAR`], else the
/// system's roots.
///
/// # Errors
/// [`Error::Config`] naming a CA file that is missing or not PEM.
pub fn client() -> Result<reqwest::Client> {
    let ca = TRUSTED
        .get()
        .cloned()
        .unwrap_or_else(|| std::env::var_os(CA_VAR).filter(|v| !v.is_empty()).map(PathBuf::from));
    client_trusting(ca.as_deref())
}

/// An HTTP client that trusts `ca` only (the system's roots without one).
///
/// # Errors
/// As [`client`].
pub fn client_trusting(ca: Option<&Path>) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().use_rustls_tls();
    if let Some(ca) = ca {
        let bad = |e: String| Error::Config(format!("api_tls.ca: {}: {e}", ca.display()));
        let pem = std::fs::read(ca).map_err(|e| bad(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no certificate".into()));
        }
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| Error::Config(format!("HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let half = ApiTlsConfig { cert: Some("c.pem".into()), ..Default::default() };
        let e = half.served().unwrap_err().to_string();
        assert!(e.contains("api_tls.cert") && e.contains("api_tls.key"), "{e}");
        assert_eq!(ApiTlsConfig::default().served().unwrap(), None);
        assert_eq!(ApiTlsConfig::default().scheme(), "http");
    }

    #[test]
    fn a_ca_that_is_not_pem_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "not a certificate").unwrap();
        let e = client_trusting(Some(&file)).unwrap_err().to_string();
        assert!(e.contains("api_tls.ca") && e.contains("ca.pem"), "{e}");
        let missing = client_trusting(Some(&dir.path().join("nope.pem"))).unwrap_err();
        assert!(missing.to_string().contains("nope.pem"), "{missing}");
    }
}
