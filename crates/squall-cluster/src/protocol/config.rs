//! [`ClusterConfig`]: what the daemons and the CLI read at start, from
//! defaults, then an optional TOML file, then `SQUALL__*` environment
//! variables (`SQUALL__NIMBUS__API_ADDR=127.0.0.1:7700`, `__` separates
//! sections), merged by `figment`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Default `drpc.request.timeout`: how long a caller waits, ms.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 60_000;

/// Default lease of a request handed to a spout and not yet confirmed, ms.
pub const DEFAULT_LEASE_MS: u64 = 5_000;

/// Default silence after which a poller's held requests fail, ms: five
/// long polls of [`crate::worker::drpc_client`]'s spouts, so that a busy worker is
/// not taken for a dead one.
pub const DEFAULT_HOLDER_TIMEOUT_MS: u64 = 5_000;

/// The cluster's configuration, shared by nimbus, supervisors and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// etcd client URLs, e.g. `["http://127.0.0.1:2379"]`.
    pub etcd_endpoints: Vec<String>,
    /// Prefix of every key Squall writes in etcd, so that clusters can share
    /// one etcd.
    pub namespace: String,
    /// The bearer token that the REST API requires. Nimbus refuses to start
    /// without one.
    pub api_token: String,
    /// A second, read-only token ([`crate::protocol::auth`]): status, metrics, logs
    /// and every other `GET`, but no action. Empty: none.
    #[serde(default)]
    pub api_read_token: String,
    /// HTTPS on the REST API ([`crate::protocol::api_tls`]): nimbus's certificate
    /// and key, and the CA clients check it against.
    #[serde(default)]
    pub api_tls: crate::protocol::api_tls::ApiTlsConfig,
    /// TLS to etcd ([`crate::protocol::etcd_tls`]); plain when absent.
    #[serde(default)]
    pub etcd_tls: Option<crate::protocol::etcd_tls::EtcdTlsConfig>,
    /// The nimbus daemon.
    pub nimbus: NimbusConfig,
    /// The supervisor daemon.
    pub supervisor: SupervisorConfig,
    /// Where nimbus keeps uploaded topology binaries and supervisors fetch
    /// them: a folder (one machine) or a URL `object_store` opens
    /// (`file://`, `s3://bucket/prefix`, ...) shared by every host.
    pub blob_store: String,
}

/// Settings of `squall nimbus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NimbusConfig {
    /// Where the REST API listens (only while this nimbus leads).
    pub api_addr: SocketAddr,
    /// Time to live of the leader's etcd lease, seconds: how long a dead
    /// leader keeps the standby waiting.
    pub lease_ttl_s: i64,
    /// How often the leader checks assignments against live supervisors, ms.
    pub reconcile_ms: u64,
    /// How long a DRPC caller waits for its answer, ms (Storm's
    /// `drpc.request.timeout.secs`); see [`crate::nimbus::drpc_server`].
    #[serde(default = "drpc_request_timeout_ms")]
    pub drpc_request_timeout_ms: u64,
    /// How long a worker holding DRPC requests may stay silent before they
    /// fail, ms (a killed worker's requests fail then).
    #[serde(default = "drpc_holder_timeout_ms")]
    pub drpc_holder_timeout_ms: u64,
    /// How often the leader compacts etcd's history (to the revision of
    /// the previous period), defragments it when mostly free and deletes
    /// finished epochs' keys, ms; 0: never ([`crate::nimbus::compaction`]).
    #[serde(default = "etcd_compaction_ms")]
    pub etcd_compaction_ms: u64,
}

fn drpc_request_timeout_ms() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_MS
}

fn drpc_holder_timeout_ms() -> u64 {
    DEFAULT_HOLDER_TIMEOUT_MS
}

fn etcd_compaction_ms() -> u64 {
    60_000
}

