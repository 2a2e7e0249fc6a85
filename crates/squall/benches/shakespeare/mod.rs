//! The word-count benchmarks' input and reference: Shakespeare's works
//! repeated to a size, and a plain single-threaded count of their words.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The reference: one thread, a `BufReader`, a `HashMap<String, u64>`, the
/// same word rule (maximal alphanumeric runs, lowercased). Returns the
/// words counted and the seconds it took.
pub fn plain_loop(input: &Path) -> anyhow::Result<(u64, f64)> {
    let (counts, words, secs) = plain_count(input)?;
    std::hint::black_box(&counts);
    Ok((words, secs))
}

/// [`plain_loop`], also returning the counts: (counts, words, seconds).
pub fn plain_count(input: &Path) -> anyhow::Result<(HashMap<String, u64>, u64, f64)> {
    let start = Instant::now();
    let mut reader = BufReader::with_capacity(1 << 18, std::fs::File::open(input)?);
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut line = String::new();
    let mut words = 0u64;
    while reader.read_line(&mut line)? > 0 {
        let mut start_of_word = None;
        for (i, ch) in line.char_indices() {
            match (ch.is_alphanumeric(), start_of_word) {
                (true, None) => start_of_word = Some(i),
                (false, Some(s)) => {
                    *counts.entry(line[s..i].to_lowercase()).or_insert(0) += 1;
                    words += 1;
                    start_of_word = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start_of_word {
            *counts.entry(line[s..].to_lowercase()).or_insert(0) += 1;
            words += 1;
        }
        line.clear();
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((counts, words, secs))
}

/// Shakespeare's works concatenated until at least `size_mb` MB.
pub fn make_input(size_mb: u64) -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let corpus = root.join("data/shakespeare");
    anyhow::ensure!(
        corpus.is_dir(),
        "run scripts/fetch-corpus.sh first ({} missing)",
        corpus.display()
    );
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("shakespeare-{size_mb}mb.txt"));
    let want = size_mb * 1_000_000;
    if std::fs::metadata(&path).map(|m| m.len() >= want).unwrap_or(false) {
        return Ok(path);
    }
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&corpus)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.retain(|p| {
        p.extension().is_some_and(|e| e == "txt") && p.to_string_lossy().contains("_gut")
    });
    files.sort();
    let mut text = Vec::new();
    for f in &files {
        text.extend(std::fs::read(f)?);
        if !text.ends_with(b"\n") {
            text.push(b'\n');
        }
    }
    let tmp = path.with_extension("tmp");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let mut written = 0u64;
    while written < want {
        out.write_all(&text)?;
        written += text.len() as u64;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
