//! [`FlatMapBolt`]: `map`, `filter` and `flat_map`.

use std::sync::Arc;

use crate::datastream::record::Record;
use crate::error::Result;
use crate::model::{Data, Tuple};
use crate::runtime::OutputCollector;
use crate::topology::{Bolt, OutputDeclarer};

type FlatMapFn<I, O> = Arc<dyn Fn(I, &mut Vec<O>) + Send + Sync>;

/// Calls `f` on each record; emits what it pushes, with the record's event
/// time. The output is not keyed.
pub(crate) struct FlatMapBolt<I, O> {
    f: FlatMapFn<I, O>,
    out: Vec<O>,
}

impl<I: Data, O: Data> FlatMapBolt<I, O> {
    pub fn new(f: FlatMapFn<I, O>) -> Self {
        FlatMapBolt { f, out: Vec::new() }
    }
}

impl<I: Data, O: Data> Bolt for FlatMapBolt<I, O> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, &[]);
    }

    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let r = Record::<I>::unpack(input)?;
        (self.f)(r.value, &mut self.out);
        for o in self.out.drain(..) {
            super::emit(c, None, r.ts, o)?;
        }
        Ok(())
    }
}
