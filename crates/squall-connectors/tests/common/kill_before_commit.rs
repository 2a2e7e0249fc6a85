//! [`KillBeforeCommit`]: wraps a sink and panics once in
//! `on_checkpoint_complete`, before the sink hears of the completion: the
//! window between a checkpoint's completion and its sink's commit, which a
//! two-phase-commit sink must survive (the restarted task commits what the
//! checkpoint recorded as pre-committed).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use squall::topology::OutputDeclarer;
use squall::{AckMode, Bolt, OutputCollector, Result, TopologyContext, Tuple};

/// Every hook is passed on to the wrapped bolt, except the one completion
/// it panics at: the first of a checkpoint (not the end of the run) whose
/// barrier closed a non-empty epoch of this task, after `after` tuples
/// over all tasks.
#[derive(Clone)]
pub struct KillBeforeCommit<B> {
    inner: B,
    after: u64,
    seen: Arc<AtomicU64>,
    /// Tuples this task executed since its last snapshot.
    since_snapshot: u64,
    /// Checkpoints of this task whose epoch held tuples.
    non_empty: Vec<u64>,
    killed: Arc<AtomicBool>,
}

impl<B> KillBeforeCommit<B> {
    /// Wraps `inner`; kills after `after` tuples (over all tasks).
    pub fn new(inner: B, after: u64) -> Self {
        KillBeforeCommit {
            inner,
            after,
            seen: Arc::default(),
            since_snapshot: 0,
            non_empty: Vec::new(),
            killed: Arc::default(),
        }
    }

    /// Whether it has panicked, readable after the bolt moved.
    pub fn killed_flag(&self) -> Arc<AtomicBool> {
        self.killed.clone()
    }
}

impl<B: Bolt> Bolt for KillBeforeCommit<B> {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        self.inner.declare_outputs(d)
    }
    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.since_snapshot = 0;
        self.non_empty.clear();
        self.inner.prepare(ctx)
    }
    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        self.seen.fetch_add(1, Ordering::SeqCst);
        self.since_snapshot += 1;
        self.inner.execute(input, c)
    }
    fn finish(&mut self, c: &mut OutputCollector) -> Result<()> {
        self.inner.finish(c)
    }
    fn snapshot_state(&mut self, id: u64) -> Result<()> {
        if std::mem::take(&mut self.since_snapshot) > 0 {
            self.non_empty.push(id);
        }
        self.inner.snapshot_state(id)
    }
    fn on_checkpoint_complete(&mut self, id: u64) -> Result<()> {
        let kill = id != squall::checkpoint::END_OF_RUN
            && self.non_empty.contains(&id)
            && self.seen.load(Ordering::SeqCst) >= self.after
            && !self.killed.swap(true, Ordering::SeqCst);
        if kill {
            panic!("killed after checkpoint {id} completed, before the sink committed it");
        }
        self.inner.on_checkpoint_complete(id)
    }
    fn cleanup(&mut self) {
        self.inner.cleanup()
    }
    fn ack_mode(&self) -> AckMode {
        self.inner.ack_mode()
    }
}
