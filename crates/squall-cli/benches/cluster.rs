//! Word count on a two-supervisor cluster (two workers exchanging tuples
//! over TCP) against local mode at the same parallelism, with and without
//! LZ4 on the data plane; a plain-Rust count beside them as the reference.
//!
//! `cargo bench -p squall-cli --bench cluster [-- COPIES [ROUNDS]]`: the
//! Shakespeare corpus COPIES times over (default 40: runs of a few seconds,
//! long enough for the 20 ms CPU samples), ROUNDS alternating
//! rounds (default 3), medians reported. Prints words/s, the ratio to local
//! mode, and the bytes the workers sent each other. Needs `etcd` on PATH.
//! Cluster times are the workers' own (from start to their end, peers'
//! rendezvous included), submit-to-finished as the CLI sees it, and from
//! both workers joined to the end (the processing alone, without process
//! start and rendezvous; local mode's process start takes a few ms). Peak
//! memory is each process's VmHWM (Linux), sampled while it runs: the
//! largest worker for the cluster; CPU time is user + system of the
//! processes (both workers for the cluster), sampled likewise.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Instant;

use support::*;

/// Peak resident memory of process `pid` so far (MB), if it runs.
fn peak_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// CPU time used by process `pid` so far (s, user + system), if it runs.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command's closing parenthesis; utime, stime are
    // the 14th and 15th of the line, in clock ticks (100 per second).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A cluster of two supervisors whose workers compress their data or not.
fn cluster(compression: bool) -> Cluster {
    let mut cluster = Cluster::start(1, &[]);
    for sup in ["sup-a", "sup-b"] {
        let mut command = cluster.command(&[]);
        command.env("SQUALL__SUPERVISOR__DATA_COMPRESSION", compression.to_string());
        cluster.start_supervisor(sup, command);
    }
    cluster.wait_for_supervisors(2);
    cluster
}

/// One measured run.
#[derive(Clone, Copy, Default)]
struct Run {
    /// The workers' own time (s), or the local process's.
    secs: f64,
    /// From submit to both workers' end (s).
    wall: f64,
    /// From both workers joined to the end, the longer of the two (s): the
    /// run without the start of the processes and the wait for a peer.
    steady: f64,
    /// Data-plane bytes.
    bytes: u64,
    /// Largest process's peak memory (MB).
    peak: f64,
    /// CPU time of the processes (s), as last sampled before they ended.
    cpu: f64,
}

/// Runs the word count named `name` on `cluster` over 2 workers. Only
/// the workers' logs and /proc are read while it runs (no CLI call, which
/// would take CPU from the run).
fn cluster_run(cluster: &Cluster, name: &str, input: &Path, expected: &Counts) -> Run {
    let started = Instant::now();
    let output = cluster.submit_word_count_with(name, input, &["--workers", "2"]);
    let mut run = Run::default();
    let mut pids = [None, None];
    let mut cpu = [0f64; 2];
    wait_until("the workers to finish", || {
        let mut finished = 0;
        for (i, sup) in ["sup-a", "sup-b"].into_iter().enumerate() {
            if pids[i].is_none() {
                pids[i] = cluster.worker_pid(sup, name);
            }
            run.peak = run.peak.max(pids[i].and_then(peak_mb).unwrap_or(0.0));
            cpu[i] = cpu[i].max(pids[i].and_then(cpu_secs).unwrap_or(0.0));
            finished += cluster.worker_log(sup, name).contains("finished in ") as usize;
        }
        finished == 2
    });
    run.wall = started.elapsed().as_secs_f64();
    run.cpu = cpu.iter().sum();
    cluster.wait_for_state(name, "finished");
    for sup in ["sup-a", "sup-b"] {
        let log = cluster.worker_log(sup, name);
        let field = |prefix: &str| {
            log.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|l| l.split(' ').next())
                .unwrap_or_else(|| panic!("no '{prefix}' in {sup}'s worker log:\n{log}"))
                .to_string()
        };
        let finished: f64 = field("finished in ").parse().unwrap();
        // The last attempt's join ("attempt N: 2 workers joined after S s").
        let joined: f64 = log
            .lines()
            .filter_map(|l| l.split_once("2 workers joined after ").map(|(_, s)| s))
            .next_back()
            .and_then(|s| s.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no '2 workers joined after' in {sup}'s worker log:\n{log}"));
        run.secs = run.secs.max(finished);
        run.steady = run.steady.max(finished - joined);
        run.bytes += field("data plane: ").parse::<u64>().unwrap();
    }
    assert_eq!(&read_counts(&output), expected, "the cluster's counts are right");
    run
}

