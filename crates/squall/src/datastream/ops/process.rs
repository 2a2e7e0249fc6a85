//! [`KeyedProcessFunction`] and the bolt that runs it: per-key state and
//! event-time and processing-time timers (Flink's `KeyedProcessFunction`).
//! With checkpoints the state and the timers of every key are copied into
//! checkpointed keyed state at each barrier and restored from there
//! ([`HeapCheckpoint`]; Flink keeps timers in keyed state too).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::time::Duration;

use foldhash::fast::RandomState;

use crate::datastream::record::{key_hash, route_hash, Record};
use crate::datastream::stream::{KeyFn, OutputTag};
use crate::error::Result;
use crate::model::{Data, Tuple, Values};
use crate::runtime::{OutputCollector, NO_WATERMARK};
use crate::state::HeapCheckpoint;
use crate::topology::{Bolt, OutputDeclarer, TopologyContext};

/// Which clock a timer is on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum TimeDomain {
    /// Fires when the watermark reaches the timer's time.
    EventTime,
    /// Fires when the wall clock reaches it (checked every 10 ms).
    ProcessingTime,
}

/// A function over the records of one key at a time, with one value of
/// keyed state per key and timers.
///
/// One instance runs per task (cloned from the one given); all calls of a
/// task come from one thread.
pub trait KeyedProcessFunction<K, T>: Clone + Send + 'static {
    /// The keyed state (one per key; `None` until set).
    type State: Data;
    /// What it emits.
    type Out: Data;

    /// The names of the side outputs it writes with
    /// [`KeyedContext::output`] (they must be declared up front).
    fn side_outputs(&self) -> Vec<String> {
        Vec::new()
    }

    /// Called for each record of the key `ctx.key()`.
    ///
    /// # Errors
    /// An error stops the topology, naming the component.
    fn process_element(
        &mut self,
        value: T,
        ctx: &mut KeyedContext<'_, K, Self::State, Self::Out>,
    ) -> Result<()>;

    /// Called when a timer the function set for `ctx.key()` fires, at
    /// `timestamp` (ms) on `domain`.
    ///
    /// # Errors
    /// An error stops the topology, naming the component.
    fn on_timer(
        &mut self,
        _timestamp: i64,
        _domain: TimeDomain,
        _ctx: &mut KeyedContext<'_, K, Self::State, Self::Out>,
    ) -> Result<()> {
        Ok(())
    }

    /// Whether the processing-time timers still pending when the input
    /// ends fire then, before their time (a processing-time window's last
    /// windows). By default only the due ones fire and the rest are
    /// dropped, as in Flink.
    fn fire_pending_timers_at_end(&self) -> bool {
        false
    }
}

/// What a process function sees and can do for one key.
pub struct KeyedContext<'a, K, S, O> {
    key: &'a K,
    hash: u64,
    timestamp: Option<i64>,
    watermark: i64,
    state: &'a mut Option<S>,
    timers: &'a mut Vec<(TimeDomain, i64)>,
    out: &'a mut Vec<(Option<String>, Values)>,
    _o: std::marker::PhantomData<fn(O)>,
}

impl<K, S, O: Data> KeyedContext<'_, K, S, O> {
    /// The current key.
    pub fn key(&self) -> &K {
        self.key
    }

    /// The event time of the record (or the timer's time), if any (ms).
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// The task's watermark (ms).
    pub fn current_watermark(&self) -> i64 {
        self.watermark
    }

    /// The key's state.
    pub fn state(&mut self) -> &mut Option<S> {
        self.state
    }

    /// Calls `on_timer` for this key once the watermark reaches `t` (ms).
    /// Setting the same timer twice fires it once.
    pub fn register_event_time_timer(&mut self, t: i64) {
        self.timers.push((TimeDomain::EventTime, t));
    }

    /// Calls `on_timer` for this key once the wall clock reaches `t` (ms).
    pub fn register_processing_time_timer(&mut self, t: i64) {
        self.timers.push((TimeDomain::ProcessingTime, t));
    }

    /// Emits `value` with the current event time.
    pub fn collect(&mut self, value: O) {
        let r = Record::new(Some(self.hash), self.timestamp, value);
        self.out.push((None, r.pack()));
    }

    /// Emits `value` on the side output `tag` (declared in
    /// [`KeyedProcessFunction::side_outputs`]).
    pub fn output<U: Data>(&mut self, tag: &OutputTag<U>, value: U) {
        let r = Record::new(Some(self.hash), self.timestamp, value);
        self.out.push((Some(tag.name().to_string()), r.pack()));
    }
}

/// Runs a [`KeyedProcessFunction`] with its state and timers (in memory).
pub(crate) struct ProcessBolt<K, T, P: KeyedProcessFunction<K, T>> {
    key: KeyFn<K, T>,
    function: P,
    /// Each key's state (foldhash: keys are hashed twice per record).
    state: HashMap<K, P::State, RandomState>,
    timers: BTreeMap<(TimeDomain, i64), Vec<K>>,
    set: HashSet<(TimeDomain, i64, K), RandomState>,
    watermark: i64,
    scratch: Vec<(TimeDomain, i64)>,
    out: Vec<(Option<String>, Values)>,
    /// The checkpointed copy of states and timers, with checkpoints.
    checkpoint: Option<HeapCheckpoint>,
}

/// What a checkpoint holds for one key: its state and its timers.
type KeyEntry<S> = (Option<S>, Vec<(TimeDomain, i64)>);

