//! Upsert sink tables against real servers (PostgreSQL made by `initdb`,
//! `redis-server`, started on free loopback ports by the connectors' test
//! support): an updating result whose groups come and go (how many keys
//! have each count: a count's group is deleted once its last key moves
//! on) written by `'connector' = 'jdbc'` and `'connector' = 'redis'`
//! tables with a PRIMARY KEY, then the server's table compared with
//! DuckDB's result of the same query over the same file. Run by
//! `scripts/test.sh` with `--features server-tests`.
#![cfg(feature = "server-tests")]

#[path = "../../squall-connectors/tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::Path;

use squall_test_support::duckdb::{self, compare};

const QUERY: &str =
    "SELECT n, COUNT(*) FROM (SELECT k, COUNT(*) AS n FROM a GROUP BY k) t GROUP BY n";

/// `dir/a.csv`: 3 000 keys drawn from 0-79 by a seeded generator.
fn write_keys(dir: &Path) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut text = String::new();
    for _ in 0..3000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        writeln!(text, "{}", x % 80).unwrap();
    }
    std::fs::write(dir.join("a.csv"), text).unwrap();
}

/// Runs the query into a sink table with `options`, with checkpoints.
fn run(dir: &Path, options: &str) {
    squall_connectors::register();
    let mut s = squall_sql::Session::new();
    s.set("parallelism", "2").unwrap();
    s.set("guarantee", "exactly_once").unwrap();
    s.set("checkpoint_interval_ms", "50").unwrap();
    s.set("checkpoint_dir", dir.join("checkpoints").to_str().unwrap()).unwrap();
    let script = format!(
        "CREATE TABLE a (k BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         CREATE TABLE counts (n BIGINT, `keys` BIGINT, PRIMARY KEY (n) NOT ENFORCED) WITH ({options});
         INSERT INTO counts {QUERY}",
        dir.join("a.csv").display()
    );
    let out = s.run_script(&script).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.operators.iter().any(|l| l.contains("upserts by PRIMARY KEY")),
        "{:?}",
        out.operators
    );
}

fn theirs(dir: &Path) -> Vec<Vec<String>> {
    let view = format!(
        "CREATE VIEW a AS SELECT * FROM read_csv('{}', header=false, columns={{'k':'BIGINT'}})",
        dir.join("a.csv").display()
    );
    duckdb::query(&[&view, QUERY])
}

#[test]
fn a_jdbc_table_with_a_primary_key_ends_as_duckdbs_table_in_postgres() {
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    let pg = support::postgres();
    let mut client = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    client.batch_execute("CREATE TABLE counts (n int8 PRIMARY KEY, keys int8 NOT NULL)").unwrap();
    run(
        dir.path(),
        &format!(
            "'connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:{}/postgres',
             'table-name' = 'counts', 'username' = 'postgres'",
            pg.port
        ),
    );
    let ours: Vec<Vec<String>> = client
        .query("SELECT n, keys FROM counts", &[])
        .unwrap()
        .iter()
        .map(|r| vec![r.get::<_, i64>(0).to_string(), r.get::<_, i64>(1).to_string()])
        .collect();
    compare("jdbc upsert sink", ours, theirs(dir.path()));
}

#[test]
fn a_redis_table_with_a_primary_key_ends_as_duckdbs_table_in_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    let server = support::redis_on(support::free_port());
    let url = format!("redis://127.0.0.1:{}", server.port);
    run(dir.path(), &format!("'connector' = 'redis', 'url' = '{url}', 'hash' = 'counts'"));
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let hash: std::collections::HashMap<String, String> =
        redis::cmd("HGETALL").arg("counts").query(&mut c).unwrap();
    let ours: Vec<Vec<String>> = hash
        .into_iter()
        .map(|(n, v)| {
            let v: serde_json::Value = serde_json::from_str(&v).unwrap();
            vec![n, v["keys"].to_string()]
        })
        .collect();
    compare("redis upsert sink", ours, theirs(dir.path()));
}
