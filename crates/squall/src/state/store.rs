//! [`TaskState`]: the keyed and operator state of one task, shared between
//! the state handles a component holds and the executor that sets the
//! current key, snapshots and restores it.
//!
//! Flink's split: the *keyed* state lives in a [`StateBackend`] and is
//! scoped to the key of the tuple being processed (the executor sets it from
//! the fields grouping of the tuple's input before every `execute`); the
//! *operator* state (a spout's offsets, a sink's pending transactions) is a
//! few named values per task, kept here as encoded bytes.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_bytes::ByteBuf;

use crate::error::{Error, Result};
use crate::keys;
use crate::model::{Fields, Tuple, Value};
use crate::state::backend::{KeyGroupState, StateBackend, StateId, StateKind};
use crate::state::operator::{redistribute, OperatorList};
use crate::state::snapshot::TaskSnapshot;

/// Encodes a state value or key with postcard.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|e| Error::State(format!("cannot encode {what}: {e}")))
}

/// Decodes a state value encoded by [`encode`].
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| {
        Error::State(format!("cannot decode {what} (was it written with another type?): {e}"))
    })
}

/// The key of the tuple being processed.
#[derive(Debug, Default)]
pub(crate) struct CurrentKey {
    pub key_group: usize,
    /// The key's values, encoded; a prefix-free encoding (postcard of a
    /// sequence), so that map state can append user keys to it.
    pub bytes: Vec<u8>,
}

pub(crate) struct Inner {
    pub backend: Box<dyn StateBackend>,
    pub states: Vec<(String, StateKind)>,
    pub current: Option<CurrentKey>,
    pub operator: BTreeMap<String, ByteBuf>,
    /// Operator list state, redistributed on rescale (`state::operator`).
    pub operator_lists: BTreeMap<String, OperatorList>,
    pub max_parallelism: usize,
    /// Set when restored from a checkpoint.
    pub restored_from: Option<u64>,
    /// Reused buffer for encoding values.
    pub scratch: Vec<u8>,
    /// How to show each typed state as JSON, by name (queries).
    pub decoders: HashMap<String, crate::state::Decoder>,
    /// State kept on the operator's heap that queries read through the
    /// operator, by name.
    pub views: HashMap<String, std::sync::Arc<dyn crate::state::HeapView>>,
}

impl Inner {
    /// The current key, or an error naming the state used without one.
    pub fn key(&self, state: StateId) -> Result<&CurrentKey> {
        self.current.as_ref().ok_or_else(|| {
            Error::State(format!(
                "keyed state '{}' used without a current key: keyed state is only available \
                 in `execute` on an input subscribed with a fields grouping",
                self.states[state].0
            ))
        })
    }
}

impl Inner {
    /// Encodes `value` of state `state` and stores it under the current key.
    ///
    /// # Errors
    /// As [`Inner::key`], or if `value` cannot be encoded.
    pub fn put<T: Serialize + ?Sized>(&mut self, state: StateId, value: &T) -> Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let encoded = postcard::to_extend(value, buf).map_err(|e| {
            Error::State(format!("cannot encode state '{}': {e}", self.states[state].0))
        });
        let buf = encoded?;
        let r =
            self.split(state).and_then(|(b, key)| b.put(state, key.key_group, &key.bytes, &buf));
        self.scratch = buf;
        r
    }

    /// The backend and the current key, borrowed together for a write.
    ///
    /// # Errors
    /// As [`Inner::key`].
    pub fn split(&mut self, state: StateId) -> Result<(&mut dyn StateBackend, &CurrentKey)> {
        self.key(state)?;
        let Inner { backend, current, .. } = self;
        Ok((backend.as_mut(), current.as_ref().expect("checked above")))
    }
}

/// Which input fields make the key, per input stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeySelector {
    /// (producer component, stream, key fields) of every fields-grouped input.
    pub inputs: Vec<(String, String, Fields)>,
    /// The schema, input and key indices of the last tuple seen (two
    /// inputs may share a schema and differ in their key).
    cached: Option<(Fields, usize, Vec<usize>)>,
}

impl KeySelector {
    pub fn new(inputs: Vec<(String, String, Fields)>) -> KeySelector {
        KeySelector { inputs, cached: None }
    }

