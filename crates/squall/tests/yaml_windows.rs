//! The YAML path on real data: `examples/flights-per-hour.yaml` (csv spout
//! with event time, window bolt, window_csv sink) against a plain group-by,
//! and bad lines going to the error stream with their line numbers while
//! the run goes on.

mod flights;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flights::*;
use squall::LocalCluster;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flights-per-hour.yaml")
}

/// Runs the example with `input`, returning the output folder.
fn run_example(input: &Path, out: &Path) -> squall::RunSummary {
    let set = |k: &str, v: &Path| (k.to_string(), v.display().to_string());
    let overrides = [
        set("input", input),
        set("output", &out.join("per-hour.csv")),
        set("late", &out.join("late.csv")),
        set("errors", &out.join("bad.csv")),
    ];
    let loaded = squall::yaml::load(&example(), &overrides).unwrap();
    LocalCluster::run(loaded.topology).unwrap()
}

/// (window start text, window end text, origin) -> (departures, mean, max, miles).
type Table = BTreeMap<(String, String, String), (i64, Option<f64>, Option<i64>, i64)>;

fn read_output(path: &Path) -> Table {
    let mut r = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "window_start",
            "window_end",
            "origin",
            "departures",
            "mean_dep_delay",
            "max_dep_delay",
            "miles"
        ]
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                (rec[0].to_string(), rec[1].to_string(), rec[2].to_string()),
                (
                    rec[3].parse().unwrap(),
                    rec[4].parse().ok(),
                    rec[5].parse().ok(),
                    rec[6].parse().unwrap(),
                ),
            )
        })
        .collect()
}

fn expected(fs: impl Iterator<Item = Flight>) -> Table {
    let mut aggs: BTreeMap<(i64, String), Agg> = BTreeMap::new();
    for f in fs {
        aggs.entry((f.ts.div_euclid(HOUR) * HOUR, f.origin.clone())).or_default().add(&f);
    }
    let text = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    aggs.into_iter()
        .map(|((start, origin), a)| {
            let mean = (a.delays > 0).then(|| a.delay_sum as f64 / a.delays as f64);
            ((text(start), text(start + HOUR), origin), (a.count, mean, a.max_delay, a.miles))
        })
        .collect()
}

#[test]
fn example_yaml_on_nycflights_equals_a_plain_group_by() {
    let out = tempfile::tempdir().unwrap();
    let summary = run_example(&data_dir().join("by-month"), out.path());
    let got = read_output(&out.path().join("per-hour.csv"));
    assert_eq!(got, expected(flights().into_iter()));
    assert_eq!(std::fs::read_to_string(out.path().join("late.csv")).unwrap(), "", "no late flight");
    assert_eq!(summary.metrics.component("bad_lines").unwrap().executed, 0);
}

#[test]
fn bad_lines_go_to_the_error_stream_with_line_and_reason_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(data_dir().join("flights.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().take(3001).map(str::to_string).collect();
    // Line numbers count the header as line 1.
    let cut = lines[9].rfind(',').unwrap();
    lines[9].truncate(cut); // line 10: a field short
    lines[19] = lines[19].replace("2013-01-01T", "2013-13-01T"); // line 20: no 13th month
    let time_at = lines[29].rfind(',').unwrap();
    lines[29].replace_range(time_at + 1.., "soon"); // line 30: not a time
    let input = dir.path().join("flights.csv");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = tempfile::tempdir().unwrap();

    let summary = run_example(&input, out.path());

    let mut bad =
        csv::ReaderBuilder::new().has_headers(false).from_path(out.path().join("bad.csv")).unwrap();
    let header = bad.records().next().unwrap().unwrap();
    assert_eq!(header.iter().collect::<Vec<_>>(), ["file", "line", "reason", "text"]);
    let rows: Vec<(u64, String)> = bad
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[1].parse().unwrap(), r[2].to_string()))
        .collect();
    let numbers: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(numbers, [10, 20, 30]);
    assert!(rows[0].1.contains("fields"), "{}", rows[0].1);
    assert!(rows[1].1.contains("'2013-13-01T") && rows[1].1.contains("RFC 3339"), "{}", rows[1].1);
    assert!(rows[2].1.contains("'soon'") && rows[2].1.contains("time_hour"), "{}", rows[2].1);
    assert_eq!(
        summary.metrics.component("bad_lines").unwrap().executed,
        3,
        "counted in the summary"
    );

    let good = flights().into_iter().filter(|f| f.line <= 3001 && ![10, 20, 30].contains(&f.line));
    assert_eq!(read_output(&out.path().join("per-hour.csv")), expected(good));
}
