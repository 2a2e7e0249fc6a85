//! Checkpoint benchmark.
//!
//! 1. Word-count throughput with the count in keyed state, checkpoints
//!    every second against checkpoints off, per backend (`rocksdb`: full
//!    and incremental checkpoints), beside the plain single-threaded Rust
//!    loop (ratio), on Shakespeare's works repeated.
//! 2. Checkpoint duration, size and bytes written for 1 million small keys
//!    (an int key, an i64 count) in keyed state, in the running topology:
//!    the checkpoint holding all keys, and one after 1% of them changed
//!    (with `rocksdb`, incremental: the second writes far less).
//! 3. With `rocksdb`: incremental checkpoint size (bytes uploaded, bytes of
//!    SST files reused) against the full snapshot, on one backend alone.
//!
//! ```text
//! scripts/fetch-corpus.sh
//! cargo bench -p squall --bench checkpoints                       # 50 MB, 3 runs
//! cargo bench -p squall --bench checkpoints -- --size-mb 20 --runs 1 --keys 1000000
//! ROCKSDB_LIB_DIR=/usr/lib/x86_64-linux-gnu \
//!     cargo bench -p squall --features rocksdb --bench checkpoints -- --backends memory,rocksdb
//! ```
//!
//! Each throughput run is a child process, so its peak memory (VmHWM) is
//! its own; figures are medians, because this machine is shared.

