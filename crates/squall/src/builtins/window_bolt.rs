//! [`WindowBolt`]: keyed (or non-keyed) windows over tuples with count,
//! sum, min, max and avg over named fields; the YAML `window` bolt.
//!
//! Owns the tuple side: reading the key, the event time and the aggregated
//! fields, and emitting results, late records and bad records on their
//! streams; and answering queries of its open windows (state `windows`,
//! `crate::window::query`) between records. The window logic is
//! [`WindowOperator`]'s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::sorted_rows::order_values;
use crate::error::{Error, Result};
use crate::model::{Fields, InlineKey, Key, Tuple, Value, Values};
use crate::runtime::OutputCollector;
use crate::state::{Mailbox, MAILBOX_TICK};
use crate::topology::{Bolt, InputCombining, OutputDeclarer, TopologyContext, WindowCombining};
use crate::window::checkpoint::WindowCheckpoint;
use crate::window::query::{self, WindowView, WINDOWS_STATE};
use crate::window::{
    cells_result_into, global, AggregateFunction, AggregateSpec, Cell, FieldAggregates, Fired,
    Trigger, Window, WindowAssigner, WindowOperator,
};

/// The stream late records go to.
pub const LATE_STREAM: &str = "late";
/// The stream records the aggregates cannot take go to.
pub const ERRORS_STREAM: &str = "errors";

/// What a [`WindowBolt`] computes.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    /// The kind of window and its sizes.
    pub window: WindowAssigner,
    /// When windows fire.
    pub trigger: Trigger,
    /// Emit each changed window's current result every this many ms of
    /// processing time (early firing; micro-batching as a setting).
    pub early_every_ms: Option<u64>,
    /// Key fields; empty for one window set over all records (then the
    /// bolt must have parallelism 1).
    pub keys: Vec<String>,
    /// The aggregates, in output order.
    pub aggregates: Vec<AggregateSpec>,
    /// The field holding the event time (a timestamp or int, ms).
    pub time_field: String,
    /// How long after a window's end records still update it (ms).
    pub allowed_lateness_ms: i64,
}

/// Windows over tuples, Flink's `keyBy(..).window(..).aggregate(..)` as a
/// bolt.
///
/// Emits on the default stream one tuple per firing with the fields
/// `window_start, window_end, <keys>..., <aggregates>...` (window bounds as
/// timestamps, ms; null for the global window), the results that fire
/// together in the order of those fields (as the `window_csv` sink writes
/// them). On the `late` stream it
/// emits each record too late for every window it belongs to, with the
/// fields `event_time` and `record` (a map of the input's fields to its
/// values). On the `errors` stream it emits each record whose event time
/// is missing or whose aggregated field has a type its function cannot
/// take, with the fields `reason` and `record`. Nothing is dropped
/// silently.
///
/// Subscribe it with a fields grouping on its keys (a global grouping
/// without keys). Window state lives on the heap; in `exactly_once` it is
/// copied into checkpointed keyed state at every barrier and restored from
/// there on recovery (see `crate::window::checkpoint`).
///
/// Its open windows are queryable state `windows` (`squall query TOPOLOGY
/// COMPONENT windows KEY`): live, answered by the task between two records
/// (it looks for queries on every tick, at most every 50 ms, and every
/// watermark), or committed, from the latest checkpoint.
#[derive(Debug, Clone)]
pub struct WindowBolt {
    spec: WindowSpec,
    /// Built from the first tuple's schema.
    ready: Option<Ready>,
    fired: Vec<Fired<InlineKey, Values>>,
    /// The rows of the results fired, to sort before emitting them, and
    /// their windows (kept for their buffers).
    rows: Vec<Values>,
    windows: Vec<Window>,
    /// The rows' order: each row's [`order_prefix`] (high 64 bits) and
    /// index in `rows` (low).
    order: Vec<u128>,
    next_early: i64,
    /// The last watermark received, for an operator made after it.
    watermark: i64,
    /// The checkpointed state, in `exactly_once` (set in `prepare`).
    checkpoint: Option<WindowCheckpoint<InlineKey, Vec<Cell>>>,
    /// Where records sent to the errors stream are counted (set in
    /// `prepare`).
    metrics: Option<crate::runtime::TaskMetricGroup>,
    /// Queries of the open windows waiting for this task (set in
    /// `prepare`).
    queries: Option<Arc<Mailbox>>,
}

