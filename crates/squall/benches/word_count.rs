//! Word-count benchmark: the word-count topology at parallelism 1 and 2
//! against a plain single-threaded Rust loop over the same text, on at
//! least 200 MB of real text (Shakespeare's works repeated); then the same
//! topology with acking on (`at_least_once`, every line tracked) at two
//! `max_spout_pending` bounds.
//!
//! ```text
//! scripts/fetch-corpus.sh
//! cargo bench -p squall --bench word_count            # 200 MB, 3 runs each
//! cargo bench -p squall --bench word_count -- --size-mb 50 --runs 1
//! cargo bench -p squall --bench word_count -- --pending 1000,20000
//! cargo bench -p squall --bench word_count -- --size-mb 50 --runs 3 --metrics-cost
//! ```
//!
//! `--metrics-cost` measures only what Prometheus metrics cost: runs with
//! and without an exporter installed, alternating, at each parallelism,
//! acking off. With it on, a Prometheus exporter is this process's
//! recorder and a thread publishes the runtime's counters into it and
//! renders the exposition every second, as `squall run --metrics` with
//! Prometheus scraping at a 1 s interval does.
//!
//! Each run is a child process, so its peak memory (VmHWM) is its own.
//! Prints words/s, the ratio to the plain loop and to acking off, words per
//! CPU-second (the steadier measure on a shared machine), the complete
//! latency (spout emit to tree acked) p50/p99 and peak resident memory; the
//! figures are medians over the runs (by time), because this machine is
//! shared.

use squall_test_support::bench as common;
mod shakespeare;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use shakespeare::{make_input, plain_loop};
use squall::builtins::{CountBolt, CountsCsvSink, FileSpout, SplitWordsBolt};
use squall::{Fields, Guarantee, LocalCluster, TopologyBuilder};

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
    /// `max_spout_pending` bounds to measure with acking on; empty for
    /// none. 0 in a child run means acking off.
    #[arg(long, value_delimiter = ',', default_value = "1000,20000")]
    pending: Vec<usize>,
    /// Also measure the topology at most once with `local_aggregation` off
    /// (one tuple per word on every hop, as Storm sends them).
    #[arg(long)]
    per_word: bool,
    /// Internal: run one measurement in this process ("plain",
    /// "topology" or "per-word").
    #[arg(long, hide = true)]
    child: Option<String>,
    /// Internal: the input file of a child run.
    #[arg(long, hide = true)]
    input: Option<PathBuf>,
    /// Compare runs with a Prometheus exporter (gathering and rendering
    /// every second) to runs without, alternating; nothing else.
    #[arg(long)]
    metrics_cost: bool,
    /// Internal: a child run with the exporter on.
    #[arg(long, hide = true)]
    metrics: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(mode) = &args.child {
        let input = args.input.as_deref().expect("child runs get --input");
        let p = args.parallelism[0];
        let pending = args.pending.first().copied().unwrap_or(0);
        let (words, secs, (p50, p99)) = match mode.as_str() {
            "plain" => {
                let (w, s) = plain_loop(input)?;
                (w, s, (0, 0))
            }
            _ => topology(input, p, pending, mode == "topology", args.metrics)?,
        };
        common::child_report(words, secs, &format!("{p50} {p99} {}", common::cpu_seconds()));
        return Ok(());
    }

    let input = make_input(args.size_mb)?;
    if args.metrics_cost {
        return metrics_cost(&input, &args);
    }
    let bytes = std::fs::metadata(&input)?.len();
    println!(
        "word count on {:.0} MB of Shakespeare ({}), median of {} run(s)",
        bytes as f64 / 1e6,
        input.display(),
        args.runs
    );
    let plain = measure(&input, "plain", 1, 0, args.runs)?;
    let plain_rate = plain.records as f64 / plain.secs;
    println!(
        "{:<34} {:>14} {:>9} {:>9} {:>13} {:>9} {:>8} {:>8} {:>8}",
        "mode",
        "words/s",
        "vs plain",
        "vs off",
        "words/cpu-s",
        "cpu vs off",
        "p50 ms",
        "p99 ms",
        "peak MB"
    );
    report("plain loop (1 thread)", &plain, plain_rate, None)?;
    for &p in &args.parallelism {
        let off = measure(&input, "topology", p, 0, args.runs)?;
        anyhow::ensure!(
            off.records == plain.records,
            "topology counted {} words, plain loop {}",
            off.records,
            plain.records
        );
        let off_rates = report(&format!("squall p{p} at_most_once"), &off, plain_rate, None)?;
        if args.per_word {
            let run = measure(&input, "per-word", p, 0, args.runs)?;
            anyhow::ensure!(run.records == plain.records, "per-word run lost or added words");
            report(&format!("squall p{p} at_most_once per word"), &run, plain_rate, None)?;
        }
        for &pending in args.pending.iter().filter(|&&n| n > 0) {
            let on = measure(&input, "topology", p, pending, args.runs)?;
            anyhow::ensure!(on.records == plain.records, "acking lost or added words");
            let name = format!("squall p{p} at_least_once {pending}");
            report(&name, &on, plain_rate, Some(off_rates))?;
        }
    }
    Ok(())
}

