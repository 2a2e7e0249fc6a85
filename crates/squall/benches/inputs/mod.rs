//! The side-by-side benchmark's inputs, made by a seeded generator (ChaCha8,
//! portable: the same bytes on every machine for the same seed and sizes),
//! with the totals every engine's result must reproduce.
//!
//! - Words: lines of 5-20 words drawn with Zipf frequencies (weight
//!   `2^40 / rank`) from a vocabulary of made-up lowercase words, some
//!   capitalised (the engines must lowercase), some followed by
//!   punctuation. Words are ASCII letters only, so "maximal run of
//!   letters" and "maximal alphanumeric run" agree.
//! - Events: CSV `ts_ms,key,value` (with that header), `rate` events per
//!   millisecond of event time, a share `jitter_percent` of them moved back
//!   by up to `jitter_ms` (out of order by less than that), keys
//!   `k00000`.. drawn uniformly, values 1-100.
//!
//! Both can also be written round-robin by line into `parts` files of a
//! folder (`part-0.*`, `part-1.*`, ...; every events part with the header),
//! for engines that read one file per task.

#![allow(dead_code)]

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Letters words are made of, in rough English frequency order.
const LETTERS: &[u8] = b"etaoinshrdlcumwfgypbvkjxqz";
/// Punctuation that may follow a word.
const PUNCTUATION: &[u8] = b",.;:!?";

/// A uniform draw in `0..n` (multiply-shift of a 64-bit output).
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// Writes each line to the whole file and, round-robin, to one part file.
struct Out {
    all: BufWriter<File>,
    parts: Vec<BufWriter<File>>,
    lines: usize,
}

impl Out {
    fn create(
        path: &Path,
        parts_dir: Option<&Path>,
        parts: usize,
        ext: &str,
    ) -> anyhow::Result<Out> {
        let open = |p: &Path| anyhow::Ok(BufWriter::with_capacity(1 << 20, File::create(p)?));
        let mut files = Vec::new();
        if let Some(dir) = parts_dir {
            std::fs::create_dir_all(dir)?;
            for i in 0..parts {
                files.push(open(&dir.join(format!("part-{i}.{ext}")))?);
            }
        }
        Ok(Out { all: open(path)?, parts: files, lines: 0 })
    }

