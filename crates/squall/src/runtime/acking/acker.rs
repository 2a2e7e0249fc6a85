//! Storm's acker: the [`Ledger`] of tuple trees (pure, clock-free) and the
//! acker task that runs one ([`run_acker`]).
//!
//! How it works (Storm's acker, "Guaranteeing Message Processing" in the
//! Storm docs): every tuple of a tree gets a random 64-bit id per edge. The
//! spout sends `Init(root, x)` with `x` the XOR of the ids of the tuples it
//! sent; a bolt acking an input sends `Ack(root, id ^ children)`, the XOR of
//! the input's id and the ids of the tuples it emitted anchored to it. Each
//! id so enters the ledger twice (once when created, once when acked), so
//! the ledger entry returns to 0 exactly when every tuple of the tree has
//! been acked, whatever the tree's size and in whatever order the messages
//! arrive: memory per pending spout tuple is constant. A wrong zero needs
//! two random ids to cancel, with probability 2^-64 per ack.
//!
//! Entries are kept in a [`RotatingMap`]: an entry that neither completes
//! nor fails is dropped after some rotations (the spout has timed it out by
//! then, and replays it under a new root).

use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

use crate::runtime::rotating_map::RotatingMap;

/// Buckets of the acker's ledger: with a rotation every message timeout,
/// an entry lives between 2 and 3 timeouts, longer than the spout waits.
const LEDGER_BUCKETS: usize = 3;

/// A message to an acker task, routed by `root % ackers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum AckerMsg {
    /// A spout emitted the root of a tree; `xor` is the XOR of the ids of
    /// the tuples it sent, `spout_task` the global id of the spout task.
    Init { root: u64, xor: u64, spout_task: usize },
    /// A bolt acked a tuple of the tree: its id XOR its children's ids.
    Ack { root: u64, xor: u64 },
    /// A bolt failed a tuple of the tree: the whole tree fails.
    Fail { root: u64 },
}

/// What became of a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Outcome {
    /// Every tuple of the tree was acked.
    Acked,
    /// Some tuple of the tree was failed.
    Failed,
}

/// A finished tree, sent to its spout task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Completion {
    pub root: u64,
    pub outcome: Outcome,
}

#[derive(Debug, Default)]
struct Entry {
    /// XOR of every id seen for the tree.
    val: u64,
    /// Set by `Init`: the tree is complete only once its spout has spoken.
    spout_task: Option<usize>,
    failed: bool,
}

/// The pending trees of one acker task: root id -> XOR of ids, spout task.
#[derive(Debug)]
pub(crate) struct Ledger {
    pending: RotatingMap<u64, Entry>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger { pending: RotatingMap::new(LEDGER_BUCKETS) }
    }
}

impl Ledger {
    /// Applies one message. Returns the spout task and the tree's fate once
    /// it is decided: acked when its XOR is 0 after the spout's `Init`,
    /// failed as soon as one tuple failed and the spout is known.
    pub fn apply(&mut self, msg: AckerMsg) -> Option<(usize, Completion)> {
        let root = match msg {
            AckerMsg::Init { root, .. } | AckerMsg::Ack { root, .. } | AckerMsg::Fail { root } => {
                root
            }
        };
        let entry = self.pending.get_or_insert_with(root, Entry::default);
        match msg {
            AckerMsg::Init { xor, spout_task, .. } => {
                entry.val ^= xor;
                entry.spout_task = Some(spout_task);
            }
            AckerMsg::Ack { xor, .. } => entry.val ^= xor,
            AckerMsg::Fail { .. } => entry.failed = true,
        }
        let spout_task = entry.spout_task?;
        let outcome = if entry.failed {
            Outcome::Failed
        } else if entry.val == 0 {
            Outcome::Acked
        } else {
            return None;
        };
        self.pending.remove(&root);
        Some((spout_task, Completion { root, outcome }))
    }

    /// Trees pending (started or acked, not yet decided).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// One period passed: drops the trees of the oldest bucket (their
    /// spouts have timed them out). Returns how many were dropped.
    pub fn rotate(&mut self) -> usize {
        self.pending.rotate().count()
    }
}

/// Where an acker sends the completions of spout task `t`:
/// `spouts[t]` (indexed by global task id; `None` for bolts).
pub(crate) type SpoutInboxes = Vec<Option<UnboundedSender<Completion>>>;