/// Runs the topology with and without metrics, alternating, `args.runs`
/// times each per parallelism, and prints the medians and their ratios.
fn metrics_cost(input: &Path, args: &Args) -> anyhow::Result<()> {
    println!(
        "metrics cost: word count on {:.0} MB, {} alternating run(s) each, acking off",
        std::fs::metadata(input)?.len() as f64 / 1e6,
        args.runs
    );
    println!("{:<24} {:>12} {:>14} {:>10} {:>10}", "mode", "words/s", "words/cpu-s", "wall", "cpu");
    for &p in &args.parallelism {
        let mut runs: [Vec<(f64, f64)>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..args.runs.max(1) {
            for (on, results) in runs.iter_mut().enumerate() {
                let mut child = vec!["--child", "topology", "--parallelism", &p.to_string()]
                    .into_iter()
                    .map(String::from)
                    .collect::<Vec<_>>();
                child.extend(["--pending".into(), "0".into()]);
                child.extend(["--input".into(), input.display().to_string()]);
                if on == 1 {
                    child.push("--metrics".into());
                }
                let m = common::measure(&child, 1)?;
                let cpu: f64 = m.check.split_whitespace().nth(2).unwrap_or("0").parse()?;
                results.push((m.records as f64 / m.secs, m.records as f64 / cpu));
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mut rates = [(0.0, 0.0); 2];
        for (on, results) in runs.iter().enumerate() {
            let mut wall: Vec<f64> = results.iter().map(|r| r.0).collect();
            let mut cpu: Vec<f64> = results.iter().map(|r| r.1).collect();
            rates[on] = (median(&mut wall), median(&mut cpu));
            let name = format!("squall p{p} metrics {}", ["off", "on"][on]);
            let (w, c) = rates[on];
            let vs = |x: f64, base: f64| format!("{:+.1}%", (x / base - 1.0) * 100.0);
            let (dw, dc) = match on {
                0 => ("-".to_string(), "-".to_string()),
                _ => (vs(w, rates[0].0), vs(c, rates[0].1)),
            };
            println!("{name:<24} {:>10.2} M {:>12.2} M {dw:>10} {dc:>10}", w / 1e6, c / 1e6);
        }
    }
    Ok(())
}

/// Installs a Prometheus exporter as this process's recorder and starts a
/// thread that publishes `handle`'s counters into it and renders the
/// exposition every second (a scrape every second).
fn export_metrics(handle: squall::runtime::MetricsHandle) -> anyhow::Result<()> {
    let exporter = metrics_exporter_prometheus::PrometheusBuilder::new()
        .add_global_label("worker", "bench")
        .set_buckets(&[0.00001, 0.0001, 0.001, 0.01, 0.1, 1.0, 10.0])?
        .install_recorder()?;
    let mut publisher = handle.publisher();
    std::thread::spawn(move || loop {
        publisher.publish();
        exporter.run_upkeep();
        std::hint::black_box(exporter.render());
        std::thread::sleep(std::time::Duration::from_secs(1));
    });
    Ok(())
}

/// Runs `runs` child processes of `mode` and keeps the median by time.
fn measure(
    input: &Path,
    mode: &str,
    p: usize,
    pending: usize,
    runs: usize,
) -> anyhow::Result<common::Measurement> {
    let args =
        ["--child", mode, "--parallelism", &p.to_string(), "--pending", &pending.to_string()];
    let mut args = args.map(String::from).to_vec();
    args.extend(["--input".to_string(), input.display().to_string()]);
    common::measure(&args, runs)
}

/// Prints one row and returns its (wall, CPU) rates. `off` holds those of
/// the same topology with acking off: on a shared machine the CPU ratio is
/// the steadier measure of what acking costs. A child's `check` carries
/// "p50_us p99_us cpu_seconds".
fn report(
    name: &str,
    m: &common::Measurement,
    plain_rate: f64,
    off: Option<(f64, f64)>,
) -> anyhow::Result<(f64, f64)> {
    let f: Vec<&str> = m.check.split_whitespace().collect();
    anyhow::ensure!(f.len() == 3, "unexpected child report: {}", m.check);
    let (p50_us, p99_us, cpu_secs): (u64, u64, f64) = (f[0].parse()?, f[1].parse()?, f[2].parse()?);
    let rate = m.records as f64 / m.secs;
    let cpu_rate = m.records as f64 / cpu_secs;
    let ratio =
        |x: f64, base: Option<f64>| base.map_or("-".to_string(), |b| format!("{:.2}x", x / b));
    let ms = |us: u64| if us == 0 { "-".to_string() } else { format!("{:.1}", us as f64 / 1e3) };
    println!(
        "{:<34} {:>12.2} M {:>8.2}x {:>9} {:>11.2} M {:>9} {:>8} {:>8} {:>8.1}",
        name,
        rate / 1e6,
        rate / plain_rate,
        ratio(rate, off.map(|o| o.0)),
        cpu_rate / 1e6,
        ratio(cpu_rate, off.map(|o| o.1)),
        ms(p50_us),
        ms(p99_us),
        m.peak_rss as f64 / 1e6
    );
    Ok((rate, cpu_rate))
}

/// The word-count topology: file spout -> split_words (chained) -> count
/// (fields grouped) -> counts CSV sink, with `local_aggregation` as in
/// `examples/word-count.yaml` (it only applies untracked). With `pending` >
/// 0, acking is on with that `max_spout_pending`; with `metrics`, a
/// Prometheus exporter gathers its counters ([`export_metrics`]). Returns
/// words, seconds and the complete latency p50/p99 (µs).
fn topology(
    input: &Path,
    p: usize,
    pending: usize,
    local_aggregation: bool,
    metrics: bool,
) -> anyhow::Result<(u64, f64, (u64, u64))> {
    let out = tempfile::tempdir()?;
    let mut b = TopologyBuilder::new("word-count-bench");
    b.config_mut().local_aggregation = local_aggregation;
    if pending > 0 {
        let config = b.config_mut();
        config.guarantee = Guarantee::AtLeastOnce;
        config.max_spout_pending = Some(pending);
    }
    b.set_spout("lines", FileSpout::new(input)?, p);
    b.set_bolt("split", SplitWordsBolt::new("line"), p).local_or_shuffle_grouping("lines");
    b.set_bolt("count", CountBolt::new(Fields::new(["word"])), p)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", CountsCsvSink::new(out.path().join("counts.csv"), "word", "count")?, 1)
        .global_grouping("count");
    let start = Instant::now();
    let running = LocalCluster::submit(b.build()?)?;
    if metrics {
        export_metrics(running.metrics_handle())?;
    }
    let summary = running.join()?;
    let secs = start.elapsed().as_secs_f64();
    // The words counted are the sum of the final counts the sink wrote:
    // checked against the plain loop's total by the caller.
    let csv = std::fs::read_to_string(out.path().join("counts.csv"))?;
    let words = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap_or("0").parse::<u64>())
        .sum::<Result<u64, _>>()?;
    let lines = summary.metrics.component("lines").expect("spout metrics");
    let us = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_micros() as u64);
    Ok((words, secs, (us(lines.complete_latency_p50), us(lines.complete_latency_p99))))
}
