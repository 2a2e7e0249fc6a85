//! The nimbus side: the leader-elected daemon ([`leader`]), its scheduler,
//! the REST API and the web UI it serves, the controls it records in etcd
//! (deactivate, rebalance, kill, savepoints), query routing, the DRPC
//! server and etcd compaction. Nothing here imports [`crate::worker`].

pub mod api;
pub mod binary;
pub mod compaction;
pub mod control;
pub mod control_api;
pub mod drpc_server;
mod leader;
pub mod metrics_targets;
pub mod query_route;
pub mod regroup;
pub mod savepoint;
pub mod scheduler;
pub mod ui;
pub mod ui_api;
pub mod ui_cluster;
pub mod ui_local;
pub(crate) mod ui_openapi;
pub mod ui_types;
pub(crate) mod ui_views;

pub use leader::*;
