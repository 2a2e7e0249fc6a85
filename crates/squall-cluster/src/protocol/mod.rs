//! What nimbus, supervisors and workers share: the etcd keys and records
//! they read and write, the configuration, the wire frames of the data
//! plane and its TLS, the REST API's tokens, TLS and client, the blob store,
//! and the small HTTP services every process runs (metrics, state queries,
//! log tails). Nothing here imports [`crate::nimbus`] or [`crate::worker`].

pub mod api_tls;
pub mod auth;
pub mod blobs;
pub mod client;
pub mod config;
pub mod etcd_tls;
pub mod fence;
pub mod metrics_api;
pub(crate) mod metrics_read;
pub mod query_api;
pub mod records;
pub mod rest;
pub mod savepoint_requests;
pub mod store;
pub(crate) mod throttle;
pub mod tls;
pub(crate) mod ui_logs;
pub mod wire;