/// Settings of `squall supervisor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    /// The supervisor's id in etcd; empty means `hostname-pid`.
    pub id: String,
    /// Worker slots (worker processes) this supervisor offers.
    pub slots: usize,
    /// Time to live of the registration lease, seconds: the heartbeat.
    /// A supervisor silent for this long is taken as dead.
    pub lease_ttl_s: i64,
    /// Where workers' assignment files and logs go.
    pub work_dir: PathBuf,
    /// The address this host's workers listen on for data from other
    /// workers (port chosen by each worker).
    pub data_host: std::net::IpAddr,
    /// Compress the data workers send each other with LZ4.
    pub data_compression: bool,
    /// Mutual TLS between workers ([`crate::protocol::tls`]); plain TCP when absent.
    #[serde(default)]
    pub data_tls: Option<crate::protocol::tls::DataTlsConfig>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            etcd_endpoints: vec!["http://127.0.0.1:2379".into()],
            namespace: "/squall".into(),
            api_token: String::new(),
            api_read_token: String::new(),
            api_tls: crate::protocol::api_tls::ApiTlsConfig::default(),
            etcd_tls: None,
            nimbus: NimbusConfig {
                api_addr: SocketAddr::from(([127, 0, 0, 1], 7700)),
                lease_ttl_s: 5,
                reconcile_ms: 1000,
                drpc_request_timeout_ms: drpc_request_timeout_ms(),
                drpc_holder_timeout_ms: drpc_holder_timeout_ms(),
                etcd_compaction_ms: etcd_compaction_ms(),
            },
            supervisor: SupervisorConfig {
                id: String::new(),
                slots: 2,
                lease_ttl_s: 5,
                work_dir: std::env::temp_dir().join("squall-supervisor"),
                data_host: std::net::IpAddr::from([127, 0, 0, 1]),
                data_compression: false,
                data_tls: None,
            },
            blob_store: std::env::temp_dir().join("squall-blobs").display().to_string(),
        }
    }
}

impl ClusterConfig {
    /// Defaults, then `file` if given, then `SQUALL__*` variables.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file or variable whose value is wrong,
    /// or an unknown key.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(ClusterConfig::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(Error::Config(format!("{} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment
            .merge(Env::prefixed("SQUALL__").split("__"))
            .extract()
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// The key prefix, without a trailing `/`.
    pub fn prefix(&self) -> &str {
        self.namespace.trim_end_matches('/')
    }
}

/// The `SQUALL__…` variables that give a worker process `section` of this
/// configuration as [`ClusterConfig::load`] reads it back: `prefix` (such
/// as `SQUALL__ETCD_TLS`) and each set field's upper-case name, `__` between
/// (unset fields give none; none at all without a section).
pub fn worker_env<T: Serialize>(prefix: &str, section: Option<&T>) -> Vec<(String, String)> {
    let fields = match section.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(fields))) => fields,
        _ => return Vec::new(),
    };
    let var = |(k, v): (String, _)| match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some((format!("{prefix}__{}", k.to_uppercase()), s)),
        v => Some((format!("{prefix}__{}", k.to_uppercase()), v.to_string())),
    };
    fields.into_iter().filter_map(var).collect()
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "squall.toml",
                "api_token = \"from-file\"\n[supervisor]\nslots = 7\n",
            )?;
            jail.set_env("SQUALL__SUPERVISOR__SLOTS", "3");
            jail.set_env("SQUALL__NIMBUS__API_ADDR", "127.0.0.1:9999");
            let c = ClusterConfig::load(Some(Path::new("squall.toml"))).unwrap();
            assert_eq!(c.api_token, "from-file");
            assert_eq!(c.supervisor.slots, 3);
            assert_eq!(c.nimbus.api_addr.port(), 9999);
            assert_eq!(c.nimbus.lease_ttl_s, ClusterConfig::default().nimbus.lease_ttl_s);
            Ok(())
        });
    }

    #[test]
    fn unknown_key_and_bad_value_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("a.toml", "[supervisor]\nslotz = 3\n")?;
            let e = ClusterConfig::load(Some(Path::new("a.toml"))).unwrap_err().to_string();
            assert!(e.contains("slotz"), "{e}");
            jail.set_env("SQUALL__SUPERVISOR__SLOTS", "many");
            let e = ClusterConfig::load(None).unwrap_err().to_string();
            assert!(e.contains("SUPERVISOR.SLOTS") && e.contains("many"), "{e}");
            Ok(())
        });
    }
}
