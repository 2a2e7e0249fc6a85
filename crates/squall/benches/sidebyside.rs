//! The Rust pieces of the side-by-side benchmark against Flink and Storm
//! (`scripts/bench-vs-flink.sh` runs them; see the README's Benchmarks):
//! the seeded input generators, the plain single-threaded loops both
//! workloads are measured against, and the end-to-end latency run.
//!
//! ```text
//! B=$(cargo bench -p squall --bench sidebyside --no-run 2>&1 | grep -o '/[^ )]*sidebyside-[0-9a-f]*')
//! $B gen-words /tmp/words.txt --mb 200 --parts-dir /tmp/words-p2
//! $B gen-events /tmp/events.csv --rows 20000000 --parts-dir /tmp/events-p2
//! $B plain-words /tmp/words.txt        # RESULT words=.. distinct=.. secs=..
//! $B plain-windows /tmp/events.csv     # RESULT rows=.. sum=.. pairs=.. secs=..
//! $B latency --secs 10                 # peak, then half of it: p50/p99/p99.9
//! ```
//!
//! The generators and plain loops print one `RESULT key=value ...` line
//! for the script; `latency` prints its lines for the reader.
//! Without a subcommand (as `cargo bench` runs every bench) it prints how
//! to run the benchmark and exits.

use squall_test_support::bench as common;
mod inputs;
mod latency;
mod shakespeare;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand};

// The allocator the `squall` binary uses, so the plain loops and the
// topology compare code, not allocators.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true, global = true)]
    bench: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Writes the words file (and `<file>.expected`).
    GenWords {
        out: PathBuf,
        /// Size (MB, 10^6 bytes).
        #[arg(long, default_value_t = 200)]
        mb: u64,
        /// Distinct words of the vocabulary.
        #[arg(long, default_value_t = 20_000)]
        vocabulary: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Also write the lines round-robin into `--parts` files here.
        #[arg(long)]
        parts_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 2)]
        parts: usize,
    },
    /// Writes the events CSV (and `<file>.expected`).
    GenEvents {
        out: PathBuf,
        #[command(flatten)]
        spec: inputs::EventSpec,
        #[arg(long)]
        parts_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 2)]
        parts: usize,
    },
    /// The plain loop of `cargo bench --bench word_count` on a file.
    PlainWords { input: PathBuf },
    /// A plain loop of 10 s tumbling sums per key on the events CSV.
    PlainWindows {
        input: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        window_ms: i64,
    },
    /// Runs a YAML topology in this process (`squall run FILE --set ..`
    /// without the CLI's extras): the engine alone, for comparing two
    /// builds of it on the examples without building the CLI.
    Yaml {
        file: PathBuf,
        /// `key=value` parameter overrides.
        #[arg(long = "set", value_parser = parse_set)]
        set: Vec<(String, String)>,
    },
    /// End-to-end latency at half of the measured peak rate.
    Latency {
        /// Seconds of each run.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        #[arg(long, default_value_t = 2)]
        parallelism: usize,
        /// `buffer_timeout_ms` settings to measure at that rate: the
        /// default 100, and 0, the low-latency setting (each task sends
        /// what it emitted after every call into it).
        #[arg(long, value_delimiter = ',', default_value = "100,1,0")]
        buffer_timeouts: Vec<u64>,
        /// The rate to measure at (tuples/s); 0: half of the peak measured first.
        #[arg(long, default_value_t = 0)]
        rate: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        None => println!(
            "sidebyside: the pieces of scripts/bench-vs-flink.sh (run that script; --help here)"
        ),
        Some(Command::GenWords { out, mb, vocabulary, seed, parts_dir, parts }) => {
            let t =
                inputs::words(&out, parts_dir.as_deref(), parts, mb * 1_000_000, vocabulary, seed)?;
            let expected = format!("bytes={} words={} distinct={}", t.bytes, t.words, t.distinct);
            std::fs::write(expected_path(&out), format!("{expected}\n"))?;
            println!("RESULT {expected}");
        }
        Some(Command::GenEvents { out, spec, parts_dir, parts }) => {
            let t = inputs::events(&out, parts_dir.as_deref(), parts, &spec)?;
            let expected =
                format!("rows={} sum={} pairs={} windows={}", t.rows, t.sum, t.pairs, t.windows);
            std::fs::write(expected_path(&out), format!("{expected}\n"))?;
            println!("RESULT {expected}");
        }
        Some(Command::PlainWords { input }) => {
            let (counts, words, secs) = shakespeare::plain_count(&input)?;
            let cpu = common::cpu_seconds();
            println!("RESULT words={words} distinct={} secs={secs:.3} cpu={cpu:.2}", counts.len());
        }
        Some(Command::PlainWindows { input, window_ms }) => {
            let (rows, sum, pairs, secs) = plain_windows(&input, window_ms)?;
            let cpu = common::cpu_seconds();
            println!("RESULT rows={rows} sum={sum} pairs={pairs} secs={secs:.3} cpu={cpu:.2}");
        }
        Some(Command::Yaml { file, set }) => {
            let loaded = squall::yaml::load(&file, &set)?;
            let summary = squall::LocalCluster::run(loaded.topology)?;
            let cpu = common::cpu_seconds();
            // Tuples each bolt executed: how much combining cut each hop.
            let executed: Vec<String> = summary
                .metrics
                .components
                .iter()
                .filter(|c| c.executed > 0)
                .map(|c| format!("{}:{}", c.id, c.executed))
                .collect();
            println!(
                "RESULT secs={:.3} cpu={cpu:.2} executed={}",
                summary.elapsed.as_secs_f64(),
                executed.join(",")
            );
        }
        Some(Command::Latency { secs, parallelism, buffer_timeouts, rate }) => {
            let rate = if rate > 0 {
                rate
            } else {
                let peak = latency::run(0, secs, parallelism, 100)?;
                println!("peak: {:.2} M tuples/s; measured at half of it:", peak.rate / 1e6);
                (peak.rate / 2.0) as u64
            };
            for timeout in buffer_timeouts {
                let o = latency::run(rate, secs, parallelism, timeout)?;
                let [p50, p99, p999] = o.quantiles.map(|us| us as f64 / 1e3);
                println!(
                    "  buffer_timeout_ms {timeout:>4}: {:.2} M tuples/s  p50 {p50:.2} ms  \
                     p99 {p99:.2} ms  p99.9 {p999:.2} ms",
                    o.rate / 1e6
                );
            }
        }
    }
    Ok(())
}