    /// Writes `line` (with its newline) to every part: the header.
    fn header(&mut self, line: &[u8]) -> anyhow::Result<()> {
        self.all.write_all(line)?;
        for p in &mut self.parts {
            p.write_all(line)?;
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> anyhow::Result<()> {
        self.all.write_all(line)?;
        if !self.parts.is_empty() {
            let n = self.parts.len();
            self.parts[self.lines % n].write_all(line)?;
        }
        self.lines += 1;
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.all.flush()?;
        for p in &mut self.parts {
            p.flush()?;
        }
        Ok(())
    }
}

/// The vocabulary: `size` distinct lowercase words, short ones first (the
/// frequent ranks), longer ones towards the tail.
fn vocabulary(rng: &mut ChaCha8Rng, size: usize) -> Vec<Vec<u8>> {
    let mut seen = HashSet::new();
    let mut words = Vec::with_capacity(size);
    while words.len() < size {
        let rank = words.len() as u64 + 1;
        let mut len = 1 + below(rng, 4) as usize + (63 - rank.leading_zeros() as usize) / 3;
        loop {
            // Frequent letters more often: the lower of two draws.
            let word: Vec<u8> =
                (0..len).map(|_| LETTERS[below(rng, 26).min(below(rng, 26)) as usize]).collect();
            if seen.insert(word.clone()) {
                words.push(word);
                break;
            }
            len += usize::from(below(rng, 4) == 0);
        }
    }
    words
}

/// What the words file holds: the word count's expected totals.
pub struct WordTotals {
    pub bytes: u64,
    pub words: u64,
    pub distinct: u64,
}

/// Writes at least `bytes` bytes of words to `path` (and its parts).
pub fn words(
    path: &Path,
    parts_dir: Option<&Path>,
    parts: usize,
    bytes: u64,
    vocabulary_size: usize,
    seed: u64,
) -> anyhow::Result<WordTotals> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let vocab = vocabulary(&mut rng, vocabulary_size);
    // Zipf weights 2^40 / rank, as a cumulative table for a binary search.
    let mut cumulative = Vec::with_capacity(vocab.len());
    let mut total = 0u64;
    for rank in 1..=vocab.len() as u64 {
        total += (1u64 << 40) / rank;
        cumulative.push(total);
    }
    let mut counts = vec![0u64; vocab.len()];
    let mut out = Out::create(path, parts_dir, parts, "txt")?;
    let (mut written, mut words) = (0u64, 0u64);
    let mut line = Vec::with_capacity(256);
    while written < bytes {
        line.clear();
        for i in 0..5 + below(&mut rng, 16) {
            if i > 0 {
                line.push(b' ');
            }
            let draw = below(&mut rng, total);
            let w = cumulative.partition_point(|&c| c <= draw);
            counts[w] += 1;
            words += 1;
            let start = line.len();
            line.extend_from_slice(&vocab[w]);
            match below(&mut rng, 16) {
                0 => line[start..].make_ascii_uppercase(),
                1..=3 => line[start].make_ascii_uppercase(),
                _ => {}
            }
            if below(&mut rng, 5) == 0 {
                line.push(PUNCTUATION[below(&mut rng, PUNCTUATION.len() as u64) as usize]);
            }
        }
        line.push(b'\n');
        out.line(&line)?;
        written += line.len() as u64;
    }
    out.finish()?;
    let distinct = counts.iter().filter(|&&c| c > 0).count() as u64;
    Ok(WordTotals { bytes: written, words, distinct })
}

/// The shape of the events file.
#[derive(clap::Args, Debug)]
pub struct EventSpec {
    #[arg(long, default_value_t = 20_000_000)]
    pub rows: u64,
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// Events per millisecond of event time.
    #[arg(long, default_value_t = 10)]
    pub rate: u64,
    /// Largest step back in time of an out-of-order event (ms).
    #[arg(long, default_value_t = 2000)]
    pub jitter_ms: u64,
    /// Share of the events moved back (%).
    #[arg(long, default_value_t = 30)]
    pub jitter_percent: u64,
    /// Tumbling window the expected totals are computed for (ms).
    #[arg(long, default_value_t = 10_000)]
    pub window_ms: i64,
    /// Event time of the first event (ms since the epoch).
    #[arg(long, default_value_t = 1_700_000_000_000)]
    pub start_ms: i64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// What the events file holds: the window sums' expected totals.
pub struct EventTotals {
    pub rows: u64,
    pub sum: u64,
    /// Distinct (window, key) pairs: the rows of the windows' output.
    pub pairs: u64,
    pub windows: u64,
}

/// Writes the events of `spec` to `path` (and its parts).
pub fn events(
    path: &Path,
    parts_dir: Option<&Path>,
    parts: usize,
    spec: &EventSpec,
) -> anyhow::Result<EventTotals> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut out = Out::create(path, parts_dir, parts, "csv")?;
    out.header(b"ts_ms,key,value\n")?;
    let mut pairs = HashSet::new();
    let mut sum = 0u64;
    let mut line = Vec::with_capacity(64);
    for i in 0..spec.rows {
        let mut ts = spec.start_ms + (i / spec.rate) as i64;
        if below(&mut rng, 100) < spec.jitter_percent {
            ts -= below(&mut rng, spec.jitter_ms) as i64;
        }
        let key = below(&mut rng, spec.keys);
        let value = 1 + below(&mut rng, 100);
        sum += value;
        pairs.insert((ts.div_euclid(spec.window_ms), key));
        line.clear();
        writeln!(line, "{ts},k{key:05},{value}")?;
        out.line(&line)?;
    }
    out.finish()?;
    let windows = pairs.iter().map(|p| p.0).collect::<HashSet<_>>().len() as u64;
    Ok(EventTotals { rows: spec.rows, sum, pairs: pairs.len() as u64, windows })
}
