//! What the Nexmark tests (tests/nexmark_*.rs) share: Squall runs a query
//! as SQL (reading the `nexmark` connector, which makes the same events, or
//! the files), DuckDB runs the same query as batch SQL over the events
//! written once per test binary into CSV files, and the tests compare the
//! complete outputs row for row (windowed queries: everything, after the
//! final watermark of the bounded input). Needs `python3 -m pip install
//! duckdb` (scripts/setup.sh).

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use squall_sql::nexmark::GeneratorConfig;
use squall_test_support::duckdb;

/// Events generated (all kinds): 46 000 bids, 3 000 auctions, 1 000
/// persons, over 20 s of event time (2 500 events per second).
pub const EVENTS: u64 = 50_000;
pub const RATE: &str = "2500";

pub fn events_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // In cargo's folder for test files, one per input size: each run
        // writes the same bytes again (the generator is deterministic)
        // instead of leaving a folder per process in /tmp.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nexmark-{EVENTS}"));
        let config = GeneratorConfig { rate: RATE.parse().unwrap(), ..Default::default() };
        squall_sql::nexmark_files::write_files(&dir, &config, EVENTS, false).unwrap();
        dir
    })
}

pub const DDL_NEXMARK: &str = include_str!("../../nexmark/ddl.sql");

/// The same tables over the CSV files.
pub fn ddl_files(dir: &Path) -> String {
    DDL_NEXMARK
        .replace("'connector' = 'nexmark',", "'connector' = 'filesystem', 'format' = 'csv',")
        .replace(
            "'table' = 'person',",
            &format!("'path' = '{}',", dir.join("person.csv").display()),
        )
        .replace(
            "'table' = 'auction',",
            &format!("'path' = '{}',", dir.join("auction.csv").display()),
        )
        .replace("'table' = 'bid',", &format!("'path' = '{}',", dir.join("bid.csv").display()))
}

/// Runs `ddl` + `query` (whose sink writes to ${OUT}) and reads every row
/// the sink committed.
pub fn squall(ddl: &str, query: &str, parallelism: usize) -> Vec<Vec<String>> {
    squall_with(ddl, query, parallelism, squall_sql::Session::new())
}

pub fn squall_with(
    ddl: &str,
    query: &str,
    parallelism: usize,
    mut s: squall_sql::Session,
) -> Vec<Vec<String>> {
    let out = tempfile::tempdir().unwrap();
    s.set("parallelism", &parallelism.to_string()).unwrap();
    s.set("EVENTS_NUM", &EVENTS.to_string()).unwrap();
    s.set("TPS", RATE).unwrap();
    s.set("SINK", "filesystem").unwrap();
    s.set("OUT", out.path().to_str().unwrap()).unwrap();
    let script = format!("{ddl};\n{query}");
    s.run_script(&script).unwrap_or_else(|e| panic!("{e}"));
    duckdb::csv_rows(out.path())
}

/// Runs `query` in DuckDB over the CSV files as tables person, auction, bid.
pub fn duckdb(query: &str) -> Vec<Vec<String>> {
    let d = events_dir().display().to_string();
    let view = |name: &str, columns: &str| {
        format!(
            "CREATE VIEW {name} AS SELECT * FROM read_csv('{d}/{name}.csv', header=false, quote='\"', columns={{{columns}}})"
        )
    };
    let person = view("person", "'id':'BIGINT','name':'VARCHAR','emailAddress':'VARCHAR','creditCard':'VARCHAR','city':'VARCHAR','state':'VARCHAR','dateTime':'TIMESTAMP','extra':'VARCHAR'");
    let auction = view("auction", "'id':'BIGINT','itemName':'VARCHAR','description':'VARCHAR','initialBid':'BIGINT','reserve':'BIGINT','dateTime':'TIMESTAMP','expires':'TIMESTAMP','seller':'BIGINT','category':'BIGINT','extra':'VARCHAR'");
    let bid = view("bid", "'auction':'BIGINT','bidder':'BIGINT','price':'BIGINT','channel':'VARCHAR','url':'VARCHAR','dateTime':'TIMESTAMP','extra':'VARCHAR'");
    duckdb::query(&[&person, &auction, &bid, query])
}