/// `key=value` of `--set`.
fn parse_set(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("--set wants key=value, not '{text}'"))
}

/// `<file>.expected`: the generator's totals, beside the file.
fn expected_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".expected");
    PathBuf::from(name)
}

/// The reference for the windows: one thread, the csv crate, a map per key
/// of window start -> sum (no allocation per record once a key is known).
/// Returns rows, the sum of all window sums, the (window, key) pairs and
/// the seconds it took.
fn plain_windows(input: &Path, window_ms: i64) -> anyhow::Result<(u64, i64, u64, f64)> {
    let start = Instant::now();
    let mut reader = csv::Reader::from_path(input)?;
    let mut record = csv::StringRecord::new();
    let mut sums: HashMap<String, HashMap<i64, i64>> = HashMap::new();
    let mut rows = 0u64;
    while reader.read_record(&mut record)? {
        let ts: i64 = record[0].parse()?;
        let value: i64 = record[2].parse()?;
        let window = ts.div_euclid(window_ms) * window_ms;
        let per_key = match sums.get_mut(&record[1]) {
            Some(m) => m,
            None => sums.entry(record[1].to_string()).or_default(),
        };
        *per_key.entry(window).or_default() += value;
        rows += 1;
    }
    let pairs = sums.values().map(|m| m.len() as u64).sum();
    let total = sums.values().flat_map(|m| m.values()).sum();
    Ok((rows, total, pairs, start.elapsed().as_secs_f64()))
}
