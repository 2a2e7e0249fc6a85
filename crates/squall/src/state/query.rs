//! Queryable state (Kafka Streams' interactive queries): a running
//! topology's keyed state read from outside, by key or by a scan of keys
//! with a limit, as JSON.
//!
//! - [`LiveStates`]: every local task's [`TaskState`] by component and task
//!   index, registered when the runtime builds a task (again on a restart).
//! - A read by key goes to the task that owns the key's key group (the one
//!   the fields grouping sends the key to) and reads its **live** value
//!   under the task's state lock, between two tuples: a value the task has
//!   written, not necessarily one a checkpoint has committed.
//! - Values are turned into JSON by the decoder each typed handle
//!   registered ([`Decoder`]): `ValueState<T>`, `ListState<T>`,
//!   `ReducingState<T>` and `MapState<K, V>` all are queryable.
//! - State an operator keeps on its heap (a window bolt's open windows,
//!   state `windows`) is read through the [`HeapView`] it registered: live
//!   reads are answered by the task itself between two records, committed
//!   reads decode the checkpoint's entry with the view.
//!
//! What this module does not own: serving queries over HTTP
//! (`squall_cluster::query_api`) or reading committed checkpoints.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys;
use crate::model::Value;
use crate::state::backend::StateKind;
use crate::state::store::{decode, TaskState};
use crate::state::HeapView;

/// A stored entry: key bytes and value bytes.
type Entry = (Vec<u8>, Vec<u8>);

/// Turns stored bytes into JSON.
pub(crate) type DecodeFn = fn(&[u8]) -> Result<serde_json::Value>;

/// How to show one state's entries as JSON: its value type, and for map
/// state its map key type.
#[derive(Clone, Copy)]
pub(crate) enum Decoder {
    /// One value per key.
    Value(DecodeFn),
    /// A map per key: entry keys and values.
    Map { key: DecodeFn, value: DecodeFn },
}

/// Decodes bytes as `T` and shows them as JSON.
pub(crate) fn json_of<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<serde_json::Value> {
    let value: T = decode(bytes, "a queried value")?;
    serde_json::to_value(value)
        .map_err(|e| Error::State(format!("cannot show a value as JSON: {e}")))
}

#[derive(Default)]
struct Components {
    max_parallelism: usize,
    /// The tasks of each component with state, by task index.
    tasks: HashMap<String, Vec<Option<TaskState>>>,
}

/// The state of every local task of one topology, for queries. Cheap to
/// clone (a shared handle).
#[derive(Clone, Default)]
pub struct LiveStates(Arc<Mutex<Components>>);

impl std::fmt::Debug for LiveStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("LiveStates").field("components", &inner.tasks.len()).finish()
    }
}

/// One entry a query found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueriedEntry {
    /// The key: the values of the fields the state is keyed by, as JSON.
    pub key: Vec<serde_json::Value>,
    /// Its value as JSON; for map state an object of the map's entries
    /// (keys shown as text).
    pub value: serde_json::Value,
}

/// The answer to a read by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyAnswer {
    /// The key asked for, as JSON.
    pub key: Vec<serde_json::Value>,
    /// Its live value as JSON, `null` if it has none.
    pub value: serde_json::Value,
    /// The task index (within the component) that owns the key.
    pub task: usize,
    /// The key's key group.
    pub key_group: usize,
    /// The checkpoint the value was read from; absent for a live read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<u64>,
}

/// Which keys a scan returns: those whose text (the key's fields joined
/// by `,`) starts with `prefix`, and lies in `[from, to)`; at most `limit`
/// of them, in text order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scan {
    /// Keys starting with this text.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Keys at or after this text.
    #[serde(default)]
    pub from: Option<String>,
    /// Keys before this text.
    #[serde(default)]
    pub to: Option<String>,
    /// At most this many entries.
    pub limit: usize,
}

