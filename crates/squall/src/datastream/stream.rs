//! The typed handles: [`Stream`], [`KeyedStream`], [`WindowedStream`],
//! [`ConnectedStreams`] and the joins. Each method adds one operator (a
//! bolt from [`super::ops`]) to the graph and returns the handle of its
//! output.

use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::env::Shared;
use super::ops::co_flat_map::CoFlatMapBolt;
use super::ops::flat_map::FlatMapBolt;
use super::ops::interval_join::IntervalJoinBolt;
use super::ops::key_by::KeyByBolt;
use super::ops::process::{KeyedProcessFunction, ProcessBolt};
use super::ops::reduce::ReduceBolt;
use super::ops::sink::SinkBolt;
use super::ops::timestamps::TimestampsBolt;
use super::ops::to_tuples::ToTuplesBolt;
use super::ops::window::WindowStreamBolt;
use super::ops::window_join::WindowJoinBolt;
use crate::model::{Data, Fields, Values};
use crate::time::WatermarkStrategy;
use crate::topology::DEFAULT_STREAM;
use crate::window::{AggregateFunction, Trigger, WindowAssigner};

/// One producer stream feeding the next operator.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    pub component: String,
    pub stream: String,
    pub parallelism: usize,
}

impl Input {
    pub fn new(component: String, parallelism: usize) -> Self {
        Input { component, stream: DEFAULT_STREAM.to_string(), parallelism }
    }
}

/// A typed stream of `T` (Flink's `DataStream<T>`).
pub struct Stream<T> {
    graph: Shared,
    pub(crate) inputs: Vec<Input>,
    parallelism: usize,
    _t: PhantomData<fn() -> T>,
}

/// Names a side output of type `T` (Flink's `OutputTag`): a process
/// function writes to it with [`super::KeyedContext::output`], a window
/// sends late records to it, and [`Stream::side_output`] reads it.
#[derive(Debug)]
pub struct OutputTag<T> {
    name: String,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for OutputTag<T> {
    fn clone(&self) -> Self {
        OutputTag { name: self.name.clone(), _t: PhantomData }
    }
}

impl<T> OutputTag<T> {
    /// A tag; the name is the stream id, so it must differ from `default`.
    pub fn new(name: &str) -> Self {
        assert_ne!(name, DEFAULT_STREAM, "a side output needs its own name");
        OutputTag { name: name.to_string(), _t: PhantomData }
    }

    /// The stream id.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What [`Stream::collect`] gathers, readable after the run.
#[derive(Debug)]
pub struct Collected<T>(Arc<Mutex<Vec<T>>>);

impl<T> Collected<T> {
    /// Everything collected, in arrival order (across tasks: interleaved).
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The result of one window of one key: Flink's window result with its
/// window (ms; `start = i64::MIN`, `end = i64::MAX` for the global window).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult<K, O> {
    /// The key.
    pub key: K,
    /// Window start (ms, inclusive).
    pub start: i64,
    /// Window end (ms, exclusive).
    pub end: i64,
    /// The aggregate.
    pub value: O,
}

impl<T: Data> Stream<T> {
    pub(crate) fn new(graph: Shared, inputs: Vec<Input>, parallelism: usize) -> Self {
        Stream { graph, inputs, parallelism, _t: PhantomData }
    }

    fn then<O: Data, B: crate::Bolt>(
        &self,
        name: &str,
        keyed: bool,
        make: impl Fn() -> B + Send + Sync + 'static,
    ) -> Stream<O> {
        let mut g = self.graph.borrow_mut();
        let p = g.parallelism;
        let id = g.add_bolt(name, p, &self.inputs, keyed, make);
        drop(g);
        Stream::new(self.graph.clone(), vec![Input::new(id, p)], p)
    }

    /// Zero or more outputs per record (`f` pushes them); keeps event times.
    pub fn flat_map<O: Data>(
        &self,
        f: impl Fn(T, &mut Vec<O>) + Send + Sync + 'static,
    ) -> Stream<O> {
        let f = Arc::new(f);
        self.then("flat_map", false, move || FlatMapBolt::new(f.clone()))
    }

    /// One output per record.
    pub fn map<O: Data>(&self, f: impl Fn(T) -> O + Send + Sync + 'static) -> Stream<O> {
        self.flat_map(move |x, out| out.push(f(x)))
    }

