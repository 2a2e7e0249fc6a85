//! Nexmark's stateless queries (q0-q2, q10, q14, q21, q22) on Squall against
//! DuckDB, row for row; and the refusals of CREATE FUNCTION and
//! PARTITIONED BY. The events, the runners and the reference queries are
//! in `common`.

mod common;

use common::{
    ddl_files, duckdb, events_dir, query_file, squall, squall_partitioned, squall_with,
    DDL_NEXMARK, Q10_DUCKDB,
};
use squall_test_support::duckdb::compare;

#[test]
fn q0_pass_through() {
    let ours = squall(DDL_NEXMARK, &query_file("q0.sql"), 2);
    let theirs = duckdb(r#"SELECT auction, bidder, price, "dateTime", extra FROM bid"#);
    compare("q0", ours, theirs);
}

#[test]
fn q1_currency_conversion() {
    let ours = squall(DDL_NEXMARK, &query_file("q1.sql"), 2);
    let theirs = duckdb(
        r#"SELECT auction, bidder, CAST(0.908 AS DOUBLE) * price AS price, "dateTime", extra FROM bid"#,
    );
    compare("q1", ours, theirs);
}

#[test]
fn q2_selection_from_files() {
    // Squall reads the CSV files here (the filesystem connector).
    let ours = squall(&ddl_files(events_dir()), &query_file("q2.sql"), 2);
    let theirs = duckdb("SELECT auction, price FROM bid WHERE auction % 123 = 0");
    compare("q2", ours, theirs);
}

#[test]
fn q14_calculation_with_a_function_bound_by_create_function() {
    let ours = squall(DDL_NEXMARK, &query_file("q14.sql"), 2);
    // DuckDB: count_char as the length lost by removing the character.
    let theirs = duckdb(
        r#"SELECT auction, bidder, CAST(0.908 AS DOUBLE) * price,
                  CASE WHEN hour("dateTime") >= 8 AND hour("dateTime") <= 18 THEN 'dayTime'
                       WHEN hour("dateTime") <= 6 OR hour("dateTime") >= 20 THEN 'nightTime'
                       ELSE 'otherTime' END,
                  "dateTime", extra, length(extra) - length(replace(extra, 'c', ''))
           FROM bid
           WHERE CAST(0.908 AS DOUBLE) * price > 1000000 AND CAST(0.908 AS DOUBLE) * price < 50000000"#,
    );
    compare("q14", ours, theirs);
}

#[test]
fn create_function_binds_a_udf_registered_from_rust_and_refuses_unknown_ones() {
    use datafusion_common::arrow::array::{AsArray, Int64Array};
    use datafusion_common::arrow::datatypes::{DataType, Int64Type};
    use datafusion_expr::{ColumnarValue, Volatility};
    let twice = datafusion_expr::create_udf(
        "twice",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        std::sync::Arc::new(|args: &[ColumnarValue]| {
            let a = ColumnarValue::values_to_arrays(args)?;
            let out: Int64Array =
                a[0].as_primitive::<Int64Type>().iter().map(|v| v.map(|v| 2 * v)).collect();
            Ok(ColumnarValue::Array(std::sync::Arc::new(out)))
        }),
    );
    let mut s = squall_sql::Session::new();
    s.register_udf("com.example.Twice", twice);
    let query = "CREATE TEMPORARY SYSTEM FUNCTION dbl AS 'com.example.Twice' LANGUAGE JAVA;
                 CREATE TABLE out (auction BIGINT, p2 BIGINT)
                   WITH ('connector' = 'filesystem', 'path' = '${OUT}');
                 INSERT INTO out SELECT auction, DBL(price) FROM bid WHERE MOD(auction, 10) = 0";
    let ours = squall_with(DDL_NEXMARK, query, 2, s);
    compare(
        "a Rust UDF",
        ours,
        duckdb("SELECT auction, 2 * price FROM bid WHERE auction % 10 = 0"),
    );

    let mut s = squall_sql::Session::new();
    let err = s
        .run_script("CREATE FUNCTION f AS 'com.example.Missing' LANGUAGE JAVA;")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no scalar UDF is registered under 'com.example.Missing'")
            && err.contains(squall_sql::udf::COUNT_CHAR_CLASS)
            && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn q21_channel_id_with_regexp_extract() {
    let ours = squall(DDL_NEXMARK, &query_file("q21.sql"), 2);
    // DuckDB's regexp_extract gives '' where Flink's gives NULL (no match).
    let pat = "'(&|^)channel_id=([^&]*)'";
    let theirs = duckdb(&format!(
        "SELECT auction, bidder, price, channel,
           CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' THEN '1'
                WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3'
                WHEN regexp_matches(url, {pat}) THEN regexp_extract(url, {pat}, 2) END
         FROM bid
         WHERE regexp_matches(url, {pat}) OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')"
    ));
    assert!(
        theirs.iter().any(|r| !["0", "1", "2", "3"].contains(&r[4].as_str())),
        "some channel ids come from urls"
    );
    compare("q21", ours, theirs);
}

#[test]
fn q22_url_directories_with_split_index() {
    let ours = squall(DDL_NEXMARK, &query_file("q22.sql"), 2);
    // DuckDB's lists count from 1 and are NULL past the end, as SPLIT_INDEX.
    let theirs = duckdb(
        "SELECT auction, bidder, price, channel, string_split(url, '/')[4],
                string_split(url, '/')[5], string_split(url, '/')[6] FROM bid",
    );
    compare("q22", ours, theirs);
}

#[test]
fn q10_log_to_a_filesystem_partitioned_by_day_and_minute() {
    // Each row is compared with its folder's dt and hm appended: the union
    // of the folders is DuckDB's q10, and a row in the wrong folder would
    // differ from DuckDB's dt/hm of its own dateTime.
    let (ours, folders) =
        squall_partitioned(DDL_NEXMARK, &query_file("q10.sql"), squall_sql::Session::new());
    assert!(folders >= 1);
    compare("q10", ours, duckdb(Q10_DUCKDB));
    // The events span 20 s of event time, one minute: partitioned by the
    // second instead, 20 folders.
    let by_second = query_file("q10.sql").replace("'HH:mm')", "'HH:mm:ss')");
    let (ours, folders) = squall_partitioned(DDL_NEXMARK, &by_second, squall_sql::Session::new());
    assert!(folders >= 20, "one folder per second of event time: {folders}");
    compare("q10 by the second", ours, duckdb(&Q10_DUCKDB.replace("'%H:%M'", "'%H:%M:%S'")));
}

#[test]
fn partitioned_by_an_unknown_column_is_refused_by_name() {
    let mut s = squall_sql::Session::new();
    let err = s
        .run_script(
            "CREATE TABLE o (a BIGINT, dt STRING) PARTITIONED BY (dt, hm)
               WITH ('connector' = 'filesystem', 'path' = '/nonexistent');",
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("PARTITIONED BY hm: no such column") && err.lines().count() == 1, "{err}");
}
