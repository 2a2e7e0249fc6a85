//! [`TimestampsBolt`]: Flink's `assignTimestampsAndWatermarks`.

use std::sync::Arc;

use crate::datastream::record::Record;
use crate::error::Result;
use crate::model::{Data, Tuple};
use crate::runtime::OutputCollector;
use crate::time::{WatermarkGenerator, WatermarkStrategy};
use crate::topology::{Bolt, OutputDeclarer};

type TsFn<T> = Arc<dyn Fn(&T) -> i64 + Send + Sync>;

/// Sets each record's event time and emits the watermark its strategy
/// allows after each record (sent when it advances, behind the record).
pub(crate) struct TimestampsBolt<T> {
    ts: TsFn<T>,
    generator: WatermarkGenerator,
}

impl<T: Data> TimestampsBolt<T> {
    pub fn new(ts: TsFn<T>, strategy: WatermarkStrategy) -> Self {
        TimestampsBolt { ts, generator: strategy.generator() }
    }
}

impl<T: Data> Bolt for TimestampsBolt<T> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, &[]);
    }

    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let r = Record::<T>::unpack(input)?;
        let ts = (self.ts)(&r.value);
        self.generator.on_event(ts);
        super::emit(c, r.key, Some(ts), r.value)?;
        if let Some(w) = self.generator.current() {
            c.emit_watermark(w);
        }
        Ok(())
    }
}
