//! Typed state handles: [`ValueState`], [`ListState`], [`MapState`],
//! [`ReducingState`] (keyed, scoped to the current key) and
//! [`OperatorState`] (one value per task), as Flink's state primitives.
//!
//! A handle is obtained once, in `open`/`prepare`, from the task's
//! [`TopologyContext`] and kept in the component. Values are encoded with
//! postcard, so any serde type can be state, and the same code runs on
//! every backend.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Result;
use crate::state::backend::{StateId, StateKind};
use crate::state::store::{decode, encode, TaskState};
use crate::topology::TopologyContext;

/// One value per key.
pub struct ValueState<T> {
    store: TaskState,
    id: StateId,
    _t: PhantomData<fn() -> T>,
}

/// A list per key; `add` appends.
pub struct ListState<T> {
    inner: ValueState<Vec<T>>,
}

/// A map per key: entries stored one by one, so a key's map can be large.
pub struct MapState<K, V> {
    store: TaskState,
    id: StateId,
    _t: PhantomData<fn() -> (K, V)>,
}

/// One value per key, folded with a reduce function on every `add`
/// (Flink's `ReducingState`).
pub struct ReducingState<T> {
    inner: ValueState<T>,
    reduce: Arc<dyn Fn(T, T) -> T + Send + Sync>,
}

/// One value per task, not per key (Flink's operator state): a spout's
/// offsets, a sink's pending transactions. Restored to the task with the
/// same index.
pub struct OperatorState<T> {
    store: TaskState,
    name: String,
    _t: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> ValueState<T> {
    fn new(store: TaskState, name: &str) -> Result<Self> {
        let id = store.register(name, StateKind::Value)?;
        store.set_decoder(name, crate::state::Decoder::Value(crate::state::json_of::<T>));
        Ok(ValueState { store, id, _t: PhantomData })
    }

    /// The current key's value, `None` if it has none.
    ///
    /// # Errors
    /// [`crate::Error::State`] if there is no current key (the input is not
    /// fields-grouped) or the stored bytes do not decode as `T`.
    pub fn value(&self) -> Result<Option<T>> {
        let inner = self.store.lock();
        let key = inner.key(self.id)?;
        match inner.backend.get(self.id, key.key_group, &key.bytes)? {
            Some(bytes) => Ok(Some(decode(&bytes, &inner.states[self.id].0)?)),
            None => Ok(None),
        }
    }

    /// Sets the current key's value.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn update(&self, value: &T) -> Result<()> {
        self.store.lock().put(self.id, value)
    }

    /// Removes the current key's value.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn clear(&self) -> Result<()> {
        let mut inner = self.store.lock();
        let (backend, key) = inner.split(self.id)?;
        backend.remove(self.id, key.key_group, &key.bytes)
    }
}

impl<T: Serialize + DeserializeOwned> ListState<T> {
    /// The current key's list (empty if none).
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn get(&self) -> Result<Vec<T>> {
        Ok(self.inner.value()?.unwrap_or_default())
    }

    /// Appends `value` to the current key's list.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn add(&self, value: T) -> Result<()> {
        let mut list = self.get()?;
        list.push(value);
        self.inner.update(&list)
    }

    /// Replaces the current key's list.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn update(&self, values: &Vec<T>) -> Result<()> {
        self.inner.update(values)
    }

    /// Empties the current key's list.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn clear(&self) -> Result<()> {
        self.inner.clear()
    }
}

impl<T: Serialize + DeserializeOwned> ReducingState<T> {
    /// The current key's folded value, `None` before the first `add`.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn get(&self) -> Result<Option<T>> {
        self.inner.value()
    }

    /// Folds `value` into the current key's value and returns the result.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn add(&self, value: T) -> Result<T>
    where
        T: Clone,
    {
        let next = match self.inner.value()? {
            Some(acc) => (self.reduce)(acc, value),
            None => value,
        };
        self.inner.update(&next)?;
        Ok(next)
    }

    /// Removes the current key's value.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn clear(&self) -> Result<()> {
        self.inner.clear()
    }
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> MapState<K, V> {
    /// The entry key of `user_key` under the current key: the key's bytes
    /// (prefix-free) followed by the user key's.
    fn entry_key(&self, prefix: &[u8], user_key: &K) -> Result<Vec<u8>> {
        let mut k = prefix.to_vec();
        k.extend(encode(user_key, "a map state key")?);
        Ok(k)
    }

    /// The value of `user_key` in the current key's map.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn get(&self, user_key: &K) -> Result<Option<V>> {
        let inner = self.store.lock();
        let key = inner.key(self.id)?;
        let k = self.entry_key(&key.bytes, user_key)?;
        match inner.backend.get(self.id, key.key_group, &k)? {
            Some(bytes) => Ok(Some(decode(&bytes, &inner.states[self.id].0)?)),
            None => Ok(None),
        }
    }

    /// Sets `user_key` to `value` in the current key's map.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn put(&self, user_key: &K, value: &V) -> Result<()> {
        let mut inner = self.store.lock();
        let key = inner.key(self.id)?;
        let (kg, k) = (key.key_group, self.entry_key(&key.bytes, user_key)?);
        let v = encode(value, &inner.states[self.id].0)?;
        inner.backend.put(self.id, kg, &k, &v)
    }

    /// Removes `user_key` from the current key's map.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn remove(&self, user_key: &K) -> Result<()> {
        let mut inner = self.store.lock();
        let key = inner.key(self.id)?;
        let (kg, k) = (key.key_group, self.entry_key(&key.bytes, user_key)?);
        inner.backend.remove(self.id, kg, &k)
    }

    /// Every entry of the current key's map, in the order of the encoded
    /// user keys.
    ///
    /// # Errors
    /// As [`ValueState::value`].
    pub fn entries(&self) -> Result<Vec<(K, V)>> {
        let inner = self.store.lock();
        let key = inner.key(self.id)?;
        let name = &inner.states[self.id].0;
        let found = inner.backend.scan_prefix(self.id, key.key_group, &key.bytes)?;
        found
            .into_iter()
            .map(|(k, v)| Ok((decode(&k[key.bytes.len()..], name)?, decode(&v, name)?)))
            .collect()
    }
}