#[derive(Debug, Clone)]
struct Ready {
    schema: Fields,
    /// Position of the event time (not read for processing time).
    time: Option<usize>,
    keys: Vec<usize>,
    /// No aggregate reads a key field, so the key's values can be moved
    /// out of the record and back instead of copied.
    key_moves: bool,
    /// The current record's key when it cannot be held inline (see
    /// [`InlineKey`]).
    key: Key,
    op: WindowOperator<InlineKey, Weighted>,
}

impl WindowBolt {
    fn count_error(&self) {
        if let Some(m) = &self.metrics {
            m.add_error_records(1);
        }
    }

    /// A window bolt computing `spec`.
    ///
    /// # Errors
    /// [`Error::Config`] for bad window sizes, a count trigger of 0, a
    /// negative lateness, an early interval of 0, no aggregates, an
    /// aggregate without its field, or two output fields of one name.
    pub fn new(spec: WindowSpec) -> Result<WindowBolt> {
        spec.window.validate()?;
        if spec.aggregates.is_empty() {
            return Err(Error::config("window: aggregates is empty"));
        }
        for a in &spec.aggregates {
            a.validate()?;
        }
        if spec.early_every_ms == Some(0) {
            return Err(Error::config("window: early_every_ms must be at least 1"));
        }
        if spec.allowed_lateness_ms < 0 {
            return Err(Error::config("window: allowed_lateness_ms must not be negative"));
        }
        if spec.trigger == Trigger::Count(0) {
            return Err(Error::config("window: trigger count must be at least 1"));
        }
        let bolt = WindowBolt {
            spec,
            ready: None,
            fired: Vec::new(),
            rows: Vec::new(),
            windows: Vec::new(),
            order: Vec::new(),
            next_early: 0,
            watermark: crate::runtime::NO_WATERMARK,
            metrics: None,
            checkpoint: None,
            queries: None,
        };
        let names = bolt.output_fields();
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = names.names().iter().find(|n| !seen.insert(n.as_str())) {
            return Err(Error::config(format!("window: output field '{dup}' appears twice")));
        }
        Ok(bolt)
    }

    /// The fields of the results.
    pub fn output_fields(&self) -> Fields {
        let aggs = self.spec.aggregates.iter().map(AggregateSpec::output_name);
        let keys = self.spec.keys.iter().cloned();
        Fields::new(
            ["window_start".to_string(), "window_end".to_string()]
                .into_iter()
                .chain(keys)
                .chain(aggs),
        )
    }

    /// The spec.
    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    /// Answers the queries waiting for this task from its open windows.
    fn serve_queries(&self) {
        let Some(mailbox) = self.queries.as_ref().filter(|m| m.asked()) else { return };
        let names: Vec<String> =
            self.spec.aggregates.iter().map(AggregateSpec::output_name).collect();
        let op = self.ready.as_ref().map(|r| &r.op);
        mailbox.answer(|ask| query::answer(&names, op, ask));
    }

    fn processing_time(&self) -> bool {
        self.spec.trigger == Trigger::ProcessingTime
    }

    /// Resolves the fields of `input`'s schema (once per schema).
    fn make_ready(&mut self, input: &Tuple) -> Result<()> {
        let stale = !matches!(&self.ready, Some(r) if &r.schema == input.fields());
        if stale {
            if self.ready.is_some() {
                return Err(Error::config(format!(
                    "window: all inputs must have one schema; got {:?} after {:?}",
                    input.fields().names(),
                    self.ready.as_ref().map(|r| r.schema.names().to_vec())
                )));
            }
            let time = match self.processing_time() {
                true => None,
                false => Some(input.index_of(&self.spec.time_field)?),
            };
            let keys: Vec<usize> =
                self.spec.keys.iter().map(|k| input.index_of(k)).collect::<Result<_>>()?;
            let f = FieldAggregates::new(self.spec.aggregates.clone(), input.fields())?;
            let s = &self.spec;
            let f = Weighted(f, 2 + keys.len());
            let mut op = WindowOperator::new(s.window, s.trigger, s.allowed_lateness_ms, f)?;
            if let Some(c) = self.checkpoint.as_mut() {
                c.restore_into(&mut op);
            }
            if !self.processing_time() {
                op.advance_watermark(self.watermark, &mut self.fired);
            }
            let key_moves = keys.iter().all(|&i| !op.function().0.reads(i));
            let key = Key(vec![Value::Null; keys.len()]);
            let schema = input.fields().clone();
            self.ready = Some(Ready { schema, time, keys, key_moves, key, op });
        }
        Ok(())
    }

