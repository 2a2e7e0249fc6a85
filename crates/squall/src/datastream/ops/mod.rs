//! The DataStream operators, one per file, each a [`crate::Bolt`] reading
//! and writing the record layout of [`super::record`].

pub(crate) mod co_flat_map;
pub(crate) mod flat_map;
pub(crate) mod interval_join;
pub(crate) mod key_by;
pub(crate) mod process;
pub(crate) mod reduce;
pub(crate) mod sink;
pub(crate) mod source;
pub(crate) mod timestamps;
pub(crate) mod to_tuples;
pub(crate) mod window;
pub(crate) mod window_join;

use super::record::{self, Record};
use crate::error::Result;
use crate::model::Data;
use crate::runtime::OutputCollector;
use crate::topology::OutputDeclarer;

/// Declares the default stream and the side outputs `sides` in the record
/// layout.
pub(crate) fn declare(declarer: &mut OutputDeclarer, sides: &[String]) {
    declarer.declare(record::fields());
    for s in sides {
        declarer.declare_stream(s.clone(), record::fields());
    }
}

/// Emits `value` with its key hash and event time on the default stream.
pub(crate) fn emit<T: Data>(
    c: &mut OutputCollector,
    key: Option<u64>,
    ts: Option<i64>,
    value: T,
) -> Result<()> {
    c.emit(Record::new(key, ts, value).pack())
}

/// Whether `input` came from one of the `left` components of a two-input
/// operator.
pub(crate) fn is_left(left: &[String], input: &crate::Tuple) -> bool {
    left.iter().any(|l| l == input.source_component())
}

/// The event time of a joined record, or an error naming the input.
pub(crate) fn event_time(ts: Option<i64>, op: &str) -> Result<i64> {
    ts.ok_or_else(|| {
        crate::Error::Other(format!(
            "{op}: a record has no event time; use assign_timestamps or a source with event time"
        ))
    })
}