pub fn query_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("nexmark").join(name))
        .unwrap()
}

/// DuckDB's HOP: each bid in the windows [s, s + size) with s a multiple of
/// slide and s <= t < s + size.
pub fn duck_hop(table: &str, slide_ms: i64, size_ms: i64) -> String {
    format!(
        "(SELECT b.*, make_timestamp((epoch_ms(b.\"dateTime\") - epoch_ms(b.\"dateTime\") % {slide_ms} - k.i * {slide_ms}) * 1000) AS window_start,
                 make_timestamp((epoch_ms(b.\"dateTime\") - epoch_ms(b.\"dateTime\") % {slide_ms} - k.i * {slide_ms} + {size_ms}) * 1000) AS window_end
          FROM {table} b, range(0, {n}) AS k(i))",
        n = size_ms / slide_ms
    )
}

/// The windowed part of q5: bids per auction in 10 s windows every 2 s.
pub const HOP_COUNT: &str =
    "CREATE TABLE out (auction BIGINT, num BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3))
       WITH ('connector' = 'filesystem', 'path' = '${OUT}');
     INSERT INTO out
     SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
     FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
     GROUP BY auction, window_start, window_end";

/// [`HOP_COUNT`] in DuckDB.
pub fn duck_hop_count() -> Vec<Vec<String>> {
    duckdb(&format!(
        "SELECT auction, count(*), window_start, window_end FROM {} GROUP BY auction, window_start, window_end",
        duck_hop("bid", 2000, 10_000)
    ))
}

/// The Nexmark tables with the source slowed to 25 000 events/s, so that
/// checkpoints complete during the run.
pub fn slowed_ddl() -> String {
    DDL_NEXMARK.replace(
        "'events.num' = '${EVENTS_NUM}'",
        "'events.num' = '${EVENTS_NUM}', 'events.per-second' = '25000'",
    )
}

/// The operators of `query` over the Nexmark tables, as EXPLAIN prints
/// them.
pub fn explain(query: &str) -> String {
    let mut s = squall_sql::Session::new();
    for (k, v) in
        [("EVENTS_NUM", "10"), ("TPS", RATE), ("SINK", "blackhole"), ("OUT", "/nonexistent")]
    {
        s.set(k, v).unwrap();
    }
    let insert = query.find("INSERT").expect("an INSERT");
    let script = format!("{DDL_NEXMARK};\n{}EXPLAIN {}", &query[..insert], &query[insert..]);
    let out = s.run_script(&script).unwrap_or_else(|e| panic!("{e}"));
    out.explained.join("\n")
}

pub const Q19_DUCKDB: &str = r#"SELECT * FROM
    (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction
       ORDER BY price DESC, bidder, channel, url, "dateTime", extra) AS rank_number FROM bid)
    WHERE rank_number <= 10"#;

/// DuckDB's sessions of `gap_ms` per bidder, with LAG: a bid starts a new
/// session when the bidder's previous bid is `gap_ms` or more before it;
/// the session ends `gap_ms` after its last bid. Rows per session and
/// `extra` columns (`", channel"`): bidder, extra, n, top, starttime,
/// endtime.
pub fn duck_sessions(gap_ms: i64, extra: &str) -> String {
    format!(
        r#"WITH o AS (
             SELECT bidder{extra}, "dateTime" AS t, price,
               CASE WHEN epoch_ms("dateTime") - epoch_ms(LAG("dateTime") OVER (PARTITION BY bidder ORDER BY "dateTime")) < {gap_ms}
                    THEN 0 ELSE 1 END AS new FROM bid),
           s AS (SELECT *, SUM(new) OVER (PARTITION BY bidder ORDER BY t, new DESC ROWS UNBOUNDED PRECEDING) AS sid FROM o),
           w AS (SELECT *, MIN(t) OVER (PARTITION BY bidder, sid) AS st, MAX(t) OVER (PARTITION BY bidder, sid) AS en FROM s)
         SELECT bidder{extra}, COUNT(*) AS n, MAX(price) AS top, st AS starttime,
                make_timestamp((epoch_ms(en) + {gap_ms}) * 1000) AS endtime
         FROM w GROUP BY bidder, sid, st, en{extra}"#
    )
}

