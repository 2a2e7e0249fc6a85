//! [`ReduceBolt`]: a rolling reduce per key.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::datastream::record::Record;
use crate::datastream::stream::KeyFn;
use crate::error::Result;
use crate::model::{Data, Tuple};
use crate::runtime::OutputCollector;
use crate::topology::{Bolt, OutputDeclarer};

type ReduceFn<T> = Arc<dyn Fn(T, T) -> T + Send + Sync>;

/// Keeps per key the reduction of its records so far and emits it on each
/// record (Flink's `KeyedStream.reduce`).
pub(crate) struct ReduceBolt<K, T> {
    key: KeyFn<K, T>,
    f: ReduceFn<T>,
    state: HashMap<K, T>,
}

impl<K, T> ReduceBolt<K, T> {
    pub fn new(key: KeyFn<K, T>, f: ReduceFn<T>) -> Self {
        ReduceBolt { key, f, state: HashMap::new() }
    }
}

impl<K: Data + Hash + Eq, T: Data> Bolt for ReduceBolt<K, T> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, &[]);
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
