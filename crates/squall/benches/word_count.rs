//! Word-count benchmark: the word-count topology at parallelism 1 and 2
//! against a plain single-threaded Rust loop over the same text, on at
//! least 200 MB of real text (Shakespeare's works repeated).
//!
//! ```text
//! scripts/fetch-corpus.sh
//! cargo bench -p squall --bench word_count            # 200 MB, 3 runs each
//! cargo bench -p squall --bench word_count -- --size-mb 50 --runs 1
//! ```
//!
//! Each run is a child process, so its peak memory (VmHWM) is its own.
//! Prints words/s, the ratio to the plain loop and peak resident memory;
//! the figures are medians over the runs, because this machine is shared.

mod common;
mod shakespeare;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use shakespeare::{make_input, plain_loop};
use squall::builtins::{CountBolt, CountsCsvSink, FileSpout, SplitWordsBolt};
use squall::{Fields, LocalCluster, TopologyBuilder};

// The allocator the `squall` binary uses, for both the topology and the
// plain loop, so the ratio compares code, not allocators.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
struct Args {
    /// Size of the generated input (MB, 10^6 bytes).
    #[arg(long, default_value_t = 200)]
    size_mb: u64,
    /// Runs per mode; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Parallelisms of the topology to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    parallelism: Vec<usize>,
    /// Internal: run one measurement in this process ("plain" or "topology").
    #[arg(long, hide = true)]
    child: Option<String>,
    /// Internal: the input file of a child run.
    #[arg(long, hide = true)]
    input: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(mode) = &args.child {
        let input = args.input.as_deref().expect("child runs get --input");
        let p = args.parallelism[0];
        let (words, secs) = match mode.as_str() {
            "plain" => plain_loop(input)?,
            _ => topology(input, p)?,
        };
        common::child_report(words, secs, "");
        return Ok(());
    }

    let input = make_input(args.size_mb)?;
    let bytes = std::fs::metadata(&input)?.len();
    println!(
        "word count on {:.0} MB of Shakespeare ({}), median of {} run(s)",
        bytes as f64 / 1e6,
        input.display(),
        args.runs
    );
    let plain = measure(&input, "plain", 1, args.runs)?;
    let plain_rate = plain.records as f64 / plain.secs;
    println!("{:<26} {:>14} {:>10} {:>12}", "mode", "words/s", "vs plain", "peak MB");
    common::report("plain loop (1 thread)", &plain, plain_rate);
    for &p in &args.parallelism {
        let m = measure(&input, "topology", p, args.runs)?;
        anyhow::ensure!(
            m.records == plain.records,
            "topology counted {} words, plain loop {}",
            m.records,
            plain.records
        );
        common::report(&format!("squall parallelism {p}"), &m, plain_rate);
    }
    Ok(())
}

/// Runs `runs` child processes of `mode` and keeps the median by time.
fn measure(input: &Path, mode: &str, p: usize, runs: usize) -> anyhow::Result<common::Measurement> {
    let args = ["--child", mode, "--parallelism", &p.to_string(), "--input"].map(String::from);
    let mut args = args.to_vec();
    args.push(input.display().to_string());
    common::measure(&args, runs)
}

/// The word-count topology: file spout -> split_words (chained) -> count
/// (fields grouped) -> counts CSV sink.
fn topology(input: &Path, p: usize) -> anyhow::Result<(u64, f64)> {
    let out = tempfile::tempdir()?;
    let mut b = TopologyBuilder::new("word-count-bench");
    b.set_spout("lines", FileSpout::new(input)?, p);
    b.set_bolt("split", SplitWordsBolt::new("line"), p).local_or_shuffle_grouping("lines");
    b.set_bolt("count", CountBolt::new(Fields::new(["word"])), p)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", CountsCsvSink::new(out.path().join("counts.csv"), "word", "count")?, 1)
        .global_grouping("count");
    let start = Instant::now();
    let summary = LocalCluster::run(b.build()?)?;
    let secs = start.elapsed().as_secs_f64();
    let words = summary.metrics.component("count").map_or(0, |c| c.executed);
    Ok((words, secs))
}
