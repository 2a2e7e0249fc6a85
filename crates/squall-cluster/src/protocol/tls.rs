//! Optional TLS (rustls, through tokio-rustls) on the data plane between
//! workers, mutual: each worker presents the cluster's certificate and
//! accepts only peers whose certificate chains to the configured CA, so no
//! process without the key can feed or read a worker's channels.
//! Configured by `supervisor.data_tls` (PEM files), handed by supervisors
//! to their workers.
//!
//! **Renewal without a restart.** Before each handshake a worker looks at
//! the three files' times of modification (a `stat` each, beside a
//! handshake's public-key operations) and loads them again when one
//! changed: connections made after a renewal use the new certificate and
//! CA, open ones keep theirs (workers reconnect at every restart of an
//! attempt). A renewal that does not load (a half-written file, a key of
//! another certificate) is logged and the previous files kept until the
//! next change. rustls's `ResolvesServerCert`/`ResolvesClientCert` would
//! swap the certificate only, not the CA the peers are checked against;
//! rebuilding both configurations covers a new CA too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::{Error, Result};

/// Where the data plane's TLS material is (PEM files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataTlsConfig {
    /// This worker's certificate chain.
    pub cert: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The certificate authority peers' certificates must chain to (for a
    /// self-signed cluster certificate, that certificate).
    pub ca: PathBuf,
    /// The name peers' certificates are checked against; empty means the
    /// peer's IP address (a certificate with that IP among its names).
    #[serde(default)]
    pub server_name: String,
}

/// Both ends of the data plane's TLS, loaded again when its files change.
#[derive(Clone)]
pub struct DataTls {
    config: DataTlsConfig,
    current: Arc<Mutex<Loaded>>,
}

/// The configurations built from the files as they were at `stamp`.
struct Loaded {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    stamp: [Option<SystemTime>; 3],
}

/// When each of `config`'s files was last modified.
fn stamp(config: &DataTlsConfig) -> [Option<SystemTime>; 3] {
    [&config.cert, &config.key, &config.ca]
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl DataTls {
    /// Loads the certificate, key and CA named by `config`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file that is missing or not PEM, or a
    /// key that does not match.
    pub fn load(config: &DataTlsConfig) -> Result<Self> {
        let stamp = stamp(config);
        let (acceptor, connector) = Self::build(config)?;
        let current = Arc::new(Mutex::new(Loaded { acceptor, connector, stamp }));
        Ok(DataTls { config: config.clone(), current })
    }

    /// The acceptor and connector of the files as they are now: loaded
    /// again if they changed since the last load (kept on a failure).
    fn endpoints(&self) -> (TlsAcceptor, TlsConnector) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let now = stamp(&self.config);
        if now != current.stamp {
            match Self::build(&self.config) {
                Ok((acceptor, connector)) => {
                    *current = Loaded { acceptor, connector, stamp: now };
                    crate::announce!(
                        "data plane: certificate reloaded from {}",
                        self.config.cert.display()
                    );
                }
                Err(e) => {
                    // Tried again at the next change of a file.
                    current.stamp = now;
                    tracing::warn!(
                        "data plane: certificate not reloaded, keeping the previous: {e}"
                    );
                }
            }
        }
        (current.acceptor.clone(), current.connector.clone())
    }

    fn build(config: &DataTlsConfig) -> Result<(TlsAcceptor, TlsConnector)> {
        let bad = |path: &Path, e: String| {
            Error::Config(format!("supervisor.data_tls: {}: {e}", path.display()))
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert)
            .and_then(|i| i.collect())
            .map_err(|e| bad(&config.cert, e.to_string()))?;
        if certs.is_empty() {
            return Err(bad(&config.cert, "no certificate".into()));
        }
        let key = || {
            PrivateKeyDer::from_pem_file(&config.key).map_err(|e| bad(&config.key, e.to_string()))
        };
        let mut roots = RootCertStore::empty();
        for ca in
            CertificateDer::pem_file_iter(&config.ca).map_err(|e| bad(&config.ca, e.to_string()))?
        {
            let ca = ca.map_err(|e| bad(&config.ca, e.to_string()))?;
            roots.add(ca).map_err(|e| bad(&config.ca, e.to_string()))?;
        }
        let roots = Arc::new(roots);
        let tls = |e: rustls::Error| Error::Config(format!("supervisor.data_tls: {e}"));
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| Error::Config(format!("supervisor.data_tls: {e}")))?;
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs.clone(), key()?)
            .map_err(tls)?;
        // The connecting side only writes: TLS 1.3 session tickets it never
        // reads would make its close a reset, losing the last frames.
        let mut server = server;
        server.send_tls13_tickets = 0;
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key()?)
            .map_err(tls)?;
        Ok((TlsAcceptor::from(Arc::new(server)), TlsConnector::from(Arc::new(client))))
    }

    /// The server's side of the handshake on an accepted connection.
    ///
    /// # Errors
    /// [`Error::Wire`] if the peer has no acceptable certificate.
    pub async fn accept(
        &self,
        stream: TcpStream,
    ) -> Result<tokio_rustls::server::TlsStream<TcpStream>> {
        self.endpoints()
            .0
            .accept(stream)
            .await
            .map_err(|e| Error::Wire(format!("TLS handshake with a peer: {e}")))
    }

    /// The client's side of the handshake with the worker at the other end
    /// of `stream`.
    ///
    /// # Errors
    /// [`Error::Wire`] if the worker's certificate is not acceptable.
    pub async fn connect(
        &self,
        stream: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let peer = stream
            .peer_addr()
            .map_err(|source| Error::Io { what: "peer address".into(), source })?;
        let name = if self.config.server_name.is_empty() {
            ServerName::IpAddress(peer.ip().into())
        } else {
            ServerName::try_from(self.config.server_name.clone())
                .map_err(|e| Error::Config(format!("supervisor.data_tls.server_name: {e}")))?
        };
        self.endpoints()
            .1
            .connect(name, stream)
            .await
            .map_err(|e| Error::Wire(format!("TLS handshake with worker {peer}: {e}")))
    }
}

/// The supervisor's TLS of `config` (`supervisor.data_tls`), loaded, for a
/// worker's data and control connections; `None` when not configured.
/// Says so on the worker's log.
///
/// # Errors
/// As [`DataTls::load`].
pub fn of_worker(config: &crate::ClusterConfig) -> Result<Option<DataTls>> {
    let tls = config.supervisor.data_tls.as_ref().map(DataTls::load).transpose()?;
    if tls.is_some() {
        crate::announce!("data plane: TLS");
    }
    Ok(tls)
}
