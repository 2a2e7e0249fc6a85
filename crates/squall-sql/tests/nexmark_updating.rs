//! Nexmark's joins and updating results (q3, q4, q6, q9, q13, q15-q20),
//! Top-N and OVER aggregates, on Squall against DuckDB: a changelog is
//! folded to its final table (`upserted`) and compared row for row.
//! Helpers in `common`.

mod common;

use common::{
    duckdb, explain, planning_error, query_file, squall, squall_with, DDL_NEXMARK, Q19_DUCKDB,
    Q6_DUCKDB, Q6_TOP1_DUCKDB, RATE,
};
use squall_test_support::duckdb::{compare, upserted};

#[test]
fn q3_local_item_suggestion_join() {
    let ours = squall(DDL_NEXMARK, &query_file("q3.sql"), 2);
    let theirs = duckdb(
        "SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P on A.seller = P.id
         WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')",
    );
    compare("q3", ours, theirs);
}

#[test]
fn q4_average_price_per_category_as_an_updating_result() {
    let changelog = squall(DDL_NEXMARK, &query_file("q4.sql"), 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "the averages were updated");
    let theirs = duckdb(
        r#"SELECT Q.category, AVG(Q.final) FROM (
             SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
             WHERE A.id = B.auction AND B."dateTime" BETWEEN A."dateTime" AND A.expires
             GROUP BY A.id, A.category) Q
           GROUP BY Q.category"#,
    );
    compare("q4", upserted(changelog), theirs);
}

#[test]
fn q20_expand_bid_with_auction() {
    let ours = squall(DDL_NEXMARK, &query_file("q20.sql"), 2);
    let theirs = duckdb(
        r#"SELECT auction, bidder, price, channel, url, B."dateTime", B.extra,
                  itemName, description, initialBid, reserve, A."dateTime", expires, seller, category, A.extra
           FROM bid AS B INNER JOIN auction AS A on B.auction = A.id WHERE A.category = 10"#,
    );
    compare("q20", ours, theirs);
}

/// DuckDB's aggregates of q15 and q16: bids, distinct bidders and distinct
/// auctions, in all and per price rank.
fn duck_rank_counts() -> String {
    let ranks = ["price < 10000", "price >= 10000 and price < 1000000", "price >= 1000000"];
    let mut out = Vec::new();
    for what in ["*", "distinct bidder", "distinct auction"] {
        out.push(format!("count({what})"));
        for r in ranks {
            out.push(format!("count({what}) filter (where {r})"));
        }
    }
    out.join(", ")
}

#[test]
fn q15_bidding_statistics_per_day_with_date_format() {
    let changelog = squall(DDL_NEXMARK, &query_file("q15.sql"), 2);
    let theirs = duckdb(&format!(
        r#"SELECT strftime("dateTime", '%Y-%m-%d'), {} FROM bid GROUP BY 1"#,
        duck_rank_counts()
    ));
    compare("q15", upserted(changelog), theirs);
}

#[test]
fn q16_channel_statistics_per_day() {
    let changelog = squall(DDL_NEXMARK, &query_file("q16.sql"), 2);
    let theirs = duckdb(&format!(
        r#"SELECT channel, strftime("dateTime", '%Y-%m-%d'), max(strftime("dateTime", '%H:%M')), {}
           FROM bid GROUP BY 1, 2"#,
        duck_rank_counts()
    ));
    compare("q16", upserted(changelog), theirs);
}

#[test]
fn q17_auction_statistics_per_day() {
    let changelog = squall(DDL_NEXMARK, &query_file("q17.sql"), 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "the statistics were updated");
    let theirs = duckdb(
        r#"SELECT auction, strftime("dateTime", '%Y-%m-%d'), count(*),
                  count(*) filter (where price < 10000),
                  count(*) filter (where price >= 10000 and price < 1000000),
                  count(*) filter (where price >= 1000000),
                  min(price), max(price), CAST(trunc(avg(price)) AS BIGINT), sum(price)
           FROM bid GROUP BY 1, 2"#,
    );
    compare("q17", upserted(changelog), theirs);
}

#[test]
fn top_n_plans_show_the_top_n_operator() {
    for q in ["q9.sql", "q18.sql", "q19.sql"] {
        let text = explain(&query_file(q));
        eprintln!("{q}:\n{text}");
        assert!(text.contains("top-n:"), "{q}: {text}");
    }
}

// Top-N and deduplication. Squall orders rows that tie on the ORDER BY by
// their columns, left to right (so its result does not depend on arrival
// order); DuckDB's ROW_NUMBER() gets the same tie-break spelled out.

#[test]
fn q9_winning_bids_as_a_top_1_per_auction() {
    let changelog = squall(DDL_NEXMARK, &query_file("q9.sql"), 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "winning bids were replaced");
    let theirs = duckdb(
        r#"SELECT id, itemName, description, initialBid, reserve, "dateTime", expires, seller, category, extra,
                  auction, bidder, price, bid_dateTime, bid_extra
           FROM (SELECT A.*, B.auction, B.bidder, B.price, B."dateTime" AS bid_dateTime, B.extra AS bid_extra,
                   ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B."dateTime" ASC, B.bidder, B.extra) AS rownum
                 FROM auction A, bid B
                 WHERE A.id = B.auction AND B."dateTime" BETWEEN A."dateTime" AND A.expires)
           WHERE rownum <= 1"#,
    );
    compare("q9", upserted(changelog), theirs);
}

