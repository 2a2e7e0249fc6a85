//! [`SinkBolt`]: calls a function on every record.

use std::sync::Arc;

use crate::datastream::record::Record;
use crate::error::Result;
use crate::model::{Data, Tuple};
use crate::runtime::OutputCollector;
use crate::topology::Bolt;

pub(crate) struct SinkBolt<T> {
    f: Arc<dyn Fn(T) + Send + Sync>,
}

impl<T> SinkBolt<T> {
    pub fn new(f: Arc<dyn Fn(T) + Send + Sync>) -> Self {
        SinkBolt { f }
    }
}

impl<T: Data> Bolt for SinkBolt<T> {
    fn execute(&mut self, input: Tuple, _c: &mut OutputCollector) -> Result<()> {
        (self.f)(Record::<T>::unpack(input)?.value);
        Ok(())
    }
}