impl<K: Data + Hash + Eq, T: Data, P: KeyedProcessFunction<K, T>> ProcessBolt<K, T, P> {
    pub fn new(key: KeyFn<K, T>, function: P) -> Self {
        ProcessBolt {
            key,
            function,
            state: HashMap::default(),
            timers: BTreeMap::new(),
            set: HashSet::default(),
            watermark: NO_WATERMARK,
            scratch: Vec::new(),
            out: Vec::new(),
            checkpoint: None,
        }
    }

    /// Files timer `t` on `domain` for `key` (once).
    fn add_timer(&mut self, domain: TimeDomain, t: i64, key: &K) {
        if self.set.insert((domain, t, key.clone())) {
            self.timers.entry((domain, t)).or_default().push(key.clone());
        }
    }

    /// Runs `call` for `key` (whose [`key_hash`] is `hash`) with its state,
    /// then files its timers and emits its output.
    fn with_key(
        &mut self,
        key: K,
        hash: u64,
        timestamp: Option<i64>,
        c: &mut OutputCollector,
        call: impl FnOnce(&mut P, &mut KeyedContext<'_, K, P::State, P::Out>) -> Result<()>,
    ) -> Result<()> {
        let mut state = self.state.remove(&key);
        let mut ctx = KeyedContext {
            key: &key,
            hash,
            timestamp,
            watermark: self.watermark,
            state: &mut state,
            timers: &mut self.scratch,
            out: &mut self.out,
            _o: std::marker::PhantomData,
        };
        let result = call(&mut self.function, &mut ctx);
        let mut timers = std::mem::take(&mut self.scratch);
        for (domain, t) in timers.drain(..) {
            self.add_timer(domain, t, &key);
        }
        self.scratch = timers;
        if let Some(s) = state {
            self.state.insert(key, s);
        }
        result?;
        for (stream, values) in self.out.drain(..) {
            match stream {
                None => c.emit(values)?,
                Some(s) => c.emit_to(&s, values)?,
            }
        }
        Ok(())
    }

    /// Fires the timers of `domain` due at `now` (ms).
    fn fire(&mut self, domain: TimeDomain, now: i64, c: &mut OutputCollector) -> Result<()> {
        loop {
            let Some((&(d, t), _)) = self.timers.range((domain, i64::MIN)..=(domain, now)).next()
            else {
                return Ok(());
            };
            let keys = self.timers.remove(&(d, t)).unwrap_or_default();
            for key in keys {
                self.set.remove(&(d, t, key.clone()));
                let hash = key_hash(&key);
                self.with_key(key, hash, Some(t), c, |f, ctx| f.on_timer(t, d, ctx))?;
            }
        }
    }
}

impl<K: Data + Hash + Eq, T: Data, P: KeyedProcessFunction<K, T>> Bolt for ProcessBolt<K, T, P> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        super::declare(declarer, &self.function.side_outputs());
    }

    /// Restores every key's state and timers from the last checkpoint
    /// (with checkpoints); processing-time timers already due fire on the
    /// first tick.
    ///
    /// # Errors
    /// [`crate::Error::State`] if the restored state does not decode.
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        self.checkpoint = HeapCheckpoint::open(context, "process")?;
        let restored = match &self.checkpoint {
            Some(c) => c.restore::<K, KeyEntry<P::State>>()?,
            None => None,
        };
        if let Some((watermark, keys)) = restored {
            self.watermark = self.watermark.max(watermark);
            for (key, (state, timers)) in keys {
                for (domain, t) in timers {
                    self.add_timer(domain, t, &key);
                }
                if let Some(s) = state {
                    self.state.insert(key, s);
                }
            }
        }
        Ok(())
    }

    /// Copies every key's state and timers into checkpointed state.
    ///
    /// # Errors
    /// [`crate::Error::State`] if a key or a state cannot be encoded.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        let Some(c) = &self.checkpoint else { return Ok(()) };
        let mut keys: HashMap<&K, KeyEntry<&P::State>> = HashMap::new();
        for (k, s) in &self.state {
            keys.entry(k).or_default().0 = Some(s);
        }
        for (domain, t, k) in &self.set {
            keys.entry(k).or_default().1.push((*domain, *t));
        }
        c.snapshot(keys.into_iter().map(|(k, e)| (route_hash(k), k, e)), self.watermark)
    }

    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let r = Record::<T>::unpack(input)?;
        let key = (self.key)(&r.value);
        // The key-by bolt before this one stamped the record with the
        // key's hash (the same key function).
        let hash = r.key.unwrap_or_else(|| key_hash(&key));
        self.with_key(key, hash, r.ts, c, |f, ctx| f.process_element(r.value, ctx))
    }

    fn on_watermark(&mut self, watermark: i64, c: &mut OutputCollector) -> Result<()> {
        self.watermark = self.watermark.max(watermark);
        self.fire(TimeDomain::EventTime, watermark, c)
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(10))
    }

    fn on_tick(&mut self, now_ms: i64, c: &mut OutputCollector) -> Result<()> {
        self.fire(TimeDomain::ProcessingTime, now_ms, c)
    }

    /// Fires the processing-time timers already due, so that a timer set
    /// for "now" is not lost to the end of input; later ones never fire
    /// unless the function asks for them
    /// ([`KeyedProcessFunction::fire_pending_timers_at_end`]).
    fn finish(&mut self, c: &mut OutputCollector) -> Result<()> {
        let now = match self.function.fire_pending_timers_at_end() {
            true => i64::MAX,
            false => crate::runtime::now_ms(),
        };
        self.fire(TimeDomain::ProcessingTime, now, c)
    }
}
