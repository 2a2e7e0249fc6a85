//! Interval joins, outer joins and temporal joins against DuckDB: two CSV tables written
//! by the test (a seeded generator: keys, values, event times in order),
//! the same join run by Squall over the files and by DuckDB as batch SQL,
//! and the complete outputs compared row for row (an outer join's
//! changelog folded into its final table first).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use squall_test_support::duckdb::{self, compare, csv_rows, upserted};

/// Rows per table.
const ROWS: usize = 1500;

/// A small seeded generator (xorshift), so both engines read the same
/// files run after run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// `dir/a.csv` (k, v, ts) and `dir/b.csv` (k, w, ts): keys 0-49 on `a`,
/// 10-59 on `b` (so some never match), a few NULL keys, times rising by
/// 0-199 ms per row from 2026-01-01.
fn write_tables(dir: &Path, seed: u64) {
    let mut rng = Rng(seed);
    for (name, base) in [("a", 0), ("b", 10)] {
        let mut t = 1_767_225_600_000i64;
        let mut text = String::new();
        for i in 0..ROWS {
            t += rng.below(200) as i64;
            let k = match rng.below(40) {
                0 => String::new(),
                _ => (base + rng.below(50)).to_string(),
            };
            let v = match name {
                "a" => format!("v{i}"),
                _ => rng.below(1000).to_string(),
            };
            writeln!(text, "{k},{v},{}", ts(t)).unwrap();
        }
        std::fs::write(dir.join(format!("{name}.csv")), text).unwrap();
    }
}

/// Squall's tables `a` and `b` over the files, watermarks 1 s behind.
fn ddl(dir: &Path) -> String {
    let table = |name: &str, col: &str, ty: &str| {
        format!(
            "CREATE TABLE {name} (k BIGINT, {col} {ty}, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
             WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');",
            dir.join(format!("{name}.csv")).display()
        )
    };
    table("a", "v", "VARCHAR") + &table("b", "w", "BIGINT")
}

/// DuckDB's views `a` and `b` over the same files.
fn duck_views(dir: &Path) -> [String; 2] {
    let view = |name: &str, col: &str, ty: &str| {
        format!(
            "CREATE VIEW {name} AS SELECT * FROM read_csv('{}', header=false,
               columns={{'k':'BIGINT','{col}':'{ty}','ts':'TIMESTAMP'}})",
            dir.join(format!("{name}.csv")).display()
        )
    };
    [view("a", "v", "VARCHAR"), view("b", "w", "BIGINT")]
}

/// Runs `insert` (into `out`, whose columns are `columns`) over the tables
/// with `parallelism`; returns the sink's rows and the session's outcome.
fn run(
    dir: &Path,
    columns: &str,
    insert: &str,
    parallelism: usize,
) -> (Vec<Vec<String>>, squall_sql::Outcome) {
    run_with(dir, &ddl(dir), columns, insert, parallelism)
}

