//! [`KillAfterCheckpoint`]: wraps a bolt and panics in `execute` right
//! after a checkpoint completed whose snapshot this task took after
//! executing at least `min_tuples` tuples since it (re)started, up to
//! `times` kills over all tasks: every kill restores a checkpoint that
//! holds work of the attempt it kills, not an empty one taken just after
//! a restart.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use squall::topology::OutputDeclarer;
use squall::{AckMode, Bolt, OutputCollector, Result, TopologyContext, Tuple};

/// Every hook is passed on to the wrapped bolt.
#[derive(Clone)]
pub struct KillAfterCheckpoint<B> {
    inner: B,
    min_tuples: u64,
    times: u64,
    fired: Arc<AtomicU64>,
    /// Tuples this task executed since `prepare`.
    executed: u64,
    /// `executed` when each checkpoint's snapshot was taken.
    snapshots: BTreeMap<u64, u64>,
    /// A qualifying checkpoint completed: kill at the next tuple.
    armed: bool,
}

impl<B> KillAfterCheckpoint<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, min_tuples: u64, times: u64) -> Self {
        KillAfterCheckpoint {
            inner,
            min_tuples,
            times,
            fired: Arc::default(),
            executed: 0,
            snapshots: BTreeMap::new(),
            armed: false,
        }
    }

    /// How many kills happened, readable after the bolt moved.
    pub fn kills(&self) -> Arc<AtomicU64> {
        self.fired.clone()
    }
}

impl<B: Bolt> Bolt for KillAfterCheckpoint<B> {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        self.inner.declare_outputs(d)
    }
    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        (self.executed, self.armed) = (0, false);
        self.snapshots.clear();
        self.inner.prepare(ctx)
    }
    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        self.executed += 1;
        if self.armed {
            self.armed = false;
            let n = self.fired.load(Ordering::SeqCst);
            if n < self.times
                && self.fired.compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok()
            {
                panic!("killed after a checkpoint (kill {} of {})", n + 1, self.times);
            }
        }
        self.inner.execute(input, c)
    }
    fn finish(&mut self, c: &mut OutputCollector) -> Result<()> {
        self.inner.finish(c)
    }
    fn snapshot_state(&mut self, id: u64) -> Result<()> {
        self.snapshots.insert(id, self.executed);
        self.inner.snapshot_state(id)
    }
    fn on_checkpoint_complete(&mut self, id: u64) -> Result<()> {
        if self.snapshots.get(&id).is_some_and(|&n| n >= self.min_tuples) {
            self.armed = true;
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
