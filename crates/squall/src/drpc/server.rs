//! [`LocalDrpc`]: DRPC requests waiting for a topology, and their callers
//! waiting for answers.
//!
//! Owns the requests' life: queued per function until a [`super::DrpcSpout`]
//! takes one, answered by [`super::ReturnResults`] or failed (the spout's
//! tuple tree failed, or the taker that holds it stopped polling: see
//! [`LocalDrpc::with_holder_timeout`]), timed out by the caller. A late
//! answer to a request that timed out is dropped. The network server (`squall_cluster::drpc`)
//! keeps its requests in a [`LocalDrpc`] too: this is the one request table.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// One request as a spout takes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DrpcRequest {
    /// Unique among the requests of this server.
    pub id: u64,
    /// The caller's argument.
    pub args: String,
}

#[derive(Default)]
struct State {
    next_id: u64,
    queues: HashMap<String, VecDeque<DrpcRequest>>,
    /// The caller of each request not yet answered, failed or timed out.
    callers: HashMap<u64, SyncSender<std::result::Result<String, String>>>,
    /// Requests handed out by [`LocalDrpc::fetch_leased`] and not yet
    /// confirmed: back in their queue when the lease ends.
    leased: HashMap<u64, Lease>,
    /// The taker holding each request it confirmed with
    /// [`LocalDrpc::confirm_held`].
    held: HashMap<u64, u64>,
    /// When each taker was last heard from ([`LocalDrpc::heartbeat`]).
    holders: HashMap<u64, Instant>,
}

struct Lease {
    function: String,
    request: DrpcRequest,
    until: Instant,
}

impl State {
    /// Puts requests whose lease ended back first in their queues (if
    /// their callers still wait); the earliest lease still running.
    fn expire_leases(&mut self, now: Instant) -> Option<Instant> {
        let ended: Vec<u64> =
            self.leased.iter().filter(|(_, l)| l.until <= now).map(|(id, _)| *id).collect();
        for id in ended {
            let lease = self.leased.remove(&id).expect("listed");
            if self.callers.contains_key(&id) {
                self.queues.entry(lease.function).or_default().push_front(lease.request);
            }
        }
        self.leased.values().map(|l| l.until).min()
    }

    /// Forgets request `id` (answered, failed or timed out).
    fn forget(&mut self, id: u64) -> Option<SyncSender<std::result::Result<String, String>>> {
        self.leased.remove(&id);
        if let Some(holder) = self.held.remove(&id) {
            if !self.held.values().any(|h| *h == holder) {
                self.holders.remove(&holder);
            }
        }
        self.callers.remove(&id)
    }

    /// How long the holder of request `id` has been silent, if it has a
    /// holder.
    fn holder_silence(&self, id: u64, now: Instant) -> Option<Duration> {
        let holder = self.held.get(&id)?;
        let seen = self.holders.get(holder)?;
        Some(now.saturating_duration_since(*seen))
    }
}

/// An in-process DRPC server (Storm's `LocalDRPC`). Clones share the
/// server.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use squall::drpc::LocalDrpc;
///
/// let drpc = LocalDrpc::new();
/// let server = drpc.clone();
/// let topology = std::thread::spawn(move || loop {
///     if let Some(request) = server.fetch("shout") {
///         server.answer(request.id, request.args.to_uppercase());
///         return;
///     }
/// });
/// assert_eq!(drpc.execute("shout", "hey", Duration::from_secs(10))?, "HEY");
/// topology.join().unwrap();
/// # Ok::<(), squall::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct LocalDrpc(Arc<Shared>);

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Notified when a request is queued (for [`LocalDrpc::fetch_wait`]).
    queued: Condvar,
    /// A held request whose holder is silent this long fails.
    holder_timeout: Option<Duration>,
}

/// How often a waiting caller checks that its request's holder is alive.
const HOLDER_CHECK: Duration = Duration::from_millis(100);

/// Why a call got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrpcFailure {
    /// Nothing answered within the timeout (ms); the request was withdrawn.
    TimedOut(u64),
    /// The topology failed the request (its tuple tree failed), with why.
    Failed(String),
}

impl std::fmt::Display for DrpcFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DrpcFailure::TimedOut(ms) => write!(f, "no answer within {ms} ms"),
            DrpcFailure::Failed(reason) => f.write_str(reason),
        }
    }
}