/// [`run`] over the tables of `ddl`.
fn run_with(
    dir: &Path,
    ddl: &str,
    columns: &str,
    insert: &str,
    parallelism: usize,
) -> (Vec<Vec<String>>, squall_sql::Outcome) {
    let out = dir.join(format!("out-{parallelism}-{:x}", fxhash(insert)));
    let _ = std::fs::remove_dir_all(&out);
    let mut s = squall_sql::Session::new();
    s.set("parallelism", &parallelism.to_string()).unwrap();
    let script = format!(
        "{ddl}\nCREATE TABLE out ({columns}) WITH ('connector' = 'filesystem', 'path' = '{}');\n{insert}",
        out.display()
    );
    let outcome = s.run_script(&script).unwrap_or_else(|e| panic!("{e}"));
    (csv_rows(&out), outcome)
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

fn duck(dir: &Path, query: &str) -> Vec<Vec<String>> {
    let [a, b] = duck_views(dir);
    duckdb::query(&[&a, &b, query])
}

/// The interval join's state after the run: nothing held, and at most
/// `peak` rows at once (printed).
fn assert_state_dropped(outcome: &squall_sql::Outcome) -> i64 {
    let [held] = outcome.rows_held.as_slice() else {
        panic!("not planned as one interval join: {:?}", outcome.operators)
    };
    let held: &Arc<squall_sql::interval_join::RowsHeld> = held;
    assert!(outcome.operators.iter().any(|l| l.contains("interval")), "{:?}", outcome.operators);
    assert_eq!(held.now(), 0, "rows still held after the final watermark");
    assert!(held.peak() > 0, "the join never held a row");
    eprintln!("interval join: at most {} rows held of {} read", held.peak(), 2 * ROWS);
    held.peak()
}

#[test]
fn an_interval_join_with_between_equals_duckdb_and_drops_its_state() {
    let dir = tempfile::tempdir().unwrap();
    write_tables(dir.path(), 7);
    let (ours, outcome) = run(
        dir.path(),
        "k BIGINT, v VARCHAR, w BIGINT, ta TIMESTAMP(3), tb TIMESTAMP(3)",
        "INSERT INTO out SELECT a.k, a.v, b.w, a.ts, b.ts FROM a, b
         WHERE a.k = b.k AND a.ts BETWEEN b.ts - INTERVAL '2' SECOND AND b.ts + INTERVAL '1' SECOND",
        1,
    );
    assert_state_dropped(&outcome);
    let theirs = duck(
        dir.path(),
        "SELECT a.k, a.v, b.w, a.ts, b.ts FROM a, b WHERE a.k = b.k
         AND a.ts BETWEEN b.ts - INTERVAL 2 SECOND AND b.ts + INTERVAL 1 SECOND",
    );
    compare("interval join (BETWEEN)", ours, theirs);
}

#[test]
fn an_interval_join_with_strict_bounds_on_two_tasks_equals_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    write_tables(dir.path(), 11);
    // The bounds written the other way round: b's time against a's.
    let (ours, outcome) = run(
        dir.path(),
        "k BIGINT, v VARCHAR, w BIGINT, ta TIMESTAMP(3), tb TIMESTAMP(3)",
        "INSERT INTO out SELECT a.k, a.v, b.w, a.ts, b.ts FROM a JOIN b ON a.k = b.k
         AND b.ts > a.ts - INTERVAL '1' SECOND AND b.ts + INTERVAL '3' SECOND < a.ts + INTERVAL '5' SECOND
         AND b.w > 100",
        2,
    );
    assert_state_dropped(&outcome);
    let theirs = duck(
        dir.path(),
        "SELECT a.k, a.v, b.w, a.ts, b.ts FROM a JOIN b ON a.k = b.k
         AND b.ts > a.ts - INTERVAL 1 SECOND AND b.ts + INTERVAL 3 SECOND < a.ts + INTERVAL 5 SECOND
         AND b.w > 100",
    );
    compare("interval join (strict bounds)", ours, theirs);
}

/// An outer join's final table against DuckDB's.
fn outer(kind: &str, on: &str, parallelism: usize) {
    let dir = tempfile::tempdir().unwrap();
    write_tables(dir.path(), 3 + parallelism as u64);
    let select = format!("SELECT a.k, a.v, b.k, b.w FROM a {kind} JOIN b ON {on}");
    let (ours, outcome) = run(
        dir.path(),
        "ka BIGINT, v VARCHAR, kb BIGINT, w BIGINT",
        &format!("INSERT INTO out {select}"),
        parallelism,
    );
    assert!(outcome.operators.iter().any(|l| l.contains("changelog")), "{:?}", outcome.operators);
    let kinds: std::collections::BTreeSet<String> = ours.iter().map(|r| r[0].clone()).collect();
    eprintln!("{kind} JOIN: {} changelog rows, kinds {kinds:?}", ours.len());
    // Whichever side comes first for a key, a FULL join pads its first
    // row and retracts it when the other side's first match comes; a LEFT
    // or RIGHT join does so only if the outer side came first.
    if kind.starts_with("FULL") {
        assert!(kinds.contains("-D"), "no padded row was ever retracted: {kinds:?}");
    }
    compare(&format!("{kind} JOIN"), upserted(ours), duck(dir.path(), &select));
}

#[test]
fn a_left_join_retracts_padded_rows_and_ends_as_duckdbs() {
    outer("LEFT", "a.k = b.k", 1);
}

#[test]
fn a_right_join_with_a_residual_condition_ends_as_duckdbs() {
    outer("RIGHT", "a.k = b.k AND b.w > 300", 2);
}

#[test]
fn a_full_outer_join_ends_as_duckdbs() {
    outer("FULL OUTER", "a.k = b.k AND a.v <> 'v7'", 2);
}

#[test]
fn an_unsupported_join_shape_fails_to_plan_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write_tables(dir.path(), 1);
    let mut s = squall_sql::Session::new();
    let err = s
        .run_script(&format!(
            "{}\nSELECT a.v, b.w FROM a, b WHERE a.ts BETWEEN b.ts AND b.ts + INTERVAL '1' SECOND",
            ddl(dir.path())
        ))
        .unwrap_err()
        .to_string();
    assert!(!err.contains('\n') && err.contains("joins without an equality"), "{err}");
}

