//! [`Backoff`] and [`ConnectorStats`]: how the connectors retry an
//! unreachable server (exponential backoff, logged and counted, never a
//! crash loop) and what they report about it.
//!
//! Owns the retry loop shared by the Redis, PostgreSQL and rolling file
//! sinks and the socket spout. The schedule is the usual capped exponential backoff (as the
//! Kafka clients' `retry.backoff.ms` / `retry.backoff.max.ms`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use squall::{Error, Result};

/// The retry schedule of a sink whose server cannot be reached: wait
/// `initial_ms`, then twice as long each time up to `max_ms`, and give up
/// (failing the task) once `give_up_after_ms` have passed since the first
/// failure of the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    /// First wait, ms. Default 100.
    pub initial_ms: u64,
    /// Longest wait, ms. Default 5 000.
    pub max_ms: u64,
    /// Total time, ms, after which the operation fails. Default 300 000
    /// (5 minutes).
    pub give_up_after_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial_ms: 100, max_ms: 5_000, give_up_after_ms: 300_000 }
    }
}

/// What a connector did, shared by all its tasks (clones share the counters):
/// read it from a test or a monitoring thread while the topology runs.
#[derive(Debug, Clone, Default)]
pub struct ConnectorStats(Arc<StatsInner>);

#[derive(Debug, Default)]
struct StatsInner {
    records: AtomicU64,
    flushes: AtomicU64,
    retries: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ConnectorStats {
    /// Records written (rows, keys, lines; rewrites after a replay count
    /// again) or, for a spout, read.
    pub fn records(&self) -> u64 {
        self.0.records.load(Ordering::Relaxed)
    }

    /// Batches written (flushes that wrote at least one record).
    pub fn flushes(&self) -> u64 {
        self.0.flushes.load(Ordering::Relaxed)
    }

    /// Failed attempts that were retried after a backoff.
    pub fn retries(&self) -> u64 {
        self.0.retries.load(Ordering::Relaxed)
    }

    /// The last failure's message, if any.
    pub fn last_error(&self) -> Option<String> {
        self.0.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn add_written(&self, n: u64) {
        self.0.records.fetch_add(n, Ordering::Relaxed);
        self.0.flushes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_read(&self, n: u64) {
        self.0.records.fetch_add(n, Ordering::Relaxed);
    }

    fn failed(&self, message: String) {
        *self.0.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server could not be reached or dropped the connection: retried.
    Unreachable(String),
    /// The server refused the request (a missing table, a wrong type):
    /// retrying would not help, the task fails at once.
    Refused(String),
}

impl Backoff {
    /// Runs `attempt` until it succeeds, waiting between
    /// [`Failure::Unreachable`]s as the schedule says; each is logged
    /// (`warn`, naming `what`) and counted in `stats`.
    ///
    /// # Errors
    /// [`Error::Config`] naming `what` and the failure: at once for
    /// [`Failure::Refused`], once `give_up_after_ms` have passed for
    /// [`Failure::Unreachable`].
    pub(crate) fn run<T>(
        &self,
        what: &str,
        stats: &ConnectorStats,
        mut attempt: impl FnMut() -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let start = Instant::now();
        let mut wait = Duration::from_millis(self.initial_ms);
        loop {
            match attempt() {
                Ok(v) => return Ok(v),
                Err(Failure::Refused(e)) => {
                    stats.failed(e.clone());
                    return Err(Error::config(format!("{what}: refused: {e}")));
                }
                Err(Failure::Unreachable(e)) => {
                    let elapsed = start.elapsed();
                    if elapsed + wait > Duration::from_millis(self.give_up_after_ms) {
                        return Err(Error::config(format!(
                            "{what}: gave up after {} ms: {e}",
                            elapsed.as_millis()
                        )));
                    }
                    tracing::warn!("{what} failed: {e}; retrying in {} ms", wait.as_millis());
                    stats.0.retries.fetch_add(1, Ordering::Relaxed);
                    stats.failed(e);
                    // A backoff, not a synchronisation: nothing to wait on
                    // but the server's return.
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_millis(self.max_ms));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_until_success_then_gives_up_naming_the_error() {
        let stats = ConnectorStats::default();
        let backoff = Backoff { initial_ms: 1, max_ms: 4, give_up_after_ms: 60_000 };
        let mut calls = 0;
        let v = backoff
            .run("write", &stats, || {
                calls += 1;
                if calls < 4 {
                    Err(Failure::Unreachable(format!("refused {calls}")))
                } else {
                    Ok(calls)
                }
            })
            .unwrap();
        assert_eq!((v, stats.retries()), (4, 3));
        assert_eq!(stats.last_error().as_deref(), Some("refused 3"));

        let quick = Backoff { initial_ms: 1, max_ms: 1, give_up_after_ms: 0 };
        let down = || Err::<(), _>(Failure::Unreachable("down".into()));
        let e = quick.run("redis write", &stats, down).unwrap_err().to_string();
        assert!(e.contains("redis write: gave up") && e.contains("down"), "{e}");
        let mut calls = 0;
        let e = backoff
            .run("pg", &stats, || {
                calls += 1;
                Err::<(), _>(Failure::Refused("42P01: no table".into()))
            })
            .unwrap_err()
            .to_string();
        assert_eq!((calls, stats.retries()), (1, 3));
        assert!(e.contains("pg: refused: 42P01"), "{e}");
    }
}