    /// Emits the results fired, each firing's in the order the
    /// `window_csv` sink writes them (`window_start, window_end, keys...,
    /// aggregates...`, see `sorted_rows::order_values`), so that it merges
    /// each task's rows rather than sorting them all.
    fn emit_fired(&mut self, collector: &mut OutputCollector) -> Result<()> {
        if self.fired.is_empty() {
            return Ok(());
        }
        let (rows, windows, order) = (&mut self.rows, &mut self.windows, &mut self.order);
        for fired in self.fired.drain(..) {
            // The result is the row, its first cells left null to fill
            // (see `Weighted`); null bounds for the global window.
            let mut row = fired.result;
            if fired.window != global::GLOBAL {
                row[0] = Value::Timestamp(fired.window.start);
                row[1] = Value::Timestamp(fired.window.end);
            }
            order.push((u128::from(order_prefix(&fired.key)) << 64) | rows.len() as u128);
            match fired.key {
                InlineKey::Str(s) => row[2] = Value::String(s.into_string()),
                InlineKey::Int(i) => row[2] = Value::Int(i),
                InlineKey::Other(key) => {
                    for (cell, v) in row[2..].iter_mut().zip(key.0) {
                        *cell = v;
                    }
                }
            }
            windows.push(fired.window);
            rows.push(row);
        }
        sort_rows(order, windows, rows);
        let mut sent = Ok(());
        for &at in order.iter() {
            if sent.is_ok() {
                sent = collector.emit(std::mem::take(&mut rows[at as u64 as usize]));
            }
        }
        rows.clear();
        windows.clear();
        order.clear();
        sent
    }
}

/// Sorts `order` (see [`WindowBolt`]'s field) into the order of the rows:
/// by window (bounds), then [`order_prefix`], then the rows themselves;
/// equal rows keep the order they fired in. Results fire window after
/// window (of one size, by their end), so this is mostly one sort of the
/// prefixes per window, as plain numbers.
fn sort_rows(order: &mut [u128], windows: &[Window], rows: &[Values]) {
    let row = |at: u128| &rows[at as u64 as usize];
    let by_rows = |a: &u128, b: &u128| order_values(row(*a), row(*b)).then(a.cmp(b));
    if !windows.is_sorted() {
        let window = |at: u128| windows[at as u64 as usize];
        order.sort_unstable_by(|a, b| {
            (window(*a), a >> 64).cmp(&(window(*b), b >> 64)).then_with(|| by_rows(a, b))
        });
        return;
    }
    // `order` follows `rows`, so each window's rows are together.
    let mut start = 0;
    for same in windows.chunk_by(|a, b| a == b) {
        let group = &mut order[start..start + same.len()];
        start += same.len();
        group.sort_unstable();
        for tie in group.chunk_by_mut(|a, b| a >> 64 == b >> 64).filter(|t| t.len() > 1) {
            tie.sort_unstable_by(by_rows);
        }
    }
}

/// A number whose order agrees with the key's (in
/// `sorted_rows::order_values`) where it differs: the first 8 bytes of a
/// string (padded with zeros, big-endian), an int (its sign bit flipped);
/// 0 for other keys. Comparing it first spares most comparisons of the
/// keys' text.
fn order_prefix(key: &InlineKey) -> u64 {
    match key {
        InlineKey::Str(s) => {
            let mut first = [0; 8];
            let n = s.len().min(8);
            first[..n].copy_from_slice(&s.as_bytes()[..n]);
            u64::from_be_bytes(first)
        }
        InlineKey::Int(i) => (*i as u64) ^ (1 << 63),
        InlineKey::Other(_) => 0,
    }
}

/// The record as a map from field to value, for the side outputs.
fn record(fields: &Fields, values: Values) -> Value {
    Value::Map(fields.names().iter().cloned().zip(values).collect::<BTreeMap<_, _>>())
}

