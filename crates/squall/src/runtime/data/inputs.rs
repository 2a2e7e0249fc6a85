//! [`InputSet`]: the input channels of one task, read fairly.
//!
//! A task has one channel per upstream task (not one shared channel), so
//! that a later barrier alignment can hold back a single input.

use std::future::poll_fn;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Receiver;

use crate::checkpoint::CheckpointBarrier;
use crate::runtime::barrier::Aligner;
use crate::runtime::message::{Batch, Message};
use crate::runtime::watermark::WatermarkTracker;

/// What [`InputSet::recv`] found.
pub(crate) enum Received {
    /// Tuples from one of the inputs.
    Data(Batch),
    /// The task's watermark (event time ms, the minimum over its inputs)
    /// advanced to this value. `i64::MAX` once every input has ended.
    Watermark(i64),
    /// Barrier n arrived on every input that has not ended (see
    /// [`Aligner`]): the task snapshots and passes it on.
    Barrier(CheckpointBarrier),
    /// Every input sent `End`: the task may finish.
    AllEnded,
    /// An input's channel closed without `End`: its producer stopped
    /// (killed or failed). The task must stop too, without finishing, so
    /// that no sink commits a result made of partial input.
    Disconnected,
}

pub(crate) struct InputSet {
    receivers: Vec<Receiver<Message>>,
    ended: Vec<bool>,
    open: usize,
    next: usize,
    watermarks: WatermarkTracker,
    /// A batch received together with a watermark advance, returned next.
    pending: Option<Batch>,
    aligner: Aligner,
    /// A barrier completed by the same `End` as a watermark, returned next.
    pending_barrier: Option<CheckpointBarrier>,
}

impl InputSet {
    /// Inputs read from `receivers`; an input silent for `idle_timeout`
    /// stops holding back the watermark (see [`WatermarkTracker`]);
    /// `aligned` says whether checkpoint barriers are aligned (see
    /// [`Aligner`]).
    pub fn new(
        receivers: Vec<Receiver<Message>>,
        idle_timeout: Option<Duration>,
        aligned: bool,
    ) -> Self {
        let n = receivers.len();
        let watermarks = WatermarkTracker::new(n, idle_timeout, Instant::now());
        InputSet {
            receivers,
            ended: vec![false; n],
            open: n,
            next: 0,
            watermarks,
            pending: None,
            aligner: Aligner::new(n, aligned),
            pending_barrier: None,
        }
    }

    /// How long the last barrier took to align over the inputs (see
    /// [`Aligner::last_alignment`]).
    pub fn last_alignment(&self) -> Duration {
        self.aligner.last_alignment()
    }

    /// The next batch from any input, round robin across inputs that have
    /// data, or the task's watermark when it advances;
    /// [`Received::AllEnded`] once every input has sent `End`.
    ///
    /// # Cancel safety
    /// Cancel safe: a message is only taken from a channel when this returns
    /// it, as with `Receiver::recv`.
    pub async fn recv(&mut self) -> Received {
        if let Some(batch) = self.pending.take() {
            return Received::Data(batch);
        }
        if let Some(barrier) = self.pending_barrier.take() {
            return Received::Barrier(barrier);
        }
        loop {
            if self.open == 0 {
                return Received::AllEnded;
            }
            let deadline = self.watermarks.next_idle_deadline();
            let polled = poll_fn(|cx| {
                let n = self.receivers.len();
                for k in 0..n {
                    let i = (self.next + k) % n;
                    if self.ended[i] || self.aligner.blocked(i) {
                        continue;
                    }
                    if let Poll::Ready(m) = self.receivers[i].poll_recv(cx) {
                        self.next = (i + 1) % n;
                        return Poll::Ready((i, m));
                    }
                }
                Poll::Pending
            });
            let (index, msg) = match deadline {
                None => polled.await,
                Some(deadline) => tokio::select! {
                    biased;
                    m = polled => m,
                    _ = tokio::time::sleep_until(deadline.into()) => {
                        let receivers = &self.receivers;
                        let queued = |i: usize| !receivers[i].is_empty();
                        if let Some(w) = self.watermarks.on_idle_check(Instant::now(), queued) {
                            return Received::Watermark(w);
                        }
                        continue;
                    }
                },
            };
            match msg {
                Some(Message::End) => {
                    self.ended[index] = true;
                    self.open -= 1;
                    let barrier = self.aligner.on_end(&self.ended);
                    if let Some(w) = self.watermarks.on_end(index) {
                        self.pending_barrier = barrier;
                        return Received::Watermark(w);
                    }
                    if let Some(b) = barrier {
                        return Received::Barrier(b);
                    }
                }
                Some(Message::Barrier(b)) => {
                    if let Some(b) = self.aligner.on_barrier(index, b, &self.ended) {
                        return Received::Barrier(b);
                    }
                }
                Some(Message::Data(batch)) => {
                    if self.watermarks.tracks_idleness() {
                        if let Some(w) = self.watermarks.on_data(index, Instant::now()) {
                            // The input's watermark was already promised:
                            // it goes before its data.
                            self.pending = Some(batch);
                            return Received::Watermark(w);
                        }
                    }
                    return Received::Data(batch);
                }
                Some(Message::Watermark(w)) => {
                    if let Some(w) = self.watermarks.on_watermark(index, w, Instant::now()) {
                        return Received::Watermark(w);
                    }
                }
                None => return Received::Disconnected,
            }
        }
    }
}
