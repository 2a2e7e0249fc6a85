//! [`StatefulCountBolt`]: a running count per key kept in keyed state, so
//! that it is checkpointed, restored and rescaled with the topology.
//!
//! Owns nothing but a [`ValueState`] handle: the counts live in the state
//! backend. [`super::CountBolt`] is the faster, unmanaged variant.

use crate::error::{Error, Result};
use crate::model::{Fields, Tuple, Value};
use crate::runtime::OutputCollector;
use crate::state::ValueState;
use crate::topology::{Bolt, InputCombining, OutputDeclarer, TopologyContext};

/// Counts inputs per key and, on every input, emits the key's values
/// followed by its new count (`key fields..., "count"`, the count an int
/// from 1), like [`super::CountBolt`], but with the count in keyed state
/// (`ValueState<i64>` named `count`).
///
/// The key is the fields grouping of the input: subscribe it with
/// `fields_grouping` on the key fields, or every `execute` fails with an
/// error naming the state.
///
/// # Examples
/// ```
/// use squall::builtins::{GeneratorSpout, SplitWordsBolt, StatefulCountBolt};
/// use squall::{Fields, LocalCluster, TopologyBuilder};
///
/// let mut builder = TopologyBuilder::new("count");
/// builder.set_spout("lines", GeneratorSpout::sentences(0).with_limit(10), 1);
/// builder.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
/// builder
///     .set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
///     .fields_grouping("split", Fields::new(["word"]));
/// LocalCluster::run(builder.build()?)?;
/// # Ok::<(), squall::Error>(())
/// ```
pub struct StatefulCountBolt {
    key: Fields,
    count: Option<ValueState<i64>>,
}

impl Clone for StatefulCountBolt {
    /// A fresh copy without a state handle.
    fn clone(&self) -> Self {
        StatefulCountBolt::new(self.key.clone())
    }
}

impl StatefulCountBolt {
    /// A bolt counting inputs per value of the `key` fields.
    pub fn new(key: Fields) -> StatefulCountBolt {
        StatefulCountBolt { key, count: None }
    }
}

impl Bolt for StatefulCountBolt {
    /// Producers may merge equal keys before the shuffle: an input of
    /// weight n adds n to the key's state (and is answered by one update).
    fn input_combining(&self) -> Option<InputCombining> {
        Some(InputCombining::Count(self.key.clone()))
    }

    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        let names = self.key.names().iter().map(String::as_str).chain(["count"]);
        declarer.declare(Fields::new(names));
    }

    /// # Errors
    /// [`Error::Config`] if the key is empty.
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        if self.key.is_empty() {
            return Err(Error::config("stateful count bolt: the key has no fields"));
        }
        self.count = Some(context.value_state("count")?);
        Ok(())
    }

    /// # Errors
    /// [`Error::NoSuchField`] if the input lacks a key field;
    /// [`Error::State`] if the input is not fields-grouped.
    fn execute(&mut self, input: Tuple, collector: &mut OutputCollector) -> Result<()> {
        let indices =
            self.key.names().iter().map(|n| input.index_of(n)).collect::<Result<Vec<_>>>()?;
        let state = self.count.as_ref().expect("prepared");
        let count = state.value()?.unwrap_or(0) + input.weight() as i64;
        state.update(&count)?;
        // Move the key values out of the input rather than copy them.
        let mut values = input.into_values();
        let mut out: Vec<Value> = indices.iter().map(|&i| std::mem::take(&mut values[i])).collect();
        out.push(Value::Int(count));
        collector.emit(out)
    }
}
