//! [`WindowJoinBolt`]: Flink's window join of two keyed streams: every pair
//! of one key in one window, emitted when the window fires. With
//! checkpoints the buffered windows are copied into checkpointed keyed
//! state at each barrier ([`HeapCheckpoint`]); their timers follow from
//! their ends.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Arc;

use crate::datastream::record::{key_hash, route_hash, Record};
use crate::datastream::stream::KeyFn;
use crate::error::Result;
use crate::model::{Data, Tuple};
use crate::runtime::{OutputCollector, NO_WATERMARK};
use crate::state::HeapCheckpoint;
use crate::topology::{Bolt, OutputDeclarer, TopologyContext};
use crate::window::{Window, WindowAssigner};

type JoinFn<K, T, U, O> = Arc<dyn Fn(&K, &T, &U) -> O + Send + Sync>;
/// The buffered records of one key in one window: left and right.
type Pane<T, U> = (Vec<T>, Vec<U>);
/// The buffered windows of one key, as a checkpoint holds them.
type KeyPanes<P> = Vec<(Window, P)>;

/// Buffers both sides per key and window; when the watermark passes a
/// window's end it emits the cross product (event time `end - 1`) and
/// drops the window. A record whose windows have all fired is late: it is
/// joined with nothing and counted in a warning when the task stops.
pub(crate) struct WindowJoinBolt<K, T, U, O> {
    left: Vec<String>,
    lk: KeyFn<K, T>,
    rk: KeyFn<K, U>,
    assigner: WindowAssigner,
    f: JoinFn<K, T, U, O>,
    panes: HashMap<(K, Window), Pane<T, U>>,
    timers: BTreeMap<i64, Vec<(K, Window)>>,
    watermark: i64,
    late: u64,
    scratch: Vec<Window>,
    /// The checkpointed copy of the panes, with checkpoints.
    checkpoint: Option<HeapCheckpoint>,
}

impl<K, T, U, O> WindowJoinBolt<K, T, U, O> {
    pub fn new(
        left: Vec<String>,
        lk: KeyFn<K, T>,
        rk: KeyFn<K, U>,
        assigner: WindowAssigner,
        f: JoinFn<K, T, U, O>,
    ) -> Self {
        WindowJoinBolt {
            left,
            lk,
            rk,
            assigner,
            f,
            panes: HashMap::new(),
            timers: BTreeMap::new(),
            watermark: NO_WATERMARK,
            late: 0,
            scratch: Vec::new(),
            checkpoint: None,
        }
    }
}

impl<K: Data + Hash + Eq, T: Data, U: Data, O: Data> WindowJoinBolt<K, T, U, O> {
    /// Files one record of either side into its windows.
    fn add(&mut self, key: K, ts: i64, put: impl Fn(&mut Pane<T, U>)) {
        self.scratch.clear();
        self.assigner.assign(ts, &mut self.scratch);
        let mut taken = false;
        for w in &self.scratch {
            if w.max_timestamp() <= self.watermark {
                continue;
            }
            taken = true;
            let pane = self.panes.entry((key.clone(), *w)).or_insert_with(|| {
                self.timers.entry(w.max_timestamp()).or_default().push((key.clone(), *w));
                (Vec::new(), Vec::new())
            });
            put(pane);
        }
        if !taken {
            self.late += 1;
        }
    }
}

impl<K: Data + Hash + Eq, T: Data, U: Data, O: Data> Bolt for WindowJoinBolt<K, T, U, O> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, &[]);
    }

    /// Restores the buffered windows and their timers from the last
    /// checkpoint (with checkpoints).
    ///
    /// # Errors
    /// [`crate::Error::State`] if the restored state does not decode.
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        self.checkpoint = HeapCheckpoint::open(context, "window_join")?;
        let restored = match &self.checkpoint {
            Some(c) => c.restore::<K, KeyPanes<Pane<T, U>>>()?,
            None => None,
        };
        if let Some((watermark, keys)) = restored {
            self.watermark = self.watermark.max(watermark);
            for (key, panes) in keys {
                for (w, pane) in panes {
                    self.timers.entry(w.max_timestamp()).or_default().push((key.clone(), w));
                    self.panes.insert((key.clone(), w), pane);
                }
            }
        }
        Ok(())
    }

    /// Copies the buffered windows into checkpointed state, one entry per
    /// key.
    ///
    /// # Errors
    /// [`crate::Error::State`] if a key or a record cannot be encoded.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        let Some(c) = &self.checkpoint else { return Ok(()) };
        let mut keys: HashMap<&K, KeyPanes<&Pane<T, U>>> = HashMap::new();
        for ((k, w), pane) in &self.panes {
            keys.entry(k).or_default().push((*w, pane));
        }
        c.snapshot(keys.into_iter().map(|(k, p)| (route_hash(k), k, p)), self.watermark)
    }

    fn execute(&mut self, input: Tuple, _c: &mut OutputCollector) -> Result<()> {
        if super::is_left(&self.left, &input) {
            let r = Record::<T>::unpack(input)?;
            let ts = super::event_time(r.ts, "window join")?;
            let key = (self.lk)(&r.value);
            self.add(key, ts, |p| p.0.push(r.value.clone()));
        } else {
            let r = Record::<U>::unpack(input)?;
            let ts = super::event_time(r.ts, "window join")?;
            let key = (self.rk)(&r.value);
            self.add(key, ts, |p| p.1.push(r.value.clone()));
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, c: &mut OutputCollector) -> Result<()> {
        self.watermark = self.watermark.max(watermark);
        while let Some(entry) = self.timers.first_entry() {
            if *entry.key() > watermark {
                break;
            }
            for (key, w) in entry.remove() {
                let Some((lefts, rights)) = self.panes.remove(&(key.clone(), w)) else { continue };
                let hash = key_hash(&key);
                for a in &lefts {
                    for b in &rights {
                        super::emit(c, Some(hash), Some(w.max_timestamp()), (self.f)(&key, a, b))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn cleanup(&mut self) {
        if self.late > 0 {
            tracing::warn!(late = self.late, "window join: late records joined with nothing");
        }
    }
}
