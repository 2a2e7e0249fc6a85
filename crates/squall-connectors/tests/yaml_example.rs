//! `examples/socket-to-redis.yaml`, the documented connector example, run
//! as the CLI runs it: a TCP listener in the test serves a Shakespeare play,
//! a real `redis-server` receives the counts; the hash equals the reference
//! counts and the rolling file parts hold every (word, n) update once.
#![cfg(feature = "server-tests")]

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;

use squall::LocalCluster;

#[test]
fn socket_to_redis_example_counts_a_play() {
    squall_connectors::register();
    let redis = support::redis_on(support::free_port());
    let (input, counts) = support::plays(1);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let play =
        std::fs::read(std::fs::read_dir(input.path()).unwrap().next().unwrap().unwrap().path())
            .unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(&play).unwrap();
    });
    let out = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/socket-to-redis.yaml");
    let overrides = [
        ("port".to_string(), port.to_string()),
        ("redis".to_string(), format!("redis://127.0.0.1:{}/0", redis.port)),
        ("output".to_string(), out.path().display().to_string()),
    ];
    let loaded = squall::yaml::load(&example, &overrides).unwrap();
    LocalCluster::run(loaded.topology).unwrap();
    server.join().unwrap();

    let client = redis::Client::open(format!("redis://127.0.0.1:{}/0", redis.port)).unwrap();
    let mut c = client.get_connection().unwrap();
    let hash: HashMap<String, String> =
        redis::cmd("HGETALL").arg("word-counts").query(&mut c).unwrap();
    let hash: HashMap<String, i64> =
        hash.into_iter().map(|(k, v)| (k, v.parse().unwrap())).collect();
    assert!(hash == counts, "{} words in the hash, {} in the reference", hash.len(), counts.len());

    let mut rows = Vec::new();
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue; // _pending, empty
        }
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_path(&path).unwrap();
        for r in reader.records() {
            let r = r.unwrap();
            rows.push((r[0].to_string(), r[1].parse::<i64>().unwrap()));
        }
    }
    rows.sort();
    let mut expected: Vec<(String, i64)> =
        counts.iter().flat_map(|(w, &c)| (1..=c).map(move |k| (w.clone(), k))).collect();
    expected.sort();
    assert!(rows == expected, "{} rows in the parts, {} expected", rows.len(), expected.len());
}
