//! The checkpoint coordinator's decisions, as pure functions.
//!
//! How this module is built (after Arroyo's `arroyo-state-protocol`): **I/O
//! at the edges, pure decisions in the middle.** [`Coordinator::on`] takes
//! one [`Input`] (a clock tick, a task's acknowledgement or refusal, a task
//! that finished) and returns the [`Decision`]s that follow (trigger
//! checkpoint n, complete it, abort it, end the run). It never reads a
//! clock, a channel or a file: the runtime's coordinator task
//! (`runtime/checkpointing/coordinator.rs`) feeds it and carries the decisions out, and
//! the tests below drive it alone.
//!
//! The protocol is Flink's asynchronous barrier snapshots (Carbone et al.,
//! "Lightweight Asynchronous Snapshots for Distributed Dataflows", 2015):
//! checkpoint n is triggered at the sources, which record their position
//! and emit barrier n; every task snapshots when barrier n has arrived on
//! all its inputs and acknowledges; n is complete when every task has
//! acknowledged, and only then may sinks commit what they pre-committed for
//! n. Invariants kept here:
//! - at most one checkpoint is pending at a time; ids only grow;
//! - a checkpoint completes only with an acknowledgement of every task;
//! - once a task has finished (its bounded input ended), no checkpoint is
//!   triggered and a pending one that misses the task's acknowledgement is
//!   aborted (a finished task cannot snapshot) — Flink before FLIP-147 did
//!   the same. The run's output is then committed by [`Decision::EndOfRun`]
//!   when every task has finished.

use std::collections::{BTreeMap, BTreeSet};

use crate::checkpoint::CheckpointBarrier;

/// Timing of the coordinator (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Time from one trigger to the next.
    pub interval_ms: u64,
    /// A pending checkpoint older than this is aborted.
    pub timeout_ms: u64,
}

/// What the coordinator is told (serializable: in cluster mode tasks of
/// other workers send it over the network).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Input<A> {
    /// The clock reads `now_ms` (any monotonic origin).
    Tick {
        /// Now (ms).
        now_ms: u64,
    },
    /// Task `task` wrote its snapshot of checkpoint `id`; `ack` says where.
    Ack {
        /// The checkpoint.
        id: u64,
        /// Global task id.
        task: usize,
        /// What the task wrote.
        ack: A,
    },
    /// Task `task` could not snapshot checkpoint `id`.
    Decline {
        /// The checkpoint.
        id: u64,
        /// Global task id.
        task: usize,
        /// Why.
        reason: String,
    },
    /// The tasks `tasks` finished: their input ended and they drained.
    Finished {
        /// Global task ids.
        tasks: Vec<usize>,
    },
    /// The user asks for a savepoint: a checkpoint triggered now (or as
    /// soon as the pending one ends), kept apart from the retained ones.
    Savepoint,
}

/// What the coordinator decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<A> {
    /// Inject barrier `0` at every source.
    Trigger(CheckpointBarrier),
    /// Every task acknowledged checkpoint `id`: write its metadata, then
    /// tell the tasks (sinks commit).
    Complete {
        /// The checkpoint.
        id: u64,
        /// Whether it was asked for as a savepoint.
        savepoint: bool,
        /// When it was triggered (ms, the clock of [`Input::Tick`]).
        triggered_ms: u64,
        /// Every task's acknowledgement, by global task id.
        acks: BTreeMap<usize, A>,
    },
    /// Checkpoint `id` will not complete; its partial files may be deleted.
    Abort {
        /// The checkpoint.
        id: u64,
        /// Why, for the log.
        reason: String,
    },
    /// A requested savepoint cannot be taken (a task has finished) or was
    /// aborted.
    SavepointFailed {
        /// Why.
        reason: String,
    },
    /// Every task finished: sinks commit everything, the run is over.
    EndOfRun,
}

#[derive(Debug)]
struct Pending<A> {
    id: u64,
    triggered_ms: u64,
    acks: BTreeMap<usize, A>,
    savepoint: bool,
}

