//! TLS to etcd (etcd's client TLS, through `etcd-client`'s `tls` feature,
//! tonic with rustls): `[etcd_tls]` names the CA that etcd's certificate
//! chains to and, for an etcd started with `--client-cert-auth`, this
//! process's client certificate and key. Nimbus, supervisors, workers and
//! the CLI all read it; a supervisor hands it to its workers
//! ([`crate::protocol::config::worker_env`]).
//! The endpoints are then `https://HOST:PORT`.

use std::path::{Path, PathBuf};

use etcd_client::{Certificate, ConnectOptions, Identity, TlsOptions};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// `[etcd_tls]`: PEM files for the connection to etcd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdTlsConfig {
    /// The CA etcd's server certificate chains to (etcd's
    /// `--trusted-ca-file` is the one for clients).
    pub ca: PathBuf,
    /// This process's client certificate, for `--client-cert-auth`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its private key.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// The name etcd's certificate is checked against; empty means the
    /// endpoint's host.
    #[serde(default)]
    pub domain: String,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Config(format!("etcd_tls: {}: {e}", path.display())))
}

/// The connect options of `config` (`None`: plain, or no `[etcd_tls]`).
///
/// # Errors
/// [`Error::Config`] naming a file that cannot be read, a certificate
/// without its key, or `http://` endpoints with TLS configured.
pub fn connect_options(
    config: Option<&EtcdTlsConfig>,
    endpoints: &[String],
) -> Result<Option<ConnectOptions>> {
    let Some(c) = config else { return Ok(None) };
    if let Some(plain) = endpoints.iter().find(|e| e.starts_with("http://")) {
        return Err(Error::Config(format!(
            "etcd_tls is set but endpoint {plain} is http://: use https:// endpoints"
        )));
    }
    let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&c.ca)?));
    match (&c.cert, &c.key) {
        (Some(cert), Some(key)) => tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?)),
        (None, None) => {}
        _ => {
            return Err(Error::Config(
                "etcd_tls.cert and etcd_tls.key go together: set both, or neither".into(),
            ))
        }
    }
    if !c.domain.is_empty() {
        tls = tls.domain_name(c.domain.clone());
    }
    Ok(Some(ConnectOptions::new().with_tls(tls)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_endpoints_half_identities_and_missing_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").unwrap();
        let https = ["https://127.0.0.1:2379".to_string()];
        let config = EtcdTlsConfig { ca: ca.clone(), cert: None, key: None, domain: String::new() };
        assert!(connect_options(None, &https).unwrap().is_none());
        assert!(connect_options(Some(&config), &https).unwrap().is_some());
        let plain = connect_options(Some(&config), &["http://h:1".into()]).unwrap_err();
        assert!(plain.to_string().contains("http://h:1"), "{plain}");
        let half = EtcdTlsConfig { cert: Some(ca.clone()), ..config.clone() };
        assert!(connect_options(Some(&half), &https)
            .unwrap_err()
            .to_string()
            .contains("go together"));
        let missing = EtcdTlsConfig { ca: dir.path().join("nope.pem"), ..config };
        let e = connect_options(Some(&missing), &https).unwrap_err().to_string();
        assert!(e.contains("etcd_tls") && e.contains("nope.pem"), "{e}");
    }
}
