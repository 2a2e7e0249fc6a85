//! `squall sql`: the README's example runs, a SQL error is one line naming
//! the file, statement, line and column, and an unsupported construct
//! names itself (exit code 2, nothing run).

use std::path::Path;
use std::process::{Command, Output};

fn squall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_squall"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args(args)
        .output()
        .expect("runs squall")
}

fn error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    lines[0].to_string()
}

fn script(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.sql");
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

const TABLE: &str = "CREATE TABLE bid (auction BIGINT, price BIGINT, `dateTime` TIMESTAMP(3),
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '1' SECOND) WITH ('connector' = 'nexmark', 'events.num' = '100');
CREATE TABLE out (auction BIGINT, price BIGINT) WITH ('connector' = 'blackhole');
";

#[test]
fn the_readme_example_prints_its_windows() {
    let out = squall(&["sql", "--quiet", "examples/sql/pageviews-per-minute.sql"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("2026-03-01 09:00:00.000,2026-03-01 09:01:00.000,")),
        "{text}"
    );
}

#[test]
fn parse_error_names_statement_line_and_column() {
    let (_d, p) =
        script(&format!("{TABLE}INSERT INTO out SELECT auction, price FROM bid WHERE;\n"));
    let line = error_line(&squall(&["sql", &p]));
    assert!(line.contains("bad.sql: statement 3 (line 4, column "), "{line}");
    assert!(line.contains("Expected"), "{line}");
}

#[test]
fn planning_error_names_the_column() {
    let (_d, p) = script(&format!("{TABLE}INSERT INTO out\nSELECT auction, nosuch FROM bid;\n"));
    let line = error_line(&squall(&["sql", &p]));
    assert!(line.contains("statement 3 (line 5, column 17)"), "{line}");
    assert!(line.contains("nosuch"), "{line}");
}

#[test]
fn unsupported_construct_names_itself() {
    let (_d, p) = script(&format!(
        "{TABLE}INSERT INTO out SELECT auction, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price) FROM bid;\n"
    ));
    let line = error_line(&squall(&["sql", &p]));
    assert!(line.contains("not supported yet: OVER windows"), "{line}");
    let (_d, p) =
        script(&format!("{TABLE}INSERT INTO out SELECT auction, price FROM bid ORDER BY price;\n"));
    assert!(error_line(&squall(&["sql", &p])).contains("not supported yet: ORDER BY on a stream"));
}

#[test]
fn explain_shows_the_plan_and_the_operators() {
    let (_d, p) = script(&format!(
        "{TABLE}EXPLAIN INSERT INTO out SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;\n"
    ));
    let out = squall(&["sql", &p]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TableScan: bid"), "{text}");
    assert!(text.contains("source 'bid': nexmark generator"), "{text}");
    assert!(text.contains("sink 'out': blackhole"), "{text}");
}

#[test]
fn a_yaml_topology_with_a_sql_component_feeds_a_yaml_bolt_and_equals_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("per-hour.csv");
    let out = squall(&[
        "run",
        "--quiet",
        "examples/pageviews-sql.yaml",
        "--set",
        &format!("output={}", output.display()),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut ours = squall_test_support::duckdb::csv_rows(dir.path());
    assert_eq!(ours.remove(0), ["page", "window_start", "views"], "the file's header");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let theirs = squall_test_support::duckdb::query(&[&format!(
        "SELECT page, time_bucket(INTERVAL '1 hour', ts), COUNT(*)
         FROM read_csv('{}/examples/sql/pageviews/*.csv', header=true, types={{'ts': 'TIMESTAMP'}})
         GROUP BY ALL",
        repo.display()
    )]);
    squall_test_support::duckdb::compare("page views per hour", ours, theirs);
}

#[test]
fn a_bad_line_goes_to_the_tables_error_sink_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("a.csv"), "1,10\n2,ten\n3,30\n4\n").unwrap();
    let (out, errors) = (dir.path().join("out"), dir.path().join("errors"));
    let script = dir.path().join("errors.sql");
    std::fs::write(
        &script,
        format!(
            "CREATE TABLE t (k BIGINT, v BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}',
               'errors.path' = '{}');
             CREATE TABLE o (k BIGINT, v BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}');
             INSERT INTO o SELECT k, v FROM t;",
            input.display(),
            errors.display(),
            out.display()
        ),
    )
    .unwrap();
    let run = squall(&["sql", "--quiet", script.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let mut rows = squall_test_support::duckdb::csv_rows(&out);
    rows.sort();
    assert_eq!(rows, [["1", "10"], ["3", "30"]], "the rows that fit");
    let mut bad = squall_test_support::duckdb::csv_rows(&errors);
    bad.sort_by_key(|r| r[1].parse::<u64>().unwrap());
    let file = input.join("a.csv").display().to_string();
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert_eq!(bad[0][..2], [file.clone(), "2".to_string()]);
    assert!(bad[0][2].contains("column 'v': 'ten' is not an integer"), "{bad:?}");
    assert_eq!(bad[0][3], "2,ten");
    assert_eq!(bad[1][..2], [file, "4".to_string()]);
    assert!(bad[1][2].contains("1 fields, the table has 2"), "{bad:?}");
}
