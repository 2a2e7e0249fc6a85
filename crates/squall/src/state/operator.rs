//! Operator list state and its redistribution when the parallelism
//! changes: Flink's `OperatorStateStore#getListState` (even split) and
//! `getUnionListState` (union), repartitioned as Flink's
//! `RoundRobinOperatorStateRepartitioner` does.
//!
//! A task's operator list state is a list of elements per name (a source's
//! splits with their positions, a sink's pending transactions). At the same
//! parallelism every task gets its own list back. At another one:
//!
//! - [`Redistribution::Split`]: the lists of all old tasks, concatenated in
//!   task order, are cut into `parallelism` contiguous parts of sizes that
//!   differ by at most one; new task i gets part i. Every element goes to
//!   exactly one task.
//! - [`Redistribution::Union`]: every new task gets every element, and
//!   picks what it needs.
//!
//! What this module does not own: single-value operator state
//! ([`super::OperatorState`], back to the task of the same index), keyed
//! state (redistributed by key group).

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::{Error, Result};
use crate::state::snapshot::TaskSnapshot;
use crate::state::store::{decode, encode, TaskState};
use crate::topology::TopologyContext;

/// How an operator list state is redistributed when the parallelism
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redistribution {
    /// Even split of all elements (Flink's `getListState`).
    Split,
    /// Every task gets all elements (Flink's `getUnionListState`).
    Union,
}

/// One operator list state of one task, as checkpointed: its elements,
/// each encoded with postcard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorList {
    /// How it is redistributed.
    pub mode: Redistribution,
    /// Its elements, in order.
    pub elements: Vec<ByteBuf>,
}

/// The operator list state of task `index` of `parallelism` restored from
/// `snapshots` (every old task of one component).
pub(crate) fn redistribute(
    snapshots: &[&TaskSnapshot],
    index: usize,
    parallelism: usize,
) -> BTreeMap<String, OperatorList> {
    let mut old: Vec<&TaskSnapshot> = snapshots.to_vec();
    old.sort_by_key(|s| s.task_index);
    if old.iter().all(|s| s.parallelism as usize == parallelism) {
        return old
            .iter()
            .find(|s| s.task_index as usize == index)
            .map(|s| s.operator_lists.clone())
            .unwrap_or_default();
    }
    let mut all: BTreeMap<&str, OperatorList> = BTreeMap::new();
    for snap in &old {
        for (name, list) in &snap.operator_lists {
            all.entry(name)
                .or_insert_with(|| OperatorList { mode: list.mode, elements: Vec::new() })
                .elements
                .extend(list.elements.iter().cloned());
        }
    }
    all.into_iter()
        .map(|(name, mut list)| {
            if list.mode == Redistribution::Split {
                let n = list.elements.len();
                let (from, to) = (n * index / parallelism, n * (index + 1) / parallelism);
                list.elements = list.elements.drain(from..to).collect();
            }
            (name.to_string(), list)
        })
        .collect()
}

/// A list of `T` per task, redistributed on rescale (see the module's
/// documentation). Obtained in `open`/`prepare` from
/// [`TopologyContext::operator_list_state`] or
/// [`TopologyContext::union_operator_list_state`]; after a restore it
/// holds what this task was given.
pub struct OperatorListState<T> {
    store: TaskState,
    name: String,
    mode: Redistribution,
    _t: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for OperatorListState<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorListState")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> OperatorListState<T> {
    fn new(store: TaskState, name: &str, mode: Redistribution) -> Result<Self> {
        {
            let mut inner = store.lock();
            let list = inner
                .operator_lists
                .entry(name.to_string())
                .or_insert_with(|| OperatorList { mode, elements: Vec::new() });
            if list.mode != mode {
                return Err(Error::State(format!(
                    "operator list state '{name}' was checkpointed as {:?} state and is asked \
                     for as {mode:?} state",
                    list.mode
                )));
            }
        }
        Ok(OperatorListState { store, name: name.to_string(), mode, _t: PhantomData })
    }