type Counts = std::collections::BTreeMap<String, u64>;

/// Runs `squall run` on the word count.
fn local_run(input: &Path, output: &Path, expected: &Counts) -> Run {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/word-count.yaml");
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(["run", example.to_str().unwrap(), "--quiet"])
        .args(["--set", &format!("input={}", input.display())])
        .args(["--set", &format!("output={}", output.display())])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut run = Run::default();
    let status = loop {
        run.peak = run.peak.max(peak_mb(child.id()).unwrap_or(0.0));
        run.cpu = run.cpu.max(cpu_secs(child.id()).unwrap_or(0.0));
        match child.try_wait().unwrap() {
            Some(status) => break status,
            None => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    run.secs = started.elapsed().as_secs_f64();
    run.wall = run.secs;
    assert!(status.success());
    assert_eq!(&read_counts(output), expected, "local mode's counts are right");
    run
}

/// The run of median time among `runs`.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    runs[runs.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let copies: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let (input, expected) = repeated_corpus(dir.path(), copies);
    let words: u64 = expected.values().sum();

    let started = Instant::now();
    let counted = reference(&input);
    let plain = started.elapsed().as_secs_f64();
    assert_eq!(counted, expected);

    // Rounds alternate the three modes, so that the machine's load (it is
    // shared) weighs on all of them alike; medians are reported.
    let clusters = [cluster(false), cluster(true)];
    let (mut local, mut remote) = (Vec::new(), [Vec::new(), Vec::new()]);
    for round in 0..rounds {
        local.push(local_run(&input, &dir.path().join("local.csv"), &expected));
        for (c, runs) in clusters.iter().zip(&mut remote) {
            runs.push(cluster_run(c, &format!("wc-bench-{round}"), &input, &expected));
        }
    }
    let local = median(local);

    println!(
        "word count, {copies} x Shakespeare: {words} words, parallelism 2 per component, \
         median of {rounds} alternating rounds"
    );
    println!(
        "{:<34} {:>12} {:>9} {:>14} {:>12} {:>9} {:>7}",
        "mode", "words/s", "vs local", "net bytes", "bytes/word", "peak MB", "CPU s"
    );
    let row = |mode: &str, secs: f64, bytes: Option<u64>, run: Option<Run>| {
        let peak = run.map_or("-".to_string(), |r| format!("{:.0}", r.peak));
        let cpu = run.map_or("-".to_string(), |r| format!("{:.1}", r.cpu));
        let (b, per) = match bytes {
            Some(b) => (b.to_string(), format!("{:.2}", b as f64 / words as f64)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{mode:<34} {:>12.0} {:>8.0}% {b:>14} {per:>12} {peak:>9} {cpu:>7}",
            words as f64 / secs,
            100.0 * local.secs / secs
        );
    };
    row("plain Rust, one thread", plain, None, None);
    row("local mode (squall run)", local.secs, None, Some(local));
    for (runs, lz4) in remote.into_iter().zip(["no compression", "lz4"]) {
        let all: Vec<String> = runs.iter().map(|r| format!("{:.2}", r.secs)).collect();
        let m = median(runs);
        row(&format!("cluster, 2 workers, {lz4}"), m.secs, Some(m.bytes), Some(m));
        row("  same, submit to both ends", m.wall, Some(m.bytes), Some(m));
        row("  same, from both workers joined", m.steady, Some(m.bytes), Some(m));
        eprintln!("cluster {lz4}: runs of {} s", all.join(", "));
    }
}