#[test]
fn q18_last_bid_per_bidder_and_auction_deduplicated() {
    let changelog = squall(DDL_NEXMARK, &query_file("q18.sql"), 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "later bids replaced earlier ones");
    let theirs = duckdb(
        r#"SELECT auction, bidder, price, channel, url, "dateTime", extra
           FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction
                   ORDER BY "dateTime" DESC, price, channel, url, extra) AS rank_number FROM bid)
           WHERE rank_number <= 1"#,
    );
    compare("q18", upserted(changelog), theirs);
}

#[test]
fn q19_top_10_bids_per_auction_with_their_rank() {
    let changelog = squall(DDL_NEXMARK, &query_file("q19.sql"), 2);
    assert!(
        changelog.iter().any(|r| r[0] == "-U" && r[8] != "1"),
        "a higher bid moved lower ranks"
    );
    compare("q19", upserted(changelog), duckdb(Q19_DUCKDB));
}

#[test]
fn top_n_over_an_updating_aggregate_takes_retractions() {
    // The 3 auctions with the most bids in each of 7 buckets of auctions: a
    // Top-N over a non-windowed GROUP BY, whose counts are retracted as they
    // grow (Flink's retractable Top-N keeps every row of a partition).
    let query = "CREATE TABLE out (bucket BIGINT, auction BIGINT, n BIGINT)
                   WITH ('connector' = 'filesystem', 'path' = '${OUT}');
                 INSERT INTO out SELECT bucket, auction, n FROM (
                   SELECT *, ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY n DESC) AS rn FROM (
                     SELECT MOD(auction, 7) AS bucket, auction, COUNT(*) AS n FROM bid
                     GROUP BY MOD(auction, 7), auction))
                 WHERE rn <= 3";
    let changelog = squall(DDL_NEXMARK, query, 2);
    let theirs = duckdb(
        "SELECT bucket, auction, n FROM (
           SELECT *, ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY n DESC, auction) AS rn FROM (
             SELECT auction % 7 AS bucket, auction, COUNT(*) AS n FROM bid GROUP BY auction % 7, auction))
         WHERE rn <= 3",
    );
    compare("top-n over an updating result", upserted(changelog), theirs);
}

#[test]
fn a_row_number_without_an_upper_bound_is_refused_by_name() {
    let mut s = squall_sql::Session::new();
    for (k, v) in [("EVENTS_NUM", "10"), ("TPS", RATE)] {
        s.set(k, v).unwrap();
    }
    let err = s
        .run_script(&format!(
            "{DDL_NEXMARK};
             SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price) AS rn FROM bid)
             WHERE rn > 3"
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("OVER windows other than Top-N"), "{err}");
}

#[test]
fn q13_bounded_side_input_lookup_join() {
    // Flink's side input is `i,i` for i in 0..9999; here only i < 2500, so
    // that the bids of auctions 2500 and up (ids start at 1000) find
    // nothing.
    let dir = tempfile::tempdir().unwrap();
    let side = dir.path().join("side_input.txt");
    let text: String = (0..2500).map(|i| format!("{i},{i}\n")).collect();
    std::fs::write(&side, text).unwrap();
    let mut s = squall_sql::Session::new();
    s.set("SIDE_INPUT", side.to_str().unwrap()).unwrap();
    // Flink's text: the AS OF column is PROCTIME(); a lookup join joins
    // each bid with the side input as it arrives.
    let query = query_file("q13.sql");
    let ours = squall_with(DDL_NEXMARK, &query, 2, s);
    let theirs = duckdb(&format!(
        r#"WITH side_input AS (SELECT * FROM read_csv('{}', header=false,
             columns={{'key':'BIGINT','value':'VARCHAR'}}))
           SELECT B.auction, B.bidder, B.price, B."dateTime", S.value
           FROM bid B JOIN side_input S ON B.auction % 10000 = S.key"#,
        side.display()
    ));
    let auctions: std::collections::BTreeSet<&str> = ours.iter().map(|r| r[0].as_str()).collect();
    assert!(auctions.iter().any(|a| a.parse::<i64>().unwrap() < 2500), "no bid matched");
    compare("q13", ours, theirs);
}

// OVER aggregates (`ROWS BETWEEN n PRECEDING AND CURRENT ROW`). Squall
// orders rows equal on the ORDER BY by their columns, left to right, as the
// Top-N does; the DuckDB queries spell that tie-break out.

#[test]
fn q6_average_selling_price_by_seller_over_the_updating_top_1() {
    let changelog = squall(DDL_NEXMARK, &query_file("q6.sql"), 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "averages were updated");
    // The OVER node reads seller, price and dateTime (DataFusion prunes
    // the rest): bids at the same time are ordered by the price.
    let theirs = duckdb(&format!("{Q6_DUCKDB}{Q6_TOP1_DUCKDB}"));
    compare("q6", upserted(changelog), theirs);
}

