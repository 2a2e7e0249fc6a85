//! The rolling file sink: exactly-once word count over Shakespeare with the
//! counting task killed three times, whose finished part files (rolled by
//! size, several per checkpoint) hold every `(word, n)` update exactly once
//! (the union equals the reference) with no pending part left; in a local
//! folder, and (feature `server-tests`) in an S3 bucket served by moto.

mod support;

use std::collections::HashMap;

use squall::builtins::registry::bolt_factory;
use squall_connectors::{RollingFileSink, RollingFileSinkOptions};

/// For every word seen c times: (w, 1) ... (w, c), sorted.
fn expected_rows(counts: &HashMap<String, i64>) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> =
        counts.iter().flat_map(|(w, &c)| (1..=c).map(move |k| (w.clone(), k))).collect();
    rows.sort();
    rows
}

/// The rows of CSV part files, sorted.
fn rows_of(parts: &[Vec<u8>]) -> Vec<(String, i64)> {
    let mut rows = Vec::new();
    for bytes in parts {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(&bytes[..]);
        for r in reader.records() {
            let r = r.unwrap();
            rows.push((r[0].to_string(), r[1].parse().unwrap()));
        }
    }
    rows.sort();
    rows
}

/// Runs the killed word count into `path` with 16 KB parts.
fn run_into(path: &str) -> HashMap<String, i64> {
    let (input, counts) = support::plays(8);
    let total: i64 = counts.values().sum();
    let mut options = RollingFileSinkOptions::new(path);
    options.max_part_bytes = 16 * 1024;
    let sink = RollingFileSink::new(options).unwrap().bolt();
    let summary = support::killed_word_count(input.path(), total, bolt_factory(sink));
    assert!(!summary.checkpoints.is_empty(), "no checkpoint completed");
    counts
}

#[test]
fn killed_word_count_parts_hold_every_update_exactly_once() {
    let out = tempfile::tempdir().unwrap();
    let counts = run_into(out.path().to_str().unwrap());
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "_pending" {
            let left: Vec<_> = std::fs::read_dir(&path).unwrap().collect();
            assert!(left.is_empty(), "pending parts left: {left:?}");
            continue;
        }
        assert!(name.starts_with("part-") && name.ends_with(".csv"), "{name}");
        let bytes = std::fs::read(&path).unwrap();
        // Rolled by size: a part ends with the row that reached 16 KB.
        assert!(bytes.len() < 16 * 1024 + 200, "{name}: {} bytes", bytes.len());
        parts.push(bytes);
    }
    let expected = expected_rows(&counts);
    assert!(parts.len() > 10, "{} parts", parts.len());
    let got = rows_of(&parts);
    assert_eq!(got.len(), expected.len(), "rows in the finished parts vs reference");
    assert!(got == expected, "the finished parts differ from the reference");
}

#[cfg(feature = "server-tests")]
#[test]
fn killed_word_count_parts_in_s3_hold_every_update_exactly_once() {
    use futures::TryStreamExt;
    use object_store::ObjectStore;

    let _moto = support::moto("squall-out");
    let counts = run_into("s3://squall-out/wc");
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name("squall-out")
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listed: Vec<object_store::ObjectMeta> =
        rt.block_on(store.list(Some(&"wc".into())).try_collect()).unwrap();
    let mut parts = Vec::new();
    for meta in listed {
        let name = meta.location.to_string();
        assert!(!name.contains("_pending"), "pending part left: {name}");
        let bytes = rt.block_on(async { store.get(&meta.location).await?.bytes().await }).unwrap();
        parts.push(bytes.to_vec());
    }
    assert!(parts.len() > 10, "{} parts", parts.len());
    assert!(rows_of(&parts) == expected_rows(&counts), "the S3 parts differ from the reference");
}