    /// The records for which `f` is true.
    pub fn filter(&self, f: impl Fn(&T) -> bool + Send + Sync + 'static) -> Stream<T> {
        self.flat_map(move |x, out| {
            if f(&x) {
                out.push(x)
            }
        })
    }

    /// Sets each record's event time to `ts(record)` (ms) and emits the
    /// watermarks `strategy` allows, after every record that advances them
    /// (Flink's `assignTimestampsAndWatermarks`).
    pub fn assign_timestamps(
        &self,
        ts: impl Fn(&T) -> i64 + Send + Sync + 'static,
        strategy: WatermarkStrategy,
    ) -> Stream<T> {
        let ts = Arc::new(ts);
        self.then("timestamps", false, move || TimestampsBolt::new(ts.clone(), strategy))
    }

    /// Partitions by `key`: records of one key go to one task of the next
    /// operator, which keeps its state per key.
    pub fn key_by<K: Data + Hash + Eq>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> KeyedStream<K, T> {
        let key: KeyFn<K, T> = Arc::new(key);
        let k = key.clone();
        let stream = self.then::<T, _>("key_by", false, move || KeyByBolt::new(k.clone()));
        KeyedStream { stream, key }
    }

    /// This stream and `other` as one (Flink's `union`).
    pub fn union(&self, other: &Stream<T>) -> Stream<T> {
        let inputs = self.inputs.iter().chain(&other.inputs).cloned().collect();
        Stream::new(self.graph.clone(), inputs, self.parallelism.max(other.parallelism))
    }

    /// This stream and `other` (of another type) into one two-input
    /// operator (Flink's `connect`).
    pub fn connect<U: Data>(&self, other: &Stream<U>) -> ConnectedStreams<T, U> {
        ConnectedStreams { left: self.clone_handle(), right: other.clone_handle() }
    }

    /// The side output `tag` of the operator that made this stream.
    pub fn side_output<U: Data>(&self, tag: &OutputTag<U>) -> Stream<U> {
        let inputs =
            self.inputs.iter().map(|i| Input { stream: tag.name.clone(), ..i.clone() }).collect();
        Stream::new(self.graph.clone(), inputs, self.parallelism)
    }

    /// Calls `f` on every record (a sink).
    pub fn sink(&self, f: impl Fn(T) + Send + Sync + 'static) {
        let f = Arc::new(f);
        let _: Stream<T> = self.then("sink", false, move || SinkBolt::new(f.clone()));
    }

    /// Gathers every record in memory, for tests and small results.
    pub fn collect(&self) -> Collected<T>
    where
        T: Sync,
    {
        let out = Arc::new(Mutex::new(Vec::new()));
        let o = out.clone();
        self.sink(move |x| o.lock().unwrap_or_else(|p| p.into_inner()).push(x));
        Collected(out)
    }

    /// Emits each record as a plain Storm tuple with `fields` (made by `f`)
    /// from a component `name`, for Storm bolts to subscribe to (see
    /// [`super::StreamEnv::with_builder`]). Returns its component id.
    pub fn to_tuples(
        &self,
        name: &str,
        fields: Fields,
        f: impl Fn(T) -> Values + Send + Sync + 'static,
    ) -> String {
        let f = Arc::new(f);
        let s: Stream<T> =
            self.then(name, false, move || ToTuplesBolt::new(fields.clone(), f.clone()));
        s.inputs[0].component.clone()
    }

    fn clone_handle(&self) -> Stream<T> {
        Stream::new(self.graph.clone(), self.inputs.clone(), self.parallelism)
    }
}

pub(crate) type KeyFn<K, T> = Arc<dyn Fn(&T) -> K + Send + Sync>;

/// A stream partitioned by key (Flink's `KeyedStream`).
pub struct KeyedStream<K, T> {
    pub(crate) stream: Stream<T>,
    pub(crate) key: KeyFn<K, T>,
}

impl<K: Data + Hash + Eq, T: Data> KeyedStream<K, T> {
    /// A rolling reduce: per key, `f(previous result, record)`, emitted on
    /// every record.
    pub fn reduce(&self, f: impl Fn(T, T) -> T + Send + Sync + 'static) -> Stream<T> {
        let (f, key) = (Arc::new(f), self.key.clone());
        self.stream.then("reduce", true, move || ReduceBolt::new(key.clone(), f.clone()))
    }

