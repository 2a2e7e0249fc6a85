//! What the end-to-end benchmarks share: one measurement per child process
//! (so that its peak memory is its own), medians over runs, the report line.

use std::process::Command;

/// One child's result.
pub struct Measurement {
    /// Records processed.
    pub records: u64,
    /// Wall time (s).
    pub secs: f64,
    /// Peak resident memory (bytes).
    pub peak_rss: u64,
    /// A checksum of its result, to compare modes with.
    pub check: String,
}

/// Prints the line a child reports to its parent.
pub fn child_report(records: u64, secs: f64, check: &str) {
    println!("{records} {secs} {} {check}", peak_rss_bytes());
}

/// Runs this executable `runs` times with `args` as a child and keeps the
/// median by time.
pub fn measure(args: &[String], runs: usize) -> anyhow::Result<Measurement> {
    let mut results = Vec::new();
    for _ in 0..runs.max(1) {
        let out = Command::new(std::env::current_exe()?).args(args).output()?;
        anyhow::ensure!(
            out.status.success(),
            "child {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout)?;
        let last = text.lines().last().unwrap_or_default().to_string();
        let f: Vec<&str> = last.splitn(4, ' ').collect();
        anyhow::ensure!(f.len() >= 3, "unexpected child output: {last}");
        results.push(Measurement {
            records: f[0].parse()?,
            secs: f[1].parse()?,
            peak_rss: f[2].parse()?,
            check: f.get(3).unwrap_or(&"").to_string(),
        });
    }
    results.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    Ok(results.swap_remove(results.len() / 2))
}

/// Prints one mode: rate (millions of records/s), ratio to the plain loop,
/// peak memory (MB).
pub fn report(name: &str, m: &Measurement, plain_rate: f64) {
    let rate = m.records as f64 / m.secs;
    println!(
        "{:<26} {:>12.2} M {:>9.2}x {:>12.1}",
        name,
        rate / 1e6,
        rate / plain_rate,
        m.peak_rss as f64 / 1e6
    );
}

/// Peak resident set size of this process (bytes), from /proc.
pub fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time of this process so far (user + system, seconds), from
/// /proc/self/stat (fields 14 and 15, in clock ticks of 1/100 s, Linux's
/// `USER_HZ`): on a shared machine, work per CPU-second is steadier than
/// work per wall-clock second.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces: count from after its ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    // After ')': the state (not a number, filtered out), then fields 4.. .
    let f: Vec<i64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    match (f.get(10), f.get(11)) {
        (Some(u), Some(s)) => (u + s) as f64 / 100.0,
        _ => 0.0,
    }
}
