//! Nimbus's rule for a topology spread over several workers that lost some
//! of them (their supervisor's lease expired): its remaining assignments
//! are withdrawn too, so that the next reconcile schedules the whole
//! topology again with epoch + 1. Its workers then all restart from the
//! last completed checkpoint, and the withdrawn ones are fenced
//! ([`crate::worker::distributed`]): their epoch is no longer in etcd.
//!
//! A worker that finished is not lost: it left a mark under
//! `done/{topology}/{epoch}/` before its supervisor removed its assignment.

use std::collections::BTreeMap;

use crate::protocol::store::{Assignment, Store};
use crate::Result;

/// Deletes the assignments in `live` (key, assignment) of every topology
/// whose live workers plus finished ones are fewer than it was given, and
/// removes them from `live`.
///
/// # Errors
/// [`crate::Error::Etcd`] or [`crate::Error::Record`].
pub async fn drop_incomplete(store: &Store, live: &mut Vec<(String, Assignment)>) -> Result<()> {
    let mut by_topology: BTreeMap<(String, u64), (usize, usize)> = BTreeMap::new();
    for (_, a) in live.iter() {
        let entry = by_topology.entry((a.topology.name.clone(), a.epoch)).or_insert((0, a.workers));
        entry.0 += 1;
    }
    for ((name, epoch), (running, workers)) in by_topology {
        if running >= workers {
            continue;
        }
        // Read after the assignments: a supervisor marks a finished worker
        // before it deletes its assignment.
        let done = store.list::<bool>(&format!("done/{name}/{epoch}")).await?.len();
        if running + done >= workers {
            continue;
        }
        tracing::warn!(topology = %name, epoch, running, workers, "topology lost a worker; moving it whole");
        let mut kept = Vec::with_capacity(live.len());
        for (key, a) in live.drain(..) {
            if a.topology.name == name && a.epoch == epoch {
                store.delete_assignment(&key, epoch).await?;
            } else {
                kept.push((key, a));
            }
        }
        *live = kept;
    }
    Ok(())
}
