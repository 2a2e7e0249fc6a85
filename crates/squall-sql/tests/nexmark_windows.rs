//! Nexmark's windowed queries (q5, q7, q8, q11, q12) and the window TVFs
//! (HOP, TUMBLE, SESSION, on event and processing time) on Squall against
//! DuckDB: everything the windows emit after the final watermark of the
//! bounded input, row for row. Helpers in `common`.

mod common;

use common::{
    duck_hop, duck_hop_count, duck_sessions, duckdb, explain, planning_error, query_file,
    slowed_ddl, squall, DDL_NEXMARK, EVENTS, HOP_COUNT, RATE,
};
use squall_test_support::duckdb::compare;

#[test]
fn q5_hot_items() {
    let ours = squall(DDL_NEXMARK, &query_file("q5.sql"), 2);
    let hop = duck_hop("bid", 2000, 10_000);
    let theirs = duckdb(&format!(
        "WITH c AS (SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
                    FROM {hop} GROUP BY auction, window_start, window_end),
              m AS (SELECT max(num) AS maxn, starttime, endtime FROM c GROUP BY starttime, endtime)
         SELECT c.auction, c.num FROM c JOIN m ON c.starttime = m.starttime AND c.endtime = m.endtime
         AND c.num >= m.maxn"
    ));
    compare("q5", ours, theirs);
}

#[test]
fn q7_highest_bid() {
    let ours = squall(DDL_NEXMARK, &query_file("q7.sql"), 2);
    let tumble = duck_hop("bid", 10_000, 10_000);
    let theirs = duckdb(&format!(
        "SELECT B.auction, B.price, B.bidder, B.\"dateTime\", B.extra FROM bid B
         JOIN (SELECT MAX(price) AS maxprice, window_end AS \"dateTime\" FROM {tumble} GROUP BY window_start, window_end) B1
         ON B.price = B1.maxprice
         WHERE B.\"dateTime\" BETWEEN B1.\"dateTime\" - INTERVAL '10' SECOND AND B1.\"dateTime\""
    ));
    compare("q7", ours, theirs);
}

#[test]
fn q8_monitor_new_users() {
    let ours = squall(DDL_NEXMARK, &query_file("q8.sql"), 2);
    let (p, a) = (duck_hop("person", 10_000, 10_000), duck_hop("auction", 10_000, 10_000));
    let theirs = duckdb(&format!(
        "SELECT P.id, P.name, P.starttime FROM
           (SELECT id, name, window_start AS starttime, window_end AS endtime FROM {p}
            GROUP BY id, name, window_start, window_end) P
         JOIN (SELECT seller, window_start AS starttime, window_end AS endtime FROM {a}
            GROUP BY seller, window_start, window_end) A
         ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime"
    ));
    compare("q8", ours, theirs);
}

#[test]
fn hop_count_per_auction_q5_inner() {
    // The windowed part of q5: bids per auction in 10 s windows every 2 s.
    let ours = squall(DDL_NEXMARK, HOP_COUNT, 2);
    let theirs = duck_hop_count();
    compare("hop count per auction", ours, theirs);
}

#[test]
fn tumble_max_price_q7_inner_and_every_aggregate() {
    // The windowed part of q7 (the highest bid per 10 s window), with every
    // aggregate Squall runs, per channel class.
    let ours = squall(
        DDL_NEXMARK,
        "CREATE TABLE out (hot BOOLEAN, window_start TIMESTAMP(3), window_end TIMESTAMP(3), maxprice BIGINT,
                           minprice BIGINT, n BIGINT, total BIGINT, mean DOUBLE, bidders BIGINT, cheap BIGINT)
           WITH ('connector' = 'filesystem', 'path' = '${OUT}');
         INSERT INTO out
         SELECT channel IN ('Google', 'Facebook', 'Baidu', 'Apple') AS hot, window_start, window_end,
                MAX(price), MIN(price), COUNT(*), SUM(price), AVG(price), COUNT(DISTINCT bidder),
                COUNT(*) FILTER (WHERE price < 10000)
         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
         GROUP BY channel IN ('Google', 'Facebook', 'Baidu', 'Apple'), window_start, window_end",
        2,
    );
    let theirs = duckdb(&format!(
        "SELECT channel IN ('Google', 'Facebook', 'Baidu', 'Apple') AS hot, window_start, window_end,
                MAX(price), MIN(price), COUNT(*), SUM(price), AVG(price), COUNT(DISTINCT bidder),
                COUNT(*) FILTER (WHERE price < 10000)
         FROM {} GROUP BY hot, window_start, window_end",
        duck_hop("bid", 10_000, 10_000)
    ));
    compare("tumble aggregates", ours, theirs);
}

#[test]
fn q11_user_sessions_in_the_legacy_syntax() {
    let ours = squall(DDL_NEXMARK, &query_file("q11.sql"), 2);
    let theirs = duckdb(&format!(
        "SELECT bidder, n, starttime, endtime FROM ({})",
        duck_sessions(10_000, "")
    ));
    assert!(
        theirs.len() > 500 && theirs.iter().any(|r| r[1] != "1"),
        "sessions of several bids: {}",
        theirs.len()
    );
    compare("q11", ours, theirs);
}

#[test]
fn session_tvf_partitioned_by_bidder() {
    // The same sessions with a 3 s gap, as Flink's SESSION TVF.
    let ours = squall(
        DDL_NEXMARK,
        "CREATE TABLE out (bidder BIGINT, n BIGINT, top BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3))
           WITH ('connector' = 'filesystem', 'path' = '${OUT}');
         INSERT INTO out
         SELECT bidder, COUNT(*), MAX(price), window_start, window_end
         FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(`dateTime`), INTERVAL '3' SECOND))
         GROUP BY bidder, window_start, window_end",
        2,
    );
    compare("session TVF", ours, duckdb(&duck_sessions(3_000, "")));
}

