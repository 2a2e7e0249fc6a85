//! Event-time window benchmark: keyed tumbling windows (one hour per origin
//! airport) computing count, sum and average of the delay over the 3 million
//! real flights of 2001 of vega-datasets, at parallelism 1 and 2, against a
//! plain single-threaded Rust loop computing the same result.
//!
//! ```text
//! scripts/fetch-flights-3m.sh
//! cargo bench -p squall --bench window_aggregation            # 3 runs each
//! cargo bench -p squall --bench window_aggregation -- --runs 1
//! ```
//!
//! Both read and parse the same CSV. Parallelism 1 reads `flights-3m.csv`
//! with one spout task and one window task; parallelism 2 reads the two
//! time-ordered halves (`parts/`) with two spout tasks (per-partition
//! watermarks) and two window tasks. Each run is a child process (its own
//! peak memory and CPU time); figures are medians (by wall time). The
//! results are checked equal. Each line also gives the CPU seconds (user +
//! system) of that run and events per CPU-second: on a shared machine the
//! steadier measure of the engine's cost per event. `--worker-threads`
//! sets the runtime's threads (default one per core); `--max-drift-ms` the
//! spout tasks' watermark alignment (default one day; 0 turns it off).

use squall_test_support::bench as common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Parser;
use squall::builtins::{CsvSpout, CsvSpoutOptions, WindowBolt, WindowSpec};
use squall::time::TimestampFormat;
use squall::window::{AggregateKind, AggregateSpec, Trigger, WindowAssigner};
use squall::{Bolt, Fields, LocalCluster, OutputCollector, TopologyBuilder, Tuple};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HOUR: i64 = 3_600_000;

#[derive(Parser, Debug)]
struct Args {
    /// Runs per mode; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Parallelisms of the topology to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    parallelism: Vec<usize>,
    /// Threads of the topology's runtime (0: one per core, the default).
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
    /// Watermark alignment of the spout tasks (ms of event time; 0: off).
    /// One call into a spout task reads 1024 flights, about 6 h of event
    /// time of one half of the file: a day leaves a few calls of slack.
    #[arg(long, default_value_t = 24 * HOUR as u64)]
    max_drift_ms: u64,
    /// Internal: run one measurement in this process ("plain" or "topology").
    #[arg(long, hide = true)]
    child: Option<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn data() -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/flights-3m");
    anyhow::ensure!(
        dir.join("parts/part-1.csv").is_file(),
        "run scripts/fetch-flights-3m.sh first ({} missing)",
        dir.display()
    );
    Ok(dir)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = data()?;
    if let Some(mode) = &args.child {
        let (events, secs, check) = match mode.as_str() {
            "plain" => plain_loop(&dir.join("flights-3m.csv"))?,
            _ => topology(&dir, args.parallelism[0], args.worker_threads, args.max_drift_ms)?,
        };
        // The CPU time rides in front of the checksum.
        common::child_report(events, secs, &format!("{} {check}", common::cpu_seconds()));
        return Ok(());
    }
    println!(
        "keyed tumbling windows (1 h per origin: count, sum, avg of delay) on 3M flights of 2001, \
         median of {} run(s)",
        args.runs
    );
    let run = |mode: &str, p: usize| {
        let (threads, drift) = (args.worker_threads.to_string(), args.max_drift_ms.to_string());
        let a = [
            "--child",
            mode,
            "--parallelism",
            &p.to_string(),
            "--worker-threads",
            &threads,
            "--max-drift-ms",
            &drift,
        ]
        .map(String::from);
        common::measure(&a, args.runs)
    };
    let (plain, plain_cpu) = cpu_of(run("plain", 1)?)?;
    let plain_rate = plain.records as f64 / plain.secs;
    let plain_cpu_rate = plain.records as f64 / plain_cpu;
    println!(
        "{:<26} {:>14} {:>10} {:>12} {:>8} {:>14} {:>10}",
        "mode", "events/s", "vs plain", "peak MB", "CPU s", "events/CPU-s", "vs plain"
    );
    let line = |name: &str, m: &common::Measurement, cpu: f64| {
        let (rate, cpu_rate) = (m.records as f64 / m.secs, m.records as f64 / cpu);
        println!(
            "{:<26} {:>12.2} M {:>9.2}x {:>12.1} {:>8.2} {:>12.2} M {:>9.2}x",
            name,
            rate / 1e6,
            rate / plain_rate,
            m.peak_rss as f64 / 1e6,
            cpu,
            cpu_rate / 1e6,
            cpu_rate / plain_cpu_rate
        );
    };
    line("plain loop (1 thread)", &plain, plain_cpu);
    for &p in &args.parallelism {
        let (m, cpu) = cpu_of(run("topology", p)?)?;
        anyhow::ensure!(
            m.check == plain.check,
            "results differ: {} vs plain {}",
            m.check,
            plain.check
        );
        line(&format!("squall parallelism {p}"), &m, cpu);
    }
    println!("checksum (windows, flights, delay sum, avg sum): {}", plain.check);
    Ok(())
}