    /// Indices of the key fields in `tuple`, `None` if its input is not
    /// fields-grouped.
    fn indices(&mut self, tuple: &Tuple) -> Option<&[usize]> {
        let same = self.cached.as_ref().is_some_and(|(f, input, _)| {
            f == tuple.fields()
                && self.inputs[*input].0 == tuple.source_component()
                && self.inputs[*input].1 == tuple.source_stream()
        });
        if !same {
            let input = self.inputs.iter().position(|(c, s, _)| {
                c == tuple.source_component() && s == tuple.source_stream()
            })?;
            let key = &self.inputs[input].2;
            let indices = key.names().iter().filter_map(|n| tuple.fields().index_of(n)).collect();
            self.cached = Some((tuple.fields().clone(), input, indices));
        }
        self.cached.as_ref().map(|(_, _, i)| i.as_slice())
    }
}

/// Serializes the key fields of a tuple as one sequence, without copying.
struct KeyRef<'a>(&'a [Value], &'a [usize]);

impl Serialize for KeyRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.1.iter().map(|&i| &self.0[i]))
    }
}

/// The state of one task. Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct TaskState {
    inner: Arc<Mutex<Inner>>,
    /// Whether any keyed state was registered: the executor only computes
    /// the current key when one was.
    keyed: Arc<AtomicBool>,
}

impl std::fmt::Debug for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("TaskState")
            .field("backend", &inner.backend.name())
            .field("key_groups", &inner.backend.key_groups())
            .field("entries", &inner.backend.len())
            .finish()
    }
}

impl TaskState {
    /// State of a task holding `backend`'s key groups out of
    /// `max_parallelism`.
    pub(crate) fn new(backend: Box<dyn StateBackend>, max_parallelism: usize) -> TaskState {
        TaskState::with_states(backend, max_parallelism, Vec::new())
    }

    /// As [`TaskState::new`], for a backend that already holds `states`
    /// (a database opened from a checkpoint's files), in id order.
    pub(crate) fn with_states(
        backend: Box<dyn StateBackend>,
        max_parallelism: usize,
        states: Vec<(String, StateKind)>,
    ) -> TaskState {
        TaskState {
            inner: Arc::new(Mutex::new(Inner {
                backend,
                states,
                current: None,
                operator: BTreeMap::new(),
                operator_lists: BTreeMap::new(),
                max_parallelism,
                restored_from: None,
                scratch: Vec::new(),
                decoders: HashMap::new(),
                views: HashMap::new(),
            })),
            keyed: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic in user code while a handle held the lock poisons it; the
        // task is failing anyway, and the state is only read for snapshots of
        // healthy tasks.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The id of state `name`, registering it on first use.
    ///
    /// # Errors
    /// [`Error::State`] if `name` was registered with another kind.
    pub(crate) fn register(&self, name: &str, kind: StateKind) -> Result<StateId> {
        self.keyed.store(true, Ordering::Relaxed);
        self.register_unscoped(name, kind)
    }

    /// As [`TaskState::register`], for state written by explicit key only
    /// (see `state::raw`): the runtime need not set a current key per tuple.
    ///
    /// # Errors
    /// As [`TaskState::register`].
    pub(crate) fn register_unscoped(&self, name: &str, kind: StateKind) -> Result<StateId> {
        let mut inner = self.lock();
        if let Some(id) = inner.states.iter().position(|(n, _)| n == name) {
            if inner.states[id].1 != kind {
                return Err(Error::State(format!(
                    "state '{name}' is registered as {:?} state and asked for as {kind:?} state",
                    inner.states[id].1
                )));
            }
            return Ok(id);
        }
        let id = inner.states.len();
        inner.states.push((name.to_string(), kind));
        inner.backend.register(id, name, kind);
        Ok(id)
    }

    /// Makes the heap state `name` of this task's operator queryable
    /// through `view` (a window bolt's open windows), live and, if
    /// checkpoints hold keyed state of that name, committed.
    pub fn serve_view(&self, name: &str, view: std::sync::Arc<dyn crate::state::HeapView>) {
        self.lock().views.insert(name.to_string(), view);
    }

    /// Records how state `name` shows as JSON (its typed handle knows).
    pub(crate) fn set_decoder(&self, name: &str, decoder: crate::state::Decoder) {
        self.lock().decoders.insert(name.to_string(), decoder);
    }

    /// Whether keyed state is in use.
    pub(crate) fn has_keyed(&self) -> bool {
        self.keyed.load(Ordering::Relaxed)
    }

    /// Sets the current key from `tuple`'s key fields, or clears it when its
    /// input is not fields-grouped.
    ///
    /// # Errors
    /// [`Error::State`] if the key cannot be encoded.
    pub(crate) fn set_current_key(&self, selector: &mut KeySelector, tuple: &Tuple) -> Result<()> {
        let mut inner = self.lock();
        let Some(indices) = selector.indices(tuple) else {
            inner.current = None;
            return Ok(());
        };
        let values = tuple.values();
        let hash = keys::key_hash(indices.iter().map(|&i| &values[i]));
        let key_group = keys::key_group(hash, inner.max_parallelism);
        let mut current = inner.current.take().unwrap_or_default();
        current.key_group = key_group;
        current.bytes.clear();
        let bytes = std::mem::take(&mut current.bytes);
        current.bytes = postcard::to_extend(&KeyRef(values, indices), bytes)
            .map_err(|e| Error::State(format!("cannot encode a key: {e}")))?;
        inner.current = Some(current);
        Ok(())
    }

    /// The key groups this task holds.
    pub fn key_groups(&self) -> Range<usize> {
        self.lock().backend.key_groups()
    }

    /// The checkpoint this task's state was restored from, if any.
    pub fn restored_from(&self) -> Option<u64> {
        self.lock().restored_from
    }

    /// Number of keyed entries.
    pub fn keyed_entries(&self) -> usize {
        self.lock().backend.len()
    }

    /// Reads operator state `name`.
    pub(crate) fn operator_get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let inner = self.lock();
        inner.operator.get(name).map(|b| decode(b, &format!("operator state '{name}'"))).transpose()
    }

    /// Writes operator state `name`.
    pub(crate) fn operator_set<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let bytes = encode(value, &format!("operator state '{name}'"))?;
        self.lock().operator.insert(name.to_string(), ByteBuf::from(bytes));
        Ok(())
    }