#[test]
fn session_tvf_grouped_finer_than_its_partition() {
    // Sessions per bidder, counted per bidder and channel inside each
    // session (Flink: the GROUP BY may refine the PARTITION BY).
    let ours = squall(
        DDL_NEXMARK,
        "CREATE TABLE out (bidder BIGINT, channel VARCHAR, n BIGINT, top BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3))
           WITH ('connector' = 'filesystem', 'path' = '${OUT}');
         INSERT INTO out
         SELECT bidder, channel, COUNT(*), MAX(price), window_start, window_end
         FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(`dateTime`), INTERVAL '3' SECOND))
         GROUP BY bidder, channel, window_start, window_end",
        2,
    );
    compare("session TVF by channel", ours, duckdb(&duck_sessions(3_000, ", channel")));
}

/// Per bidder, the sum of its window counts in `rows` (bidder, count,
/// start, end), checking each window is `size_ms` long and aligned.
fn per_bidder_totals(rows: &[Vec<String>], size_ms: i64) -> Vec<Vec<String>> {
    let ms = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.3f")
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .and_utc()
            .timestamp_millis()
    };
    let mut totals: std::collections::BTreeMap<i64, i64> = Default::default();
    for r in rows {
        let (start, end) = (ms(&r[2]), ms(&r[3]));
        assert_eq!((end - start, start % size_ms), (size_ms, 0), "window {r:?}");
        *totals.entry(r[0].parse().unwrap()).or_default() += r[1].parse::<i64>().unwrap();
    }
    totals.into_iter().map(|(b, n)| vec![b.to_string(), n.to_string()]).collect()
}

#[test]
fn q12_processing_time_windows_count_every_bid_once() {
    let before = std::time::SystemTime::now();
    let ours = squall(DDL_NEXMARK, &query_file("q12.sql"), 2);
    let after = std::time::SystemTime::now();
    // The windows are of the wall clock during the run.
    let year = |t: std::time::SystemTime| {
        chrono::DateTime::<chrono::Utc>::from(t).format("%Y").to_string()
    };
    assert!(
        ours.iter().all(|r| r[2].starts_with(&year(before)) || r[2].starts_with(&year(after))),
        "{:?}",
        ours.first()
    );
    compare(
        "q12 totals per bidder",
        per_bidder_totals(&ours, 10_000),
        duckdb("SELECT bidder, count(*) FROM bid GROUP BY bidder"),
    );
}

#[test]
fn processing_time_windows_fire_on_the_wall_clock_without_a_watermark() {
    // No WATERMARK on the table, a source slowed to about 2 s, 500 ms
    // windows, checkpoints every 100 ms: windows fire during the run (their
    // rows are in part files of checkpoints before the end), and the totals
    // are every bid once.
    let ddl = slowed_ddl()
        .replace(",\n    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND", "");
    assert!(!ddl.contains("WATERMARK"));
    let query = query_file("q12.sql").replace("INTERVAL '10' SECOND", "INTERVAL '0.5' SECOND");
    let (out, checkpoints) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut s = squall_sql::Session::new();
    for (k, v) in [
        ("parallelism", "2"),
        ("EVENTS_NUM", &EVENTS.to_string()),
        ("TPS", RATE),
        ("SINK", "filesystem"),
        ("OUT", out.path().to_str().unwrap()),
        ("guarantee", "exactly_once"),
        ("checkpoint_interval_ms", "100"),
        ("checkpoint_dir", checkpoints.path().to_str().unwrap()),
    ] {
        s.set(k, v).unwrap();
    }
    s.run_script(&format!("{ddl};\n{query}")).unwrap_or_else(|e| panic!("{e}"));
    let during_run: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("part-") && !n.contains("-end"))
        .collect();
    assert!(!during_run.is_empty(), "no window fired before the end of input");
    let ours = squall_test_support::duckdb::csv_rows(out.path());
    let windows: std::collections::BTreeSet<&String> = ours.iter().map(|r| &r[2]).collect();
    assert!(windows.len() >= 2, "windows: {windows:?}");
    compare(
        "processing-time totals per bidder",
        per_bidder_totals(&ours, 500),
        duckdb("SELECT bidder, count(*) FROM bid GROUP BY bidder"),
    );
}

#[test]
fn over_partitioned_and_processing_time_plans_show_their_operators() {
    let q6 = explain(&query_file("q6.sql"));
    assert!(q6.contains("top-n:") && q6.contains("over aggregate: avg("), "{q6}");
    let out = tempfile::tempdir().unwrap();
    let q10 = explain(
        &query_file("q10.sql")
            .replace("${SINK}", "filesystem")
            .replace("${OUT}", out.path().to_str().unwrap()),
    );
    assert!(q10.contains("one folder per dt/hm"), "{q10}");
    let q12 = explain(&query_file("q12.sql"));
    assert!(q12.contains("on processing time"), "{q12}");
    let q7 = explain(&query_file("q7.sql"));
    assert!(!q7.contains("on processing time"), "{q7}");
    let err = planning_error(
        "CREATE VIEW B AS SELECT *, PROCTIME() AS p_time FROM bid;
         SELECT bidder, count(*) FROM TABLE(SESSION(TABLE B PARTITION BY bidder,
           DESCRIPTOR(p_time), INTERVAL '1' SECOND)) GROUP BY bidder, window_start, window_end",
    );
    assert!(err.contains("SESSION windows on processing time"), "{err}");
}