use squall_test_support::bench as common;
mod shakespeare;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use common::Measurement;
use shakespeare::{make_input, plain_loop};
use squall::builtins::{CountsCsvSink, FileSpout, SplitWordsBolt, StatefulCountBolt};
use squall::state::StateBackendKind;
use squall::topology::{Guarantee, OutputDeclarer};
use squall::{
    Fields, LocalCluster, OutputCollector, Result, Spout, SpoutStatus, TopologyBuilder,
    TopologyContext, Value,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
struct Args {
    /// Size of the word-count input (MB, 10^6 bytes).
    #[arg(long, default_value_t = 50)]
    size_mb: u64,
    /// Runs per mode; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Parallelism of the word-count topology.
    #[arg(long, default_value_t = 2)]
    parallelism: usize,
    /// Checkpoint interval of the checkpointed runs (ms).
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Keys in the checkpoint-size measurement.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// State backends to measure (`rocksdb` needs the `rocksdb` feature).
    #[arg(long, value_delimiter = ',', default_value = "memory")]
    backends: Vec<String>,
    /// Internal: the backend of a child run.
    #[arg(long, hide = true, default_value = "memory")]
    backend: String,
    /// Internal: a child run's rocksdb checkpoints are full snapshots.
    #[arg(long, hide = true)]
    full_snapshots: bool,
    /// Internal: run one measurement in this process.
    #[arg(long, hide = true)]
    child: Option<String>,
    /// Internal: the input file of a child run.
    #[arg(long, hide = true)]
    input: Option<std::path::PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(mode) = &args.child {
        let input = args.input.as_deref().expect("child runs get --input");
        let backend = parse_backend(&args.backend)?;
        let (words, secs) = match mode.as_str() {
            "plain" => plain_loop(input)?,
            "off" => word_count(input, args.parallelism, backend, None)?,
            interval => {
                let checkpoints = Some((interval.parse()?, !args.full_snapshots));
                word_count(input, args.parallelism, backend, checkpoints)?
            }
        };
        common::child_report(words, secs, "");
        return Ok(());
    }

    let input = make_input(args.size_mb)?;
    let bytes = std::fs::metadata(&input)?.len();
    println!(
        "stateful word count on {:.0} MB of Shakespeare, parallelism {}, median of {} run(s)",
        bytes as f64 / 1e6,
        args.parallelism,
        args.runs
    );
    let plain = measure(&input, "plain", 1, args.runs, "memory", false)?;
    let plain_rate = plain.records as f64 / plain.secs;
    println!("{:<40} {:>12} {:>9} {:>9} {:>9}", "mode", "words/s", "vs plain", "vs off", "peak MB");
    report("plain loop (1 thread)", &plain, plain_rate, None);
    for name in &args.backends {
        parse_backend(name)?; // refuse an unknown or unavailable backend up front
                              // Off and on runs alternate, so that a change in the machine's load
                              // (it is shared) hits both alike.
                              // The rocksdb backend is measured with full and with incremental
                              // checkpoints (its default).
        let kinds: &[(&str, bool)] = match name.as_str() {
            "rocksdb" => &[("full", true), ("incremental", false)],
            _ => &[("", false)],
        };
        let mut offs = Vec::new();
        let mut ons: Vec<Vec<Measurement>> = kinds.iter().map(|_| Vec::new()).collect();
        let interval = args.interval_ms.to_string();
        for _ in 0..args.runs.max(1) {
            offs.push(measure(&input, "off", args.parallelism, 1, name, false)?);
            for (runs, (_, full)) in ons.iter_mut().zip(kinds) {
                runs.push(measure(&input, &interval, args.parallelism, 1, name, *full)?);
            }
        }
        let off = median(offs);
        report(&format!("{name}, checkpoints off"), &off, plain_rate, None);
        let off_rate = off.records as f64 / off.secs;
        for (runs, (kind, _)) in ons.into_iter().zip(kinds) {
            let on = median(runs);
            anyhow::ensure!(
                on.records == plain.records && off.records == plain.records,
                "counted {} and {} words, plain {}",
                on.records,
                off.records,
                plain.records
            );
            let label = format!("{name}, {kind} checkpoint/{} ms", args.interval_ms);
            report(&label.replace(",  ", ", "), &on, plain_rate, Some(off_rate));
        }
    }

    for name in &args.backends {
        println!();
        println!("checkpoint of {} keys ({name} backend, 2 tasks):", args.keys);
        checkpoint_size(args.keys, parse_backend(name)?)?;
        #[cfg(feature = "rocksdb")]
        if name == "rocksdb" {
            incremental_size(args.keys)?;
        }
    }
    Ok(())
}

/// Incremental against full checkpoints of the `rocksdb` backend, measured
/// on one backend directly, without the runtime:
/// `keys` keys, a first checkpoint, then 1% of the keys changed and a
/// second one, which uploads only the new SST files.
#[cfg(feature = "rocksdb")]
fn incremental_size(keys: u64) -> anyhow::Result<()> {
    use squall::checkpoint::incremental::TaskId;
    use squall::checkpoint::CheckpointStorage;
    use squall::state::{RocksDbBackend, StateBackend, StateKind, TaskSnapshot};

    const GROUPS: usize = 128;
    let dir = tempfile::tempdir()?;
    let storage = CheckpointStorage::open(&dir.path().display().to_string(), "incremental")?;
    let mut backend = RocksDbBackend::new(0..GROUPS)?;
    backend.register(0, "count", StateKind::Value);
    let put = |backend: &mut RocksDbBackend, i: u64, n: u64| {
        let kg = squall::keys::key_group(squall::keys::key_hash([&Value::from(i as i64)]), GROUPS);
        backend.put(0, kg, &i.to_be_bytes(), &n.to_le_bytes())
    };
    for i in 0..keys {
        put(&mut backend, i, 1)?;
    }
    let task = TaskId { component: "count".into(), task_index: 0, parallelism: 1 };
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let start = Instant::now();
    let full = TaskSnapshot {
        component: "count".into(),
        task_index: 0,
        parallelism: 1,
        key_groups: 0..GROUPS as u32,
        operator: Default::default(),
        keyed: backend.snapshot()?,
        operator_lists: Default::default(),
    }
    .encode()?;
    let full_ms = start.elapsed().as_millis();
    let start = Instant::now();
    let (first, s1) = rt.block_on(storage.write_incremental(1, &backend, &task, None))?;
    let first_ms = start.elapsed().as_millis();
    for i in (0..keys).step_by(100) {
        put(&mut backend, i, 2)?;
    }
    let start = Instant::now();
    let (_, s2) = rt.block_on(storage.write_incremental(2, &backend, &task, Some(&first)))?;
    let second_ms = start.elapsed().as_millis();
    println!(
        "  full snapshot (1 task, in memory): {:.1} MB, {full_ms} ms",
        full.len() as f64 / 1e6
    );
    for (label, s, ms) in [("first", s1, first_ms), ("after 1% of keys changed", s2, second_ms)] {
        println!(
            "  incremental, {label}: {:.1} MB in {} files uploaded, {:.1} MB in {} files reused, {ms} ms",
            s.bytes_uploaded as f64 / 1e6,
            s.files_uploaded,
            s.bytes_reused as f64 / 1e6,
            s.files_reused
        );
    }
    Ok(())
}

fn parse_backend(name: &str) -> anyhow::Result<StateBackendKind> {
    let kind = match name {
        "memory" => StateBackendKind::Memory,
        "rocksdb" => StateBackendKind::Rocksdb,
        other => anyhow::bail!("unknown backend '{other}' (memory, rocksdb)"),
    };
    anyhow::ensure!(kind.available(), "backend '{name}' needs the `{name}` cargo feature");
    Ok(kind)
}

/// One child run of `mode` on `input` with `backend`.
fn measure(
    input: &Path,
    mode: &str,
    p: usize,
    runs: usize,
    backend: &str,
    full_snapshots: bool,
) -> anyhow::Result<Measurement> {
    let args = ["--child", mode, "--parallelism", &p.to_string(), "--backend", backend, "--input"];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if full_snapshots {
        args.insert(0, "--full-snapshots".into());
    }
    args.push(input.display().to_string());
    common::measure(&args, runs)
}

fn median(mut runs: Vec<Measurement>) -> Measurement {
    runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    runs.swap_remove(runs.len() / 2)
}

fn report(name: &str, m: &Measurement, plain_rate: f64, off_rate: Option<f64>) {
    let rate = m.records as f64 / m.secs;
    let vs_off = off_rate.map_or("-".to_string(), |o| format!("{:.3}x", rate / o));
    println!(
        "{:<40} {:>10.2} M {:>8.2}x {:>9} {:>9.1}",
        name,
        rate / 1e6,
        rate / plain_rate,
        vs_off,
        m.peak_rss as f64 / 1e6
    );
}

/// File spout -> split (chained) -> stateful count (fields grouped) ->
/// counts CSV sink; with checkpoints every `interval_ms` if given,
/// incremental or not.
fn word_count(
    input: &Path,
    p: usize,
    backend: StateBackendKind,
    checkpoints_every: Option<(u64, bool)>,
) -> anyhow::Result<(u64, f64)> {
    let interval_ms = checkpoints_every.map(|(ms, _)| ms);
    let out = tempfile::tempdir()?;
    let checkpoints = tempfile::tempdir()?;
    let mut b = TopologyBuilder::new("checkpoint-bench");
    b.set_spout("lines", FileSpout::new(input)?, p);
    b.set_bolt("split", SplitWordsBolt::new("line"), p).local_or_shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), p)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", CountsCsvSink::new(out.path().join("counts.csv"), "word", "count")?, 1)
        .global_grouping("count");
    b.config_mut().state_backend = backend;
    if let Some(ms) = interval_ms {
        let c = b.config_mut();
        c.guarantee = Guarantee::ExactlyOnce;
        c.checkpoint_interval_ms = ms;
        c.checkpoint_dir = Some(checkpoints.path().display().to_string());
        c.incremental_checkpoints = checkpoints_every.is_some_and(|(_, inc)| inc);
    }
    let start = Instant::now();
    let summary = LocalCluster::run(b.build()?)?;
    let secs = start.elapsed().as_secs_f64();
    if interval_ms.is_some() {
        eprintln!("{} checkpoints completed", summary.checkpoints.len());
    }
    let words = summary.metrics.component("count").map_or(0, |c| c.executed);
    Ok((words, secs))
}

