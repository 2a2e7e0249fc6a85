//! [`Aligner`]: barrier alignment at a task with several inputs (the ABS
//! paper's alignment phase).
//!
//! When input i delivers barrier n, aligned mode *blocks* input i (its later
//! tuples belong to checkpoint n + 1 and must not reach the task before its
//! snapshot) until every other input has delivered n or ended; then the
//! task snapshots and all inputs open again. Unaligned mode (the
//! `checkpoint_alignment: false` switch) never blocks: the snapshot then
//! includes some tuples of n + 1, which a restore replays: at-least-once
//! state, as Flink's `AT_LEAST_ONCE` checkpointing mode.
//!
//! Pure bookkeeping: [`super::inputs::InputSet`] asks it which inputs to
//! poll and tells it what arrived. It also times each alignment, from the
//! first input's barrier to the last one's (Flink's *alignment duration*),
//! which the task reports with its snapshot.

use std::time::{Duration, Instant};

use crate::checkpoint::CheckpointBarrier;

pub(crate) struct Aligner {
    aligned: bool,
    /// The barrier being aligned, and which inputs delivered it.
    current: Option<CheckpointBarrier>,
    seen: Vec<bool>,
    /// When the first input delivered `current`.
    first_at: Option<Instant>,
    /// How long the last completed alignment took.
    last: Duration,
}

impl Aligner {
    /// An aligner for `inputs` inputs.
    pub fn new(inputs: usize, aligned: bool) -> Aligner {
        Aligner {
            aligned,
            current: None,
            seen: vec![false; inputs],
            first_at: None,
            last: Duration::ZERO,
        }
    }

    /// How long the last completed alignment took: from the first input's
    /// barrier to the last one's (zero with one input).
    pub fn last_alignment(&self) -> Duration {
        self.last
    }

    /// Whether input `i` must not be read now.
    pub fn blocked(&self, i: usize) -> bool {
        self.aligned && self.seen[i]
    }

    /// Input `i` delivered `barrier`; returns it when every input that has
    /// not ended has delivered it.
    pub fn on_barrier(
        &mut self,
        i: usize,
        barrier: CheckpointBarrier,
        ended: &[bool],
    ) -> Option<CheckpointBarrier> {
        match self.current {
            Some(c) if barrier.id < c.id => return None, // a stale, aborted one
            Some(c) if barrier.id == c.id => {}
            _ => {
                // A newer checkpoint: any older alignment was abandoned.
                self.seen.iter_mut().for_each(|s| *s = false);
                self.current = Some(barrier);
                self.first_at = Some(Instant::now());
            }
        }
        self.seen[i] = true;
        self.complete(ended)
    }

    /// An input ended: the barrier being aligned may now be complete.
    pub fn on_end(&mut self, ended: &[bool]) -> Option<CheckpointBarrier> {
        self.current?;
        self.complete(ended)
    }

    fn complete(&mut self, ended: &[bool]) -> Option<CheckpointBarrier> {
        if self.seen.iter().zip(ended).all(|(s, e)| *s || *e) {
            self.seen.iter_mut().for_each(|s| *s = false);
            self.last = self.first_at.take().map_or(Duration::ZERO, |t| t.elapsed());
            return self.current.take();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(id: u64) -> CheckpointBarrier {
        CheckpointBarrier { id, timestamp_ms: 0 }
    }

    #[test]
    fn aligned_blocks_inputs_until_all_delivered() {
        let mut a = Aligner::new(3, true);
        let ended = [false, false, false];
        assert_eq!(a.on_barrier(1, b(1), &ended), None);
        assert!(a.blocked(1) && !a.blocked(0) && !a.blocked(2));
        assert_eq!(a.on_barrier(0, b(1), &ended), None);
        assert_eq!(a.on_barrier(2, b(1), &ended), Some(b(1)));
        assert!(!a.blocked(0) && !a.blocked(1) && !a.blocked(2), "all open again");
    }

    #[test]
    fn ended_inputs_count_as_delivered() {
        let mut a = Aligner::new(2, true);
        assert_eq!(a.on_barrier(0, b(4), &[false, false]), None);
        assert_eq!(a.on_end(&[false, true]), Some(b(4)));
        assert_eq!(a.on_end(&[true, true]), None, "nothing pending");
    }

    #[test]
    fn unaligned_never_blocks_and_newer_barrier_supersedes() {
        let mut a = Aligner::new(2, false);
        assert_eq!(a.on_barrier(0, b(1), &[false, false]), None);
        assert!(!a.blocked(0));
        assert_eq!(a.on_barrier(0, b(2), &[false, false]), None, "1 abandoned");
        assert_eq!(a.on_barrier(1, b(1), &[false, false]), None, "stale");
        assert_eq!(a.on_barrier(1, b(2), &[false, false]), Some(b(2)));
    }

    #[test]
    fn the_alignment_is_timed_from_the_first_barrier_to_the_last() {
        let mut a = Aligner::new(2, true);
        assert_eq!(a.last_alignment(), Duration::ZERO);
        assert_eq!(a.on_barrier(0, b(1), &[false, false]), None);
        let held = Duration::from_millis(30);
        std::thread::sleep(held); // the other input's barrier comes later
        let started = Instant::now();
        assert_eq!(a.on_barrier(1, b(1), &[false, false]), Some(b(1)));
        assert!(a.last_alignment() >= held, "{:?}", a.last_alignment());
        assert!(a.last_alignment() < held + started.elapsed() + Duration::from_secs(5));
        // One input: nothing to wait for.
        let mut one = Aligner::new(1, true);
        assert_eq!(one.on_barrier(0, b(1), &[false]), Some(b(1)));
        assert!(one.last_alignment() < held);
    }
}
