//! [`WindowStreamBolt`]: `keyBy(..).window(..).aggregate(..)` on typed
//! records, driving the same [`WindowOperator`] as the YAML window bolt,
//! with the same checkpointed copy of its windows ([`WindowCheckpoint`]).

use std::hash::Hash;

use crate::datastream::record::{key_hash, route_hash, Record};
use crate::datastream::stream::{KeyFn, WindowResult};
use crate::error::{Error, Result};
use crate::model::{Data, Tuple};
use crate::runtime::OutputCollector;
use crate::topology::{Bolt, OutputDeclarer, TopologyContext};
use crate::window::checkpoint::WindowCheckpoint;
use crate::window::{AggregateFunction, Fired, Trigger, WindowAssigner, WindowOperator};

/// The stream late records go to when no side output was named.
const LATE: &str = "late";

pub(crate) struct WindowStreamBolt<K, T, F: AggregateFunction<In = T>> {
    key: KeyFn<K, T>,
    op: WindowOperator<K, F>,
    late: String,
    fired: Vec<Fired<K, F::Out>>,
    /// The checkpointed copy of the windows, with checkpoints.
    checkpoint: Option<WindowCheckpoint<K, F::Acc>>,
}

impl<K: Data + Hash + Eq, T: Data, F: AggregateFunction<In = T>> WindowStreamBolt<K, T, F> {
    /// # Panics
    /// For a window the stream API already validated.
    pub fn new(
        key: KeyFn<K, T>,
        assigner: WindowAssigner,
        trigger: Trigger,
        lateness: i64,
        f: F,
        late: Option<String>,
    ) -> Self {
        let op =
            WindowOperator::new(assigner, trigger, lateness, f).expect("validated by the stream");
        let late = late.unwrap_or_else(|| LATE.into());
        WindowStreamBolt { key, op, late, fired: Vec::new(), checkpoint: None }
    }

    fn emit_fired(&mut self, c: &mut OutputCollector) -> Result<()>
    where
        F::Out: Data,
    {
        for f in self.fired.drain(..) {
            let hash = key_hash(&f.key);
            let ts = f.window.max_timestamp();
            let result = WindowResult {
                key: f.key,
                start: f.window.start,
                end: f.window.end,
                value: f.result,
            };
            super::emit(c, Some(hash), Some(ts), result)?;
        }
        Ok(())
    }
}

impl<K: Data + Hash + Eq, T: Data, F: AggregateFunction<In = T>> Bolt for WindowStreamBolt<K, T, F>
where
    F::Out: Data,
{
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, std::slice::from_ref(&self.late));
    }

    /// Restores the open windows from the last checkpoint (with checkpoints).
    ///
    /// # Errors
    /// [`Error::State`] if the restored state does not decode.
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        self.checkpoint = WindowCheckpoint::open(context, route_hash::<K>)?;
        if let Some(c) = self.checkpoint.as_mut() {
            c.restore_into(&mut self.op);
        }
        Ok(())
    }

    /// Copies the open windows into checkpointed state (with checkpoints).
    ///
    /// # Errors
    /// [`Error::State`] if a key or an accumulator cannot be encoded.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        match &self.checkpoint {
            Some(c) => c.snapshot(Some(&self.op), self.op.watermark()),
            None => Ok(()),
        }
    }

    /// # Errors
    /// [`Error::Other`] for a record without event time on an event-time
    /// window.
    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let from = input.source_component().to_string();
        let r = Record::<T>::unpack(input)?;
        let ts = match (self.op.trigger(), r.ts) {
            (Trigger::ProcessingTime, _) => crate::runtime::now_ms(),
            (_, Some(ts)) => ts,
            (_, None) => {
                return Err(Error::Other(format!(
                    "a record from '{from}' has no event time; use assign_timestamps or a source \
                     with event time"
                )))
            }
        };
        let key = (self.key)(&r.value);
        if !self.op.process(&key, ts, &r.value, &mut self.fired) {
            c.emit_to(&self.late, Record::new(r.key, Some(ts), r.value).pack())?;
        }
        self.emit_fired(c)
    }

    fn on_watermark(&mut self, watermark: i64, c: &mut OutputCollector) -> Result<()> {
        match self.op.trigger() {
            Trigger::ProcessingTime if watermark == i64::MAX => self.op.fire_all(&mut self.fired),
            Trigger::ProcessingTime => {}
            _ => self.op.advance_watermark(watermark, &mut self.fired),
        }
        self.emit_fired(c)
    }

    fn tick_interval(&self) -> Option<std::time::Duration> {
        (self.op.trigger() == Trigger::ProcessingTime).then(|| std::time::Duration::from_millis(10))
    }

    fn on_tick(&mut self, now_ms: i64, c: &mut OutputCollector) -> Result<()> {
        self.op.advance_watermark(now_ms - 1, &mut self.fired);
        self.emit_fired(c)
    }
}