    /// The synchronous part of a snapshot of task `task_index` of
    /// `component`: a copy of the operator state, and of every keyed entry
    /// unless `keyed` is false (an incremental snapshot stores the keyed
    /// state as database files instead).
    ///
    /// # Errors
    /// An error of the backend.
    pub(crate) fn snapshot(
        &self,
        component: &str,
        task_index: usize,
        parallelism: usize,
        keyed: bool,
    ) -> Result<TaskSnapshot> {
        let inner = self.lock();
        let groups = inner.backend.key_groups();
        Ok(TaskSnapshot {
            component: component.to_string(),
            task_index: task_index as u32,
            parallelism: parallelism as u32,
            key_groups: groups.start as u32..groups.end as u32,
            operator: inner.operator.clone(),
            keyed: if keyed { inner.backend.snapshot()? } else { Vec::new() },
            operator_lists: inner.operator_lists.clone(),
        })
    }

    /// Loads the state of checkpoint `checkpoint` that belongs to task
    /// `task_index` of `parallelism`: every key group it holds, from
    /// whichever snapshots of its component hold it (the parallelism may
    /// have changed); the operator state of the task with the same index;
    /// the operator list state redistributed as `state::operator` says.
    ///
    /// # Errors
    /// An error of the backend.
    pub(crate) fn restore(
        &self,
        checkpoint: u64,
        task_index: usize,
        parallelism: usize,
        snapshots: &[&TaskSnapshot],
    ) -> Result<()> {
        let mine = self.key_groups();
        for snap in snapshots {
            if snap.task_index as usize == task_index {
                self.lock().operator = snap.operator.clone();
            }
            for group in &snap.keyed {
                if mine.contains(&(group.key_group as usize)) {
                    self.restore_key_group(group.clone())?;
                }
            }
        }
        let mut inner = self.lock();
        inner.operator_lists = redistribute(snapshots, task_index, parallelism);
        inner.restored_from = Some(checkpoint);
        Ok(())
    }

    /// Loads one key group (one this task holds), registering its states.
    ///
    /// # Errors
    /// An error of the backend.
    pub(crate) fn restore_key_group(&self, group: KeyGroupState) -> Result<()> {
        let mut inner = self.lock();
        for named in &group.states {
            if !inner.states.iter().any(|(n, _)| *n == named.name) {
                let id = inner.states.len();
                inner.states.push((named.name.clone(), named.kind));
                inner.backend.register(id, &named.name, named.kind);
            }
        }
        inner.backend.restore(group)
    }
}
