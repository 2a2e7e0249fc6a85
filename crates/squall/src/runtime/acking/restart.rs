//! Task restarts in `at_least_once`: a task whose component panics or
//! errors is replaced by a fresh instance from its factory (opened or
//! prepared again) instead of ending the topology. Its tuples in flight are
//! lost with it; their trees time out and the spouts replay them. Beyond
//! `max_task_restarts` the topology ends with [`Error::TooManyRestarts`].
//!
//! In `at_most_once` no task has [`Restarts`] and every failure ends the
//! topology, as before.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::runtime::executor::{guarded, Node, Op};

/// How to replace a failed task, and how often it was done.
pub(crate) struct Restarts {
    /// Makes a fresh instance of the task's component.
    pub make: Arc<dyn Fn() -> Op + Send + Sync>,
    /// Restarts allowed (`config.max_task_restarts`).
    pub max: usize,
    /// Restarts so far.
    pub used: usize,
}

impl Node {
    /// Restarts this task after `error`, if it may be restarted: cleans up
    /// the failed instance, makes a new one and opens or prepares it
    /// (again, if that fails too).
    ///
    /// # Errors
    /// `error` itself when the task has no recovery (`at_most_once`);
    /// [`Error::TooManyRestarts`] naming the task once it has failed more
    /// than `max_task_restarts` times.
    pub(crate) fn recover(&mut self, mut error: Error) -> Result<()> {
        self.metrics.live.record_error(&error);
        let Some(recovery) = self.restarts.as_mut() else {
            return Err(error);
        };
        loop {
            if recovery.used >= recovery.max {
                return Err(Error::TooManyRestarts {
                    component: self.component.clone(),
                    task: self.task,
                    restarts: recovery.used,
                    last: Box::new(error),
                });
            }
            recovery.used += 1;
            self.metrics.restarts.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                component = %self.component,
                task = self.task,
                restarts = recovery.used,
                %error,
                "task failed; restarting it (its tuples in flight will time out and be replayed)"
            );
            // The failed instance may be in any state: a panic there is moot.
            let _ = guarded(&self.component, self.task, || {
                match &mut self.op {
                    Op::Spout(s) => s.close(),
                    Op::Bolt(b) => b.cleanup(),
                }
                Ok(())
            });
            self.op = (recovery.make)();
            let Node { component, task, op, context, .. } = self;
            let opened = guarded(component, *task, || match op {
                Op::Spout(s) => s.open(context),
                Op::Bolt(b) => b.prepare(context),
            });
            match opened {
                Ok(()) => return Ok(()),
                Err(e) => error = e,
            }
        }
    }
}