impl std::fmt::Debug for LocalDrpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        f.debug_struct("LocalDrpc").field("waiting", &state.callers.len()).finish()
    }
}

/// Where DRPC spouts take requests and return-results bolts send answers
/// (Storm's `DistributedRPCInvocations`): a [`LocalDrpc`] in this process,
/// or a server on the network (`squall_cluster::drpc_client::HttpDrpc`).
///
/// Every method returns at once (a spout's `next_tuple` must not block).
pub trait DrpcInvocations: Clone + Send + Sync + 'static {
    /// The oldest request for `function` not yet taken, if one is here now.
    fn fetch(&self, function: &str) -> Option<DrpcRequest>;
    /// Answers request `id` (nothing if no one waits for it any more).
    fn answer(&self, id: u64, result: String);
    /// Fails request `id` with `reason` (nothing if no one waits for it).
    fn fail(&self, id: u64, reason: String);
}

impl DrpcInvocations for LocalDrpc {
    fn fetch(&self, function: &str) -> Option<DrpcRequest> {
        LocalDrpc::fetch(self, function)
    }
    fn answer(&self, id: u64, result: String) {
        LocalDrpc::answer(self, id, result)
    }
    fn fail(&self, id: u64, reason: String) {
        LocalDrpc::fail(self, id, reason)
    }
}

impl LocalDrpc {
    /// A server with no request.
    pub fn new() -> Self {
        LocalDrpc::default()
    }

