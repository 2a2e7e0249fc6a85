//! [`CoFlatMapBolt`]: one function per input of two connected streams.

use std::sync::Arc;

use crate::datastream::record::Record;
use crate::error::Result;
use crate::model::{Data, Tuple};
use crate::runtime::OutputCollector;
use crate::topology::{Bolt, OutputDeclarer};

type Side<I, O> = Arc<dyn Fn(I, &mut Vec<O>) + Send + Sync>;

/// Records from the components in `left` go to `f1`, the others to `f2`.
pub(crate) struct CoFlatMapBolt<T, U, O> {
    left: Vec<String>,
    f1: Side<T, O>,
    f2: Side<U, O>,
    out: Vec<O>,
}

impl<T, U, O> CoFlatMapBolt<T, U, O> {
    pub fn new(left: Vec<String>, f1: Side<T, O>, f2: Side<U, O>) -> Self {
        CoFlatMapBolt { left, f1, f2, out: Vec::new() }
    }
}

impl<T: Data, U: Data, O: Data> Bolt for CoFlatMapBolt<T, U, O> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, &[]);
    }

    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let ts = if self.left.iter().any(|l| l == input.source_component()) {
            let r = Record::<T>::unpack(input)?;
            (self.f1)(r.value, &mut self.out);
            r.ts
        } else {
            let r = Record::<U>::unpack(input)?;
            (self.f2)(r.value, &mut self.out);
            r.ts
        };
        for o in self.out.drain(..) {
            super::emit(c, None, ts, o)?;
        }
        Ok(())
    }
}
