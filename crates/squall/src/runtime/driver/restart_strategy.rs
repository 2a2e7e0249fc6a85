//! [`RestartTracker`]: the one rule that decides, after a failed attempt,
//! whether a topology restarts and after how long ([`RestartStrategy`],
//! Flink's `FixedDelayRestartBackoffTimeStrategy`,
//! `ExponentialDelayRestartBackoffTimeStrategy` and
//! `FailureRateRestartBackoffTimeStrategy`). The one job driver
//! (`runtime/driver/job.rs`) asks it, in local mode and on a cluster.
//!
//! Pure bookkeeping over the times it is given, so that it is tested with
//! a controlled clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::topology::RestartStrategy;

/// Why a restart strategy allows no further attempt: the `rule` of
/// [`crate::Error::GaveUp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestartRefused {
    /// `restart_strategy: none`.
    #[error("restart_strategy none")]
    None,
    /// Fixed-delay, with its `attempts` used up.
    #[error("restart_strategy allows {0}")]
    Attempts(u32),
    /// Failure-rate: `failures` within `interval_ms`, above `allowed`.
    #[error(
        "{failures} failures within {interval_ms} ms; restart_strategy failure_rate allows {allowed}"
    )]
    FailureRate {
        /// Failures in the interval, this one included.
        failures: usize,
        /// The interval (ms).
        interval_ms: u64,
        /// `max_failures_per_interval`.
        allowed: u32,
    },
}

/// A topology's failures so far, and what its [`RestartStrategy`] makes of
/// the next one.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    strategy: RestartStrategy,
    /// Restarts granted so far.
    restarts: u64,
    /// When the failures within the failure-rate interval happened.
    recent: VecDeque<Instant>,
    /// The next exponential backoff, and when the last attempt started.
    backoff: Duration,
    attempt_started: Option<Instant>,
}

impl RestartTracker {
    /// A tracker with no failure yet.
    pub fn new(strategy: RestartStrategy) -> Self {
        let backoff = match strategy {
            RestartStrategy::ExponentialDelay { initial_backoff_ms, .. } => {
                Duration::from_millis(initial_backoff_ms)
            }
            _ => Duration::ZERO,
        };
        RestartTracker {
            strategy,
            restarts: 0,
            recent: VecDeque::new(),
            backoff,
            attempt_started: None,
        }
    }

    /// Restarts granted so far.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// An attempt started at `now` (the exponential backoff resets once an
    /// attempt has run long enough).
    pub fn started(&mut self, now: Instant) {
        self.attempt_started = Some(now);
    }

    /// Whether attempt `number` (0 first; on a cluster shared by every
    /// worker of an epoch, so that a worker that restarted knows it) may
    /// start: under `none` only the first, under fixed-delay up to
    /// `attempts` restarts. Exponential-delay and failure-rate judge the
    /// failures this tracker saw ([`RestartTracker::on_failure`]).
    ///
    /// # Errors
    /// The strategy's refusal, as [`RestartTracker::on_failure`]'s.
    pub fn allows_attempt(&self, number: u64) -> Result<(), RestartRefused> {
        match self.strategy {
            RestartStrategy::None if number > 0 => Err(RestartRefused::None),
            RestartStrategy::FixedDelay { attempts, .. } if number > u64::from(attempts) => {
                Err(RestartRefused::Attempts(attempts))
            }
            _ => Ok(()),
        }
    }