    /// A keyed process function with keyed state and timers.
    pub fn process<P: KeyedProcessFunction<K, T> + Sync>(&self, function: P) -> Stream<P::Out> {
        let key = self.key.clone();
        self.stream.then("process", true, move || ProcessBolt::new(key.clone(), function.clone()))
    }

    /// Windows of `assigner` per key, on event time by default.
    pub fn window(&self, assigner: WindowAssigner) -> WindowedStream<K, T> {
        WindowedStream {
            keyed: KeyedStream { stream: self.stream.clone_handle(), key: self.key.clone() },
            assigner,
            trigger: Trigger::EventTime,
            lateness: 0,
            late: None,
        }
    }

    /// Joins each record `a` of this stream with each record `b` of `other`
    /// of the same key whose event time is in `[a + lower, a + upper]`
    /// (Flink's interval join; set the bounds with
    /// [`IntervalJoin::between`]).
    pub fn interval_join<U: Data>(&self, other: &KeyedStream<K, U>) -> IntervalJoin<K, T, U> {
        IntervalJoin { left: self.handle(), right: other.handle(), lower: 0, upper: 0 }
    }

    /// Joins records of this stream and `other` of the same key in the same
    /// window (Flink's window join; set the window with
    /// [`WindowJoin::window`]).
    pub fn join<U: Data>(&self, other: &KeyedStream<K, U>) -> WindowJoin<K, T, U> {
        WindowJoin {
            left: self.handle(),
            right: other.handle(),
            assigner: WindowAssigner::Tumbling { size_ms: 1, offset_ms: 0 },
        }
    }

    fn handle(&self) -> KeyedStream<K, T> {
        KeyedStream { stream: self.stream.clone_handle(), key: self.key.clone() }
    }
}

/// A keyed stream with windows (Flink's `WindowedStream`).
pub struct WindowedStream<K, T> {
    keyed: KeyedStream<K, T>,
    assigner: WindowAssigner,
    trigger: Trigger,
    lateness: i64,
    late: Option<String>,
}

impl<K: Data + Hash + Eq, T: Data> WindowedStream<K, T> {
    /// When windows fire (default [`Trigger::EventTime`]).
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// How long after its end a window still takes records (ms).
    pub fn allowed_lateness(mut self, ms: i64) -> Self {
        self.lateness = ms;
        self
    }

    /// Sends records too late for every window to `tag` instead of
    /// failing the topology.
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.late = Some(tag.name.clone());
        self
    }

    /// Aggregates each window incrementally with `f`.
    ///
    /// # Panics
    /// If the window sizes, trigger or lateness are invalid (see
    /// [`crate::window::WindowOperator::new`]).
    pub fn aggregate<F: AggregateFunction<In = T> + Sync>(
        &self,
        f: F,
    ) -> Stream<WindowResult<K, F::Out>>
    where
        F::Out: Data,
    {
        let (key, assigner, trigger, lateness, late) =
            (self.keyed.key.clone(), self.assigner, self.trigger, self.lateness, self.late.clone());
        crate::window::WindowOperator::<u8, F>::new(assigner, trigger, lateness, f.clone())
            .unwrap_or_else(|e| panic!("bad window: {e}"));
        self.keyed.stream.then("window", true, move || {
            WindowStreamBolt::new(key.clone(), assigner, trigger, lateness, f.clone(), late.clone())
        })
    }

