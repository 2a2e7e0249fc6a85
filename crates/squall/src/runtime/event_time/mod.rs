//! How an executor moves event time and processing time through its tasks:
//! watermarks into the head and down its chain, onto its channels behind
//! the tuples emitted before them, and ticks into bolts that asked for them.
//!
//! Owns the order of those steps. The minimum over inputs is
//! [`super::watermark`]'s, the channel reading [`super::inputs`]'s; what a
//! bolt does with a watermark (fire windows) is the bolt's.

pub(crate) mod watermark;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::runtime::collector::Flow;
use crate::runtime::executor::{guarded, Executor, Node, Op};
use crate::runtime::message::Message;

/// Wall-clock time in ms since the epoch (processing time).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Waits until `deadline`, or forever when there is none.
pub(crate) async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

impl Executor {
    /// Delivers watermark `w` to task `m` of this executor: calls its bolt's
    /// `on_watermark` if it advances the task's input watermark, then
    /// advances the task's output watermark (Flink forwards a watermark after
    /// the operator has processed it).
    pub(crate) fn deliver_watermark(&mut self, m: usize, w: i64) -> Result<()> {
        let node = &mut self.nodes[m];
        if w <= node.collector.time.input {
            return Ok(());
        }
        node.collector.time.input = w;
        node.metrics.set_watermark(w);
        let Node { component, task, op, collector, .. } = &mut *node;
        if let Op::Bolt(bolt) = op {
            let called = guarded(component, *task, || bolt.on_watermark(w, collector));
            // In at_least_once a failure restarts the task.
            called.or_else(|e| node.recover(e))?;
        }
        node.collector.time.advance_output(w);
        Ok(())
    }

    /// Hands the output watermark of chained task `m`'s producer to `m`.
    pub(crate) fn pass_watermark(&mut self, m: usize) -> Result<()> {
        let (p, _, _) = self.nodes[m].feed.expect("a chained task has a feed");
        let w = self.nodes[p].collector.time.output;
        self.deliver_watermark(m, w)
    }

    /// Sends every task's advanced output watermark to all its consumer
    /// tasks. Everything buffered is sent first, so a watermark never
    /// overtakes a tuple emitted before it.
    pub(crate) async fn send_watermarks(&mut self) -> Flow {
        if !self.nodes.iter().any(|n| n.collector.time.output > n.collector.time.sent) {
            return Flow::Open;
        }
        if self.flush(false).await == Flow::Stopped {
            return Flow::Stopped;
        }
        for node in &mut self.nodes {
            let time = &node.collector.time;
            if time.output <= time.sent {
                continue;
            }
            let w = time.output;
            let mut waited = Duration::ZERO;
            let msg = Message::Watermark(w);
            if node.collector.broadcast(msg, &self.cancel, &mut waited).await == Flow::Stopped {
                return Flow::Stopped;
            }
            node.metrics.add_backpressure(waited);
            node.metrics.set_watermark(w);
            node.collector.time.sent = w;
        }
        Flow::Open
    }

    /// Reads each bolt's tick interval (after `prepare`).
    pub(crate) fn start_ticks(&mut self) {
        let now = Instant::now();
        for node in &mut self.nodes {
            if let Op::Bolt(bolt) = &node.op {
                if let Some(every) = bolt.tick_interval().filter(|d| !d.is_zero()) {
                    node.collector.time.tick = Some((every, now + every));
                }
            }
        }
    }

    /// When the next tick of any task is due.
    pub(crate) fn next_tick(&self) -> Option<Instant> {
        self.nodes.iter().filter_map(|n| n.collector.time.tick.map(|(_, at)| at)).min()
    }

    /// Calls `on_tick` on every task whose tick is due.
    pub(crate) fn run_due_ticks(&mut self) -> Result<()> {
        let now = Instant::now();
        for node in &mut self.nodes {
            let Some((every, at)) = node.collector.time.tick else {
                continue;
            };
            if now < at {
                continue;
            }
            node.collector.time.tick = Some((every, now + every));
            let Node { component, task, op, collector, .. } = &mut *node;
            if let Op::Bolt(bolt) = op {
                let called = guarded(component, *task, || bolt.on_tick(now_ms(), collector));
                called.or_else(|e| node.recover(e))?;
            }
        }
        Ok(())
    }
}