impl<T> Clone for OperatorState<T> {
    fn clone(&self) -> Self {
        OperatorState { store: self.store.clone(), name: self.name.clone(), _t: PhantomData }
    }
}

impl<T> std::fmt::Debug for OperatorState<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorState").field("name", &self.name).finish()
    }
}

impl<T: Serialize + DeserializeOwned> OperatorState<T> {
    /// This task's value, restored from the last checkpoint if any.
    ///
    /// # Errors
    /// [`crate::Error::State`] if the stored bytes do not decode as `T`.
    pub fn get(&self) -> Result<Option<T>> {
        self.store.operator_get(&self.name)
    }

    /// Sets this task's value; it goes into the next checkpoint.
    ///
    /// # Errors
    /// [`crate::Error::State`] if `value` cannot be encoded.
    pub fn set(&self, value: &T) -> Result<()> {
        self.store.operator_set(&self.name, value)
    }
}

/// State handles, obtained in `open`/`prepare` (Flink's
/// `RuntimeContext#getState`).
impl TopologyContext {
    /// The task's state: key groups held, restore information.
    pub fn state(&self) -> &TaskState {
        self.task_state()
    }

    /// Keyed state `name` holding one `T` per key.
    ///
    /// # Errors
    /// [`crate::Error::State`] if `name` is already a state of another kind.
    ///
    /// # Examples
    /// ```
    /// use squall::state::ValueState;
    /// use squall::{Bolt, OutputCollector, Result, TopologyContext, Tuple};
    ///
    /// struct Count(Option<ValueState<i64>>);
    /// impl Bolt for Count {
    ///     fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
    ///         self.0 = Some(ctx.value_state("count")?);
    ///         Ok(())
    ///     }
    ///     fn execute(&mut self, _t: Tuple, _c: &mut OutputCollector) -> Result<()> {
    ///         let count = self.0.as_ref().unwrap();
    ///         count.update(&(count.value()?.unwrap_or(0) + 1))
    ///     }
    /// }
    /// ```
    pub fn value_state<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<ValueState<T>> {
        ValueState::new(self.task_state().clone(), name)
    }

    /// Keyed state `name` holding a list of `T` per key.
    ///
    /// # Errors
    /// As [`TopologyContext::value_state`].
    pub fn list_state<T: Serialize + DeserializeOwned>(&self, name: &str) -> Result<ListState<T>> {
        Ok(ListState { inner: ValueState::new(self.task_state().clone(), name)? })
    }

    /// Keyed state `name` holding a map from `K` to `V` per key.
    ///
    /// # Errors
    /// As [`TopologyContext::value_state`].
    pub fn map_state<K, V>(&self, name: &str) -> Result<MapState<K, V>>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let store = self.task_state().clone();
        let id = store.register(name, StateKind::Map)?;
        let (key, value) = (crate::state::json_of::<K>, crate::state::json_of::<V>);
        store.set_decoder(name, crate::state::Decoder::Map { key, value });
        Ok(MapState { store, id, _t: PhantomData })
    }

    /// Keyed state `name` holding one `T` per key, folded with `reduce`.
    ///
    /// # Errors
    /// As [`TopologyContext::value_state`].
    pub fn reducing_state<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        reduce: impl Fn(T, T) -> T + Send + Sync + 'static,
    ) -> Result<ReducingState<T>> {
        Ok(ReducingState {
            inner: ValueState::new(self.task_state().clone(), name)?,
            reduce: Arc::new(reduce),
        })
    }

    /// Operator state `name`: one `T` for this task, restored from the last
    /// checkpoint before `open`/`prepare` is called.
    pub fn operator_state<T: Serialize + DeserializeOwned>(&self, name: &str) -> OperatorState<T> {
        OperatorState { store: self.task_state().clone(), name: name.to_string(), _t: PhantomData }
    }
}