impl Scan {
    /// Whether a key of text `text` ([`key_text`]) is one this scan wants.
    pub fn matches(&self, text: &str) -> bool {
        self.prefix.as_ref().is_none_or(|p| text.starts_with(p.as_str()))
            && self.from.as_ref().is_none_or(|f| text >= f.as_str())
            && self.to.as_ref().is_none_or(|t| text < t.as_str())
    }
}

/// The answer to a scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanAnswer {
    /// The entries, in key text order.
    pub entries: Vec<QueriedEntry>,
    /// Whether more keys matched than `limit`.
    pub truncated: bool,
}

/// A tuple value as plain JSON (text, numbers, booleans, null, arrays,
/// objects; bytes as an array of numbers, a timestamp as its ms, a native
/// record as its debug text).
pub fn value_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) | Value::Timestamp(i) => J::from(*i),
        Value::Float(f) => J::from(*f),
        Value::String(s) => J::String(s.clone()),
        Value::Bytes(b) => J::from(b.clone()),
        Value::List(l) => J::Array(l.iter().map(value_json).collect()),
        Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), value_json(v))).collect()),
        Value::Native(_) => J::String(value.to_string()),
    }
}

/// A key given as JSON: an array is one value per key field, anything
/// else one field (`"hamlet"`, `7`, `true`).
///
/// # Errors
/// [`Error::State`] for a JSON object (a key field cannot be one).
pub fn json_key(json: &serde_json::Value) -> Result<Vec<Value>> {
    fn one(json: &serde_json::Value) -> Result<Value> {
        use serde_json::Value as J;
        Ok(match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::String(s.clone()),
            J::Array(a) => Value::List(a.iter().map(one).collect::<Result<_>>()?),
            J::Object(_) => {
                return Err(Error::State(format!("a key field cannot be a JSON object: {json}")))
            }
        })
    }
    match json {
        serde_json::Value::Array(fields) => fields.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// The text of a key, for scans: its fields joined by `,`.
pub fn key_text(key: &[Value]) -> String {
    key.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
}

impl LiveStates {
    fn lock(&self) -> std::sync::MutexGuard<'_, Components> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `state` as task `index` of `parallelism` of `component`
    /// (replacing a task that was restarted).
    pub(crate) fn register(
        &self,
        component: &str,
        index: usize,
        parallelism: usize,
        max_parallelism: usize,
        state: TaskState,
    ) {
        let mut inner = self.lock();
        inner.max_parallelism = max_parallelism;
        let tasks = inner.tasks.entry(component.to_string()).or_default();
        tasks.resize(parallelism.max(tasks.len()), None);
        tasks[index] = Some(state);
    }

    /// The tasks of `component` and the topology's `max_parallelism`.
    fn tasks_of(&self, component: &str) -> Result<(Vec<Option<TaskState>>, usize)> {
        let inner = self.lock();
        match inner.tasks.get(component) {
            Some(tasks) => Ok((tasks.clone(), inner.max_parallelism)),
            None => {
                let mut known: Vec<&String> = inner.tasks.keys().collect();
                known.sort();
                Err(Error::State(format!(
                    "no component '{component}' runs here (components: {known:?})"
                )))
            }
        }
    }

    /// The live value of `key` in state `state` of `component`, read from
    /// the task that owns the key's key group.
    ///
    /// # Errors
    /// [`Error::State`] naming what is unknown: the component (not running
    /// here), the state (not registered by the owning task, with the names
    /// it has), or a state that cannot be shown as JSON.
    pub fn get(&self, component: &str, state: &str, key: &[Value]) -> Result<KeyAnswer> {
        let (tasks, max) = self.tasks_of(component)?;
        let key_group = keys::key_group(keys::key_hash(key), max);
        let task = keys::task_for_key_group(key_group, tasks.len(), max);
        let Some(owner) = &tasks[task] else {
            return Err(Error::State(format!(
                "task {task} of '{component}' (owner of the key) does not run here"
            )));
        };
        let answer = |value| KeyAnswer {
            key: key.iter().map(value_json).collect(),
            value,
            task,
            key_group,
            checkpoint: None,
        };
        let view = owner.lock().views.get(state).cloned();
        if let Some(view) = view {
            // Asked without holding the state lock: the task may need it.
            return Ok(answer(view.get(key)?));
        }
        let key_bytes = postcard::to_allocvec(key)
            .map_err(|e| Error::State(format!("cannot encode the key {key:?}: {e}")))?;
        let inner = owner.lock();
        let (id, decoder) = find(&inner.states, &inner.decoders, component, state)?;
        let value = match decoder {
            Decoder::Value(value) => match inner.backend.get(id, key_group, &key_bytes)? {
                Some(bytes) => value(&bytes)?,
                None => serde_json::Value::Null,
            },
            Decoder::Map { key: k, value: v } => {
                let found = inner.backend.scan_prefix(id, key_group, &key_bytes)?;
                if found.is_empty() {
                    serde_json::Value::Null
                } else {
                    map_json(&found, key_bytes.len(), k, v)?
                }
            }
        };
        Ok(answer(value))
    }

    /// The value of `key` in state `state` of `component` as checkpoint
    /// `checkpoint` holds it: the value committed with that checkpoint,
    /// the one a restart would restore.
    ///
    /// # Errors
    /// As [`LiveStates::get`] (the decoder comes from the live tasks);
    /// [`Error::State`] if the checkpoint holds no snapshot of the key's key
    /// group (an incremental RocksDB checkpoint keeps its state in
    /// database files, which are not read here).
    pub fn get_committed(
        &self,
        component: &str,
        state: &str,
        key: &[Value],
        checkpoint: &crate::checkpoint::RestoredCheckpoint,
    ) -> Result<KeyAnswer> {
        let (tasks, max) = self.tasks_of(component)?;
        let key_group = keys::key_group(keys::key_hash(key), max);
        let Some(live) = tasks.iter().flatten().next() else {
            return Err(Error::State(format!("no task of '{component}' runs here")));
        };
        let shown = {
            let inner = live.lock();
            match inner.views.get(state) {
                Some(view) => Shown::View(view.clone()),
                None => Shown::Decoder(find(&inner.states, &inner.decoders, component, state)?.1),
            }
        };
        let id = checkpoint.id();
        let Some(snapshot) = checkpoint
            .of(component)
            .into_iter()
            .find(|s| s.key_groups.contains(&(key_group as u32)))
        else {
            return Err(Error::State(format!(
                "checkpoint {id} holds no snapshot of key group {key_group} of '{component}' \
                 (incremental RocksDB checkpoints are not read by queries)"
            )));
        };
        let key_bytes = postcard::to_allocvec(key)
            .map_err(|e| Error::State(format!("cannot encode the key {key:?}: {e}")))?;
        let entries: Vec<Entry> = snapshot
            .keyed
            .iter()
            .filter(|g| g.key_group as usize == key_group)
            .flat_map(|g| g.states.iter().filter(|s| s.name == state))
            .flat_map(|s| s.entries.iter())
            .filter(|(k, _)| k.starts_with(&key_bytes))
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        let exact = entries.iter().find(|(k, _)| *k == key_bytes).map(|(_, v)| v.as_slice());
        let value = match shown {
            Shown::View(view) => exact.map(|v| view.show(v)).transpose()?,
            Shown::Decoder(Decoder::Value(value)) => exact.map(value).transpose()?,
            Shown::Decoder(Decoder::Map { .. }) if entries.is_empty() => None,
            Shown::Decoder(Decoder::Map { key: k, value: v }) => {
                Some(map_json(&entries, key_bytes.len(), k, v)?)
            }
        };
        let value = value.unwrap_or(serde_json::Value::Null);
        Ok(KeyAnswer {
            key: key.iter().map(value_json).collect(),
            value,
            task: snapshot.task_index as usize,
            key_group,
            checkpoint: Some(id),
        })
    }

    /// The live entries of state `state` of `component` whose keys match
    /// `scan`, over every task (keys are spread over all of them by hash).
    /// Copies each task's entries of the state while holding its lock: a
    /// cost in the size of the state, paid by the query.
    ///
    /// # Errors
    /// As [`LiveStates::get`]; [`Error::State`] for a limit of 0.
    pub fn scan(&self, component: &str, state: &str, scan: &Scan) -> Result<ScanAnswer> {
        if scan.limit == 0 {
            return Err(Error::State("a scan's limit must be at least 1".into()));
        }
        let (tasks, _) = self.tasks_of(component)?;
        let mut found: BTreeMap<String, QueriedEntry> = BTreeMap::new();
        let mut truncated = false;
        let mut keep = |found: &mut BTreeMap<String, QueriedEntry>, text, entry| {
            found.insert(text, entry);
            if found.len() > scan.limit {
                found.pop_last();
                truncated = true;
            }
        };
        for task in tasks.iter().flatten() {
            let view = task.lock().views.get(state).cloned();
            if let Some(view) = view {
                for (text, entry) in view.scan(scan)? {
                    keep(&mut found, text, entry);
                }
                continue;
            }
            let inner = task.lock();
            let (id, decoder) = find(&inner.states, &inner.decoders, component, state)?;
            let name = &inner.states[id].0;
            for group in inner.backend.snapshot()? {
                let Some(named) = group.states.iter().find(|s| &s.name == name) else {
                    continue;
                };
                // Entries of one key (map state: several) together.
                let mut by_key: BTreeMap<Vec<u8>, Vec<Entry>> = BTreeMap::new();
                for (k, v) in &named.entries {
                    let (_, rest) = postcard::take_from_bytes::<Vec<Value>>(k).map_err(|e| {
                        Error::State(format!("cannot decode a key of '{name}': {e}"))
                    })?;
                    let key_bytes = k[..k.len() - rest.len()].to_vec();
                    by_key.entry(key_bytes).or_default().push((k.to_vec(), v.to_vec()));
                }
                for (key_bytes, entries) in by_key {
                    let key: Vec<Value> = decode(&key_bytes, "a key")?;
                    let text = key_text(&key);
                    if !scan.matches(&text) {
                        continue;
                    }
                    let value = match decoder {
                        Decoder::Value(value) => value(&entries[0].1)?,
                        Decoder::Map { key: k, value: v } => {
                            map_json(&entries, key_bytes.len(), k, v)?
                        }
                    };
                    let key = key.iter().map(value_json).collect();
                    keep(&mut found, text, QueriedEntry { key, value });
                }
            }
        }
        Ok(ScanAnswer { entries: found.into_values().collect(), truncated })
    }
}

/// How a committed entry is shown.
enum Shown {
    Decoder(Decoder),
    View(std::sync::Arc<dyn HeapView>),
}

/// The id and decoder of state `state`.
fn find(
    states: &[(String, StateKind)],
    decoders: &HashMap<String, Decoder>,
    component: &str,
    state: &str,
) -> Result<(usize, Decoder)> {
    let Some(id) = states.iter().position(|(n, _)| n == state) else {
        let names: Vec<&str> = states.iter().map(|(n, _)| n.as_str()).collect();
        return Err(Error::State(format!(
            "'{component}' has no keyed state '{state}' (it has {names:?})"
        )));
    };
    let decoder = decoders.get(state).copied().ok_or_else(|| {
        Error::State(format!(
            "state '{state}' of '{component}' is not queryable (it is not kept through a typed handle)"
        ))
    })?;
    Ok((id, decoder))
}

/// A map state's entries of one key as a JSON object (map keys as text).
fn map_json(
    entries: &[Entry],
    prefix: usize,
    key: DecodeFn,
    value: DecodeFn,
) -> Result<serde_json::Value> {
    let mut map = serde_json::Map::new();
    for (k, v) in entries {
        let shown = match key(&k[prefix..])? {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        map.insert(shown, value(v)?);
    }
    Ok(serde_json::Value::Object(map))
}
