//! [`WatermarkStrategy`] and the [`WatermarkGenerator`] a source keeps per
//! task (Flink's `WatermarkStrategy.forMonotonousTimestamps()` and
//! `forBoundedOutOfOrderness(Duration)`).

use serde::Deserialize;

/// How a source derives watermarks from the event times it has read.
///
/// In YAML: `{ max_out_of_orderness_ms: 3600000 }`, or `monotonous`.
/// Idleness (a silent input not holding back the others) is the runtime's,
/// set as `config.idle_timeout_ms` (see `docs/windows.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WatermarkStrategy {
    /// Times never decrease: the watermark is the largest time seen minus 1.
    Monotonous,
    /// Times may arrive up to this many ms after a later one: the watermark
    /// is the largest time seen minus this bound minus 1.
    #[serde(untagged)]
    BoundedOutOfOrderness {
        /// The largest lateness expected (ms).
        max_out_of_orderness_ms: u64,
    },
}

impl WatermarkStrategy {
    /// A fresh generator for one source task.
    pub fn generator(&self) -> WatermarkGenerator {
        let bound = match self {
            WatermarkStrategy::Monotonous => 0,
            WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms } => {
                i64::try_from(*max_out_of_orderness_ms).unwrap_or(i64::MAX)
            }
        };
        WatermarkGenerator { bound, max_seen: None }
    }
}

/// Tracks the largest event time of one source task and the watermark it
/// allows.
///
/// # Examples
/// ```
/// use squall::time::WatermarkStrategy;
/// let mut g = WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: 10 }.generator();
/// assert_eq!(g.current(), None);
/// g.on_event(100);
/// g.on_event(95);
/// assert_eq!(g.current(), Some(89));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkGenerator {
    bound: i64,
    max_seen: Option<i64>,
}

impl WatermarkGenerator {
    /// A record with event time `ts` (ms) was read.
    pub fn on_event(&mut self, ts: i64) {
        self.max_seen = Some(self.max_seen.map_or(ts, |m| m.max(ts)));
    }

    /// The largest event time seen (ms), for a checkpoint.
    pub(crate) fn max_seen(&self) -> Option<i64> {
        self.max_seen
    }

    /// Resumes from a checkpoint's [`WatermarkGenerator::max_seen`].
    pub(crate) fn resume(&mut self, max_seen: Option<i64>) {
        self.max_seen = max_seen;
    }

    /// The watermark allowed so far (ms): the largest time seen minus the
    /// bound minus 1 (saturating); `None` before any record.
    pub fn current(&self) -> Option<i64> {
        self.max_seen.map(|m| m.saturating_sub(self.bound).saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonous_and_bounded() {
        let mut m = WatermarkStrategy::Monotonous.generator();
        for t in [5, 9, 9, 12] {
            m.on_event(t);
        }
        assert_eq!(m.current(), Some(11));
        let mut b = WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: 3_600_000 }
            .generator();
        b.on_event(7_200_000);
        b.on_event(100);
        assert_eq!(b.current(), Some(3_599_999), "a lower time never moves it back");
        b.on_event(i64::MIN);
        let mut s = WatermarkStrategy::Monotonous.generator();
        s.on_event(i64::MIN);
        assert_eq!(s.current(), Some(i64::MIN), "saturates");
    }

    #[test]
    fn yaml_forms() {
        let s: WatermarkStrategy = serde_yaml_ng::from_str("monotonous").unwrap();
        assert_eq!(s, WatermarkStrategy::Monotonous);
        let s: WatermarkStrategy =
            serde_yaml_ng::from_str("{max_out_of_orderness_ms: 60000}").unwrap();
        assert_eq!(s, WatermarkStrategy::BoundedOutOfOrderness { max_out_of_orderness_ms: 60000 });
        assert!(serde_yaml_ng::from_str::<WatermarkStrategy>("{max_delay: 1}").is_err());
    }
}
