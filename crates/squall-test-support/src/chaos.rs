//! [`Chaos`]: a bolt wrapper that panics on purpose, for the failure tests
//! (exactly-once word count, window checkpoints, storage faults, and the
//! connector tests). Every `Bolt` hook is passed on
//! to the wrapped bolt. The counters are shared by every clone, so they
//! count over all tasks of the component and over restarts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use squall::topology::OutputDeclarer;
use squall::{AckMode, Bolt, OutputCollector, Result, TopologyContext, Tuple};

/// When a [`Chaos`] bolt panics.
#[derive(Clone)]
enum Kill {
    /// When the tuple count reaches one of these; each fires once, since
    /// the count only grows.
    AtCounts(Arc<Vec<u64>>),
    /// Once, on the first tuple from the `from`-th on that arrives after
    /// some checkpoint completed.
    OnceAfterCheckpoint { from: u64, checkpointed: Arc<AtomicBool> },
    /// At the first tuple from each of these counts on that arrives after
    /// a checkpoint completed since the previous kill (or the start), so
    /// that every kill restores a checkpoint however fast the run goes.
    AtCountsAfterCheckpoints {
        at: Arc<Vec<u64>>,
        fired: Arc<AtomicU64>,
        checkpointed: Arc<AtomicBool>,
    },
}

/// Wraps a bolt and panics in `execute` as its [`Kill`] rule says.
#[derive(Clone)]
pub struct Chaos<B> {
    inner: B,
    seen: Arc<AtomicU64>,
    kill: Kill,
    killed: Arc<AtomicBool>,
}

impl<B> Chaos<B> {
    /// Panics when the count of tuples executed (over all tasks and
    /// attempts) reaches one of `kill_at`.
    pub fn at_counts(inner: B, kill_at: Vec<u64>) -> Self {
        Self::new(inner, Kill::AtCounts(Arc::new(kill_at)))
    }

    /// Panics at the first tuple from each of `kill_at` (over all tasks
    /// and attempts) that arrives after a checkpoint completed since the
    /// previous kill.
    pub fn at_counts_after_checkpoints(inner: B, kill_at: Vec<u64>) -> Self {
        Self::new(
            inner,
            Kill::AtCountsAfterCheckpoints {
                at: Arc::new(kill_at),
                fired: Arc::default(),
                checkpointed: Arc::default(),
            },
        )
    }

    /// Panics once, on the first tuple from the `from`-th on (over all
    /// tasks) that arrives after a checkpoint completed.
    pub fn once_after_checkpoint(inner: B, from: u64) -> Self {
        Self::new(inner, Kill::OnceAfterCheckpoint { from, checkpointed: Arc::default() })
    }

    /// Wraps `inner` too, sharing this wrapper's counters and rule: one
    /// wrapper per task of a factory (a DataStream operator, see
    /// `StreamEnv::wrap_operators`) that counts over all of them.
    pub fn sharing<C>(&self, inner: C) -> Chaos<C> {
        Chaos {
            inner,
            seen: self.seen.clone(),
            kill: self.kill.clone(),
            killed: self.killed.clone(),
        }
    }

    fn new(inner: B, kill: Kill) -> Self {
        Chaos { inner, seen: Arc::default(), kill, killed: Arc::default() }
    }

    /// Whether it has panicked at least once.
    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// A handle that reads [`Chaos::killed`] after the bolt moved into a
    /// topology.
    pub fn killed_flag(&self) -> Arc<AtomicBool> {
        self.killed.clone()
    }
}

impl<B: Bolt> Bolt for Chaos<B> {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        self.inner.declare_outputs(d)
    }
    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.inner.prepare(ctx)
    }
    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        let kill = match &self.kill {
            Kill::AtCounts(at) => at.contains(&n),
            Kill::OnceAfterCheckpoint { from, checkpointed } => {
                n >= *from
                    && checkpointed.load(Ordering::SeqCst)
                    && !self.killed.swap(true, Ordering::SeqCst)
            }
            Kill::AtCountsAfterCheckpoints { at, fired, checkpointed } => {
                let i = fired.load(Ordering::SeqCst);
                at.get(i as usize).is_some_and(|&at| n >= at)
                    && checkpointed.load(Ordering::SeqCst)
                    && fired.compare_exchange(i, i + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok()
                    && checkpointed.swap(false, Ordering::SeqCst)
            }
        };
        if kill {
            self.killed.store(true, Ordering::SeqCst);
            panic!("chaos: killed at tuple {n}");
        }
        self.inner.execute(input, c)
    }
    fn on_watermark(&mut self, w: i64, c: &mut OutputCollector) -> Result<()> {
        self.inner.on_watermark(w, c)
    }
    fn tick_interval(&self) -> Option<Duration> {
        self.inner.tick_interval()
    }
    fn on_tick(&mut self, now_ms: i64, c: &mut OutputCollector) -> Result<()> {
        self.inner.on_tick(now_ms, c)
    }
    fn finish(&mut self, c: &mut OutputCollector) -> Result<()> {
        self.inner.finish(c)
    }
    fn snapshot_state(&mut self, id: u64) -> Result<()> {
        self.inner.snapshot_state(id)
    }
    fn on_checkpoint_complete(&mut self, id: u64) -> Result<()> {
        match &self.kill {
            Kill::OnceAfterCheckpoint { checkpointed, .. }
            | Kill::AtCountsAfterCheckpoints { checkpointed, .. } => {
                checkpointed.store(true, Ordering::SeqCst)
            }
            Kill::AtCounts(_) => {}
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
