//! `squall status NAME`: a topology's metrics as two tables, per component
//! and per task (Storm UI's component and executor tables).

use squall_cluster::control::TopologyMetrics;

/// Prints the switch, the reporting workers and both tables.
pub fn print(m: &TopologyMetrics) {
    let switch = if m.active { "active" } else { "inactive" };
    let applied = if m.applied { "" } else { " (not yet applied by every worker)" };
    println!("spouts: {switch}{applied}; workers reporting: {}", m.workers.join(", "));
    if m.components.is_empty() {
        println!("no metrics yet");
        return;
    }
    let header =
        ["component", "tasks", "emitted", "executed", "acked", "failed", "backpressure ms"];
    println!(
        "{:<16} {:>5} {:>12} {:>12} {:>10} {:>8} {:>16}",
        header[0], header[1], header[2], header[3], header[4], header[5], header[6]
    );
    for c in &m.components {
        println!(
            "{:<16} {:>5} {:>12} {:>12} {:>10} {:>8} {:>16}",
            c.component,
            c.tasks,
            c.counters.emitted,
            c.counters.executed,
            c.counters.acked,
            c.counters.failed,
            c.counters.backpressure_ms
        );
    }
    println!();
    println!(
        "{:<16} {:>5} {:>12} {:>12} {:>10} {:>8} {:>16}",
        header[0], "task", header[2], header[3], header[4], header[5], header[6]
    );
    for t in &m.tasks {
        println!(
            "{:<16} {:>5} {:>12} {:>12} {:>10} {:>8} {:>16}",
            t.component,
            t.task,
            t.counters.emitted,
            t.counters.executed,
            t.counters.acked,
            t.counters.failed,
            t.counters.backpressure_ms
        );
    }
}
