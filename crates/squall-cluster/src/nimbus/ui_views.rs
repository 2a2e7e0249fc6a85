//! How the web UI's answers ([`crate::nimbus::ui_types`]) are computed from a
//! backend's [`Snapshot`] of a topology and the samples taken of it before:
//! per task and per component counts, rates over the last
//! [`crate::nimbus::ui_api::RATE_WINDOW_MS`], backpressure, watermarks, latencies, errors; the
//! history of rates and latencies. Pure functions: [`crate::nimbus::ui_api`] serves
//! them.

use std::collections::BTreeMap;

use squall::runtime::{
    CheckpointRecord, Counters, GraphNode, LatencyQuantiles, TaskError, TaskStats,
};

use crate::nimbus::ui_api::Snapshot;
use crate::nimbus::ui_types::{
    ComponentDetail, ComponentError, ComponentSeries, ComponentView, History, TaskRow,
    TopologySummary, TopologyView,
};
use crate::protocol::store::TopologyStatus;

/// Every task of a topology at one moment, for rates.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
    /// Every task.
    pub tasks: Vec<TaskStats>,
}

/// Per task, what changed since the sample before: (emitted/s, executed/s,
/// acked/s, failed/s, backpressure share).
type Rates = [f64; 5];

/// The name of a topology's state (`running`, `killed`, ...).
pub(crate) fn state_name(status: &TopologyStatus) -> String {
    serde_json::to_value(status.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Per second from `was` at `from_ms` to `is` at `to_ms`; 0 when the count
/// went down (a restart counts from 0 again).
pub(crate) fn rate(was: u64, is: u64, from_ms: u64, to_ms: u64) -> f64 {
    if to_ms <= from_ms {
        return 0.0;
    }
    is.saturating_sub(was) as f64 * 1000.0 / (to_ms - from_ms) as f64
}

/// The rates of each of `now`'s tasks since `before`.
pub(crate) fn task_rates(now: &[TaskStats], now_ms: u64, before: Option<&Sample>) -> Vec<Rates> {
    now.iter()
        .map(|t| {
            let Some(b) = before else { return [0.0; 5] };
            let (id, component) = (t.snapshot.task, &t.snapshot.component);
            let Some(p) = b
                .tasks
                .iter()
                .find(|p| p.snapshot.task == id && &p.snapshot.component == component)
            else {
                return [0.0; 5];
            };
            let (t, p) = (&t.snapshot.counters, &p.snapshot.counters);
            let span = now_ms.saturating_sub(b.at_ms);
            let bp = match span {
                0 => 0.0,
                s => {
                    (t.backpressure_ms.saturating_sub(p.backpressure_ms) as f64 / s as f64).min(1.0)
                }
            };
            [
                rate(p.emitted, t.emitted, b.at_ms, now_ms),
                rate(p.executed, t.executed, b.at_ms, now_ms),
                rate(p.acked, t.acked, b.at_ms, now_ms),
                rate(p.failed, t.failed, b.at_ms, now_ms),
                bp,
            ]
        })
        .collect()
}

/// The worst of some latencies, quantile by quantile.
fn worst(all: impl Iterator<Item = LatencyQuantiles>) -> Option<LatencyQuantiles> {
    all.reduce(LatencyQuantiles::worst)
}

fn component_view(
    node: &GraphNode,
    rows: &[(&TaskStats, Rates)],
    now: u64,
    live: bool,
) -> ComponentView {
    let mine: Vec<_> = rows.iter().filter(|(t, _)| t.snapshot.component == node.id).collect();
    let rsum = |i: usize| if live { mine.iter().map(|(_, r)| r[i]).sum::<f64>() } else { 0.0 };
    let watermark = mine.iter().filter_map(|(t, _)| t.snapshot.watermark_ms).min();
    let last_error = mine
        .iter()
        .flat_map(|(t, _)| t.errors.iter().map(move |e| error_of(t, e)))
        .max_by_key(|e| e.at_ms);
    ComponentView {
        id: node.id.clone(),
        kind: node.kind.clone(),
        parallelism: if mine.is_empty() { node.parallelism } else { mine.len() },
        counters: mine.iter().map(|(t, _)| &t.snapshot.counters).sum::<Counters>(),
        emitted_rate: rsum(0),
        executed_rate: rsum(1),
        acked_rate: rsum(2),
        failed_rate: rsum(3),
        backpressure: if mine.is_empty() || !live { 0.0 } else { rsum(4) / mine.len() as f64 },
        input_queue_fill: mine.iter().map(|(t, _)| t.snapshot.input_queue_fill).fold(0.0, f64::max),
        watermark_ms: watermark,
        watermark_lag_ms: watermark.filter(|w| *w < i64::MAX / 2).map(|w| now as i64 - w),
        complete_latency: worst(mine.iter().filter_map(|(t, _)| t.recent_complete_latency)),
        execute_latency: worst(mine.iter().filter_map(|(t, _)| t.recent_execute_latency)),
        last_error,
    }
}

fn error_of(t: &TaskStats, e: &TaskError) -> ComponentError {
    ComponentError {
        component: t.snapshot.component.clone(),
        task: t.snapshot.task,
        worker: t.snapshot.worker.clone(),
        at_ms: e.at_ms,
        message: e.message.clone(),
    }
}

/// Each task of `s` with its rates since `before`.
fn rows<'a>(s: &'a Snapshot, now: u64, before: Option<&Sample>) -> Vec<(&'a TaskStats, Rates)> {
    s.tasks.iter().zip(task_rates(&s.tasks, now, before)).collect()
}

/// The overview's line of topology `s`.
pub(crate) fn summary(s: &Snapshot, before: Option<&Sample>, now: u64) -> TopologySummary {
    let graph = &s.shape.graph;
    let spouts: Vec<&str> =
        graph.components.iter().filter(|c| c.kind == "spout").map(|c| c.id.as_str()).collect();
    let spout_emitted = |tasks: &[TaskStats]| -> u64 {
        tasks
            .iter()
            .filter(|t| spouts.contains(&t.snapshot.component.as_str()))
            .map(|t| t.snapshot.counters.emitted)
            .sum()
    };
    let emitted = spout_emitted(&s.tasks);
    let over = s.status.state.is_over();
    let emitted_rate = match before {
        Some(b) if !over => rate(spout_emitted(&b.tasks), emitted, b.at_ms, now),
        _ => 0.0,
    };
    TopologySummary {
        name: s.status.name.clone(),
        state: state_name(&s.status),
        active: s.active,
        epoch: s.status.epoch,
        uptime_s: s.started_ms.filter(|_| !over).map(|t| now.saturating_sub(t) / 1000),
        workers: s.workers.len(),
        tasks: s.tasks.len(),
        restarts: s.status.restarts,
        message: s.status.message.clone(),
        emitted,
        emitted_rate,
    }
}

/// The topology page's answer.
pub(crate) fn topology_view(s: Snapshot, before: Option<&Sample>, now: u64) -> TopologyView {
    let live = !s.status.state.is_over();
    let rows = rows(&s, now, before);
    let components =
        s.shape.graph.components.iter().map(|n| component_view(n, &rows, now, live)).collect();
    let mut errors: Vec<ComponentError> =
        rows.iter().flat_map(|(t, _)| t.errors.iter().map(move |e| error_of(t, e))).collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
    errors.truncate(50);
    let mut checkpoints: Vec<CheckpointRecord> = s.checkpoints.clone();
    checkpoints.reverse();
    let mut user_metrics = s.user_metrics.clone();
    user_metrics.sort_by(|a, b| {
        (&a.component, a.task, &a.name, &a.labels).cmp(&(&b.component, b.task, &b.name, &b.labels))
    });
    TopologyView {
        name: s.status.name.clone(),
        state: state_name(&s.status),
        active: s.active,
        applied: s.applied,
        epoch: s.status.epoch,
        uptime_s: s.started_ms.filter(|_| live).map(|t| now.saturating_sub(t) / 1000),
        message: s.status.message.clone(),
        guarantee: s.shape.guarantee.clone(),
        checkpoint_interval_ms: s.shape.checkpoint_interval_ms,
        now_ms: now,
        graph: s.shape.graph.clone(),
        components,
        workers: s.workers.clone(),
        checkpoints,
        errors,
        user_metrics,
    }
}

/// A component page's answer; `None` when `s` has no such component.
pub(crate) fn component_detail(
    s: &Snapshot,
    component: &str,
    before: Option<&Sample>,
    now: u64,
) -> Option<ComponentDetail> {
    let graph = &s.shape.graph;
    let node = graph.components.iter().find(|c| c.id == component)?;
    let live = !s.status.state.is_over();
    let rows = rows(s, now, before);
    let view = component_view(node, &rows, now, live);
    let tasks = rows
        .iter()
        .filter(|(t, _)| t.snapshot.component == component)
        .map(|(t, r)| TaskRow {
            stats: (*t).clone(),
            emitted_rate: if live { r[0] } else { 0.0 },
            executed_rate: if live { r[1] } else { 0.0 },
            backpressure: if live { r[4] } else { 0.0 },
        })
        .collect();
    let edges =
        graph.edges.iter().filter(|e| e.from == component || e.to == component).cloned().collect();
    Some(ComponentDetail {
        topology: s.status.name.clone(),
        state: state_name(&s.status),
        component: view,
        edges,
        tasks,
    })
}

/// Rates and latencies per component between consecutive `samples`, the
/// points at or after `from` (ms since the epoch).
pub(crate) fn history(samples: &[Sample], from: u64) -> History {
    let mut ids: Vec<&str> = Vec::new();
    for t in samples.iter().flat_map(|s| &s.tasks) {
        if !ids.contains(&t.snapshot.component.as_str()) {
            ids.push(&t.snapshot.component);
        }
    }
    let mut out = History { t_ms: Vec::new(), components: Vec::new() };
    let mut series: BTreeMap<&str, ComponentSeries> = BTreeMap::new();
    let ms = |us: u64| us as f64 / 1000.0;
    for pair in samples.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.at_ms < from {
            continue;
        }
        out.t_ms.push(b.at_ms);
        for id in &ids {
            let mine = |s: &Sample| -> Counters {
                s.tasks
                    .iter()
                    .filter(|t| t.snapshot.component == *id)
                    .map(|t| &t.snapshot.counters)
                    .sum()
            };
            let (was, is) = (mine(a), mine(b));
            let r = |f: fn(&Counters) -> u64| rate(f(&was), f(&is), a.at_ms, b.at_ms);
            let tasks = || b.tasks.iter().filter(|t| t.snapshot.component == *id);
            let complete = worst(tasks().filter_map(|t| t.recent_complete_latency));
            let execute = worst(tasks().filter_map(|t| t.recent_execute_latency));
            let e = series
                .entry(*id)
                .or_insert_with(|| ComponentSeries { id: id.to_string(), ..Default::default() });
            e.emitted.push(r(|c| c.emitted));
            e.executed.push(r(|c| c.executed));
            e.acked.push(r(|c| c.acked));
            e.failed.push(r(|c| c.failed));
            e.latency_p50_ms.push(complete.map(|l| ms(l.p50_us)));
            e.latency_p99_ms.push(complete.map(|l| ms(l.p99_us)));
            e.execute_p50_ms.push(execute.map(|l| ms(l.p50_us)));
            e.execute_p99_ms.push(execute.map(|l| ms(l.p99_us)));
        }
    }
    out.components = ids.iter().filter_map(|id| series.remove(*id)).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(component: &str, task: usize, emitted: u64, backpressure_ms: u64) -> TaskStats {
        let mut t = TaskStats::empty(component, task);
        t.snapshot.counters.emitted = emitted;
        t.snapshot.counters.backpressure_ms = backpressure_ms;
        t
    }

    #[test]
    fn rates_and_backpressure_over_the_window() {
        assert_eq!(rate(100, 600, 1_000, 6_000), 100.0);
        assert_eq!(rate(600, 100, 1_000, 6_000), 0.0, "a restart's counts start again");
        assert_eq!(rate(0, 10, 5_000, 5_000), 0.0);
        let before = Sample { at_ms: 1_000, tasks: vec![task("a", 0, 0, 0), task("a", 1, 0, 0)] };
        let now = [task("a", 0, 5_000, 2_500), task("a", 1, 1_000, 0)];
        let r = task_rates(&now, 6_000, Some(&before));
        assert_eq!(r[0][0], 1000.0);
        assert_eq!(r[0][4], 0.5, "blocked half of the 5 s");
        assert_eq!(r[1][0], 200.0);
        assert_eq!(task_rates(&now, 6_000, None)[0], [0.0; 5]);
    }

    #[test]
    fn history_sums_components_and_takes_their_worst_latency() {
        let latency = |p50_us, p99_us| LatencyQuantiles {
            count: 10,
            p50_us,
            p99_us,
            p999_us: p99_us,
            max_us: p99_us,
        };
        let mut b0 = task("bolt", 1, 0, 0);
        b0.snapshot.counters.executed = 3_000;
        b0.recent_execute_latency = Some(latency(2_000, 9_000));
        let mut b1 = task("bolt", 2, 0, 0);
        b1.snapshot.counters.executed = 1_000;
        b1.recent_execute_latency = Some(latency(4_000, 5_000));
        let first = Sample {
            at_ms: 1_000,
            tasks: vec![task("spout", 0, 0, 0), task("bolt", 1, 0, 0), task("bolt", 2, 0, 0)],
        };
        let second = Sample { at_ms: 3_000, tasks: vec![task("spout", 0, 8_000, 0), b0, b1] };
        let h = history(&[first, second], 0);
        assert_eq!(h.t_ms, [3_000]);
        let ids: Vec<_> = h.components.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["spout", "bolt"]);
        assert_eq!(h.components[0].emitted, [4_000.0]);
        assert_eq!(h.components[1].executed, [2_000.0], "both tasks, over 2 s");
        assert_eq!(h.components[1].execute_p50_ms, [Some(4.0)]);
        assert_eq!(h.components[1].execute_p99_ms, [Some(9.0)]);
        assert_eq!(h.components[0].execute_p50_ms, [None]);
    }
}
