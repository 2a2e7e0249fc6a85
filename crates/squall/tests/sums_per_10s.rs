//! `examples/sums-per-10s.yaml` (csv spout, 10 s tumbling `window` sum,
//! window_csv sink) on its 600 committed sample events, against sums
//! computed here from the CSV: with the producers' window pre-aggregation
//! on (as shipped) and off, and with a watermark that makes events late,
//! where every event must be either in its window's sum or on the late
//! stream exactly as it was read; and with a sink that spills its rows to
//! disk in sorted runs, which must write the same file and leave no run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use squall::LocalCluster;

const WINDOW_MS: i64 = 10_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An input event: (ts_ms, key, value).
type Event = (i64, String, i64);

fn sample() -> Vec<Event> {
    let mut r = csv::Reader::from_path(root().join("examples/sums-per-10s-sample.csv")).unwrap();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[0].parse().unwrap(), rec[1].to_string(), rec[2].parse().unwrap())
        })
        .collect()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// (window start, key) -> sum of values: the reference.
type Sums = BTreeMap<(String, String), i64>;

fn reference(events: &[Event]) -> Sums {
    let mut sums = Sums::new();
    for (ts, key, value) in events {
        let start = ts.div_euclid(WINDOW_MS) * WINDOW_MS;
        *sums.entry((rfc3339(start), key.clone())).or_default() += value;
    }
    sums
}

struct Run {
    sums: Sums,
    late: Vec<Event>,
    /// Tuples the window bolt executed and the spout emitted.
    executed: u64,
    emitted: u64,
}

/// How the spout is driven: `(watermark_every, buffer_timeout_ms)`.
/// `(16, 0)` sends each call's 16 records and then its watermark at once,
/// so that records a little out of order can be late.
type Pace = (usize, u64);

fn run(local_aggregation: bool, out_of_orderness_ms: i64, pace: Pace, dir: &Path) -> Run {
    run_with(local_aggregation, out_of_orderness_ms, pace, dir, None)
}

/// [`run`], with the sink's `sort_buffer_bytes` if given.
fn run_with(
    local_aggregation: bool,
    out_of_orderness_ms: i64,
    pace: Pace,
    dir: &Path,
    sort_buffer_bytes: Option<usize>,
) -> Run {
    let mut text = std::fs::read_to_string(root().join("examples/sums-per-10s.yaml")).unwrap();
    if let Some(bytes) = sort_buffer_bytes {
        let sink = "settings: { path: \"${output}\" }";
        assert!(text.contains(sink), "the example's sink settings");
        let spilling = format!("settings: {{ path: \"${{output}}\", sort_buffer_bytes: {bytes} }}");
        text = text.replace(sink, &spilling);
    }
    assert!(text.contains("local_aggregation: true"), "the example ships with it on");
    let text =
        text.replace("local_aggregation: true", &format!("local_aggregation: {local_aggregation}"));
    let (watermark_every, buffer_timeout_ms) = pace;
    let text = text.replacen(
        "config:\n",
        &format!("config:\n  buffer_timeout_ms: {buffer_timeout_ms}\n"),
        1,
    );
    let set = |k: &str, v: String| (k.to_string(), v);
    let (out, late) = (dir.join("sums.csv"), dir.join("late.csv"));
    let overrides = [
        set("input", root().join("examples/sums-per-10s-sample.csv").display().to_string()),
        set("output", out.display().to_string()),
        set("late", late.display().to_string()),
        set("out_of_orderness_ms", out_of_orderness_ms.to_string()),
        set("watermark_every", watermark_every.to_string()),
    ];
    let loaded = squall::yaml::parse(&text, &overrides).unwrap();
    let summary = LocalCluster::run(loaded.topology).unwrap();
    let mut r = csv::Reader::from_path(&out).unwrap();
    assert_eq!(r.headers().unwrap(), vec!["window_start", "window_end", "key", "total"]);
    let sums = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            ((rec[0].to_string(), rec[2].to_string()), rec[3].parse().unwrap())
        })
        .collect();
    // Each late row: event_time, then the record as `{event_time: .., key: k1, ts_ms: .., value: ..}`.
    let mut late_events = Vec::new();
    for rec in csv::Reader::from_path(&late).unwrap().records() {
        let rec = rec.unwrap();
        let fields: BTreeMap<&str, &str> = rec[1]
            .trim_matches(|c| c == '{' || c == '}')
            .split(", ")
            .map(|kv| kv.split_once(": ").expect("field: value"))
            .collect();
        late_events.push((
            fields["ts_ms"].parse().unwrap(),
            fields["key"].to_string(),
            fields["value"].parse().unwrap(),
        ));
    }
    let metric = |id: &str| summary.metrics.component(id).unwrap();
    Run {
        sums,
        late: late_events,
        executed: metric("sums").executed,
        emitted: metric("events").emitted,
    }
}

#[test]
fn window_sums_equal_the_reference_with_and_without_pre_aggregation() {
    let events = sample();
    assert_eq!(events.len(), 600);
    let expected = reference(&events);
    let dir = tempfile::tempdir().unwrap();
    let on = run(true, 2000, (256, 100), dir.path());
    let off = run(false, 2000, (256, 100), dir.path());
    for (name, got) in [("on", &on), ("off", &off)] {
        assert!(got.late.is_empty(), "{name}: no event is 2 s out of order: {:?}", got.late);
        assert_eq!(got.sums, expected, "pre-aggregation {name}");
        assert_eq!(got.emitted, 600, "{name}");
    }
    assert_eq!(off.executed, 600, "each event reaches the window bolt on its own");
    assert!(on.executed < 300, "merged before the shuffle: {} of 600 tuples", on.executed);
}

#[test]
fn late_events_travel_alone_and_every_event_is_counted_once() {
    let events = sample();
    let expected = reference(&events);
    let dir = tempfile::tempdir().unwrap();
    // No allowance for disorder: the events moved back in time are late.
    let got = run(true, 0, (16, 0), dir.path());
    assert!(!got.late.is_empty(), "the sample has events out of order");
    // Every late row is an input event, as it was read, each at most as
    // often as it occurs in the input.
    let mut input: BTreeMap<&Event, usize> = BTreeMap::new();
    for e in &events {
        *input.entry(e).or_default() += 1;
    }
    for e in &got.late {
        let left = input.get_mut(e).unwrap_or_else(|| panic!("late {e:?} is no input event"));
        assert!(*left > 0, "late {e:?} more often than in the input");
        *left -= 1;
    }
    // A window's sum plus its late events' values is its reference sum.
    let mut accounted = got.sums.clone();
    for (ts, key, value) in &got.late {
        let start = ts.div_euclid(WINDOW_MS) * WINDOW_MS;
        *accounted.entry((rfc3339(start), key.clone())).or_default() += value;
    }
    assert_eq!(accounted, expected);
    assert!(got.executed < 600, "on-time events were still merged: {}", got.executed);
}

#[test]
fn a_sink_that_spills_sorted_runs_writes_the_same_file_and_leaves_no_run() {
    let (whole, spilled) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let expected = run(true, 2000, (256, 100), whole.path());
    // 256 bytes of rows per run: the sample's 122 rows of 38 bytes make about 18 runs.
    let got = run_with(true, 2000, (256, 100), spilled.path(), Some(256));
    assert_eq!(got.sums, expected.sums);
    let file = |dir: &Path| std::fs::read(dir.join("sums.csv")).unwrap();
    assert_eq!(file(spilled.path()), file(whole.path()), "byte for byte");
    let mut left: Vec<_> = std::fs::read_dir(spilled.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["late.csv", "sums.csv"], "no spilled run or temporary file is left");
}
