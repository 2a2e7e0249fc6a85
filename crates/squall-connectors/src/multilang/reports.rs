//! What a child reports besides its work, the same for bolts and spouts:
//! `log` lines go to the worker's log (`tracing`, target
//! `squall::multilang`) at the child's level, `error`s are logged as errors
//! (the task goes on, as with Storm's `reportError`), `metrics` values are
//! kept in the component's [`ShellMetrics`].

use super::protocol::ChildMessage;
use super::ShellMetrics;

/// Handles `msg` if it is a report from the child of task `task` of
/// `component` (pid `pid`); gives any other message back.
pub(crate) fn handle_report(
    msg: ChildMessage,
    component: &str,
    task: usize,
    pid: u32,
    metrics: &ShellMetrics,
) -> Option<ChildMessage> {
    const TARGET: &str = "squall::multilang";
    match msg {
        ChildMessage::Log { msg, level } => {
            match level.unwrap_or(2) {
                0 => tracing::trace!(target: TARGET, component, task, pid, "{msg}"),
                1 => tracing::debug!(target: TARGET, component, task, pid, "{msg}"),
                3 => tracing::warn!(target: TARGET, component, task, pid, "{msg}"),
                4 => tracing::error!(target: TARGET, component, task, pid, "{msg}"),
                _ => tracing::info!(target: TARGET, component, task, pid, "{msg}"),
            }
            None
        }
        ChildMessage::Error { msg } => {
            tracing::error!(target: TARGET, component, task, pid, "child reported: {msg}");
            None
        }
        ChildMessage::Metrics { name, params } => {
            tracing::debug!(target: TARGET, component, task, pid, %name, %params, "metric");
            metrics.record(name, params);
            None
        }
        other => Some(other),
    }
}
