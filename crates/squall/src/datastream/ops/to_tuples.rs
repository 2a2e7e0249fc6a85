//! [`ToTuplesBolt`]: typed records out as plain Storm tuples.

use std::sync::Arc;

use crate::datastream::record::Record;
use crate::error::Result;
use crate::model::{Data, Fields, Tuple, Values};
use crate::runtime::OutputCollector;
use crate::topology::{Bolt, OutputDeclarer};

pub(crate) struct ToTuplesBolt<T> {
    fields: Fields,
    f: Arc<dyn Fn(T) -> Values + Send + Sync>,
}

impl<T> ToTuplesBolt<T> {
    pub fn new(fields: Fields, f: Arc<dyn Fn(T) -> Values + Send + Sync>) -> Self {
        ToTuplesBolt { fields, f }
    }
}

impl<T: Data> Bolt for ToTuplesBolt<T> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(self.fields.clone());
    }

    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        c.emit((self.f)(Record::<T>::unpack(input)?.value))
    }
}
