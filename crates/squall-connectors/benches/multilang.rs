//! What a split bolt in Python costs per tuple against the built-in Rust
//! `split_words` bolt, on the same input: the Shakespeare lines (a file
//! spout) -> split (`--parallelism`, default 1) -> a bolt that drops the
//! words. Prints input tuples (lines) and output tuples (words) per second
//! and the wall-clock nanoseconds per line and per word, and how many times
//! slower than Rust each mode is.
//!
//! Modes, each a child process, median of `--runs` (default 3):
//! - `rust`: [`SplitWordsBolt`].
//! - `pystorm`: `examples/multilang/split.py` (pystorm 3.1.4; the
//!   child sends no task-id requests), JSON.
//! - `pystorm-mp`: the same bolt with pystorm's MessagePack serializer
//!   (`serializer: msgpack`; PyPI `msgpack` 1.2.4).
//! - `storm-py`: `tests/multilang/split_storm.py` (Storm's `storm.py`,
//!   which waits for the task ids of every emit: one round trip per word).
//!
//! Run: `cargo bench -p squall-connectors --bench multilang -- [--plays N]
//! [--runs R] [--parallelism P]` after `scripts/setup.sh` (pystorm,
//! storm.py, the corpus).

use squall_test_support::bench;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use squall::builtins::{FileSpout, SplitWordsBolt};
use squall::{Bolt, LocalCluster, OutputCollector, TopologyBuilder, Tuple};
use squall_connectors::multilang::MsgpackSerializer;
use squall_connectors::ShellBolt;

/// Drops its inputs.
#[derive(Clone)]
struct Drop;

impl Bolt for Drop {
    fn execute(&mut self, _: Tuple, _: &mut OutputCollector) -> squall::Result<()> {
        Ok(())
    }
}

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The first `plays` plays of the corpus, linked into a new folder.
fn input(plays: usize) -> tempfile::TempDir {
    let corpus = manifest().join("../../data/shakespeare");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .expect("the corpus: run scripts/fetch-corpus.sh")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let dir = tempfile::tempdir().unwrap();
    for f in files.iter().take(plays) {
        std::fs::copy(f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    dir
}

/// The folder of Storm's `storm.py` (fetched by the script if needed).
fn storm_py_dir() -> String {
    let script = manifest().join("../../scripts/fetch-storm-multilang.sh");
    let out = Command::new("bash").arg(script).output().expect("bash runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = String::from_utf8(out.stdout).unwrap();
    Path::new(path.trim()).parent().unwrap().display().to_string()
}

/// One run of `mode`; reports lines split, seconds, and words emitted as
/// the check.
fn child(mode: &str, plays: usize, parallelism: usize) {
    let dir = input(plays);
    let mut b = TopologyBuilder::new("multilang-bench");
    b.set_spout("lines", FileSpout::new(dir.path()).unwrap(), 1);
    let python = |script: &str| {
        ShellBolt::new(["python3", script])
            .cwd(manifest().join("tests/multilang"))
            .env("PYTHONPATH", storm_py_dir())
            .fields(["word"])
    };
    let split = match mode {
        "rust" => b.set_bolt("split", SplitWordsBolt::new("line"), parallelism),
        "pystorm" | "pystorm-mp" => {
            let examples = manifest().join("../../examples/multilang");
            let msgpack = mode == "pystorm-mp";
            let serializer = if msgpack { "msgpack" } else { "json" };
            let split = ShellBolt::new(["python3", "split.py", serializer]).cwd(examples);
            let split = match msgpack {
                true => split.serializer(MsgpackSerializer),
                false => split,
            };
            b.set_bolt("split", split.fields(["word"]), parallelism)
        }
        _ => b.set_bolt("split", python("split_storm.py"), parallelism),
    };
    split.shuffle_grouping("lines");
    b.set_bolt("drop", Drop, 1).shuffle_grouping("split");
    let topology = b.build().unwrap();
    let start = Instant::now();
    let summary = LocalCluster::run(topology).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let split = summary.metrics.component("split").unwrap();
    bench::child_report(split.executed, secs, &split.emitted.to_string());
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, mode, plays, parallelism] = args.as_slice() {
        if flag == "--child" {
            child(mode, plays.parse()?, parallelism.parse()?);
            return Ok(());
        }
    }
    let plays = arg(&args, "--plays", 42);
    let runs = arg(&args, "--runs", 3);
    let parallelism = arg(&args, "--parallelism", 1);
    println!(
        "split bolt on {plays} Shakespeare plays, parallelism {parallelism}, median of {runs} \
         run(s)"
    );
    println!(
        "{:<10} {:>10} {:>12} {:>10} {:>12} {:>12} {:>10}",
        "mode", "lines", "lines/s", "ns/line", "words/s", "ns/word", "vs rust"
    );
    let mut rust = None;
    for mode in ["rust", "pystorm", "pystorm-mp", "storm-py"] {
        let child_args =
            ["--child", mode, &plays.to_string(), &parallelism.to_string()].map(String::from);
        let m = bench::measure(&child_args, runs)?;
        let words: u64 = m.check.trim().parse()?;
        let ns_line = m.secs * 1e9 / m.records as f64;
        let (rust_ns, rust_words) = *rust.get_or_insert((ns_line, words));
        anyhow::ensure!(words == rust_words, "{mode} emitted {words} words, rust {rust_words}");
        let slower = ns_line / rust_ns;
        println!(
            "{:<10} {:>10} {:>12.0} {:>10.0} {:>12.0} {:>12.0} {:>9.1}x",
            mode,
            m.records,
            m.records as f64 / m.secs,
            ns_line,
            words as f64 / m.secs,
            m.secs * 1e9 / words as f64,
            slower
        );
    }
    Ok(())
}
