//! SQL tables over message streams against DuckDB: Nexmark bids written
//! once to files, sent as messages to a real Kafka broker (Apache Kafka
//! with `$KAFKA_LIB`, else tansu; `scripts/fetch-kafka.sh`) or through a
//! TCP socket, read by `'connector' = 'kafka'` / `'socket'` tables, and the
//! query's complete output compared with DuckDB's over the files. Run by
//! `scripts/test.sh` with `--features kafka-tests`.
#![cfg(feature = "kafka-tests")]

use std::io::Write;
use std::path::{Path, PathBuf};

use squall_sql::nexmark::GeneratorConfig;
use squall_test_support::duckdb::{self, compare};
use squall_test_support::kafka;

/// 20 000 events (18 400 bids) over 8 s of event time.
const EVENTS: u64 = 20_000;

/// The bid files (`bid.csv`, and `bid.json` in `json/`) under `dir`.
fn write_bids(dir: &Path) {
    let config = GeneratorConfig { rate: 2500.0, ..Default::default() };
    squall_sql::nexmark_files::write_files(dir, &config, EVENTS, false).unwrap();
    squall_sql::nexmark_files::write_files(&dir.join("json"), &config, EVENTS, true).unwrap();
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| l.as_bytes().to_vec()).collect()
}

const BID_COLUMNS: &str = "auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR,
    url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND";

/// DuckDB's view `bid` over `dir/bid.csv`.
fn duck_bid(dir: &Path) -> String {
    format!(
        "CREATE VIEW bid AS SELECT * FROM read_csv('{}', header=false, quote='\"', columns={{
           'auction':'BIGINT','bidder':'BIGINT','price':'BIGINT','channel':'VARCHAR','url':'VARCHAR',
           'dateTime':'TIMESTAMP','extra':'VARCHAR'}})",
        dir.join("bid.csv").display()
    )
}

/// Runs `script` (its sink writing to `${OUT}`) with the connectors
/// registered; returns the sink's rows.
fn run(script: &str, parallelism: usize, out: &Path) -> Vec<Vec<String>> {
    squall_connectors::register();
    let mut s = squall_sql::Session::new();
    s.set("parallelism", &parallelism.to_string()).unwrap();
    s.set("OUT", out.to_str().unwrap()).unwrap();
    s.run_script(script).unwrap_or_else(|e| panic!("{e}"));
    duckdb::csv_rows(out)
}

const TUMBLE: &str = "
    CREATE TABLE out (auction BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3),
                      bids BIGINT, total BIGINT, top BIGINT)
      WITH ('connector' = 'filesystem', 'path' = '${OUT}');
    INSERT INTO out
    SELECT auction, window_start, window_end, COUNT(*), SUM(price), MAX(price)
    FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND))
    GROUP BY auction, window_start, window_end";

const DUCK_TUMBLE: &str = "
    SELECT auction, time_bucket(INTERVAL '2 seconds', \"dateTime\") AS s,
           s + INTERVAL '2 seconds', COUNT(*), SUM(price), MAX(price)
    FROM bid GROUP BY auction, s";

#[test]
fn a_tumbling_window_over_a_kafka_topic_of_csv_bids_equals_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    write_bids(dir.path());
    let broker = kafka::broker::start();
    // One partition: the bids arrive in time order, as from the files.
    kafka::create_topic(&broker.brokers, "bids", 1);
    kafka::produce(&broker.brokers, "bids", &lines(&dir.path().join("bid.csv")));
    let out = dir.path().join("out");
    let script = format!(
        "CREATE TABLE bid ({BID_COLUMNS}) WITH ('connector' = 'kafka', 'topic' = 'bids',
           'properties.bootstrap.servers' = '{}', 'scan.startup.mode' = 'earliest-offset',
           'scan.bounded.mode' = 'latest-offset', 'format' = 'csv');
         {TUMBLE}",
        broker.brokers
    );
    let ours = run(&script, 1, &out);
    let theirs = duckdb::query(&[&duck_bid(dir.path()), DUCK_TUMBLE]);
    compare("tumble over kafka csv", ours, theirs);
}

#[test]
fn a_filter_over_a_kafka_topic_of_json_bids_in_three_partitions_equals_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    write_bids(dir.path());
    let broker = kafka::broker::start();
    kafka::create_topic(&broker.brokers, "json-bids", 3);
    kafka::produce(&broker.brokers, "json-bids", &lines(&dir.path().join("json/bid.json")));
    let out = dir.path().join("out");
    let script = format!(
        "CREATE TABLE bid ({BID_COLUMNS}) WITH ('connector' = 'kafka', 'topic' = 'json-bids',
           'properties.bootstrap.servers' = '{}', 'properties.group.id' = 'sql-test',
           'scan.bounded.mode' = 'latest-offset', 'format' = 'json');
         CREATE TABLE out (auction BIGINT, price BIGINT, `dateTime` TIMESTAMP(3), dir1 VARCHAR)
           WITH ('connector' = 'filesystem', 'path' = '${{OUT}}');
         INSERT INTO out SELECT auction, price, `dateTime`, SPLIT_INDEX(url, '/', 3)
         FROM bid WHERE MOD(auction, 7) = 0",
        broker.brokers
    );
    let ours = run(&script, 2, &out);
    let theirs = duckdb::query(&[
        &duck_bid(dir.path()),
        "SELECT auction, price, \"dateTime\", string_split(url, '/')[4] FROM bid WHERE auction % 7 = 0",
    ]);
    compare("filter over kafka json", ours, theirs);
}

#[test]
fn a_socket_table_windows_its_lines_and_sends_a_bad_line_to_the_error_sink() {
    let dir = tempfile::tempdir().unwrap();
    write_bids(dir.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = std::fs::read(dir.path().join("bid.csv")).unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        // A bad line among the bids, then the rest; the end of the stream
        // ends the table.
        let cut = text.iter().position(|b| *b == b'\n').unwrap() + 1;
        conn.write_all(&text[..cut]).unwrap();
        conn.write_all(b"7,not a bidder,1\n").unwrap();
        conn.write_all(&text[cut..]).unwrap();
    });
    let (out, errors): (PathBuf, PathBuf) = (dir.path().join("out"), dir.path().join("errors"));
    let script = format!(
        "CREATE TABLE bid ({BID_COLUMNS}) WITH ('connector' = 'socket', 'port' = '{port}',
           'format' = 'csv', 'errors.path' = '{}');
         {TUMBLE}",
        errors.display()
    );
    let ours = run(&script, 2, &out);
    server.join().unwrap();
    let theirs = duckdb::query(&[&duck_bid(dir.path()), DUCK_TUMBLE]);
    compare("tumble over a socket", ours, theirs);
    let bad = duckdb::csv_rows(&errors);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0][2].contains("column 'bidder': 'not a bidder' is not an integer"), "{bad:?}");
    assert_eq!(bad[0][3], "7,not a bidder,1");
}
