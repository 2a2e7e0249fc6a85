//! [`WatermarkAlignment`]: Flink's watermark alignment (FLIP-182) for the
//! tasks of one source in one process: a task whose watermark is more than
//! `max_drift_ms` ahead of the slowest task of its group pauses reading
//! until the others catch up.
//!
//! Without it, the tasks of a source progress at whatever pace the
//! scheduler gives them; the consumers' watermark is the minimum over them,
//! so a task far ahead makes every window operator downstream keep the
//! windows of the whole gap open (memory, and work per record). Pure
//! bookkeeping: the source decides what pausing means (a spout returns
//! `Idle`, and the runtime polls it again 1 ms later).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The shared watermarks of the tasks of one source; clones share them.
#[derive(Debug, Clone)]
pub struct WatermarkAlignment {
    max_drift_ms: i64,
    /// Watermark (ms) of each task that has one and has not finished.
    tasks: Arc<Mutex<HashMap<usize, i64>>>,
}

impl WatermarkAlignment {
    /// A group whose tasks may run at most `max_drift_ms` of event time
    /// ahead of its slowest.
    pub fn new(max_drift_ms: u64) -> Self {
        WatermarkAlignment {
            max_drift_ms: i64::try_from(max_drift_ms).unwrap_or(i64::MAX),
            tasks: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, i64>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Task `task` has watermark `watermark` (ms); returns whether it may
    /// read on: whether `watermark` is at most `max_drift_ms` above every
    /// other task's. Tasks without a watermark yet, and finished ones, hold
    /// no one back.
    pub fn report(&self, task: usize, watermark: i64) -> bool {
        let mut tasks = self.lock();
        tasks.insert(task, watermark);
        let slowest = tasks.values().copied().min().unwrap_or(watermark);
        watermark <= slowest.saturating_add(self.max_drift_ms)
    }

    /// Task `task` left the group: it finished, or starts over (a restart).
    pub fn leave(&self, task: usize) {
        self.lock().remove(&task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_ahead_pauses_until_the_slowest_catches_up() {
        let group = WatermarkAlignment::new(10);
        let other = group.clone();
        assert!(group.report(0, 100), "alone, a task always reads");
        assert!(other.report(1, 95));
        assert!(!group.report(0, 120), "20 ahead of task 1");
        assert!(other.report(1, 110));
        assert!(group.report(0, 120), "10 ahead: within the drift");
        other.leave(1);
        assert!(group.report(0, 1_000), "a finished task holds no one back");
    }
}
