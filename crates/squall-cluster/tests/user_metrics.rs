//! Metrics a bolt registers through its context (Storm's metrics v2,
//! Flink's metric groups): a counter, a gauge and a histogram, exported by
//! the Prometheus exporter of [`squall_cluster::metrics_api`] with the
//! runtime's labels, read back with the `prometheus-parse` crate.

use prometheus_parse::{Scrape, Value};
use squall::builtins::GeneratorSpout;
use squall::topology::{Bolt, TopologyContext};
use squall::{LocalCluster, OutputCollector, Result, TopologyBuilder, Tuple};

/// Counts its tuples, sets a gauge to its task index and records each
/// line's length, all through `context.metrics()`.
#[derive(Clone, Default)]
struct Measuring {
    seen: Option<metrics::Counter>,
    length: Option<metrics::Histogram>,
}

impl Bolt for Measuring {
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        let group = context.metrics().with_label("kind", "test");
        group.gauge("task_index").set(context.task_index() as f64);
        self.seen = Some(group.counter("lines_seen_total"));
        self.length = Some(group.histogram("line_length"));
        Ok(())
    }

    fn execute(&mut self, input: Tuple, _collector: &mut OutputCollector) -> Result<()> {
        let line = input.get_str("line")?;
        self.seen.as_ref().expect("prepared").increment(1);
        self.length.as_ref().expect("prepared").record(line.len() as f64);
        Ok(())
    }
}

const LINES: u64 = 500;

#[test]
fn a_bolts_own_counter_gauge_and_histogram_are_exported_with_the_task_labels() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    squall_cluster::metrics_api::start(&[("worker", "w-1")], listener, axum::Router::new())
        .unwrap();
    let mut builder = TopologyBuilder::new("user-metrics");
    builder.set_spout("lines", GeneratorSpout::sentences(0).with_limit(LINES), 1);
    builder.set_bolt("measure", Measuring::default(), 3).shuffle_grouping("lines");
    let running = LocalCluster::submit(builder.build().unwrap()).unwrap();
    squall_cluster::metrics_api::watch(&running.metrics_handle());
    running.join().unwrap();

    let text = squall_cluster::metrics_api::render().unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let samples =
        |name: &str| -> Vec<_> { scrape.samples.iter().filter(|s| s.metric == name).collect() };
    let label = |s: &prometheus_parse::Sample, key: &str| s.labels.get(key).map(str::to_string);
    // Every sample of the bolt's three metrics has the runtime's labels.
    for name in
        ["squall_user_lines_seen_total", "squall_user_task_index", "squall_user_line_length"]
    {
        let found = samples(name);
        assert_eq!(found.len(), 3, "{name}: one series per task\n{text}");
        for s in found {
            assert_eq!(label(s, "topology").as_deref(), Some("user-metrics"));
            assert_eq!(label(s, "component").as_deref(), Some("measure"));
            assert_eq!(label(s, "worker").as_deref(), Some("w-1"));
            assert_eq!(label(s, "kind").as_deref(), Some("test"));
        }
    }
    // The tasks are global ids 1..=3 (the spout is 0); each gauge holds its
    // own task's index.
    for s in samples("squall_user_task_index") {
        let task: f64 = label(s, "task").unwrap().parse().unwrap();
        assert_eq!(s.value, Value::Gauge(task - 1.0), "{s:?}");
    }
    let counted: f64 = samples("squall_user_lines_seen_total")
        .iter()
        .map(|s| match s.value {
            Value::Counter(v) => v,
            ref other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(counted, LINES as f64, "every line counted once");
    // The histogram is a summary: quantiles of real line lengths, and a
    // count of every line (its `_count` series).
    for s in samples("squall_user_line_length") {
        let Value::Summary(quantiles) = &s.value else { panic!("{s:?}") };
        assert!(quantiles.iter().all(|q| q.count >= 1.0 && q.count < 1000.0), "{quantiles:?}");
    }
    let recorded: f64 = samples("squall_user_line_length_count")
        .iter()
        .map(|s| match s.value {
            Value::Untyped(v) | Value::Counter(v) => v,
            ref other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(recorded, LINES as f64, "every line's length recorded");
    // The runtime's own counter agrees.
    let executed: f64 = samples("squall_executed_total")
        .iter()
        .filter(|s| label(s, "component").as_deref() == Some("measure"))
        .map(|s| match s.value {
            Value::Counter(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(executed, LINES as f64);
}
