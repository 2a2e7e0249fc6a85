//! Sources of typed records: a vector ([`IterSpout`]) and any Storm spout
//! through a conversion ([`SpoutAdapter`]).

use std::sync::Arc;

use crate::datastream::record::Record;
use crate::error::Result;
use crate::model::{Data, Tuple};
use crate::runtime::OutputCollector;
use crate::topology::{Bolt, OutputDeclarer, Spout, SpoutStatus};

/// Emits the items of a shared vector once, without event time.
pub(crate) struct IterSpout<T> {
    items: Arc<Vec<T>>,
    next: usize,
}

impl<T> Clone for IterSpout<T> {
    fn clone(&self) -> Self {
        IterSpout { items: self.items.clone(), next: 0 }
    }
}

impl<T: Data> IterSpout<T> {
    pub fn new(items: Vec<T>) -> Self {
        IterSpout { items: Arc::new(items), next: 0 }
    }
}

impl<T: Data + Sync> Spout for IterSpout<T> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, &[]);
    }

    fn next_tuple(&mut self, c: &mut OutputCollector) -> Result<SpoutStatus> {
        let end = (self.next + 256).min(self.items.len());
        for item in &self.items[self.next..end] {
            c.emit(Record::new(None, None, item.clone()).pack())?;
        }
        self.next = end;
        Ok(if end == self.items.len() { SpoutStatus::Finished } else { SpoutStatus::Active })
    }
}

type Convert<T> = Arc<dyn Fn(&Tuple) -> Result<(T, Option<i64>)> + Send + Sync>;

/// Turns Storm tuples into typed records with their event time.
pub(crate) struct SpoutAdapter<T> {
    convert: Convert<T>,
}

impl<T: Data> SpoutAdapter<T> {
    pub fn new(convert: Convert<T>) -> Self {
        SpoutAdapter { convert }
    }
}

impl<T: Data> Bolt for SpoutAdapter<T> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, &[]);
    }

    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let (value, ts) = (self.convert)(&input)?;
        super::emit(c, None, ts, value)
    }
}