/// The final Top-1 of q6 (the highest bid of each auction while open,
/// equal prices by the earliest bid) in DuckDB.
pub const Q6_TOP1_DUCKDB: &str = r#"(SELECT * FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY id, seller ORDER BY price DESC, "dateTime") AS rownum
    FROM (SELECT A.id, A.seller, B.price, B."dateTime" FROM auction A, bid B
          WHERE A.id = B.auction AND B."dateTime" BETWEEN A."dateTime" AND A.expires))
  WHERE rownum <= 1)"#;

pub const Q6_DUCKDB: &str = r#"SELECT CAST(seller AS VARCHAR), CAST(trunc(AVG(price) OVER (PARTITION BY seller
    ORDER BY "dateTime", price ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)) AS BIGINT) FROM "#;

/// The error of planning `sql` after the Nexmark tables.
pub fn planning_error(sql: &str) -> String {
    let mut s = squall_sql::Session::new();
    for (k, v) in [("EVENTS_NUM", "10"), ("TPS", RATE)] {
        s.set(k, v).unwrap();
    }
    s.prepare(&format!("{DDL_NEXMARK};\n{sql}")).err().expect("refused").to_string()
}

/// Runs `query` (a partitioned filesystem sink at ${OUT}) with `s` and
/// returns each committed row with its folder's partition values appended
/// (unescaped), and the folders written.
pub fn squall_partitioned(
    ddl: &str,
    query: &str,
    mut s: squall_sql::Session,
) -> (Vec<Vec<String>>, usize) {
    let out = tempfile::tempdir().unwrap();
    s.set("parallelism", "2").unwrap();
    s.set("EVENTS_NUM", &EVENTS.to_string()).unwrap();
    s.set("TPS", RATE).unwrap();
    s.set("SINK", "filesystem").unwrap();
    s.set("OUT", out.path().to_str().unwrap()).unwrap();
    s.run_script(&format!("{ddl};\n{query}")).unwrap_or_else(|e| panic!("{e}"));
    let files = squall_sql::partitioned_sink::committed(out.path()).unwrap();
    let mut folders = std::collections::BTreeSet::new();
    let mut rows = Vec::new();
    for (folder, file) in files {
        folders.insert(folder.clone());
        let values: Vec<String> =
            folder.split('/').map(|kv| kv.split_once('=').unwrap().1.replace("%3A", ":")).collect();
        let bytes = std::fs::read(&file).unwrap();
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes.as_slice());
        for rec in r.records() {
            let mut row: Vec<String> = rec.unwrap().iter().map(str::to_string).collect();
            row.extend(values.iter().cloned());
            rows.push(row);
        }
    }
    let pending = walkdir_pending(out.path());
    assert!(pending.is_empty(), "pending files left: {pending:?}");
    (rows, folders.len())
}

pub fn walkdir_pending(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            found.extend(walkdir_pending(&p));
        } else if p.to_string_lossy().ends_with(".pending") {
            found.push(p);
        }
    }
    found
}

pub const Q10_DUCKDB: &str = r#"SELECT auction, bidder, price, "dateTime", extra,
    strftime("dateTime", '%Y-%m-%d'), strftime("dateTime", '%H:%M') FROM bid"#;