impl Bolt for WindowBolt {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(self.output_fields());
        declarer.declare_stream(LATE_STREAM, Fields::new(["event_time", "record"]));
        declarer.declare_stream(ERRORS_STREAM, Fields::new(["reason", "record"]));
    }

    /// # Errors
    /// [`Error::Config`] for a non-keyed window with parallelism above 1.
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        if self.spec.keys.is_empty() && context.parallelism() > 1 {
            return Err(Error::config(format!(
                "window '{}' has no keys, so it must have parallelism 1, not {}",
                context.component_id(),
                context.parallelism()
            )));
        }
        self.metrics = Some(context.metrics());
        let label = format!("task {} of '{}'", context.task_index(), context.component_id());
        let mailbox = Arc::new(Mailbox::new(label));
        let names = self.spec.aggregates.iter().map(AggregateSpec::output_name).collect();
        let view = WindowView::new(mailbox.clone(), names);
        context.state().serve_view(WINDOWS_STATE, Arc::new(view));
        self.queries = Some(mailbox);
        self.checkpoint =
            WindowCheckpoint::open(context, |k: &InlineKey| crate::keys::key_hash(&k.to_values()))?;
        if let Some(wm) = self.checkpoint.as_ref().and_then(WindowCheckpoint::restored_watermark) {
            self.watermark = self.watermark.max(wm);
        }
        Ok(())
    }

    /// Copies the open windows into checkpointed state (`exactly_once`).
    ///
    /// # Errors
    /// [`Error::State`] if an accumulator cannot be encoded.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        match &self.checkpoint {
            Some(c) => c.snapshot(self.ready.as_ref().map(|r| &r.op), self.watermark),
            None => Ok(()),
        }
    }

    /// # Errors
    /// [`Error::NoSuchField`] if the time, a key or an aggregated field is
    /// missing from the input's schema.
    fn execute(&mut self, input: Tuple, collector: &mut OutputCollector) -> Result<()> {
        self.make_ready(&input)?;
        let ready = self.ready.as_mut().expect("made above");
        let ts = match ready.time.map(|i| (i, &input.values()[i])) {
            None => crate::runtime::now_ms(),
            Some((_, Value::Timestamp(t) | Value::Int(t))) => *t,
            Some((i, other)) => {
                let reason = format!(
                    "event time field '{}' holds the {} '{other}', not a timestamp",
                    ready.schema.names()[i],
                    other.type_name()
                );
                let record = record(&ready.schema, input.into_values());
                self.count_error();
                return collector.emit_to(ERRORS_STREAM, vec![reason.into(), record]);
            }
        };
        let weight = input.weight();
        let mut values = input.into_values();
        if let Err(reason) = ready.op.function().0.check(&values) {
            let record = record(&ready.schema, values);
            self.count_error();
            return collector.emit_to(ERRORS_STREAM, vec![reason.into(), record]);
        }
        let Ready { keys, key_moves, key, op, schema, .. } = ready;
        let inline = match &keys[..] {
            [i] => InlineKey::of_one(&values[*i]),
            _ => None,
        };
        let other = match inline {
            Some(_) => None,
            None => {
                let mut other = std::mem::replace(key, Key(Vec::new()));
                for (j, &i) in keys.iter().enumerate() {
                    if *key_moves {
                        std::mem::swap(&mut other.0[j], &mut values[i]);
                    } else {
                        other.0[j] = values[i].clone();
                    }
                }
                Some(InlineKey::Other(other))
            }
        };
        let row = (values, weight);
        let k = inline.as_ref().or(other.as_ref()).expect("one of the two");
        let accepted = op.process(k, ts, &row, &mut self.fired);
        let (mut values, _) = row;
        if let Some(InlineKey::Other(mut other)) = other {
            if *key_moves {
                for (j, &i) in keys.iter().enumerate() {
                    std::mem::swap(&mut other.0[j], &mut values[i]);
                }
            }
            *key = other;
        }
        if !accepted {
            let record = record(schema, values);
            collector.emit_to(LATE_STREAM, vec![Value::Timestamp(ts), record])?;
        }
        self.emit_fired(collector)
    }

    fn on_watermark(&mut self, watermark: i64, collector: &mut OutputCollector) -> Result<()> {
        self.serve_queries();
        let processing = self.processing_time();
        self.watermark = watermark;
        if let Some(ready) = self.ready.as_mut() {
            if !processing {
                ready.op.advance_watermark(watermark, &mut self.fired);
            } else if watermark == i64::MAX {
                ready.op.fire_all(&mut self.fired);
            }
        }
        self.emit_fired(collector)
    }

    /// Pre-aggregation before the shuffle (with `local_aggregation` on),
    /// for event-time tumbling and sliding windows that fire once at
    /// their end (see [`WindowCombining`]).
    fn input_combining(&self) -> Option<InputCombining> {
        let s = &self.spec;
        let fires_at_end = s.trigger == Trigger::EventTime && s.early_every_ms.is_none();
        let sliced =
            matches!(s.window, WindowAssigner::Tumbling { .. } | WindowAssigner::Sliding { .. });
        (fires_at_end && sliced).then(|| {
            InputCombining::Window(WindowCombining {
                key: Fields::new(s.keys.iter().cloned()),
                time_field: s.time_field.clone(),
                window: s.window,
                aggregates: s.aggregates.clone(),
            })
        })
    }

    fn tick_interval(&self) -> Option<Duration> {
        let processing = match self.spec.window {
            _ if !self.processing_time() => None,
            WindowAssigner::Tumbling { size_ms, .. } => Some(size_ms),
            WindowAssigner::Sliding { slide_ms, .. } => Some(slide_ms),
            WindowAssigner::Session { gap_ms } => Some(gap_ms),
            WindowAssigner::Global => None,
        }
        .map(|ms| (ms / 10).clamp(1, 100) as u64);
        let every = match (processing, self.spec.early_every_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Queries are answered on ticks too.
        Some(every.map(Duration::from_millis).map_or(MAILBOX_TICK, |d| d.min(MAILBOX_TICK)))
    }

    fn on_tick(&mut self, now_ms: i64, collector: &mut OutputCollector) -> Result<()> {
        self.serve_queries();
        let processing = self.processing_time();
        let early = self.spec.early_every_ms;
        if let Some(ready) = self.ready.as_mut() {
            if processing {
                ready.op.advance_watermark(now_ms - 1, &mut self.fired);
            }
            if let Some(every) = early {
                if now_ms >= self.next_early {
                    ready.op.fire_early(&mut self.fired);
                    self.next_early = now_ms + every as i64;
                }
            }
        }
        self.emit_fired(collector)
    }
}