/// Runs one acker task until every sender of `inbox` is gone (all
/// executors stopped) or `cancel` fires. Never blocks on a spout: the
/// spouts' inboxes are unbounded, and hold at most `max_spout_pending`
/// completions each.
pub(crate) async fn run_acker(
    mut inbox: UnboundedReceiver<Vec<AckerMsg>>,
    spouts: SpoutInboxes,
    message_timeout: Duration,
    cancel: CancellationToken,
) {
    let mut ledger = Ledger::default();
    let mut tick = tokio::time::interval(message_timeout);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            msgs = inbox.recv() => {
                let Some(msgs) = msgs else { return };
                for msg in msgs {
                    if let Some((task, completion)) = ledger.apply(msg) {
                        if let Some(Some(tx)) = spouts.get(task) {
                            // A spout that stopped no longer cares.
                            let _ = tx.send(completion);
                        }
                    }
                }
            }
            _ = tick.tick() => {
                let dropped = ledger.rotate();
                if dropped > 0 {
                    tracing::debug!(dropped, "acker dropped expired tuple trees");
                }
            }
        }
    }
}

/// The channels of a tracked topology: one inbox per acker task, one per
/// spout task, and the acker tasks to spawn.
pub(crate) struct AckerWiring {
    /// Senders to acker i, for every task's collector.
    pub ackers: Vec<UnboundedSender<Vec<AckerMsg>>>,
    /// The completions inbox of each spout task (global id).
    pub spout_inboxes: Vec<Option<UnboundedReceiver<Completion>>>,
    /// The acker tasks, to spawn on the runtime.
    pub tasks: Vec<AckerTask>,
}

/// One acker task, ready to run.
pub(crate) struct AckerTask {
    inbox: UnboundedReceiver<Vec<AckerMsg>>,
    spouts: SpoutInboxes,
    message_timeout: Duration,
    cancel: CancellationToken,
}

impl AckerTask {
    /// Runs it: see [`run_acker`].
    pub async fn run(self) {
        run_acker(self.inbox, self.spouts, self.message_timeout, self.cancel).await
    }

    /// Its inbox and the spout tasks' inboxes, for a cluster worker that
    /// forwards them to the worker running the ackers.
    pub fn into_parts(self) -> (UnboundedReceiver<Vec<AckerMsg>>, SpoutInboxes) {
        (self.inbox, self.spouts)
    }
}

impl AckerWiring {
    /// Channels for `ackers` acker tasks and the spout tasks `spout_tasks`
    /// among `total_tasks` tasks.
    pub fn new(
        ackers: usize,
        spout_tasks: impl IntoIterator<Item = usize>,
        total_tasks: usize,
        message_timeout: Duration,
        cancel: &CancellationToken,
    ) -> Self {
        let mut spouts: SpoutInboxes = vec![None; total_tasks];
        let mut spout_inboxes: Vec<Option<UnboundedReceiver<Completion>>> =
            (0..total_tasks).map(|_| None).collect();
        for t in spout_tasks {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            spouts[t] = Some(tx);
            spout_inboxes[t] = Some(rx);
        }
        let mut senders = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..ackers {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            senders.push(tx);
            tasks.push(AckerTask {
                inbox: rx,
                spouts: spouts.clone(),
                message_timeout,
                cancel: cancel.clone(),
            });
        }
        AckerWiring { ackers: senders, spout_inboxes, tasks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(root: u64, xor: u64) -> AckerMsg {
        AckerMsg::Init { root, xor, spout_task: 7 }
    }
    fn ack(root: u64, xor: u64) -> AckerMsg {
        AckerMsg::Ack { root, xor }
    }
    fn acked(root: u64) -> Option<(usize, Completion)> {
        Some((7, Completion { root, outcome: Outcome::Acked }))
    }

    /// Applies `msgs` and returns what the last one decided; none before it
    /// may decide anything.
    fn run(ledger: &mut Ledger, msgs: &[AckerMsg]) -> Option<(usize, Completion)> {
        let (last, first) = msgs.split_last().unwrap();
        for (i, m) in first.iter().enumerate() {
            assert_eq!(ledger.apply(*m), None, "message {i} ({m:?}) decided too early");
        }
        ledger.apply(*last)
    }

    #[test]
    fn three_level_tree_completes_on_the_last_ack_only() {
        // spout -> a, b ; a -> c, d ; c -> e ; b, d, e leaves.
        let (a, b, c, d, e) = (0x11, 0x22, 0x404, 0x8008, 0x10_0001);
        let mut ledger = Ledger::default();
        let msgs =
            [init(1, a ^ b), ack(1, a ^ c ^ d), ack(1, b), ack(1, c ^ e), ack(1, d), ack(1, e)];
        assert_eq!(run(&mut ledger, &msgs), acked(1));
        assert_eq!(ledger.len(), 0, "a decided tree leaves the ledger");
    }

    #[test]
    fn acks_arriving_before_the_init_complete_the_tree_when_it_comes() {
        let (a, b, c) = (0x1234, 0x9999_0000, 0x5555);
        // Every order of the four messages gives the same answer.
        let msgs = [init(9, a ^ b), ack(9, a ^ c), ack(9, b), ack(9, c)];
        let orders = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 1, 3, 0]];
        for order in orders {
            let mut ledger = Ledger::default();
            let seq: Vec<AckerMsg> = order.iter().map(|&i| msgs[i]).collect();
            assert_eq!(run(&mut ledger, &seq), acked(9), "order {order:?}");
        }
        // Acks alone, whose XOR is 0, never complete a tree without its Init.
        let mut ledger = Ledger::default();
        assert_eq!(ledger.apply(ack(3, a)), None);
        assert_eq!(ledger.apply(ack(3, a)), None);
        assert_eq!(ledger.len(), 1);
    }

