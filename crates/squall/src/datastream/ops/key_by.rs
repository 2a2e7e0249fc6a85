//! [`KeyByBolt`]: stamps each record with the hash of its key, which the
//! next operator's fields grouping partitions on.

use crate::datastream::record::{key_hash, Record};
use crate::datastream::stream::KeyFn;
use crate::error::Result;
use crate::model::{Data, Tuple};
use crate::runtime::OutputCollector;
use crate::topology::{Bolt, OutputDeclarer};

pub(crate) struct KeyByBolt<K, T> {
    key: KeyFn<K, T>,
}

impl<K, T> KeyByBolt<K, T> {
    pub fn new(key: KeyFn<K, T>) -> Self {
        KeyByBolt { key }
    }
}

impl<K: Data + std::hash::Hash, T: Data> Bolt for KeyByBolt<K, T> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, &[]);
    }

    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let r = Record::<T>::unpack(input)?;
        let hash = key_hash(&(self.key)(&r.value));
        super::emit(c, Some(hash), r.ts, r.value)
    }
}
