//! Squall's cluster mode, as Storm's: a nimbus that accepts topologies and
//! assigns them to worker slots, supervisors that run worker processes in
//! those slots, and etcd between them (ZooKeeper's place in Storm), so that
//! no daemon holds state that dies with it.
//!
//! Three sides, and no import between the two daemons' sides:
//! - [`protocol`]: what every process shares: etcd keys and records, the
//!   configuration, the data plane's frames and TLS, the REST API's bodies,
//!   tokens, TLS and client, the blob store, the metrics, query and log
//!   services every process runs.
//! - [`nimbus`]: the leader-elected master: scheduling, the REST API and
//!   web UI, the controls (deactivate, rebalance, kill, savepoints), query
//!   routing, DRPC, etcd compaction.
//! - [`worker`]: supervisors and the worker processes they start, the
//!   core's job driver's cluster host ([`worker::distributed`]), the acker
//!   and control planes, the DRPC clients.

/// Writes one line to stderr, unformatted and whatever the log filter: the
/// lines a daemon announces as part of its interface, which operators,
/// scripts and tests read (`query API on URL`, `nimbus leading, API on
/// URL`, `data plane: TLS`, a worker's outcome as its log's last line that
/// its supervisor reports, ...). Everything else goes through `tracing`.
/// Unlike `eprintln!`, a closed stderr does not panic the daemon.
macro_rules! announce {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
pub(crate) use announce;

pub mod nimbus;
pub mod protocol;
pub mod worker;

/// Rust topologies shipped as binaries: nimbus's routes and the bodies
/// ([`nimbus::binary`]), and a binary's `main` ([`worker::binary_main`]).
pub mod binary {
    pub use crate::nimbus::binary::*;
    pub use crate::worker::binary_main::cluster_main;
}

/// The modules' earlier paths (`squall_cluster::api`, ...), kept for callers.
pub use nimbus::{
    api, compaction, control, control_api, drpc_server, query_route, regroup, savepoint, scheduler,
    ui, ui_api, ui_cluster, ui_local, ui_types,
};
pub use protocol::{
    api_tls, auth, blobs, client, config, etcd_tls, fence, metrics_api, query_api, store, tls, wire,
};
pub use worker::{distributed, drpc_client, link, supervisor};

pub use config::ClusterConfig;

/// Errors of the cluster daemons.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is missing a value or has a wrong one.
    #[error("configuration: {0}")]
    Config(String),
    /// etcd refused or could not be reached.
    #[error("etcd: {0}")]
    Etcd(Box<etcd_client::Error>),
    /// A record in etcd could not be encoded or decoded.
    #[error("record {key}: {source}")]
    Record {
        /// The etcd key.
        key: String,
        /// What was wrong.
        source: Box<serde_json::Error>,
    },
    /// A file or process could not be opened, started or waited for.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The nimbus answered with an error, or could not be reached.
    #[error("nimbus: {0}")]
    Api(String),
    /// A DRPC call got no answer: it timed out, the topology failed it,
    /// or the server refused it or could not be reached (the reason says
    /// which).
    #[error("{0}")]
    Drpc(String),
    /// The metrics exporter could not be installed (one per process).
    #[error("metrics exporter: {0}")]
    Metrics(String),
    /// A supervisor's log server gave no log (the reason says why).
    #[error("{0}")]
    Logs(String),
    /// A state query got no answer (the reason and HTTP status say why).
    #[error("{0}")]
    Query(String),
    /// A data-plane frame was malformed or of another protocol version.
    #[error("wire: {0}")]
    Wire(String),
    /// A worker's attempt broke: a peer never joined or closed its
    /// connection, a newer attempt started, a task of the worker crashed.
    #[error("{0}")]
    Attempt(String),
    /// The topology failed, or its job driver gave up or was fenced (the
    /// core's error: [`squall::Error::GaveUp`], a task's failure, ...).
    #[error(transparent)]
    Topology(Box<squall::Error>),
}

impl From<squall::Error> for Error {
    fn from(e: squall::Error) -> Self {
        Error::Topology(Box::new(e))
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Attempt(format!("a task of the worker crashed: {e}"))
    }
}

/// For the core's job driver, which this crate's attempt host reports to:
/// the core's own error as it was, anything else by its message.
impl From<Error> for squall::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Topology(e) => *e,
            other => squall::Error::Other(other.to_string()),
        }
    }
}

impl From<etcd_client::Error> for Error {
    fn from(e: etcd_client::Error) -> Self {
        Error::Etcd(Box::new(e))
    }
}

impl Error {
    /// A record under `key` that does not encode or decode.
    pub fn record(key: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Record { key: key.into(), source: Box::new(source) }
    }
}

/// Result of the cluster daemons.
pub type Result<T, E = Error> = std::result::Result<T, E>;
