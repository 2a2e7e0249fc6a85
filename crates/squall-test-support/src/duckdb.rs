//! DuckDB (PyPI `duckdb`, installed by `scripts/setup.sh`) as the
//! independent reference of the SQL tests: batch SQL over the same files
//! that Squall streams, its rows as text, and a row-for-row comparison.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `statements` in one DuckDB connection (the Python package) and returns the rows of the last one, each
/// cell as text: NULL empty, booleans `true`/`false`, timestamps
/// `YYYY-MM-DD HH:MM:SS.fff` (as Squall's CSV sinks write them).
///
/// # Panics
/// If python3 or its `duckdb` package is missing, or a statement fails
/// (DuckDB's message).
pub fn query(statements: &[&str]) -> Vec<Vec<String>> {
    let script = r#"
import csv, json, sys, duckdb
# No progress bar: DuckDB prints it on stdout when a query takes over 2 s.
c = duckdb.connect()
c.execute("SET enable_progress_bar = false")
statements = json.load(sys.stdin)
for s in statements[:-1]:
    c.execute(s)
w = csv.writer(sys.stdout, lineterminator="\n")
for row in c.execute(statements[-1]).fetchall():
    out = []
    for v in row:
        if v is None: out.append("")
        elif isinstance(v, bool): out.append("true" if v else "false")
        elif hasattr(v, "strftime") and hasattr(v, "hour"):
            out.append(v.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (v.microsecond // 1000))
        else: out.append(str(v))
    w.writerow(out)
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/setup.sh installs it and duckdb)");
    let json = serde_json::to_string(statements).expect("text serializes");
    child.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
    parse_csv(&out.stdout)
}

fn parse_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes);
    r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect()
}

/// Every row of the CSV files in `dir` (a sink's committed part files;
/// names starting with `.` or `_`, in-progress files, are skipped).
pub fn csv_rows(dir: &Path) -> Vec<Vec<String>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
        })
        .collect();
    files.sort();
    files.iter().flat_map(|f| parse_csv(&std::fs::read(f).unwrap())).collect()
}

/// Cells equal as text, or as numbers within 1e-9 relative.
pub fn same_cell(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

fn sort_key(row: &[String]) -> Vec<String> {
    row.iter()
        .map(|c| match c.parse::<f64>() {
            Ok(x) => format!("{:030.6}", x + 1e15),
            Err(_) => c.clone(),
        })
        .collect()
}

/// Asserts that `ours` and `theirs` hold the same rows in any order (cells
/// by [`same_cell`]), and that there is at least one.
///
/// # Panics
/// On the first difference, naming `name` and both rows.
pub fn compare(name: &str, mut ours: Vec<Vec<String>>, mut theirs: Vec<Vec<String>>) {
    ours.sort_by_key(|r| sort_key(r));
    theirs.sort_by_key(|r| sort_key(r));
    assert!(!theirs.is_empty(), "{name}: DuckDB's result is empty; the test checks nothing");
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{name}: {} rows from Squall, {} from DuckDB",
        ours.len(),
        theirs.len()
    );
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let same = a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_cell(x, y));
        assert!(same, "{name}: row {i} differs: Squall {a:?}, DuckDB {b:?}");
    }
    eprintln!("{name}: {} rows equal", ours.len());
}

/// The final table of a changelog (rows starting with the row kind `+I`,
/// `-U`, `+U` or `-D`, as Squall's sinks write an updating result): the
/// rows inserted and not retracted, without the row kind.
///
/// # Panics
/// On an unknown row kind, or a row retracted more often than inserted.
pub fn upserted(changelog: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let mut live: std::collections::BTreeMap<Vec<String>, i64> = Default::default();
    for mut row in changelog {
        let op = row.remove(0);
        let n = match op.as_str() {
            "+I" | "+U" => 1,
            "-U" | "-D" => -1,
            other => panic!("row kind {other:?}"),
        };
        *live.entry(row).or_default() += n;
    }
    assert!(live.values().all(|n| *n >= 0), "a row retracted more than inserted: {live:?}");
    live.into_iter().flat_map(|(row, n)| std::iter::repeat_n(row, n as usize)).collect()
}
