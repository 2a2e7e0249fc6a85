//! State TTL, Flink's `table.exec.state.ttl`: the keyed state of a
//! non-windowed `GROUP BY`, a regular join or a Top-N is dropped once its
//! key has not been touched for the TTL (processing time, ms), so a query
//! over an unbounded key space holds bounded state. A record for the key
//! after that starts afresh (a `GROUP BY` emits `+I` again, as Flink does;
//! its earlier row is not retracted).
//!
//! [`Ttl`] wraps the operator's process function: after each record it
//! notes the key's deadline (now + TTL) and keeps a processing-time
//! cleanup timer at or after it, rounded up to an eighth of the TTL so a
//! busy key holds at most about nine timers. When a timer finds the
//! deadline passed, the key's state goes. The deadlines live in the task's
//! memory; the timers are in checkpoints. After a restore a key's first
//! cleanup timer, finding no deadline, sets a new one a full TTL later:
//! state may live up to one TTL longer across a restore, never shorter
//! (Flink's TTL also promises only that expired state is eventually gone).
//! The wrapped function's own timers must be on event time; its
//! processing-time timers are the TTL's.

use std::collections::HashMap;
use std::hash::Hash;

use squall::datastream::{KeyedContext, KeyedProcessFunction, KeyedStream, Stream, TimeDomain};

/// The setting's key.
pub const SETTING: &str = "table.exec.state.ttl";

/// Parses a TTL as Flink writes it (`'1 h'`, `'30 min'`, `'500 ms'`, a
/// bare number of ms); `0` means no TTL (`None`).
///
/// # Errors
/// A value that is neither a number nor a duration, named.
pub fn parse(value: &str) -> Result<Option<i64>, String> {
    let v = value.trim();
    let ms = match v.parse::<u64>() {
        Ok(ms) => ms,
        Err(_) => humantime::parse_duration(v)
            .map_err(|e| format!("'{SETTING}' = '{value}': not a duration ({e})"))?
            .as_millis() as u64,
    };
    Ok((ms > 0).then_some(ms.min(i64::MAX as u64) as i64))
}

/// Processing time: the wall clock in ms since the epoch, the clock of
/// processing-time timers.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A process function whose keyed state expires after `ttl_ms` of its key
/// not being touched.
#[derive(Clone)]
pub struct Ttl<P, K> {
    /// The wrapped function.
    pub inner: P,
    /// The TTL (ms, > 0).
    pub ttl_ms: i64,
    /// Per key: its deadline, and the latest cleanup timer set for it.
    deadlines: HashMap<K, (i64, i64)>,
}

impl<P, K> Ttl<P, K> {
    /// `inner` with state that expires after `ttl_ms` (> 0) untouched.
    pub fn new(inner: P, ttl_ms: i64) -> Self {
        Ttl { inner, ttl_ms: ttl_ms.max(1), deadlines: HashMap::new() }
    }

    /// The cleanup timer's time for `deadline`: rounded up to an eighth of
    /// the TTL.
    fn timer_for(&self, deadline: i64) -> i64 {
        let step = (self.ttl_ms / 8).max(1);
        deadline.div_euclid(step).saturating_add(1).saturating_mul(step)
    }
}

impl<P, K: Clone + Hash + Eq> Ttl<P, K> {
    /// Notes that `ctx`'s key was touched now; sets a cleanup timer unless
    /// one at the right time is set.
    fn touch<S, O: squall::Data>(&mut self, ctx: &mut KeyedContext<'_, K, S, O>) {
        let deadline = now_ms().saturating_add(self.ttl_ms);
        let timer = self.timer_for(deadline);
        let entry = self.deadlines.entry(ctx.key().clone()).or_insert((deadline, i64::MIN));
        entry.0 = deadline;
        if entry.1 < timer {
            entry.1 = timer;
            ctx.register_processing_time_timer(timer);
        }
    }
}

impl<K, T, P> KeyedProcessFunction<K, T> for Ttl<P, K>
where
    K: Clone + Hash + Eq + Send + 'static,
    P: KeyedProcessFunction<K, T>,
{
    type State = P::State;
    type Out = P::Out;

    fn side_outputs(&self) -> Vec<String> {
        self.inner.side_outputs()
    }

    fn process_element(
        &mut self,
        value: T,
        ctx: &mut KeyedContext<'_, K, P::State, P::Out>,
    ) -> squall::Result<()> {
        self.inner.process_element(value, ctx)?;
        if ctx.state().is_some() {
            self.touch(ctx);
        } else {
            self.deadlines.remove(ctx.key());
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: i64,
        domain: TimeDomain,
        ctx: &mut KeyedContext<'_, K, P::State, P::Out>,
    ) -> squall::Result<()> {
        if domain == TimeDomain::EventTime {
            return self.inner.on_timer(timestamp, domain, ctx);
        }
        if ctx.state().is_none() {
            self.deadlines.remove(ctx.key());
            return Ok(());
        }
        match self.deadlines.get(ctx.key()).copied() {
            // Restored from a checkpoint: the last touch is unknown.
            None => self.touch(ctx),
            Some((deadline, _)) if deadline <= timestamp => {
                *ctx.state() = None;
                self.deadlines.remove(ctx.key());
            }
            // Touched since: a later timer is set.
            Some(_) => {}
        }
        Ok(())
    }
}

/// `keyed` into `f`, its keyed state expiring after `ttl_ms` untouched
/// when set (the `table.exec.state.ttl` of the session).
pub fn process<K, T, P>(keyed: &KeyedStream<K, T>, f: P, ttl_ms: Option<i64>) -> Stream<P::Out>
where
    K: squall::Data + Hash + Eq + Sync,
    T: squall::Data,
    P: KeyedProcessFunction<K, T> + Sync,
{
    match ttl_ms {
        Some(ms) => keyed.process(Ttl::new(f, ms)),
        None => keyed.process(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_durations_parse_and_zero_is_off() {
        assert_eq!(parse("1 h"), Ok(Some(3_600_000)));
        assert_eq!(parse("30 min"), Ok(Some(1_800_000)));
        assert_eq!(parse("500 ms"), Ok(Some(500)));
        assert_eq!(parse("250"), Ok(Some(250)));
        assert_eq!(parse("0"), Ok(None));
        let err = parse("soon").unwrap_err();
        assert!(err.contains("table.exec.state.ttl") && err.contains("soon"), "{err}");
    }

    #[test]
    fn cleanup_timers_round_up_to_an_eighth_of_the_ttl() {
        let t: Ttl<(), u8> = Ttl::new((), 800);
        assert_eq!(t.timer_for(1000), 1100);
        assert_eq!(t.timer_for(1099), 1100);
        assert!(t.timer_for(1100) >= 1100);
    }
}