/// `dir/orders.csv` (id, currency, amount, ts) and `dir/rates.csv`
/// (currency, rate, ts): 10 currencies, a rate change every 0-999 ms, an
/// order every 0-199 ms, both from the same time (so the first orders of
/// a currency may find no rate yet).
fn write_orders_and_rates(dir: &Path, seed: u64) {
    let mut rng = Rng(seed);
    let start = 1_767_225_600_000i64;
    let (mut orders, mut rates) = (String::new(), String::new());
    let mut t = start;
    for id in 0..ROWS {
        t += rng.below(200) as i64;
        let c = rng.below(10);
        writeln!(orders, "{id},c{c},{},{}", 1 + rng.below(100), ts(t)).unwrap();
    }
    let end = t;
    let mut t = start;
    while t < end {
        t += 1 + rng.below(1000) as i64;
        writeln!(rates, "c{},{},{}", rng.below(10), 50 + rng.below(100), ts(t)).unwrap();
    }
    std::fs::write(dir.join("orders.csv"), orders).unwrap();
    std::fs::write(dir.join("rates.csv"), rates).unwrap();
}

fn temporal_ddl(dir: &Path) -> String {
    format!(
        "CREATE TABLE orders (id BIGINT, currency VARCHAR, amount BIGINT, ts TIMESTAMP(3),
           WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         CREATE TABLE rates (currency VARCHAR, rate BIGINT, ts TIMESTAMP(3),
           PRIMARY KEY (currency) NOT ENFORCED,
           WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');",
        dir.join("orders.csv").display(),
        dir.join("rates.csv").display()
    )
}

fn duck_temporal(dir: &Path, query: &str) -> Vec<Vec<String>> {
    let orders = format!(
        "CREATE VIEW orders AS SELECT * FROM read_csv('{}', header=false,
           columns={{'id':'BIGINT','currency':'VARCHAR','amount':'BIGINT','ts':'TIMESTAMP'}})",
        dir.join("orders.csv").display()
    );
    let rates = format!(
        "CREATE VIEW rates AS SELECT * FROM read_csv('{}', header=false,
           columns={{'currency':'VARCHAR','rate':'BIGINT','ts':'TIMESTAMP'}})",
        dir.join("rates.csv").display()
    );
    duckdb::query(&[&orders, &rates, query])
}

fn temporal(kind: &str, duck_kind: &str, parallelism: usize) {
    let dir = tempfile::tempdir().unwrap();
    write_orders_and_rates(dir.path(), 5 + parallelism as u64);
    let (ours, outcome) = run_with(
        dir.path(),
        &temporal_ddl(dir.path()),
        "id BIGINT, currency VARCHAR, cost BIGINT, ts TIMESTAMP(3), rated TIMESTAMP(3)",
        &format!(
            "INSERT INTO out SELECT o.id, o.currency, o.amount * r.rate, o.ts, r.ts
             FROM orders AS o {kind} JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r
             ON o.currency = r.currency"
        ),
        parallelism,
    );
    assert!(
        outcome.operators.iter().any(|l| l.contains("temporal join")),
        "{:?}",
        outcome.operators
    );
    let theirs = duck_temporal(
        dir.path(),
        &format!(
            "SELECT o.id, o.currency, o.amount * r.rate, o.ts, r.ts
             FROM orders o {duck_kind} JOIN rates r ON o.currency = r.currency AND o.ts >= r.ts"
        ),
    );
    if kind == "LEFT" {
        assert!(theirs.iter().any(|r| r[2].is_empty()), "no order without a rate: a weak test");
    }
    compare(&format!("temporal {kind} join"), ours, theirs);
}

#[test]
fn a_temporal_join_takes_the_version_valid_at_each_order_as_duckdbs_asof_join() {
    temporal("", "ASOF", 1);
}

#[test]
fn a_left_temporal_join_on_two_tasks_pads_orders_without_a_rate_as_duckdb() {
    temporal("LEFT", "ASOF LEFT", 2);
}

#[test]
fn a_temporal_join_against_a_table_without_a_primary_key_fails_to_plan() {
    let dir = tempfile::tempdir().unwrap();
    write_orders_and_rates(dir.path(), 1);
    let ddl = temporal_ddl(dir.path()).replace("PRIMARY KEY (currency) NOT ENFORCED,", "");
    let mut s = squall_sql::Session::new();
    let err = s
        .run_script(&format!(
            "{ddl}\nSELECT o.id, r.rate FROM orders AS o
             JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r ON o.currency = r.currency"
        ))
        .unwrap_err()
        .to_string();
    assert!(!err.contains('\n') && err.contains("PRIMARY KEY"), "{err}");
}