/// Emits the keys `0..n` (split over its tasks); once a checkpoint that
/// holds them all has completed, emits every 100th key again (1% of the
/// keys change); then stays idle, so that checkpoints go on. The ids of
/// the checkpoints holding each phase go into `marks`.
#[derive(Clone)]
struct Keys {
    n: u64,
    next: u64,
    step: u64,
    /// 0: all keys; 1: every 100th key again; 2: done.
    phase: usize,
    /// Emitted since the last barrier.
    dirty: bool,
    /// The checkpoint holding the current phase, until it completes.
    pending: Option<u64>,
    marks: Arc<Mutex<Vec<u64>>>,
}

impl Spout for Keys {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["key"]));
    }
    fn open(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.next = ctx.task_index() as u64;
        self.step = ctx.parallelism() as u64;
        Ok(())
    }
    fn next_tuple(&mut self, c: &mut OutputCollector) -> Result<SpoutStatus> {
        if self.phase == 2 || self.pending.is_some() || (self.dirty && self.next >= self.n) {
            return Ok(SpoutStatus::Idle);
        }
        let step = if self.phase == 0 { self.step } else { self.step * 100 };
        for _ in 0..1024 {
            if self.next >= self.n {
                break;
            }
            c.emit(vec![Value::Int(self.next as i64)])?;
            self.next += step;
        }
        self.dirty = true;
        Ok(SpoutStatus::Active)
    }
    fn snapshot_state(&mut self, id: u64) -> Result<()> {
        if self.dirty && self.next >= self.n {
            self.pending = Some(id);
            self.dirty = false;
        }
        Ok(())
    }
    fn on_checkpoint_complete(&mut self, id: u64) -> Result<()> {
        if let Some(p) = self.pending.filter(|p| id >= *p) {
            self.marks.lock().unwrap().push(p);
            self.pending = None;
            self.phase += 1;
            self.next %= self.step; // this task's first key again
        }
        Ok(())
    }
}