    #[test]
    fn multi_anchored_tuple_joins_two_trees() {
        // Roots 1 and 2 each send one tuple (x1, x2) to a join bolt that
        // emits one tuple anchored to both: edge id j1 towards tree 1 and
        // j2 towards tree 2 (one id per anchor, as Storm does).
        let (x1, x2, j1, j2) = (0xa1, 0xb2, 0xc3c3, 0xd4d4_0000);
        let mut ledger = Ledger::default();
        assert_eq!(ledger.apply(init(1, x1)), None);
        assert_eq!(ledger.apply(init(2, x2)), None);
        // The join acks its two inputs, each with the id it gave the child.
        assert_eq!(ledger.apply(ack(1, x1 ^ j1)), None);
        assert_eq!(ledger.apply(ack(2, x2 ^ j2)), None);
        // The sink acks the joined tuple: one ack per root it carries.
        assert_eq!(ledger.apply(ack(1, j1)), acked(1));
        assert_eq!(ledger.apply(ack(2, j2)), acked(2));
    }

    #[test]
    fn a_fail_decides_at_once_even_before_the_init() {
        let mut ledger = Ledger::default();
        assert_eq!(ledger.apply(AckerMsg::Fail { root: 5 }), None, "spout not known yet");
        let got = ledger.apply(init(5, 0x77));
        assert_eq!(got, Some((7, Completion { root: 5, outcome: Outcome::Failed })));
        let mut ledger = Ledger::default();
        ledger.apply(init(6, 0x1));
        let got = ledger.apply(AckerMsg::Fail { root: 6 });
        assert_eq!(got.unwrap().1.outcome, Outcome::Failed);
    }

    #[test]
    fn a_duplicated_ack_never_completes_a_tree_early() {
        // The same ack delivered twice cancels itself: the tree then stays
        // pending (and times out and is replayed) rather than being acked
        // with a tuple unprocessed.
        let (a, b) = (0xf00d, 0xbeef_0000);
        let mut ledger = Ledger::default();
        ledger.apply(init(4, a ^ b));
        assert_eq!(ledger.apply(ack(4, a)), None);
        assert_eq!(ledger.apply(ack(4, a)), None);
        assert_eq!(ledger.apply(ack(4, b)), None, "duplicate kept the tree open");
        // Two edges that drew the same random id cancel out in the XOR:
        // Storm's accepted 2^-64 risk, shown here with the id 0x5 twice.
        let mut ledger = Ledger::default();
        assert_eq!(ledger.apply(init(8, 0x5 ^ 0x5)), acked(8));
    }

    #[test]
    fn expired_trees_are_dropped_after_rotations() {
        let mut ledger = Ledger::default();
        ledger.apply(init(1, 0x1));
        for _ in 0..LEDGER_BUCKETS - 1 {
            assert_eq!(ledger.rotate(), 0);
        }
        assert_eq!(ledger.rotate(), 1);
        assert_eq!(ledger.len(), 0);
        // A late ack for the dropped tree starts a new entry that can never
        // complete (no Init): it too is dropped by rotations.
        assert_eq!(ledger.apply(ack(1, 0x1)), None);
    }
}
