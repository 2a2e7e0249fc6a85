//! The worker side: the supervisor daemon and the worker processes it
//! starts ([`process`]), the cluster's attempt host for the core's job
//! driver ([`distributed`]), the control and acker planes between workers,
//! the data plane's connections ([`link`]) and the DRPC clients. Nothing
//! here imports [`crate::nimbus`].

pub mod binary_main;
pub mod distributed;
pub mod drpc_client;
pub mod link;
pub mod process;
pub mod supervisor;
mod ui_publish;
pub(crate) mod worker_control;

pub use process::*;