/// Fills keyed state with `keys` keys, then changes 1% of them, and prints
/// the duration, size and bytes written of the checkpoint holding each.
fn checkpoint_size(keys: u64, backend: StateBackendKind) -> anyhow::Result<()> {
    let checkpoints = tempfile::tempdir()?;
    let mut b = TopologyBuilder::new("checkpoint-size");
    let marks = Arc::new(Mutex::new(Vec::new()));
    let (next, step, phase, dirty, pending) = (0, 1, 0, false, None);
    let spout = Keys { n: keys, next, step, phase, dirty, pending, marks: marks.clone() };
    b.set_spout("keys", spout, 2);
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["key"])), 2)
        .fields_grouping("keys", Fields::new(["key"]));
    let c = b.config_mut();
    c.guarantee = Guarantee::ExactlyOnce;
    c.checkpoint_interval_ms = 1000;
    c.checkpoint_dir = Some(checkpoints.path().display().to_string());
    c.state_backend = backend;
    let running = LocalCluster::submit(b.build()?)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let held = loop {
        // Polling a benchmark's progress; tests never sleep to synchronise.
        std::thread::sleep(Duration::from_millis(50));
        // Both spout tasks marked both phases: the later mark of each.
        let mut marks: Vec<u64> = marks.lock().unwrap().clone();
        if marks.len() == 4 {
            marks.sort_unstable();
            break [marks[1], marks[3]];
        }
        anyhow::ensure!(Instant::now() < deadline, "phases not checkpointed in 300 s: {marks:?}");
    };
    // One more checkpoint, with nothing changed since the last phase.
    let done = loop {
        let done = running.checkpoints();
        if done.iter().any(|s| s.id > held[1]) {
            break done;
        }
        anyhow::ensure!(Instant::now() < deadline, "no checkpoint after {}", held[1]);
        std::thread::sleep(Duration::from_millis(50));
    };
    running.kill();
    running.join()?;
    // Every checkpoint of the run: those while the keys were emitted, the
    // one holding them all, the one after 1% changed, one with no change.
    for s in &done {
        let label = match s.id {
            id if id == held[0] => " (all keys)",
            id if id == held[1] => " (1% of the keys changed)",
            id if id > held[1] => " (no change)",
            id if id < held[0] => " (keys being added)",
            _ => "",
        };
        println!(
            "  checkpoint {}{label}: {} ms from trigger to the last acknowledgement, \
             {:.1} MB of state, {:.1} MB written",
            s.id,
            s.duration_ms,
            s.state_bytes as f64 / 1e6,
            s.uploaded_bytes as f64 / 1e6
        );
    }
    Ok(())
}