/// An updating result into a filesystem sink with a PRIMARY KEY: the
/// upsert changelog folded by key is DuckDB's table.
fn upsert(
    columns: &str,
    key: &[usize],
    select: &str,
    duck_select: &str,
    parallelism: usize,
) -> usize {
    let dir = tempfile::tempdir().unwrap();
    write_tables(dir.path(), 21);
    let (ours, outcome) =
        run(dir.path(), columns, &format!("INSERT INTO out {select}"), parallelism);
    assert!(outcome.operators.iter().any(|l| l.contains("upserts by PRIMARY KEY")));
    assert!(ours.iter().all(|r| r[0] != "-U"), "an upsert sink wrote an update-before row");
    let deletes = ours.iter().filter(|r| r[0] == "-D").count();
    eprintln!("upsert sink: {} rows written, {deletes} deletes", ours.len());
    let table = squall_sql::upsert_sink::fold(ours, key);
    compare("upsert sink", table, duck(dir.path(), duck_select));
    deletes
}

#[test]
fn a_group_by_into_an_upsert_file_sink_folds_to_duckdbs_table() {
    let _ = upsert(
        "k BIGINT, n BIGINT, last TIMESTAMP(3), PRIMARY KEY (k) NOT ENFORCED",
        &[0],
        "SELECT k, COUNT(*), MAX(ts) FROM a GROUP BY k",
        "SELECT k, COUNT(*), MAX(ts) FROM a GROUP BY k",
        2,
    );
}

#[test]
fn groups_that_empty_are_deleted_from_an_upsert_file_sink() {
    // How many keys have each count: as counts grow, a count's group
    // loses its keys and is deleted (-D).
    let select = "SELECT n, COUNT(*) FROM (SELECT k, COUNT(*) AS n FROM a WHERE k IS NOT NULL GROUP BY k) t GROUP BY n";
    let deletes =
        upsert("n BIGINT, keys BIGINT, PRIMARY KEY (n) NOT ENFORCED", &[0], select, select, 1);
    assert!(deletes > 0, "no group was ever deleted: the test checks no delete");
}

#[test]
fn a_left_lookup_join_with_a_residual_condition_equals_duckdb() {
    lookup("name3");
}

#[test]
fn the_as_of_clause_is_cut_from_the_query_text_but_not_from_a_literal_or_comment() {
    // The words of the clause in a string literal (and a comment) stay:
    // blanked, the literal would no longer equal c3's name.
    lookup("name3 FOR SYSTEM_TIME AS OF o.ts");
}

/// A table without a watermark read FOR SYSTEM_TIME AS OF is a lookup
/// table, read whole; currencies c7-c9 are not in it, and c3's row (named
/// `name3`) fails the condition: those orders are padded, as DuckDB's LEFT
/// JOIN pads them.
fn lookup(name3: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_orders_and_rates(dir.path(), 9);
    let names: String = (0..7)
        .map(|i| if i == 3 { format!("c3,{name3}\n") } else { format!("c{i},name{i}\n") })
        .collect();
    std::fs::write(dir.path().join("names.csv"), names).unwrap();
    let ddl = format!(
        "{}\nCREATE TABLE names (currency VARCHAR, name VARCHAR)
           WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');",
        temporal_ddl(dir.path()),
        dir.path().join("names.csv").display()
    );
    let (ours, outcome) = run_with(
        dir.path(),
        &ddl,
        "id BIGINT, currency VARCHAR, name VARCHAR",
        &format!(
            "INSERT INTO out SELECT o.id, o.currency, n.name
             FROM orders AS o LEFT JOIN names FOR SYSTEM_TIME AS OF o.ts AS n
             /* not names FOR SYSTEM_TIME AS OF o.id */
             ON o.currency = n.currency AND n.name <> '{name3}'"
        ),
        2,
    );
    assert!(outcome.operators.iter().any(|l| l.contains("lookup join")), "{:?}", outcome.operators);
    let names = format!(
        "CREATE VIEW names AS SELECT * FROM read_csv('{}', header=false,
           columns={{'currency':'VARCHAR','name':'VARCHAR'}})",
        dir.path().join("names.csv").display()
    );
    let orders = format!(
        "CREATE VIEW orders AS SELECT * FROM read_csv('{}', header=false,
           columns={{'id':'BIGINT','currency':'VARCHAR','amount':'BIGINT','ts':'TIMESTAMP'}})",
        dir.path().join("orders.csv").display()
    );
    let theirs = duckdb::query(&[
        &names,
        &orders,
        &format!(
            "SELECT o.id, o.currency, n.name FROM orders o LEFT JOIN names n
             ON o.currency = n.currency AND n.name <> '{name3}'"
        ),
    ]);
    assert!(theirs.iter().any(|r| r[1] == "c3" && r[2].is_empty()), "c3 not padded: a weak test");
    compare("lookup LEFT join", ours, theirs);
}
