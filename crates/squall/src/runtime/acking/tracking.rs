//! Per-task bookkeeping of tuple trees when tracking is on
//! (`at_least_once`): the [`EmitTracker`] in every task's collector that
//! gives tuples their ids and batches acker messages, anchored emits,
//! `ack`/`fail` on the collector, and the basic-bolt form of execution.
//!
//! Storm's scheme (see [`crate::runtime::acker`]): a spout tuple gets a
//! random root id; each tuple delivered to a task gets a random edge id per
//! anchor; an emit anchored to an input XORs the new edge id into the
//! input's `ack_val`; acking the input sends `id ^ ack_val` to the acker of
//! each root (`root % ackers`, Storm's fields grouping on the root id).
//!
//! What this module does not own: the ledger (the acker), the spout's
//! pending tuples and timeouts ([`crate::runtime::spout_tracker`]).

use tokio::sync::mpsc::UnboundedSender;

use crate::error::{Error, Result};
use crate::model::{AnchorIds, Tuple, Values};
use crate::runtime::acker::AckerMsg;
use crate::runtime::OutputCollector;
use crate::topology::{AckMode, Bolt, MessageId, DEFAULT_STREAM};

/// What an emit is anchored to.
#[derive(Clone, Copy)]
pub(crate) enum Anchoring<'a> {
    /// In a basic bolt, the input being executed; otherwise nothing
    /// (an unanchored emit).
    Input,
    /// These input tuples (multi-anchoring).
    Tuples(&'a [&'a Tuple]),
    /// The spout tuple with this root id.
    Root(u64),
}

/// A spout tuple whose tree the spout task must now wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Started {
    pub root: u64,
    pub msg_id: MessageId,
    /// Whether it reached any consumer; if not, its tree is already done.
    pub sent: bool,
}

/// The tracking half of a task's collector: id source, acker outboxes, the
/// input of a basic bolt, and counters published by the executor.
pub(crate) struct EmitTracker {
    /// Edge ids need to be unique, not unpredictable: wyrand is enough.
    rng: fastrand::Rng,
    task: usize,
    ackers: Vec<UnboundedSender<Vec<AckerMsg>>>,
    /// Messages for acker i, sent once per call into the component.
    outbox: Vec<Vec<AckerMsg>>,
    /// Basic bolt: ids of the input being executed, and the XOR of the edge
    /// ids of what was emitted anchored to it.
    input: AnchorIds,
    input_ack_val: u64,
    /// Spout: XOR of the edge ids of the tuple being emitted with an id.
    root_xor: u64,
    /// Spout: trees started since the executor last looked.
    pub started: Vec<Started>,
    /// Tuples acked and failed by this task since last published.
    pub acked: u64,
    pub failed: u64,
}

impl EmitTracker {
    /// The tracker of global task `task`, sending to `ackers`.
    pub fn new(task: usize, ackers: Vec<UnboundedSender<Vec<AckerMsg>>>) -> Self {
        let outbox = vec![Vec::new(); ackers.len()];
        EmitTracker {
            rng: fastrand::Rng::with_seed(rand::random()),
            task,
            ackers,
            outbox,
            input: AnchorIds::new(),
            input_ack_val: 0,
            root_xor: 0,
            started: Vec::new(),
            acked: 0,
            failed: 0,
        }
    }

    /// A fresh random id, never 0 (0 is the ledger's "done").
    fn new_id(&mut self) -> u64 {
        loop {
            let id = self.rng.u64(..);
            if id != 0 {
                return id;
            }
        }
    }

    /// The ids of one delivered copy of a tuple emitted with `anchoring`,
    /// recording the new edge ids in the anchors' `ack_val`s.
    pub fn ids_for(&mut self, anchoring: Anchoring<'_>) -> AnchorIds {
        match anchoring {
            Anchoring::Input => {
                if self.input.is_empty() {
                    return AnchorIds::new();
                }
                let e = self.new_id();
                self.input_ack_val ^= e;
                match self.input.as_slice() {
                    [(root, _)] => smallvec::smallvec![(*root, e)],
                    many => many.iter().map(|&(root, _)| (root, e)).collect(),
                }
            }
            Anchoring::Root(root) => {
                let e = self.new_id();
                self.root_xor ^= e;
                smallvec::smallvec![(root, e)]
            }
            Anchoring::Tuples(anchors) => {
                let mut ids = AnchorIds::new();
                for anchor in anchors.iter().filter(|a| !a.ids.is_empty()) {
                    let e = self.new_id();
                    anchor.ack_val.xor(e);
                    for &(root, _) in &anchor.ids {
                        match ids.iter_mut().find(|(r, _)| *r == root) {
                            Some((_, id)) => *id ^= e,
                            None => ids.push((root, e)),
                        }
                    }
                }
                ids
            }
        }
    }

    fn push(&mut self, msg: AckerMsg, root: u64) {
        let n = self.outbox.len() as u64;
        let out = &mut self.outbox[(root % n) as usize];
        // XOR is associative: an ack of the same tree as the message just
        // before it merges into it (the words of one line mostly arrive
        // together), which cuts the acker's work without changing its sum.
        if let (AckerMsg::Ack { xor, .. }, Some(AckerMsg::Ack { root: r, xor: last })) =
            (msg, out.last_mut())
        {
            if *r == root {
                *last ^= xor;
                return;
            }
        }
        out.push(msg);
    }

