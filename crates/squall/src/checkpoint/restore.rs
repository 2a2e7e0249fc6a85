//! A task's state at start: empty, or restored from a checkpoint or
//! savepoint, whatever the parallelism that wrote it.
//!
//! Keyed state comes back by key group: a task takes every key group of its
//! new range from whichever old snapshots hold it. Full snapshots
//! ([`crate::state::TaskSnapshot`]) are cut by key group already. An
//! incremental RocksDB snapshot is a database: a task whose key groups are
//! exactly the ones it held (same parallelism, `rocksdb` backend) opens a
//! working copy of it as its own database (no row is read, and its next
//! checkpoint reuses the restored SST files); any other task opens every
//! old database that overlaps its range and copies its key groups out of it
//! (Flink's rescaling of RocksDB state, without the clip-by-range
//! optimisation). Operator state is redistributed by `state::operator`.
//!
//! What this module does not own: reading and verifying the checkpoint
//! ([`crate::checkpoint::storage`]), the backends ([`crate::state`]).

use std::ops::Range;

use crate::checkpoint::RestoredCheckpoint;
use crate::error::Result;
use crate::keys;
use crate::state::TaskState;
use crate::topology::TopologyConfig;

/// The state of task `index` of `component` (of `parallelism` tasks): a
/// backend of the configured kind for its key groups, filled from
/// `restored` if given.
///
/// # Errors
/// An error of the backend, or a database file that cannot be copied.
pub(crate) fn task_state(
    config: &TopologyConfig,
    component: &str,
    index: usize,
    parallelism: usize,
    restored: Option<&RestoredCheckpoint>,
) -> Result<TaskState> {
    let max = config.max_parallelism;
    let groups = keys::key_groups_of_task(index, parallelism, max);
    let Some(r) = restored else {
        return Ok(TaskState::new(config.state_backend.create(groups)?, max));
    };
    let state = match reopen(config, r, component, &groups)? {
        Some(state) => state,
        None => {
            let state = TaskState::new(config.state_backend.create(groups.clone())?, max);
            copy_key_groups(&state, r, component, &groups)?;
            state
        }
    };
    state.restore(r.id(), index, parallelism, &r.of(component))?;
    Ok(state)
}

/// The old database that held exactly `groups`, opened as this task's own.
#[cfg(feature = "rocksdb")]
fn reopen(
    config: &TopologyConfig,
    r: &RestoredCheckpoint,
    component: &str,
    groups: &Range<usize>,
) -> Result<Option<TaskState>> {
    use crate::checkpoint::incremental::working_copy;
    use crate::state::{RocksDbBackend, StateBackendKind};
    if config.state_backend != StateBackendKind::Rocksdb {
        return Ok(None);
    }
    let Some(db) = r.databases_of(component).iter().find(|d| d.files.key_groups == *groups) else {
        return Ok(None);
    };
    let backend = RocksDbBackend::open_restored(working_copy(db.dir.path())?, &db.files)?;
    let states = backend.states().to_vec();
    Ok(Some(TaskState::with_states(Box::new(backend), config.max_parallelism, states)))
}

#[cfg(not(feature = "rocksdb"))]
fn reopen(
    _: &TopologyConfig,
    _: &RestoredCheckpoint,
    _: &str,
    _: &Range<usize>,
) -> Result<Option<TaskState>> {
    Ok(None)
}

/// Copies the key groups in `groups` out of every old database of
/// `component` that holds some of them.
#[cfg(feature = "rocksdb")]
fn copy_key_groups(
    state: &TaskState,
    r: &RestoredCheckpoint,
    component: &str,
    groups: &Range<usize>,
) -> Result<()> {
    use crate::checkpoint::incremental::working_copy;
    use crate::state::RocksDbBackend;
    for db in r.databases_of(component) {
        let old = &db.files.key_groups;
        let overlap = old.start.max(groups.start)..old.end.min(groups.end);
        if overlap.is_empty() {
            continue;
        }
        let source = RocksDbBackend::open_restored(working_copy(db.dir.path())?, &db.files)?;
        for key_group in overlap {
            if let Some(group) = source.key_group(key_group)? {
                state.restore_key_group(group)?;
            }
        }
    }
    Ok(())
}

#[cfg(not(feature = "rocksdb"))]
fn copy_key_groups(_: &TaskState, _: &RestoredCheckpoint, _: &str, _: &Range<usize>) -> Result<()> {
    Ok(()) // without the feature, loading a database already failed
}
