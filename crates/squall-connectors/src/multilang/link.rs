//! [`ChildLink`]: a task's running child and who it works for, with what
//! bolts and spouts handle alike: the child's reports (`log` lines go to
//! the worker's log, `tracing` target `squall::multilang`, at the child's
//! level; `error`s are logged as errors and the task goes on, as with
//! Storm's `reportError`; `metrics` values are kept in the component's
//! [`ShellMetrics`]) and the answer to an `emit` (the task-id list, or the
//! task's failure for a bad emit).

use squall::{Error, Result, TopologyContext};

use super::protocol::{ChildMessage, ToChild};
use super::shell_process::ShellProcess;
use super::{ShellMetrics, ShellSpec};

/// One task's child.
pub(crate) struct ChildLink {
    pub process: ShellProcess,
    component: String,
    task: usize,
    metrics: ShellMetrics,
}

impl ChildLink {
    /// Starts the child of `spec` for the task of `context` (handshake
    /// included).
    ///
    /// # Errors
    /// As [`ShellProcess::launch`].
    pub fn launch(spec: &ShellSpec, context: &TopologyContext) -> Result<ChildLink> {
        let process = ShellProcess::launch(
            &spec.command,
            context.component_id(),
            context.task_id(),
            &spec.conf(context),
            &spec.context(context),
            spec.options.timeout(),
            spec.serializer.clone(),
        )?;
        Ok(ChildLink {
            process,
            component: context.component_id().to_string(),
            task: context.task_id(),
            metrics: spec.metrics.clone(),
        })
    }

    /// Handles `msg` if it is a report; gives any other message back.
    pub fn report(&self, msg: ChildMessage) -> Option<ChildMessage> {
        const TARGET: &str = "squall::multilang";
        let (component, task, pid) = (self.component.as_str(), self.task, self.process.pid());
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
                self.metrics.record(name, params);
                None
            }
            other => Some(other),
        }
    }

    /// Answers an emit on `stream` that went to `emitted`: the task ids
    /// when the child asked for them (`Some`), nothing otherwise.
    ///
    /// # Errors
    /// [`Error::TaskFailed`] for an emit the collector refused (undeclared
    /// stream, wrong number of values, a direct emit to a task no consumer
    /// owns), or if the child is gone.
    pub fn answer_emit(&mut self, stream: &str, emitted: Result<Option<Vec<usize>>>) -> Result<()> {
        match emitted {
            Ok(Some(tasks)) => self.process.send(&ToChild::TaskIds(&tasks)),
            Ok(None) => Ok(()),
            Err(e) => {
                Err(self.process.protocol_error(format!("bad emit on stream '{stream}': {e}")))
            }
        }
    }
}

/// The run of a prepared component, or why there is none: `failed` once
/// its child has failed, not prepared otherwise.
///
/// # Errors
/// [`Error::TaskFailed`] when there is no run.
pub(crate) fn live<'a, R>(run: &'a mut Option<R>, failed: &Option<String>) -> Result<&'a mut R> {
    match (run, failed) {
        (Some(run), _) => Ok(run),
        (None, Some(reason)) => Err(Error::TaskFailed(reason.clone())),
        (None, None) => Err(Error::TaskFailed("multilang: the component was not started".into())),
    }
}