/// The coordinator's state for one run of a topology.
#[derive(Debug)]
pub struct Coordinator<A> {
    timing: Timing,
    tasks: BTreeSet<usize>,
    next_id: u64,
    last_trigger_ms: Option<u64>,
    pending: Option<Pending<A>>,
    finished: BTreeSet<usize>,
    ended: bool,
    savepoint_requested: bool,
}

impl<A> Coordinator<A> {
    /// A coordinator expecting acknowledgements from `tasks` (global ids),
    /// whose first checkpoint gets id `first_id`.
    pub fn new(timing: Timing, tasks: impl IntoIterator<Item = usize>, first_id: u64) -> Self {
        Coordinator {
            timing,
            tasks: tasks.into_iter().collect(),
            next_id: first_id,
            last_trigger_ms: None,
            pending: None,
            finished: BTreeSet::new(),
            ended: false,
            savepoint_requested: false,
        }
    }

    /// The pending checkpoint's id, if any.
    pub fn pending(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.id)
    }

    /// The id the next triggered checkpoint will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Takes one input and returns what to do, in order.
    pub fn on(&mut self, input: Input<A>) -> Vec<Decision<A>> {
        match input {
            Input::Tick { now_ms } => self.tick(now_ms),
            Input::Ack { id, task, ack } => self.ack(id, task, ack),
            Input::Decline { id, task, reason } => match self.pending.take() {
                Some(p) if p.id == id => {
                    Self::aborted(p, format!("task {task} declined: {reason}"))
                }
                other => {
                    self.pending = other;
                    Vec::new()
                }
            },
            Input::Finished { tasks } => self.finished(tasks),
            Input::Savepoint => {
                if !self.finished.is_empty() {
                    return vec![Decision::SavepointFailed {
                        reason: "a task has finished its input; no checkpoint can be taken".into(),
                    }];
                }
                self.savepoint_requested = true;
                Vec::new() // triggered by the next tick
            }
        }
    }

    /// Decisions for pending checkpoint `p` aborted for `reason`.
    fn aborted(p: Pending<A>, reason: String) -> Vec<Decision<A>> {
        let mut out = vec![Decision::Abort { id: p.id, reason: reason.clone() }];
        if p.savepoint {
            out.push(Decision::SavepointFailed { reason: format!("savepoint {}: {reason}", p.id) });
        }
        out
    }

    fn tick(&mut self, now_ms: u64) -> Vec<Decision<A>> {
        let mut out = Vec::new();
        if let Some(p) = self.pending.take() {
            if now_ms.saturating_sub(p.triggered_ms) >= self.timing.timeout_ms {
                let missing: Vec<usize> =
                    self.tasks.iter().filter(|t| !p.acks.contains_key(t)).copied().collect();
                let reason = format!(
                    "not acknowledged within {} ms by tasks {missing:?}",
                    self.timing.timeout_ms
                );
                out.extend(Self::aborted(p, reason));
            } else {
                self.pending = Some(p);
                return out;
            }
        }
        if !self.finished.is_empty() {
            return out;
        }
        let due = self.savepoint_requested
            || match self.last_trigger_ms {
                None => true,
                Some(t) => now_ms.saturating_sub(t) >= self.timing.interval_ms,
            };
        if due {
            let id = self.next_id;
            self.next_id += 1;
            self.last_trigger_ms = Some(now_ms);
            let savepoint = std::mem::take(&mut self.savepoint_requested);
            self.pending =
                Some(Pending { id, triggered_ms: now_ms, acks: BTreeMap::new(), savepoint });
            out.push(Decision::Trigger(CheckpointBarrier { id, timestamp_ms: now_ms }));
        }
        out
    }

    /// Whether the first trigger should wait one interval: call once at the
    /// start with the start time, so that checkpoint 1 comes after
    /// `interval_ms` rather than at once.
    pub fn start(&mut self, now_ms: u64) {
        self.last_trigger_ms = Some(now_ms);
    }

    fn ack(&mut self, id: u64, task: usize, ack: A) -> Vec<Decision<A>> {
        let Some(p) = self.pending.as_mut() else {
            return Vec::new();
        };
        if p.id != id || !self.tasks.contains(&task) {
            return Vec::new(); // late ack of an aborted checkpoint
        }
        p.acks.insert(task, ack);
        if p.acks.len() < self.tasks.len() {
            return Vec::new();
        }
        let p = self.pending.take().expect("checked above");
        vec![Decision::Complete {
            id: p.id,
            savepoint: p.savepoint,
            triggered_ms: p.triggered_ms,
            acks: p.acks,
        }]
    }

    fn finished(&mut self, tasks: Vec<usize>) -> Vec<Decision<A>> {
        let mut out = Vec::new();
        self.finished.extend(tasks.iter().copied().filter(|t| self.tasks.contains(t)));
        if let Some(p) = self.pending.take() {
            if tasks.iter().any(|t| !p.acks.contains_key(t)) {
                let reason = format!("tasks {tasks:?} finished before acknowledging");
                out.extend(Self::aborted(p, reason));
            } else {
                self.pending = Some(p);
            }
        }
        if std::mem::take(&mut self.savepoint_requested) {
            out.push(Decision::SavepointFailed {
                reason: "a task finished its input before the savepoint was taken".into(),
            });
        }
        if !self.ended && self.finished.len() == self.tasks.len() {
            self.ended = true;
            out.push(Decision::EndOfRun);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const T: Timing = Timing { interval_ms: 100, timeout_ms: 1000 };

    fn triggered(d: &[Decision<u8>]) -> Option<u64> {
        d.iter().find_map(|d| match d {
            Decision::Trigger(b) => Some(b.id),
            _ => None,
        })
    }

    #[test]
    fn triggers_on_interval_and_completes_when_all_acked() {
        let mut c = Coordinator::<u8>::new(T, [0, 1, 2], 1);
        c.start(0);
        assert!(c.on(Input::Tick { now_ms: 50 }).is_empty(), "not due yet");
        assert_eq!(triggered(&c.on(Input::Tick { now_ms: 100 })), Some(1));
        assert!(c.on(Input::Tick { now_ms: 250 }).is_empty(), "one pending at a time");
        assert!(c.on(Input::Ack { id: 1, task: 0, ack: 10 }).is_empty());
        assert!(c.on(Input::Ack { id: 1, task: 2, ack: 12 }).is_empty());
        let d = c.on(Input::Ack { id: 1, task: 1, ack: 11 });
        let Decision::Complete { id, acks, triggered_ms, savepoint } = &d[0] else {
            panic!("{d:?}")
        };
        assert_eq!((*id, *triggered_ms, *savepoint), (1, 100, false));
        assert_eq!(acks.values().copied().collect::<Vec<_>>(), [10, 11, 12]);
        assert_eq!(triggered(&c.on(Input::Tick { now_ms: 260 })), Some(2));
    }

    #[test]
    fn timeout_aborts_and_late_acks_are_ignored() {
        let mut c = Coordinator::<u8>::new(T, [0, 1], 5);
        assert_eq!(triggered(&c.on(Input::Tick { now_ms: 0 })), Some(5));
        c.on(Input::Ack { id: 5, task: 0, ack: 0 });
        let d = c.on(Input::Tick { now_ms: 1000 });
        assert!(
            matches!(&d[0], Decision::Abort { id: 5, reason } if reason.contains("[1]")),
            "{d:?}"
        );
        assert_eq!(triggered(&d), Some(6), "the next one is triggered right away");
        assert!(c.on(Input::Ack { id: 5, task: 1, ack: 0 }).is_empty(), "late ack of 5");
    }

    #[test]
    fn decline_aborts() {
        let mut c = Coordinator::<u8>::new(T, [0], 1);
        c.on(Input::Tick { now_ms: 0 });
        let d = c.on(Input::Decline { id: 1, task: 0, reason: "disk full".into() });
        assert!(matches!(&d[0], Decision::Abort { id: 1, reason } if reason.contains("disk full")));
        assert_eq!(c.pending(), None);
    }

    #[test]
    fn finished_task_stops_checkpoints_then_end_of_run() {
        let mut c = Coordinator::<u8>::new(T, [0, 1], 1);
        c.on(Input::Tick { now_ms: 0 });
        c.on(Input::Ack { id: 1, task: 1, ack: 0 });
        let d = c.on(Input::Finished { tasks: vec![0] });
        assert!(matches!(d[..], [Decision::Abort { id: 1, .. }]), "{d:?}");
        assert!(c.on(Input::Tick { now_ms: 10_000 }).is_empty(), "no trigger after a finish");
        assert_eq!(c.on(Input::Finished { tasks: vec![1] }), [Decision::EndOfRun]);
    }

    #[test]
    fn savepoint_triggers_at_once_and_completes_marked() {
        let mut c = Coordinator::<u8>::new(T, [0], 1);
        c.start(0);
        assert!(c.on(Input::Savepoint).is_empty());
        assert_eq!(triggered(&c.on(Input::Tick { now_ms: 1 })), Some(1), "not waiting 100 ms");
        let d = c.on(Input::Ack { id: 1, task: 0, ack: 0 });
        assert!(matches!(d[..], [Decision::Complete { id: 1, savepoint: true, .. }]), "{d:?}");
        // Asked while one is pending: taken right after it.
        c.on(Input::Tick { now_ms: 200 });
        c.on(Input::Savepoint);
        assert!(c.on(Input::Tick { now_ms: 210 }).is_empty());
        c.on(Input::Ack { id: 2, task: 0, ack: 0 });
        assert_eq!(triggered(&c.on(Input::Tick { now_ms: 220 })), Some(3));
        let d = c.on(Input::Tick { now_ms: 5000 });
        assert!(
            matches!(&d[..], [Decision::Abort { id: 3, .. }, Decision::SavepointFailed { .. }, ..]),
            "{d:?}"
        );
        c.on(Input::Finished { tasks: vec![0] });
        let d = c.on(Input::Savepoint);
        assert!(matches!(&d[..], [Decision::SavepointFailed { .. }]), "{d:?}");
    }

    proptest! {
        /// Whatever the order of inputs, ids only grow, at most one is
        /// pending, and a checkpoint completes only with every task's ack.
        #[test]
        fn invariants_hold_for_any_input_order(
            ops in proptest::collection::vec((0u8..4, 0usize..4, 0u64..4), 1..200)
        ) {
            let tasks = [0usize, 1, 2];
            let mut c = Coordinator::<usize>::new(T, tasks, 1);
            let mut now = 0;
            let mut last_trigger = 0;
            let mut open: Option<u64> = None;
            for (kind, task, delta) in ops {
                let input = match kind {
                    0 => { now += delta * 60; Input::Tick { now_ms: now } }
                    1 | 2 => Input::Ack { id: open.unwrap_or(0), task, ack: task },
                    _ => Input::Decline { id: open.unwrap_or(0), task, reason: String::new() },
                };
                for d in c.on(input) {
                    match d {
                        Decision::Trigger(b) => {
                            prop_assert!(open.is_none(), "two pending");
                            prop_assert!(b.id > last_trigger, "ids grow");
                            last_trigger = b.id;
                            open = Some(b.id);
                        }
                        Decision::Complete { id, acks, .. } => {
                            prop_assert_eq!(Some(id), open);
                            prop_assert_eq!(acks.keys().copied().collect::<Vec<_>>(), tasks.to_vec());
                            open = None;
                        }
                        Decision::Abort { id, .. } => {
                            prop_assert_eq!(Some(id), open);
                            open = None;
                        }
                        Decision::EndOfRun | Decision::SavepointFailed { .. } => {
                            prop_assert!(false, "no task finished, no savepoint asked")
                        }
                    }
                }
                prop_assert_eq!(c.pending(), open);
            }
        }
    }
}
