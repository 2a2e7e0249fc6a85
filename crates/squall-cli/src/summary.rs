//! The end-of-run summary and the plain-text [`Table`] it is printed with.

use std::fmt;
use std::path::PathBuf;

use squall::RunSummary;

/// Prints what a run did to stdout: its name, time, tuples in and out, the
/// rate in, and a table of every component. With `quiet`, only the header
/// line.
pub fn print(summary: &RunSummary, quiet: bool) {
    let m = &summary.metrics;
    let seconds = summary.elapsed.as_secs_f64();
    let tuples_in = m.spout_emitted();
    let rate = if seconds > 0.0 { tuples_in as f64 / seconds } else { 0.0 };
    let how = if summary.killed { "killed after" } else { "finished in" };
    println!("topology '{}' {how} {seconds:.2} s", summary.name);
    if quiet {
        return;
    }
    println!("tuples in:  {tuples_in}");
    println!("tuples out: {}", m.sink_executed());
    println!("tuples/s:   {rate:.0} (in)");
    if let Some(last) = summary.checkpoints.last() {
        println!(
            "checkpoints: {} completed; last #{} took {} ms, {} bytes, {} keyed entries",
            summary.checkpoints.len(),
            last.id,
            last.duration_ms,
            last.state_bytes,
            last.keyed_entries
        );
    }
    println!();
    let mut table = Table::new(["component", "tasks", "emitted", "executed", "backpressure ms"]);
    for c in &m.components {
        table.row([
            c.id.clone(),
            c.tasks.to_string(),
            c.emitted.to_string(),
            c.executed.to_string(),
            c.backpressure.as_millis().to_string(),
        ]);
    }
    print!("{table}");
    if let Some(table) = reliability(m) {
        println!();
        print!("{table}");
    }
}

/// With tracking (`at_least_once`), or after restarts: per component acked,
/// failed, timed out, replayed, restarts and the spouts' complete latency
/// (ms). `None` when nothing was tracked.
fn reliability(m: &squall::runtime::MetricsSnapshot) -> Option<Table> {
    let tracked = m.components.iter().any(|c| c.acked + c.failed + c.restarts > 0);
    if !tracked {
        return None;
    }
    let ms = |d: Option<std::time::Duration>| {
        d.map_or_else(|| "-".to_string(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
    };
    let mut table = Table::new([
        "component",
        "acked",
        "failed",
        "timed out",
        "replayed",
        "restarts",
        "latency p50 ms",
        "latency p99 ms",
    ]);
    for c in &m.components {
        table.row([
            c.id.clone(),
            c.acked.to_string(),
            c.failed.to_string(),
            c.timed_out.to_string(),
            c.replayed.to_string(),
            c.restarts.to_string(),
            ms(c.complete_latency_p50),
            ms(c.complete_latency_p99),
        ]);
    }
    Some(table)
}

/// Prints where the results are, or why there are none.
pub fn print_outputs(outputs: &[(String, PathBuf)], killed: bool) {
    for (component, path) in outputs {
        if killed {
            println!("no results from '{component}': killed before it finished");
        } else {
            println!("results: {}", path.display());
        }
    }
}

/// A table of left-aligned text and right-aligned numbers, for a terminal.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new<const N: usize>(header: [&str; N]) -> Self {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: vec![] }
    }

    /// Adds a row, one cell per column.
    pub fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.rows.push(cells.to_vec());
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.header.len();
        let width = |i: usize| {
            self.rows.iter().map(|r| r[i].len()).chain([self.header[i].len()]).max().unwrap_or(0)
        };
        let numeric = |i: usize| {
            !self.rows.is_empty()
                && self.rows.iter().all(|r| r[i] == "-" || r[i].parse::<f64>().is_ok())
        };
        let layout: Vec<(usize, bool)> = (0..columns).map(|i| (width(i), numeric(i))).collect();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let (w, right) = layout[i];
                if i > 0 {
                    line.push_str("  ");
                }
                if right {
                    line.push_str(&format!("{cell:>w$}"));
                } else {
                    line.push_str(&format!("{cell:<w$}"));
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use squall::runtime::{ComponentMetrics, MetricsSnapshot};

    use super::*;

    fn component(id: &str, spout: bool, acked: u64) -> ComponentMetrics {
        ComponentMetrics {
            id: id.into(),
            tasks: 1,
            spout,
            sink: !spout,
            emitted: 10,
            executed: 10,
            backpressure: Duration::ZERO,
            acked,
            failed: 0,
            timed_out: 0,
            replayed: 0,
            restarts: 0,
            complete_latency_p50: spout.then(|| Duration::from_micros(1500)),
            complete_latency_p99: spout.then(|| Duration::from_millis(12)),
        }
    }

    #[test]
    fn reliability_table_only_when_tracked() {
        let untracked =
            MetricsSnapshot { components: vec![component("a", true, 0), component("b", false, 0)] };
        assert!(reliability(&untracked).is_none());
        let mut tracked =
            MetricsSnapshot { components: vec![component("a", true, 7), component("b", false, 9)] };
        tracked.components[1].restarts = 2;
        let text = reliability(&tracked).unwrap().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("component  acked  failed  timed out"), "{text}");
        assert!(lines[1].starts_with("a") && lines[1].ends_with("1.5            12.0"), "{text}");
        assert!(lines[2].contains(" 9 ") && lines[2].ends_with("-               -"), "{text}");
    }

    #[test]
    fn table_aligns_text_left_and_numbers_right() {
        let mut t = Table::new(["component", "tasks"]);
        t.row(["lines".into(), "2".into()]);
        t.row(["a".into(), "10".into()]);
        assert_eq!(t.to_string(), "component  tasks\nlines          2\na             10\n");
    }
}
