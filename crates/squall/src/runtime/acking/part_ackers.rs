//! Storm's ackers for a topology spread over several cluster workers.
//!
//! Every acker task runs in one worker (the one that holds task 0, which
//! also coordinates checkpoints, under `exactly_once` and under `at_least_once`
//! with checkpoints on, where both planes run). In the other workers,
//! what local tasks send to an acker (`Init`, `Ack`, `Fail`, routed by root
//! id as in local mode) comes out of an [`AckerOutbox`] for the cluster
//! crate to carry to that worker; there it goes into the ackers through an
//! [`AckerInbox`]. The ackers' verdicts for spout tasks of other workers
//! travel back the same way. [`AckerTraffic`] is the serializable unit.
//! The ledger, timeouts and replays are local mode's (`runtime/acking/acker.rs`,
//! `runtime/acking/spout_tracker.rs`).

use std::future::Future;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::runtime::acker::{AckerMsg, AckerTask, Completion, SpoutInboxes};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Traffic {
    /// Messages for acker task `acker` (an index among the ackers).
    ToAcker { acker: usize, msgs: Vec<AckerMsg> },
    /// A verdict for spout task `task` (global id).
    ToSpout { task: usize, completion: Completion },
}

/// Acker messages or a spout's verdict, crossing a process boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AckerTraffic(Traffic);

impl AckerTraffic {
    /// The spout task a verdict is for; `None` for messages to an acker.
    pub fn spout_task(&self) -> Option<usize> {
        match self.0 {
            Traffic::ToSpout { task, .. } => Some(task),
            Traffic::ToAcker { .. } => None,
        }
    }
}

/// Delivers [`AckerTraffic`] from other workers to the local ackers or
/// spout tasks.
#[derive(Clone)]
pub struct AckerInbox {
    ackers: Vec<UnboundedSender<Vec<AckerMsg>>>,
    spouts: SpoutInboxes,
}

impl AckerInbox {
    /// Delivers `traffic`; `false` if it has no local recipient (an acker
    /// or a spout task of another worker, or one that stopped).
    pub fn deliver(&self, traffic: AckerTraffic) -> bool {
        match traffic.0 {
            Traffic::ToAcker { acker, msgs } => {
                self.ackers.get(acker).is_some_and(|tx| tx.send(msgs).is_ok())
            }
            Traffic::ToSpout { task, completion } => {
                matches!(self.spouts.get(task), Some(Some(tx)) if tx.send(completion).is_ok())
            }
        }
    }
}

/// Traffic of local tasks for another worker's ackers, or the ackers'
/// verdicts for another worker's spout task.
pub struct AckerOutbox(Outbox);

enum Outbox {
    Acker(usize, UnboundedReceiver<Vec<AckerMsg>>),
    Spout(usize, UnboundedReceiver<Completion>),
}

impl AckerOutbox {
    /// The next unit to send; `None` once every local sender has stopped.
    pub async fn recv(&mut self) -> Option<AckerTraffic> {
        let traffic = match &mut self.0 {
            Outbox::Acker(acker, rx) => Traffic::ToAcker { acker: *acker, msgs: rx.recv().await? },
            Outbox::Spout(task, rx) => {
                Traffic::ToSpout { task: *task, completion: rx.recv().await? }
            }
        };
        Some(AckerTraffic(traffic))
    }
}

/// One worker's side of the ackers.
pub struct PartAckers {
    tasks: Vec<AckerTask>,
    inbox: AckerInbox,
    outboxes: Vec<AckerOutbox>,
}

impl PartAckers {
    /// Its three ends: the acker tasks that run in this worker (all of
    /// them in the ackers' worker, none elsewhere; the future ends when
    /// their inboxes close, once every local task and every
    /// [`AckerInbox`] clone has stopped), where traffic from other workers
    /// goes, and the traffic for other workers.
    pub fn split(
        self,
    ) -> (impl Future<Output = ()> + Send + 'static, AckerInbox, Vec<AckerOutbox>) {
        let tasks = self.tasks;
        let run = async move {
            let mut set = tokio::task::JoinSet::new();
            for t in tasks {
                set.spawn(t.run());
            }
            while set.join_next().await.is_some() {}
        };
        (run, self.inbox, self.outboxes)
    }

    /// This worker's side of the ackers, out of what `plan::build_part`
    /// left: acker `tasks`, their `inboxes`, and the inboxes of spout tasks
    /// without an executor here. With `runs_ackers`, every acker task and
    /// the verdicts for other workers' spouts; otherwise the local tasks'
    /// acker messages out and their spouts' verdicts in.
    pub(crate) fn new(
        tasks: Vec<AckerTask>,
        inboxes: Vec<UnboundedSender<Vec<AckerMsg>>>,
        remote_spouts: Vec<(usize, UnboundedReceiver<Completion>)>,
        runs_ackers: bool,
    ) -> PartAckers {
        match runs_ackers {
            true => PartAckers {
                tasks,
                inbox: AckerInbox { ackers: inboxes, spouts: Vec::new() },
                outboxes: remote_spouts
                    .into_iter()
                    .map(|(task, rx)| AckerOutbox(Outbox::Spout(task, rx)))
                    .collect(),
            },
            false => {
                drop(inboxes);
                let mut spouts = Vec::new();
                let mut outboxes = Vec::new();
                for (index, task) in tasks.into_iter().enumerate() {
                    let (rx, s) = task.into_parts();
                    spouts = s;
                    outboxes.push(AckerOutbox(Outbox::Acker(index, rx)));
                }
                PartAckers {
                    tasks: Vec::new(),
                    inbox: AckerInbox { ackers: Vec::new(), spouts },
                    outboxes,
                }
            }
        }
    }
}