    /// An attempt failed at `now`: the wait before the next one, or why
    /// there is none (naming the strategy and what it allows).
    ///
    /// # Errors
    /// The reason the strategy gives up: `restart_strategy none`, the
    /// fixed-delay attempts used up, or too many failures in the
    /// failure-rate interval.
    pub fn on_failure(&mut self, now: Instant) -> Result<Duration, RestartRefused> {
        let delay = match self.strategy {
            RestartStrategy::None => return Err(RestartRefused::None),
            RestartStrategy::FixedDelay { attempts, delay_ms } => {
                if self.restarts >= u64::from(attempts) {
                    return Err(RestartRefused::Attempts(attempts));
                }
                Duration::from_millis(delay_ms)
            }
            RestartStrategy::ExponentialDelay {
                initial_backoff_ms,
                max_backoff_ms,
                backoff_multiplier,
                reset_backoff_threshold_ms,
            } => {
                let ran = self.attempt_started.take().map(|t| now.saturating_duration_since(t));
                if ran.is_some_and(|d| d >= Duration::from_millis(reset_backoff_threshold_ms)) {
                    self.backoff = Duration::from_millis(initial_backoff_ms);
                }
                let delay = self.backoff;
                let next = self.backoff.as_secs_f64() * backoff_multiplier;
                self.backoff = Duration::from_secs_f64(next.min(max_backoff_ms as f64 / 1000.0));
                delay
            }
            RestartStrategy::FailureRate {
                max_failures_per_interval,
                failure_rate_interval_ms,
                delay_ms,
            } => {
                let interval = Duration::from_millis(failure_rate_interval_ms);
                self.recent.push_back(now);
                while self
                    .recent
                    .front()
                    .is_some_and(|&t| now.saturating_duration_since(t) >= interval)
                {
                    self.recent.pop_front();
                }
                if self.recent.len() > max_failures_per_interval as usize {
                    return Err(RestartRefused::FailureRate {
                        failures: self.recent.len(),
                        interval_ms: failure_rate_interval_ms,
                        allowed: max_failures_per_interval,
                    });
                }
                Duration::from_millis(delay_ms)
            }
        };
        self.restarts += 1;
        Ok(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn none_and_fixed_delay() {
        let t0 = Instant::now();
        assert!(RestartTracker::new(RestartStrategy::None).on_failure(t0).is_err());
        let mut fixed =
            RestartTracker::new(RestartStrategy::FixedDelay { attempts: 2, delay_ms: 7 });
        assert_eq!(fixed.on_failure(t0), Ok(ms(7)));
        assert_eq!(fixed.on_failure(t0 + ms(1)), Ok(ms(7)));
        let refused = fixed.on_failure(t0 + ms(2)).unwrap_err();
        assert_eq!(refused.to_string(), "restart_strategy allows 2");
        assert_eq!(fixed.restarts(), 2);
        // Counted by attempt numbers (a cluster's, shared by its workers).
        assert_eq!(fixed.allows_attempt(2), Ok(()));
        assert_eq!(fixed.allows_attempt(3), Err(RestartRefused::Attempts(2)));
        assert!(RestartTracker::new(RestartStrategy::None).allows_attempt(1).is_err());
    }

    #[test]
    fn exponential_delay_grows_to_its_bound_and_resets_after_a_long_attempt() {
        let mut t = RestartTracker::new(RestartStrategy::ExponentialDelay {
            initial_backoff_ms: 100,
            max_backoff_ms: 350,
            backoff_multiplier: 2.0,
            reset_backoff_threshold_ms: 10_000,
        });
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..5)
            .map(|i| {
                t.started(t0 + ms(i * 1000));
                t.on_failure(t0 + ms(i * 1000 + 500)).unwrap()
            })
            .collect();
        assert_eq!(waits, [ms(100), ms(200), ms(350), ms(350), ms(350)]);
        // An attempt that ran past the threshold starts over.
        t.started(t0 + ms(10_000));
        assert_eq!(t.on_failure(t0 + ms(30_000)), Ok(ms(100)));
        assert_eq!(t.on_failure(t0 + ms(30_001)), Ok(ms(200)));
    }

    #[test]
    fn failure_rate_counts_only_the_failures_within_its_interval() {
        let mut t = RestartTracker::new(RestartStrategy::FailureRate {
            max_failures_per_interval: 2,
            failure_rate_interval_ms: 1000,
            delay_ms: 5,
        });
        let t0 = Instant::now();
        assert_eq!(t.on_failure(t0), Ok(ms(5)));
        assert_eq!(t.on_failure(t0 + ms(400)), Ok(ms(5)));
        // The first has left the interval by 1000 ms: two within it.
        assert_eq!(t.on_failure(t0 + ms(1000)), Ok(ms(5)));
        let refused = t.on_failure(t0 + ms(1100)).unwrap_err();
        assert!(refused.to_string().starts_with("3 failures within 1000 ms"), "{refused}");
    }
}
