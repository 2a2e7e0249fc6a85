//! This process's own Prometheus exposition, read back for the web UI
//! (with `prometheus-parse`): the metrics its spouts and bolts registered
//! through their context ([`squall::runtime::TaskMetricGroup`]) and its
//! resident memory and CPU time (`metrics-process`). A cluster worker puts
//! them in what it publishes for nimbus ([`crate::worker::ui_publish`]); `squall run
//! --ui` reads them directly ([`crate::nimbus::ui_local`]).

use std::collections::{BTreeMap, HashMap};

use prometheus_parse::{Sample, Scrape, Value};
use squall::runtime::USER_PREFIX;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A process's resident memory and CPU time (`metrics-process`, as the
/// `process_resident_memory_bytes` and `process_cpu_seconds_total` series
/// of its `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProcessStats {
    /// Resident set size (bytes).
    pub rss_bytes: u64,
    /// CPU time used since it started, user and system (s).
    pub cpu_seconds: f64,
}

/// A metric a spout or bolt registered through its context
/// (`context.metrics()`, docs/metrics.md), as its process exports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserMetric {
    /// Its name as registered (exported with the `squall_user_` prefix).
    pub name: String,
    /// `counter`, `gauge` or `summary` (a histogram).
    pub kind: String,
    /// Component id.
    pub component: String,
    /// Global task id.
    pub task: Option<usize>,
    /// The labels it added (`with_label`), besides topology, component,
    /// task and worker.
    pub labels: BTreeMap<String, String>,
    /// A counter's or gauge's value; a summary's count.
    pub value: f64,
    /// A summary's median, in its own unit.
    pub p50: Option<f64>,
    /// A summary's 99th percentile.
    pub p99: Option<f64>,
}

/// Labels every user metric has, left out of [`UserMetric::labels`].
const OWN_LABELS: [&str; 4] = ["topology", "component", "task", "worker"];

/// What this process exports now; `None` without an exporter (a local run
/// without `--metrics` or `--ui`).
pub fn read() -> Option<Scrape> {
    let text = crate::protocol::metrics_api::render_process()?;
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).ok()
}

/// The process's resident memory and CPU time in `scrape`.
pub fn process_stats(scrape: &Scrape) -> Option<ProcessStats> {
    let value = |name: &str| {
        scrape.samples.iter().find(|s| s.metric == name).and_then(|s| match s.value {
            Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
    };
    Some(ProcessStats {
        rss_bytes: value("process_resident_memory_bytes")? as u64,
        cpu_seconds: value("process_cpu_seconds_total")?,
    })
}

/// The metrics the components of `topology` registered, in `scrape`.
pub fn user_metrics(scrape: &Scrape, topology: &str) -> Vec<UserMetric> {
    let mine = |s: &&Sample| {
        s.metric.starts_with(USER_PREFIX) && s.labels.get("topology") == Some(topology)
    };
    // A summary's count is a sample of its own, `{name}_count`.
    let counts: HashMap<(String, String), f64> = scrape
        .samples
        .iter()
        .filter(mine)
        .filter_map(|s| {
            let name = s.metric.strip_suffix("_count")?;
            match s.value {
                Value::Untyped(v) | Value::Counter(v) => Some(((name.into(), key(s)), v)),
                _ => None,
            }
        })
        .collect();
    let mut out: Vec<UserMetric> = scrape
        .samples
        .iter()
        .filter(mine)
        .filter_map(|s| {
            let (kind, value, p50, p99) = match &s.value {
                Value::Counter(v) => ("counter", *v, None, None),
                Value::Gauge(v) => ("gauge", *v, None, None),
                Value::Summary(q) => {
                    let at = |want: f64| q.iter().find(|c| c.quantile == want).map(|c| c.count);
                    let count = counts.get(&(s.metric.clone(), key(s))).copied().unwrap_or(0.0);
                    ("summary", count, at(0.5), at(0.99))
                }
                Value::Histogram(buckets) => {
                    let count = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
                    ("histogram", count, None, None)
                }
                // `_sum` and `_count` of summaries, read above.
                Value::Untyped(_) => return None,
            };
            let labels: BTreeMap<String, String> = s
                .labels
                .iter()
                .filter(|(k, _)| !OWN_LABELS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Some(UserMetric {
                name: s.metric[USER_PREFIX.len()..].to_string(),
                kind: kind.to_string(),
                component: s.labels.get("component").unwrap_or_default().to_string(),
                task: s.labels.get("task").and_then(|t| t.parse().ok()),
                labels,
                value,
                p50,
                p99,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.component, a.task, &a.name, &a.labels).cmp(&(&b.component, b.task, &b.name, &b.labels))
    });
    out
}

/// A sample's labels, in a stable order.
fn key(s: &Sample) -> String {
    let mut labels: Vec<_> = s.labels.iter().collect();
    labels.sort();
    format!("{labels:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_metrics_and_process_figures_are_read_from_the_exposition() {
        let text = "\
# TYPE squall_user_lines_seen_total counter
squall_user_lines_seen_total{topology=\"wc\",component=\"split\",task=\"2\",worker=\"local\"} 42
# TYPE squall_user_kafka_consumer_lag_records gauge
squall_user_kafka_consumer_lag_records{topology=\"wc\",component=\"lines\",task=\"0\",topic=\"t\",partition=\"1\"} 7
squall_user_kafka_consumer_lag_records{topology=\"other\",component=\"lines\",task=\"0\",topic=\"t\",partition=\"1\"} 9
# TYPE squall_user_line_length summary
squall_user_line_length{topology=\"wc\",component=\"split\",task=\"2\",quantile=\"0.5\"} 30
squall_user_line_length{topology=\"wc\",component=\"split\",task=\"2\",quantile=\"0.99\"} 80
squall_user_line_length_sum{topology=\"wc\",component=\"split\",task=\"2\"} 3500
squall_user_line_length_count{topology=\"wc\",component=\"split\",task=\"2\"} 100
# TYPE squall_emitted_total counter
squall_emitted_total{topology=\"wc\",component=\"split\",task=\"2\"} 1000
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 52428800
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
";
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        assert_eq!(
            process_stats(&scrape),
            Some(ProcessStats { rss_bytes: 52_428_800, cpu_seconds: 1.5 })
        );
        let got = user_metrics(&scrape, "wc");
        let shown: Vec<_> = got
            .iter()
            .map(|m| (m.component.as_str(), m.task, m.name.as_str(), m.kind.as_str(), m.value))
            .collect();
        assert_eq!(
            shown,
            [
                ("lines", Some(0), "kafka_consumer_lag_records", "gauge", 7.0),
                ("split", Some(2), "line_length", "summary", 100.0),
                ("split", Some(2), "lines_seen_total", "counter", 42.0),
            ]
        );
        assert_eq!(got[0].labels.get("partition").map(String::as_str), Some("1"));
        assert_eq!(got[0].labels.len(), 2, "topic and partition: {:?}", got[0].labels);
        assert_eq!((got[1].p50, got[1].p99), (Some(30.0), Some(80.0)));
        assert!(user_metrics(&scrape, "none").is_empty());
    }
}
