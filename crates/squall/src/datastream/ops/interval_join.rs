//! [`IntervalJoinBolt`]: Flink's interval join of two keyed streams,
//! `a.ts + lower <= b.ts <= a.ts + upper`. With checkpoints the buffers
//! are copied into checkpointed keyed state at each barrier
//! ([`HeapCheckpoint`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::datastream::record::{key_hash, route_hash, Record};
use crate::datastream::stream::KeyFn;
use crate::error::Result;
use crate::model::{Data, Tuple};
use crate::runtime::{OutputCollector, NO_WATERMARK};
use crate::state::HeapCheckpoint;
use crate::topology::{Bolt, OutputDeclarer, TopologyContext};

type JoinFn<K, T, U, O> = Arc<dyn Fn(&K, &T, &U) -> O + Send + Sync>;
/// The buffered records of one key: left and right, with their times (ms).
type Buffers<T, U> = (Vec<(i64, T)>, Vec<(i64, U)>);

/// Buffers both sides per key and emits each match when its second side
/// arrives (event time of the match: the later of the two). A buffered
/// record is dropped once the watermark shows no future record can match
/// it: a left `a` when `a.ts + upper <= watermark`, a right `b` when
/// `b.ts - lower <= watermark`.
pub(crate) struct IntervalJoinBolt<K, T, U, O> {
    left: Vec<String>,
    lk: KeyFn<K, T>,
    rk: KeyFn<K, U>,
    lower: i64,
    upper: i64,
    f: JoinFn<K, T, U, O>,
    buffers: HashMap<K, Buffers<T, U>>,
    /// The checkpointed copy of the buffers, with checkpoints.
    checkpoint: Option<HeapCheckpoint>,
}

impl<K, T, U, O> IntervalJoinBolt<K, T, U, O> {
    pub fn new(
        left: Vec<String>,
        lk: KeyFn<K, T>,
        rk: KeyFn<K, U>,
        lower: i64,
        upper: i64,
        f: JoinFn<K, T, U, O>,
    ) -> Self {
        let buffers = HashMap::new();
        IntervalJoinBolt { left, lk, rk, lower, upper, f, buffers, checkpoint: None }
    }
}

impl<K: Data + Hash + Eq, T: Data, U: Data, O: Data> Bolt for IntervalJoinBolt<K, T, U, O> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, &[]);
    }

    /// Restores the buffers from the last checkpoint (with checkpoints).
    ///
    /// # Errors
    /// [`crate::Error::State`] if the restored state does not decode.
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        self.checkpoint = HeapCheckpoint::open(context, "interval_join")?;
        if let Some(c) = &self.checkpoint {
            if let Some((_, keys)) = c.restore::<K, Buffers<T, U>>()? {
                self.buffers.extend(keys);
            }
        }
        Ok(())
    }

    /// Copies the buffers into checkpointed state, one entry per key.
    ///
    /// # Errors
    /// [`crate::Error::State`] if a key or a record cannot be encoded.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        let Some(c) = &self.checkpoint else { return Ok(()) };
        c.snapshot(self.buffers.iter().map(|(k, b)| (route_hash(k), k, b)), NO_WATERMARK)
    }

    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let (lower, upper) = (self.lower, self.upper);
        if super::is_left(&self.left, &input) {
            let r = Record::<T>::unpack(input)?;
            let ta = super::event_time(r.ts, "interval join")?;
            let key = (self.lk)(&r.value);
            let hash = key_hash(&key);
            let (lefts, rights) = self.buffers.entry(key.clone()).or_default();
            for (tb, b) in rights.iter() {
                if ta + lower <= *tb && *tb <= ta + upper {
                    super::emit(c, Some(hash), Some(ta.max(*tb)), (self.f)(&key, &r.value, b))?;
                }
            }
            lefts.push((ta, r.value));
        } else {
            let r = Record::<U>::unpack(input)?;
            let tb = super::event_time(r.ts, "interval join")?;
            let key = (self.rk)(&r.value);
            let hash = key_hash(&key);
            let (lefts, rights) = self.buffers.entry(key.clone()).or_default();
            for (ta, a) in lefts.iter() {
                if ta + lower <= tb && tb <= ta + upper {
                    super::emit(c, Some(hash), Some(tb.max(*ta)), (self.f)(&key, a, &r.value))?;
                }
            }
            rights.push((tb, r.value));
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, _c: &mut OutputCollector) -> Result<()> {
        let (lower, upper) = (self.lower, self.upper);
        self.buffers.retain(|_, (lefts, rights)| {
            lefts.retain(|(ta, _)| ta.saturating_add(upper) > watermark);
            rights.retain(|(tb, _)| tb.saturating_sub(lower) > watermark);
            !lefts.is_empty() || !rights.is_empty()
        });
        Ok(())
    }
}
