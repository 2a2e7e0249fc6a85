//! Running a topology: the local driver ([`local::LocalCluster`]), the loop
//! that restores checkpoints and restarts failed attempts (`recovery`), and
//! the restart rule both local and cluster drivers apply
//! ([`restart_strategy::RestartTracker`]).

pub(crate) mod local;
pub(crate) mod recovery;
pub(crate) mod restart_strategy;