    /// Acks a tuple with tree ids `ids` whose children XOR to `ack_val`.
    pub fn ack(&mut self, ids: &AnchorIds, ack_val: u64) {
        for &(root, id) in ids {
            self.push(AckerMsg::Ack { root, xor: id ^ ack_val }, root);
        }
        self.acked += 1;
    }

    /// Fails the trees of a tuple with tree ids `ids`.
    pub fn fail(&mut self, ids: &AnchorIds) {
        for &(root, _) in ids {
            self.push(AckerMsg::Fail { root }, root);
        }
        self.failed += 1;
    }

    /// Spout: starts the tree of a tuple about to be emitted with an id.
    pub fn start_root(&mut self) -> u64 {
        self.root_xor = 0;
        self.new_id()
    }

    /// Spout: the tuple of `root` was routed; tell its acker.
    pub fn end_root(&mut self, root: u64, msg_id: MessageId) {
        let sent = self.root_xor != 0;
        if sent {
            let msg = AckerMsg::Init { root, xor: self.root_xor, spout_task: self.task };
            self.push(msg, root);
        }
        self.started.push(Started { root, msg_id, sent });
    }

    /// Sends what the outboxes hold. Never blocks (the acker channels are
    /// unbounded); an acker that is gone (topology stopping) is ignored.
    pub fn send(&mut self) {
        for (tx, out) in self.ackers.iter().zip(&mut self.outbox) {
            if !out.is_empty() {
                let _ = tx.send(std::mem::take(out));
            }
        }
    }
}

/// Runs `bolt` on tracked `tuples`. A basic bolt ([`AckMode::Basic`], the
/// default) has its emits anchored to the input and the input acked when
/// `execute` returns `Ok`; an `Err` fails the input (its tree is replayed)
/// and the task goes on, as Storm's `FailedException`. A manual bolt acks
/// and anchors itself; an `Err` fails its input too.
///
/// # Errors
/// None from `execute` (they fail tuples) but [`Error::TaskFailed`], which
/// fails the input and the rest of `tuples` and is returned so that the
/// task restarts; panics propagate to the caller.
///
/// `before` runs before each `execute` (it sets the current key of keyed
/// state); its error fails the tuple too.
pub(crate) fn execute_tracked(
    bolt: &mut dyn Bolt,
    tuples: impl Iterator<Item = Tuple>,
    collector: &mut OutputCollector,
    before: &mut dyn FnMut(&Tuple) -> Result<()>,
) -> Result<()> {
    let basic = bolt.ack_mode() == AckMode::Basic;
    let mut tuples = tuples;
    while let Some(tuple) = tuples.next() {
        // A basic bolt's input ids wait in the tracker; a manual bolt's are
        // kept here, to fail the input if `execute` errs.
        let mut tuple = tuple;
        let kept = if basic {
            // The engine anchors and acks for a basic bolt: the ids move.
            let tracker = collector.tracker.as_mut().expect("tracking is on");
            tracker.input = std::mem::take(&mut tuple.ids);
            tracker.input_ack_val = 0;
            AnchorIds::new()
        } else {
            tuple.ids.clone()
        };
        let result = before(&tuple).and_then(|()| bolt.execute(tuple, collector));
        let tracker = collector.tracker.as_mut().expect("tracking is on");
        let ids = if basic { std::mem::take(&mut tracker.input) } else { kept };
        match result {
            Ok(()) if basic => tracker.ack(&ids, tracker.input_ack_val),
            Ok(()) => {}
            Err(error @ Error::TaskFailed(_)) => {
                // The task is restarted; its input and the rest of the
                // batch are replayed at once rather than after a timeout.
                tracker.fail(&ids);
                for rest in tuples {
                    tracker.fail(&rest.ids);
                }
                return Err(error);
            }
            Err(error) => {
                tracing::debug!(%error, "bolt failed a tuple; its tree will be replayed");
                tracker.fail(&ids);
            }
        }
    }
    Ok(())
}

/// Anchored emits, `ack` and `fail`: Storm's reliability API.
impl OutputCollector {
    /// Emits `values` on the default stream anchored to `anchors` (several
    /// for a join or an aggregation): the spout tuples of every anchor wait
    /// for this tuple to be acked too. Without tracking it is `emit`.
    ///
    /// # Errors
    /// As [`OutputCollector::emit`].
    pub fn emit_anchored(&mut self, anchors: &[&Tuple], values: Values) -> Result<()> {
        self.emit_anchored_to(DEFAULT_STREAM, anchors, values)
    }

    /// Emits `values` on `stream` anchored to `anchors`.
    ///
    /// # Errors
    /// As [`OutputCollector::emit_to`].
    pub fn emit_anchored_to(
        &mut self,
        stream: &str,
        anchors: &[&Tuple],
        values: Values,
    ) -> Result<()> {
        self.emit_with(stream, values, Anchoring::Tuples(anchors))
    }

    /// Acks `input`: this task is done with it, and its children (emitted
    /// anchored to it before this call) carry its tree on. Call it once per
    /// input of a manual bolt ([`AckMode::Manual`]); basic bolts are acked
    /// by the engine. A no-op without tracking.
    pub fn ack(&mut self, input: &Tuple) {
        if let Some(tracker) = self.tracker.as_mut() {
            tracker.ack(&input.ids, input.ack_val.get());
        }
    }

    /// Fails `input`: the spout tuples of its trees are failed at once and
    /// replayed. A no-op without tracking.
    pub fn fail(&mut self, input: &Tuple) {
        if let Some(tracker) = self.tracker.as_mut() {
            tracker.fail(&input.ids);
        }
    }
}
