//! Worker mode (`squall worker --assignment FILE`, started by a supervisor):
//! rebuilds the assigned topology from its YAML and runs it to the end.
//!
//! For now a worker runs every task of its topology in this process (one
//! worker per topology); running only `Assignment::tasks`, with remote
//! channels for the rest, needs the network data plane.

use std::path::Path;

use crate::store::Assignment;
use crate::supervisor::{EXIT_CONFIG, EXIT_FAILED};

/// Runs the assignment in `file`; returns the process exit code: 0 when the
/// topology finished, [`EXIT_CONFIG`] when it does not load, [`EXIT_FAILED`]
/// when a task failed. Errors go to stderr (the slot's log), last line
/// first-class: the supervisor reports it as the failure's reason.
pub fn run(file: &Path) -> i32 {
    // A worker does not outlive its supervisor: a supervisor that dies
    // takes its workers with it, so no orphan keeps writing.
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        eprintln!("cannot tie the worker to its supervisor: {e}");
    }
    let assignment: Assignment = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cannot read assignment {}: {e}", file.display());
            return EXIT_CONFIG;
        }
    };
    let record = &assignment.topology;
    let loaded = match squall::yaml::parse(&record.yaml, &record.overrides) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_CONFIG;
        }
    };
    eprintln!(
        "worker for {} (epoch {}, {} tasks) on {} slot {}",
        record.name,
        assignment.epoch,
        assignment.tasks.len(),
        assignment.supervisor,
        assignment.slot
    );
    match squall::LocalCluster::run(loaded.topology) {
        Ok(summary) => {
            eprintln!("finished in {:.1} s", summary.elapsed.as_secs_f64());
            0
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_FAILED
        }
    }
}