/// Splits the CPU seconds (user + system) off the front of a child's
/// checksum: on a shared machine, events per CPU-second is the steadier
/// measure of the engine's cost.
fn cpu_of(mut m: common::Measurement) -> anyhow::Result<(common::Measurement, f64)> {
    let (cpu, check) = m.check.split_once(' ').unwrap_or((&m.check, ""));
    let cpu: f64 = cpu.parse()?;
    m.check = check.to_string();
    Ok((m, cpu))
}

/// A checksum of window results: windows, total count, total delay sum,
/// and the sum of the averages rounded to 1e-3 (summation order differs).
fn checksum(windows: &[(i64, i64, f64)]) -> String {
    let count: i64 = windows.iter().map(|w| w.0).sum();
    let sum: i64 = windows.iter().map(|w| w.1).sum();
    let avg: f64 = windows.iter().map(|w| w.2).sum();
    format!("{} {count} {sum} {avg:.3}", windows.len())
}

/// The reference: one thread, the csv crate, a `HashMap` per (origin, hour).
fn plain_loop(input: &Path) -> anyhow::Result<(u64, f64, String)> {
    let start = Instant::now();
    let mut reader = csv::Reader::from_path(input)?;
    let mut record = csv::StringRecord::new();
    let mut windows: HashMap<(String, i64), (i64, i64)> = HashMap::new();
    let mut events = 0u64;
    while reader.read_record(&mut record)? {
        let ts: i64 = record[0].parse()?;
        let delay: i64 = record[1].parse()?;
        let hour = ts.div_euclid(HOUR) * HOUR;
        let w = windows.entry((record[3].to_string(), hour)).or_default();
        w.0 += 1;
        w.1 += delay;
        events += 1;
    }
    let results: Vec<(i64, i64, f64)> =
        windows.values().map(|&(n, s)| (n, s, s as f64 / n as f64)).collect();
    let secs = start.elapsed().as_secs_f64();
    Ok((events, secs, checksum(&results)))
}

/// Keeps what it receives for the checksum.
#[derive(Clone, Default)]
struct Checksum(Arc<Mutex<Vec<(i64, i64, f64)>>>);

impl Bolt for Checksum {
    fn execute(&mut self, t: Tuple, _c: &mut OutputCollector) -> squall::Result<()> {
        let row = (t.get_i64("flights")?, t.get_i64("delay_sum")?, t.get_f64("delay_avg")?);
        self.0.lock().unwrap().push(row);
        Ok(())
    }
}

/// csv spout -> window (fields grouped by origin) -> checksum sink.
fn topology(
    dir: &Path,
    p: usize,
    threads: usize,
    max_drift_ms: u64,
) -> anyhow::Result<(u64, f64, String)> {
    let input = if p == 1 { dir.join("flights-3m.csv") } else { dir.join("parts") };
    let mut options = CsvSpoutOptions::new("date");
    options.time_format = TimestampFormat::UnixMillis;
    options.watermark_every = 1024;
    options.max_watermark_drift_ms = (max_drift_ms > 0).then_some(max_drift_ms);
    let spec = WindowSpec {
        window: WindowAssigner::Tumbling { size_ms: HOUR, offset_ms: 0 },
        trigger: Trigger::EventTime,
        early_every_ms: None,
        keys: vec!["origin".into()],
        aggregates: vec![
            AggregateSpec::new(AggregateKind::Count, None, "flights"),
            AggregateSpec::new(AggregateKind::Sum, Some("delay"), "delay_sum"),
            AggregateSpec::new(AggregateKind::Avg, Some("delay"), "delay_avg"),
        ],
        time_field: "event_time".into(),
        allowed_lateness_ms: 0,
    };
    let sink = Checksum::default();
    let mut b = TopologyBuilder::new("window-bench");
    b.set_spout("flights", CsvSpout::new(&input, options)?, p);
    b.set_bolt("window", WindowBolt::new(spec)?, p)
        .fields_grouping("flights", Fields::new(["origin"]));
    b.set_bolt("sink", sink.clone(), 1).global_grouping("window");
    b.config_mut().worker_threads = threads;
    let start = Instant::now();
    let summary = LocalCluster::run(b.build()?)?;
    let secs = start.elapsed().as_secs_f64();
    let events = summary.metrics.component("window").map_or(0, |c| c.executed);
    let results = sink.0.lock().unwrap().clone();
    Ok((events, secs, checksum(&results)))
}