    /// A server with no request whose callers fail at once (with an error
    /// naming the cause) when the taker holding their request has not been
    /// heard from for `timeout`: a taker that confirms requests with
    /// [`LocalDrpc::confirm_held`] sends [`LocalDrpc::heartbeat`]s (the
    /// network server's spouts do, with every long poll), so a worker that
    /// dies with requests in flight fails them after `timeout` rather than
    /// after the caller's whole request timeout.
    pub fn with_holder_timeout(timeout: Duration) -> Self {
        LocalDrpc(Arc::new(Shared { holder_timeout: Some(timeout), ..Shared::default() }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls `function` with `args` and waits for its answer, at most
    /// `timeout` (Storm's `drpc.request.timeout.secs`).
    ///
    /// # Errors
    /// [`Error::Drpc`] naming the function if the request timed out (it is
    /// withdrawn: a late answer is dropped) or its tuple tree failed.
    pub fn execute(&self, function: &str, args: &str, timeout: Duration) -> Result<String> {
        self.call(function, args, timeout).map_err(|failure| Error::Drpc {
            function: function.to_string(),
            reason: failure.to_string(),
        })
    }

    /// As [`LocalDrpc::execute`], with the kind of failure kept apart (the
    /// network server answers a timeout and a failure with different
    /// statuses).
    ///
    /// # Errors
    /// [`DrpcFailure::TimedOut`] (the request is withdrawn) or
    /// [`DrpcFailure::Failed`].
    pub fn call(
        &self,
        function: &str,
        args: &str,
        timeout: Duration,
    ) -> std::result::Result<String, DrpcFailure> {
        let (tx, rx) = sync_channel(1);
        let id = {
            let mut state = self.state();
            state.next_id += 1;
            let id = state.next_id;
            state.callers.insert(id, tx);
            let request = DrpcRequest { id, args: args.to_string() };
            state.queues.entry(function.to_string()).or_default().push_back(request);
            id
        };
        self.0.queued.notify_all();
        let deadline = Instant::now() + timeout;
        let abandoned = loop {
            let now = Instant::now();
            let left = deadline.saturating_duration_since(now);
            let slice = match self.0.holder_timeout {
                Some(_) => left.min(HOLDER_CHECK),
                None => left,
            };
            match rx.recv_timeout(slice) {
                Ok(Ok(result)) => return Ok(result),
                Ok(Err(reason)) => return Err(DrpcFailure::Failed(reason)),
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    let Some(limit) = self.0.holder_timeout else { continue };
                    let silent = self.state().holder_silence(id, Instant::now());
                    if let Some(silent) = silent.filter(|s| *s >= limit) {
                        break Some(silent);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break None,
            }
        };
        let mut state = self.state();
        state.forget(id);
        if let Some(queue) = state.queues.get_mut(function) {
            queue.retain(|r| r.id != id);
        }
        drop(state);
        // An answer may have raced the timeout: it wins.
        match (rx.try_recv(), abandoned) {
            (Ok(Ok(result)), _) => Ok(result),
            (Ok(Err(reason)), _) => Err(DrpcFailure::Failed(reason)),
            (Err(_), Some(silent)) => Err(DrpcFailure::Failed(format!(
                "the worker that took the request stopped polling the DRPC server {} ms ago \
                 (it died or hangs); the request is abandoned",
                silent.as_millis()
            ))),
            (Err(_), None) => Err(DrpcFailure::TimedOut(timeout.as_millis() as u64)),
        }
    }

    /// The oldest request for `function` not yet taken, waiting for one at
    /// most `wait` (a long poll: the network server answers spouts on other
    /// workers with it). Blocks the calling thread.
    pub fn fetch_wait(&self, function: &str, wait: Duration) -> Option<DrpcRequest> {
        self.fetch_inner(function, wait, None)
    }

    /// As [`LocalDrpc::fetch_wait`], handing the request out on a lease of
    /// `lease`: unless [`LocalDrpc::confirm`]ed (or answered) within it, it
    /// goes back first in line for another spout. A taker that vanished
    /// with it (a response lost with its connection, a worker killed
    /// before its spout took it) then costs the caller a lease, not its
    /// whole timeout; a taker merely slow may see it executed twice (the
    /// first answer wins).
    pub fn fetch_leased(
        &self,
        function: &str,
        wait: Duration,
        lease: Duration,
    ) -> Option<DrpcRequest> {
        self.fetch_inner(function, wait, Some(lease))
    }

    fn fetch_inner(
        &self,
        function: &str,
        wait: Duration,
        lease: Option<Duration>,
    ) -> Option<DrpcRequest> {
        let deadline = Instant::now() + wait;
        let mut state = self.state();
        loop {
            let now = Instant::now();
            let next_expiry = state.expire_leases(now);
            if let Some(request) = state.queues.get_mut(function).and_then(VecDeque::pop_front) {
                if let Some(lease) = lease {
                    let until = now + lease;
                    let held =
                        Lease { function: function.to_string(), request: request.clone(), until };
                    state.leased.insert(request.id, held);
                }
                return Some(request);
            }
            let left = deadline.checked_duration_since(now)?;
            let left = next_expiry.map_or(left, |e| left.min(e.saturating_duration_since(now)));
            let left = left.max(Duration::from_millis(1));
            state = self.0.queued.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Confirms that the taker of request `id` has it: its lease ends
    /// without putting it back.
    pub fn confirm(&self, id: u64) {
        self.state().leased.remove(&id);
    }

    /// As [`LocalDrpc::confirm`], by the taker `holder` (any id unique to
    /// it), which is then heard from; with a holder timeout
    /// ([`LocalDrpc::with_holder_timeout`]) the request fails if `holder`
    /// stays silent that long before it is answered.
    pub fn confirm_held(&self, id: u64, holder: u64) {
        let mut state = self.state();
        state.leased.remove(&id);
        if state.callers.contains_key(&id) {
            state.held.insert(id, holder);
            state.holders.insert(holder, Instant::now());
        }
    }

    /// The taker `holder` is alive (it polled): the requests it holds are
    /// not abandoned.
    pub fn heartbeat(&self, holder: u64) {
        let mut state = self.state();
        if let Some(seen) = state.holders.get_mut(&holder) {
            *seen = Instant::now();
        }
    }

    /// Puts back `request` for `function`, first in line, if its caller
    /// still waits: a fetch whose taker went away (a long poll cancelled
    /// by a client that hung up) gives it back.
    pub fn requeue(&self, function: &str, request: DrpcRequest) {
        let mut state = self.state();
        state.leased.remove(&request.id);
        if state.callers.contains_key(&request.id) {
            state.queues.entry(function.to_string()).or_default().push_front(request);
            drop(state);
            self.0.queued.notify_all();
        }
    }

    /// Requests waiting for an answer (queued or taken by a spout).
    pub fn waiting(&self) -> usize {
        self.state().callers.len()
    }

    /// The oldest request for `function` not yet taken, if any.
    pub fn fetch(&self, function: &str) -> Option<DrpcRequest> {
        self.state().queues.get_mut(function).and_then(VecDeque::pop_front)
    }

    /// Answers request `id` (nothing if it timed out or was answered).
    pub fn answer(&self, id: u64, result: String) {
        let mut state = self.state();
        if let Some(caller) = state.forget(id) {
            let _ = caller.try_send(Ok(result));
        }
    }

    /// Fails request `id` with `reason` (nothing if it is no longer
    /// waited for).
    pub fn fail(&self, id: u64, reason: String) {
        let mut state = self.state();
        if let Some(caller) = state.forget(id) {
            let _ = caller.try_send(Err(reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_times_out_with_an_error_and_a_late_answer_is_dropped() {
        let drpc = LocalDrpc::new();
        let error = drpc.execute("reach", "x", Duration::from_millis(20)).unwrap_err();
        assert_eq!(error.to_string(), "drpc function 'reach': no answer within 20 ms");
        assert_eq!(drpc.fetch("reach"), None, "a timed-out request is withdrawn");
        drpc.answer(1, "late".into());
        let server = drpc.clone();
        let answerer = std::thread::spawn(move || loop {
            if let Some(r) = server.fetch("reach") {
                server.fail(r.id, "its tuple tree failed".into());
                return;
            }
            std::thread::yield_now();
        });
        let error = drpc.execute("reach", "y", Duration::from_secs(30)).unwrap_err();
        assert!(error.to_string().ends_with("its tuple tree failed"), "{error}");
        answerer.join().unwrap();
    }

    #[test]
    fn a_leased_request_not_confirmed_goes_back_first_in_line() {
        let drpc = LocalDrpc::new();
        let server = drpc.clone();
        let caller = std::thread::spawn(move || server.call("f", "a", Duration::from_secs(60)));
        let lease = Duration::from_millis(50);
        let first = drpc.fetch_leased("f", Duration::from_secs(60), lease).expect("a request");
        // Never confirmed (its taker vanished): handed out again.
        let again = drpc.fetch_leased("f", Duration::from_secs(60), lease).expect("again");
        assert_eq!(again, first);
        drpc.confirm(again.id);
        assert_eq!(drpc.fetch_leased("f", Duration::from_millis(200), lease), None);
        drpc.answer(again.id, "A".into());
        assert_eq!(caller.join().unwrap(), Ok("A".to_string()));
    }

    #[test]
    fn a_held_request_fails_soon_after_its_holder_goes_silent_not_at_the_timeout() {
        let drpc = LocalDrpc::with_holder_timeout(Duration::from_millis(300));
        let (alive, dead) = (drpc.clone(), drpc.clone());
        let kept = std::thread::spawn(move || alive.call("f", "kept", Duration::from_secs(60)));
        let lost = std::thread::spawn(move || dead.call("f", "lost", Duration::from_secs(60)));
        let mut taken = Vec::new();
        while taken.len() < 2 {
            taken.extend(drpc.fetch_wait("f", Duration::from_secs(60)));
        }
        let id_of = |args: &str| taken.iter().find(|r| r.args == args).unwrap().id;
        let started = Instant::now();
        drpc.confirm_held(id_of("kept"), 1);
        drpc.confirm_held(id_of("lost"), 2);
        // Holder 1 keeps polling past the holder timeout; holder 2 died.
        while !lost.is_finished() {
            drpc.heartbeat(1);
            std::thread::sleep(Duration::from_millis(20));
            assert!(started.elapsed() < Duration::from_secs(30), "the lost request still waits");
        }
        let Err(DrpcFailure::Failed(reason)) = lost.join().unwrap() else { panic!("not failed") };
        assert!(reason.contains("stopped polling the DRPC server"), "{reason}");
        assert!(started.elapsed() >= Duration::from_millis(300), "not before the holder timeout");
        assert!(!kept.is_finished(), "a request whose holder polls still waits");
        drpc.answer(id_of("kept"), "K".into());
        assert_eq!(kept.join().unwrap(), Ok("K".to_string()));
        assert_eq!(drpc.waiting(), 0);
    }

    #[test]
    fn a_long_poll_returns_the_request_queued_while_it_waits() {
        let drpc = LocalDrpc::new();
        assert_eq!(drpc.fetch_wait("f", Duration::from_millis(10)), None);
        let server = drpc.clone();
        let poller = std::thread::spawn(move || {
            let request = server.fetch_wait("f", Duration::from_secs(60)).expect("a request");
            server.answer(request.id, format!("{}!", request.args));
        });
        assert_eq!(drpc.call("f", "a", Duration::from_secs(60)), Ok("a!".to_string()));
        poller.join().unwrap();
        assert_eq!(drpc.waiting(), 0);
    }
}
