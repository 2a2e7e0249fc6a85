//! Running a topology: the one job driver ([`job::run`]) that restores,
//! runs attempts, restarts them by the topology's restart strategy
//! ([`restart_strategy::RestartTracker`]) and fences stale copies, in local
//! mode and on a cluster alike; its in-process host (`local_host`); and the
//! local entry points ([`local::LocalCluster`]).

pub(crate) mod job;
pub(crate) mod local;
pub(crate) mod local_host;
pub(crate) mod restart_strategy;