    /// This task's elements, in order.
    ///
    /// # Errors
    /// [`Error::State`] if an element does not decode as `T`.
    pub fn get(&self) -> Result<Vec<T>> {
        let inner = self.store.lock();
        let what = format!("operator list state '{}'", self.name);
        inner.operator_lists[&self.name].elements.iter().map(|e| decode(e, &what)).collect()
    }

    /// Replaces this task's elements; they go into the next checkpoint.
    ///
    /// # Errors
    /// [`Error::State`] if an element cannot be encoded.
    pub fn update(&self, elements: &[T]) -> Result<()> {
        let what = format!("operator list state '{}'", self.name);
        let encoded = elements
            .iter()
            .map(|e| encode(e, &what).map(ByteBuf::from))
            .collect::<Result<Vec<_>>>()?;
        let mut inner = self.store.lock();
        let list = inner.operator_lists.get_mut(&self.name).expect("registered in new");
        list.elements = encoded;
        Ok(())
    }
}

impl TopologyContext {
    /// Operator list state `name`, split evenly over the tasks when the
    /// parallelism changes (Flink's `getListState` of operator state).
    ///
    /// # Errors
    /// [`Error::State`] if `name` was checkpointed as union state.
    pub fn operator_list_state<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<OperatorListState<T>> {
        OperatorListState::new(self.task_state().clone(), name, Redistribution::Split)
    }

    /// Operator list state `name`, given whole to every task when the
    /// parallelism changes (Flink's `getUnionListState`).
    ///
    /// # Errors
    /// [`Error::State`] if `name` was checkpointed as split state.
    pub fn union_operator_list_state<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<OperatorListState<T>> {
        OperatorListState::new(self.task_state().clone(), name, Redistribution::Union)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn snapshot(
        task: usize,
        parallelism: usize,
        lists: &[(&str, Redistribution, &[u8])],
    ) -> TaskSnapshot {
        TaskSnapshot {
            component: "c".into(),
            task_index: task as u32,
            parallelism: parallelism as u32,
            key_groups: 0..0,
            operator: BTreeMap::new(),
            keyed: Vec::new(),
            operator_lists: lists
                .iter()
                .map(|(name, mode, elements)| {
                    let elements = elements.iter().map(|e| ByteBuf::from(vec![*e])).collect();
                    (name.to_string(), OperatorList { mode: *mode, elements })
                })
                .collect(),
        }
    }

    fn elements(lists: &BTreeMap<String, OperatorList>, name: &str) -> Vec<u8> {
        lists.get(name).map(|l| l.elements.iter().map(|e| e[0]).collect()).unwrap_or_default()
    }

    proptest! {
        /// Split: every element lands in exactly one new task, parts differ
        /// by at most one; union: every task gets all; same parallelism:
        /// each task its own.
        #[test]
        fn split_and_union_redistribution(
            old in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..6),
            new in 1usize..8,
        ) {
            let snaps: Vec<TaskSnapshot> = old
                .iter()
                .enumerate()
                .map(|(i, e)| snapshot(i, old.len(), &[("s", Redistribution::Split, e), ("u", Redistribution::Union, e)]))
                .collect();
            let refs: Vec<&TaskSnapshot> = snaps.iter().rev().collect();
            let all: Vec<u8> = old.concat();
            let parts: Vec<_> = (0..new).map(|i| redistribute(&refs, i, new)).collect();
            if new == old.len() {
                for (i, p) in parts.iter().enumerate() {
                    prop_assert_eq!(elements(p, "s"), old[i].clone());
                }
            } else {
                let split: Vec<Vec<u8>> = parts.iter().map(|p| elements(p, "s")).collect();
                prop_assert_eq!(split.concat(), all.clone());
                let sizes: Vec<usize> = split.iter().map(Vec::len).collect();
                prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
                for p in &parts {
                    prop_assert_eq!(elements(p, "u"), all.clone());
                }
            }
        }
    }
}