#[test]
fn over_aggregates_of_every_function_over_an_updating_input() {
    // q6's Top-1 with its rows and every aggregate over two frame sizes:
    // the changelog folds to DuckDB's batch window over the final rows.
    let query = "CREATE TABLE out (id BIGINT, seller BIGINT, price BIGINT, t TIMESTAMP(3),
                   a DOUBLE, s BIGINT, n BIGINT, lo BIGINT, hi BIGINT, s_all BIGINT)
                   WITH ('connector' = 'filesystem', 'path' = '${OUT}');
                 INSERT INTO out SELECT id, seller, price, `dateTime`,
                   AVG(price) OVER w, SUM(price) OVER w, COUNT(*) OVER w, MIN(price) OVER w,
                   MAX(price) OVER w,
                   SUM(price) OVER (PARTITION BY seller ORDER BY `dateTime`
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                 FROM (SELECT * FROM (
                   SELECT *, ROW_NUMBER() OVER (PARTITION BY id, seller ORDER BY price DESC) AS rownum
                   FROM (SELECT A.id, A.seller, B.price, B.`dateTime` FROM auction AS A, bid AS B
                         WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires))
                   WHERE rownum <= 1)
                 WINDOW w AS (PARTITION BY seller ORDER BY `dateTime` ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)";
    let changelog = squall(DDL_NEXMARK, query, 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "rows were updated");
    let theirs = duckdb(&format!(
        r#"SELECT id, seller, price, "dateTime", AVG(price) OVER w, SUM(price) OVER w, COUNT(*) OVER w,
                  MIN(price) OVER w, MAX(price) OVER w,
                  SUM(price) OVER (PARTITION BY seller ORDER BY "dateTime", id, price
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
           FROM {Q6_TOP1_DUCKDB}
           WINDOW w AS (PARTITION BY seller ORDER BY "dateTime", id, price ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)"#
    ));
    compare("over aggregates over the top-1", upserted(changelog), theirs);
}

#[test]
fn over_aggregate_over_an_append_only_csv_with_ties_and_late_rows() {
    // Rows out of time order and equal times: a late row updates the rows
    // after it; equal times are ordered by the row's other columns.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("readings.csv");
    let mut text = String::new();
    for i in 0..300i64 {
        let (k, t, v) = (i % 4, (i * 7919) % 97, (i * 31) % 23 - 5);
        text.push_str(&format!("{k},1970-01-01 00:00:{:02}.{:03},{v}\n", t / 10, (t % 10) * 100));
    }
    std::fs::write(&csv, text).unwrap();
    let query = format!(
        "CREATE TABLE readings (k BIGINT, t TIMESTAMP(3), v BIGINT)
           WITH ('connector' = 'filesystem', 'format' = 'csv', 'path' = '{}');
         CREATE TABLE out (k BIGINT, t TIMESTAMP(3), v BIGINT, a DOUBLE, lo BIGINT, n BIGINT)
           WITH ('connector' = 'filesystem', 'path' = '${{OUT}}');
         INSERT INTO out SELECT k, t, v,
           AVG(v) OVER (PARTITION BY k ORDER BY t ROWS BETWEEN 4 PRECEDING AND CURRENT ROW),
           MIN(v) OVER (PARTITION BY k ORDER BY t ROWS BETWEEN 4 PRECEDING AND CURRENT ROW),
           COUNT(v) OVER (PARTITION BY k ORDER BY t ROWS BETWEEN 4 PRECEDING AND CURRENT ROW)
         FROM readings",
        csv.display()
    );
    let changelog = squall("", &query, 2);
    assert!(changelog.iter().any(|r| r[0] == "-U"), "late rows updated later ones");
    let theirs = squall_test_support::duckdb::query(&[&format!(
        "SELECT k, t, v, AVG(v) OVER w, MIN(v) OVER w, COUNT(v) OVER w
         FROM read_csv('{}', header=false, columns={{'k':'BIGINT','t':'TIMESTAMP','v':'BIGINT'}})
         WINDOW w AS (PARTITION BY k ORDER BY t, k, v ROWS BETWEEN 4 PRECEDING AND CURRENT ROW)",
        csv.display()
    )]);
    compare("over aggregate over a CSV", upserted(changelog), theirs);
}

#[test]
fn over_windows_outside_rows_aggregates_are_refused_by_name() {
    for (over, named) in [
        ("SUM(price) OVER (PARTITION BY auction ORDER BY price)", "RANGE frames"),
        ("LAG(price) OVER (PARTITION BY auction ORDER BY price)", "lag"),
        (
            "SUM(price) OVER (PARTITION BY auction ORDER BY price ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING)",
            "1 FOLLOWING",
        ),
    ] {
        let err = planning_error(&format!("SELECT auction, {over} FROM bid"));
        assert!(err.contains("OVER windows other than") && err.contains(named), "{over}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