/// [`FieldAggregates`] over rows that may each stand for several records
/// (their weight; see [`crate::WindowCombining`]).
///
/// Its result is the output row itself: the number of null cells given
/// (room for the window bounds and the key, which the bolt fills in),
/// then the aggregates; one allocation per result.
#[derive(Debug, Clone)]
struct Weighted(FieldAggregates, usize);

impl AggregateFunction for Weighted {
    type In = (Values, u64);
    type Acc = Vec<Cell>;
    type Out = Values;
    fn create(&self) -> Vec<Cell> {
        self.0.create()
    }
    fn add(&self, acc: &mut Vec<Cell>, (row, weight): &(Values, u64)) {
        self.0.add_weighted(acc, row, *weight);
    }
    fn merge(&self, acc: &mut Vec<Cell>, other: Vec<Cell>) {
        self.0.merge(acc, other);
    }
    fn result(&self, acc: &Vec<Cell>) -> Values {
        let mut row = Vec::with_capacity(self.1 + acc.len());
        row.resize(self.1, Value::Null);
        cells_result_into(acc, &mut row);
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows `window_start, window_end, key, total` of `keys` in random
    /// windows (in fire order or not), some rows equal, sorted by
    /// `sort_rows`, against one stable sort of the rows.
    fn check(keys: &[InlineKey], windows_in_order: bool) {
        let mut rng = fastrand::Rng::with_seed(5);
        let mut windows: Vec<Window> = (0..600)
            .map(|_| {
                let start = rng.i64(0..4) * 10;
                Window { start, end: start + rng.i64(1..3) * 10 }
            })
            .collect();
        if windows_in_order {
            windows.sort();
        }
        let mut rows = Vec::new();
        let mut order = Vec::new();
        for w in &windows {
            let key = &keys[rng.usize(..keys.len())];
            let mut row = vec![Value::Timestamp(w.start), Value::Timestamp(w.end)];
            row.extend(key.to_values());
            row.push(Value::Int(rng.i64(0..3)));
            order.push((u128::from(order_prefix(key)) << 64) | rows.len() as u128);
            rows.push(row);
        }
        sort_rows(&mut order, &windows, &rows);
        let got: Vec<&Values> = order.iter().map(|&at| &rows[at as u64 as usize]).collect();
        let mut expected: Vec<&Values> = rows.iter().collect();
        expected.sort_by(|a, b| order_values(a, b));
        assert_eq!(got, expected, "windows in order: {windows_in_order}");
    }

    #[test]
    fn fired_rows_sort_as_the_sink_orders_them() {
        let text = |s: &str| InlineKey::Str(s.into());
        // Texts sharing their first 8 bytes, shorter than 8, empty.
        let texts = ["k00042", "station-0002", "station-0001", "station-", "k", ""].map(text);
        let ints = [-5, 3, 0, i64::MIN, i64::MAX].map(InlineKey::Int);
        let pairs = [("b", 1), ("a", 2), ("a", 1)]
            .map(|(s, i)| InlineKey::Other(Key(vec![s.into(), Value::Int(i)])));
        for in_order in [true, false] {
            check(&texts, in_order);
            check(&ints, in_order);
            check(&pairs, in_order);
        }
    }
}
