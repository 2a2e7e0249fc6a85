//! [`Relay`]: re-emits each input tuple's values, anchored, on its default
//! stream with the given fields. It gives a SQL query's result stream the
//! exact component id that a YAML topology's streams name (the DataStream
//! operators' ids are generated).

use squall::topology::OutputDeclarer;
use squall::{Bolt, Fields, OutputCollector, Tuple};

/// Passes tuples on unchanged, declaring `fields`.
#[derive(Debug, Clone)]
pub struct Relay {
    fields: Fields,
}

impl Relay {
    /// A relay whose output stream has `fields`.
    pub fn new(fields: Fields) -> Relay {
        Relay { fields }
    }
}

impl Bolt for Relay {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(self.fields.clone());
    }

    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> squall::Result<()> {
        let values = input.values().to_vec();
        c.emit_anchored(&[&input], values)
    }
}