    /// Reduces each window's records with `f(previous, record)`, keeping
    /// one value per window (Flink's `WindowedStream.reduce`).
    ///
    /// # Panics
    /// As [`WindowedStream::aggregate`].
    pub fn reduce(
        &self,
        f: impl Fn(T, T) -> T + Send + Sync + 'static,
    ) -> Stream<WindowResult<K, T>> {
        self.aggregate(crate::window::ReduceAggregate::new(f))
    }
}

/// Two streams into one operator (Flink's `ConnectedStreams`).
pub struct ConnectedStreams<T, U> {
    left: Stream<T>,
    right: Stream<U>,
}

impl<T: Data, U: Data> ConnectedStreams<T, U> {
    /// `f1` on records of the first stream, `f2` on those of the second
    /// (Flink's `CoFlatMapFunction`); event times are kept.
    pub fn flat_map<O: Data>(
        &self,
        f1: impl Fn(T, &mut Vec<O>) + Send + Sync + 'static,
        f2: impl Fn(U, &mut Vec<O>) + Send + Sync + 'static,
    ) -> Stream<O> {
        let inputs: Vec<Input> =
            self.left.inputs.iter().chain(&self.right.inputs).cloned().collect();
        let left: Vec<String> = self.left.inputs.iter().map(|i| i.component.clone()).collect();
        let (f1, f2) = (Arc::new(f1), Arc::new(f2));
        let both = Stream::<T>::new(self.left.graph.clone(), inputs, self.left.parallelism);
        both.then("co_flat_map", false, move || {
            CoFlatMapBolt::new(left.clone(), f1.clone(), f2.clone())
        })
    }
}

/// An interval join being set up.
pub struct IntervalJoin<K, T, U> {
    left: KeyedStream<K, T>,
    right: KeyedStream<K, U>,
    lower: i64,
    upper: i64,
}

impl<K: Data + Hash + Eq, T: Data, U: Data> IntervalJoin<K, T, U> {
    /// Matches `b` with `a` when `a.ts + lower <= b.ts <= a.ts + upper` (ms).
    pub fn between(mut self, lower: i64, upper: i64) -> Self {
        assert!(lower <= upper, "interval join: lower {lower} above upper {upper}");
        self.lower = lower;
        self.upper = upper;
        self
    }

    /// Emits `f(key, a, b)` for every match.
    pub fn process<O: Data>(
        &self,
        f: impl Fn(&K, &T, &U) -> O + Send + Sync + 'static,
    ) -> Stream<O> {
        let (lk, rk, f) = (self.left.key.clone(), self.right.key.clone(), Arc::new(f));
        let left: Vec<String> =
            self.left.stream.inputs.iter().map(|i| i.component.clone()).collect();
        let inputs: Vec<Input> =
            self.left.stream.inputs.iter().chain(&self.right.stream.inputs).cloned().collect();
        let both = Stream::<T>::new(self.left.stream.graph.clone(), inputs, 1);
        let (lower, upper) = (self.lower, self.upper);
        both.then("interval_join", true, move || {
            IntervalJoinBolt::new(left.clone(), lk.clone(), rk.clone(), lower, upper, f.clone())
        })
    }
}

/// A window join being set up.
pub struct WindowJoin<K, T, U> {
    left: KeyedStream<K, T>,
    right: KeyedStream<K, U>,
    assigner: WindowAssigner,
}

impl<K: Data + Hash + Eq, T: Data, U: Data> WindowJoin<K, T, U> {
    /// The windows (tumbling or sliding).
    ///
    /// # Panics
    /// For session or global windows, or sizes that are not positive.
    pub fn window(mut self, assigner: WindowAssigner) -> Self {
        assert!(
            matches!(assigner, WindowAssigner::Tumbling { .. } | WindowAssigner::Sliding { .. }),
            "window join: tumbling or sliding windows only"
        );
        assigner.validate().unwrap_or_else(|e| panic!("window join: {e}"));
        self.assigner = assigner;
        self
    }

    /// Emits `f(key, a, b)` for every pair of one key in one window, when
    /// the window fires.
    pub fn apply<O: Data>(&self, f: impl Fn(&K, &T, &U) -> O + Send + Sync + 'static) -> Stream<O> {
        let (lk, rk, f) = (self.left.key.clone(), self.right.key.clone(), Arc::new(f));
        let left: Vec<String> =
            self.left.stream.inputs.iter().map(|i| i.component.clone()).collect();
        let inputs: Vec<Input> =
            self.left.stream.inputs.iter().chain(&self.right.stream.inputs).cloned().collect();
        let both = Stream::<T>::new(self.left.stream.graph.clone(), inputs, 1);
        let assigner = self.assigner;
        both.then("window_join", true, move || {
            WindowJoinBolt::new(left.clone(), lk.clone(), rk.clone(), assigner, f.clone())
        })
    }
}
