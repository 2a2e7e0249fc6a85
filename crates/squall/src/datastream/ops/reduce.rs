//! [`ReduceBolt`]: a rolling reduce per key. With checkpoints the value of
//! every key is copied into checkpointed keyed state at each barrier
//! ([`HeapCheckpoint`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::datastream::record::{route_hash, Record};
use crate::datastream::stream::KeyFn;
use crate::error::Result;
use crate::model::{Data, Tuple};
use crate::runtime::{OutputCollector, NO_WATERMARK};
use crate::state::HeapCheckpoint;
use crate::topology::{Bolt, OutputDeclarer, TopologyContext};

type ReduceFn<T> = Arc<dyn Fn(T, T) -> T + Send + Sync>;

/// Keeps per key the reduction of its records so far and emits it on each
/// record (Flink's `KeyedStream.reduce`).
pub(crate) struct ReduceBolt<K, T> {
    key: KeyFn<K, T>,
    f: ReduceFn<T>,
    state: HashMap<K, T>,
    /// The checkpointed copy of the values, with checkpoints.
    checkpoint: Option<HeapCheckpoint>,
}

impl<K, T> ReduceBolt<K, T> {
    pub fn new(key: KeyFn<K, T>, f: ReduceFn<T>) -> Self {
        ReduceBolt { key, f, state: HashMap::new(), checkpoint: None }
    }
}

impl<K: Data + Hash + Eq, T: Data> Bolt for ReduceBolt<K, T> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, &[]);
    }

    /// Restores every key's value from the last checkpoint (with checkpoints).
    ///
    /// # Errors
    /// [`crate::Error::State`] if the restored state does not decode.
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        self.checkpoint = HeapCheckpoint::open(context, "reduce")?;
        if let Some(c) = &self.checkpoint {
            if let Some((_, keys)) = c.restore::<K, T>()? {
                self.state.extend(keys);
            }
        }
        Ok(())
    }

    /// Copies every key's value into checkpointed state.
    ///
    /// # Errors
    /// [`crate::Error::State`] if a key or a value cannot be encoded.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        let Some(c) = &self.checkpoint else { return Ok(()) };
        c.snapshot(self.state.iter().map(|(k, v)| (route_hash(k), k, v)), NO_WATERMARK)
    }

    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let r = Record::<T>::unpack(input)?;
        let k = (self.key)(&r.value);
        let next = match self.state.remove(&k) {
            Some(acc) => (self.f)(acc, r.value),
            None => r.value,
        };
        self.state.insert(k, next.clone());
        super::emit(c, r.key, r.ts, next)
    }
}
