//! The one job driver: the loop that runs a topology to its end in local
//! mode and on a cluster alike (Flink's MiniCluster and JobMaster restart
//! loop). Where the tasks are and how they talk is an [`AttemptHost`]: the
//! local one runs every task in this process with in-process links
//! (`local_host.rs`); the cluster's (`squall-cluster`'s `distributed.rs`)
//! runs this worker's tasks with TCP links, agreeing with its peers
//! through etcd.
//!
//! The loop owns:
//! - **what is recorded**: a run whose end is recorded through the fence
//!   ([`crate::checkpoint::END_OF_RUN`]) is over, whichever copy ended it;
//! - **what an attempt restores**: the newest recorded checkpoint of this
//!   run that reads back intact, else the savepoint it started from
//!   (`config.restore_from`), else nothing;
//! - **the restart rule**: one [`RestartTracker`] over the topology's
//!   [`RestartStrategy`], the reasons attempts ended, and the one "giving
//!   up after N restarts (rule): reasons" error ([`Error::GaveUp`]);
//! - **fencing**: a copy whose assignment moved on (the fence says stale)
//!   neither restarts nor reports a finished run; it commits nothing more.
//!
//! `docs/architecture.md` ("The one job driver") draws the loop.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{CheckpointStorage, RestoredCheckpoint, END_OF_RUN};
use crate::error::{Error, Result};
use crate::runtime::fence::Fence;
use crate::runtime::restart_strategy::{RestartRefused, RestartTracker};
use crate::topology::{RestartStrategy, Topology};

/// What every task of an attempt restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestorePoint {
    /// Checkpoint `id` of the topology's checkpoint storage.
    Checkpoint(u64),
    /// The savepoint at this location (`config.restore_from`), before the
    /// run took a checkpoint of its own.
    Savepoint(String),
}

impl RestorePoint {
    /// Reads it back.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if it is missing, incomplete or corrupt.
    pub async fn load(&self, storage: &CheckpointStorage) -> Result<RestoredCheckpoint> {
        match self {
            RestorePoint::Checkpoint(id) => storage.load(*id).await,
            RestorePoint::Savepoint(at) => CheckpointStorage::load_savepoint(at).await,
        }
    }
}

/// One attempt, as the driver hands it to its [`AttemptHost`].
#[derive(Debug)]
pub struct Attempt {
    /// Its number: 0 first, one more per restart (on a cluster shared by
    /// the workers of one epoch).
    pub number: u64,
    /// The topology's checkpoint storage (`None` without checkpoints).
    pub storage: Option<Arc<CheckpointStorage>>,
    /// What the driver chose to restore (`None`: a fresh start, or a host
    /// that does not choose: [`AttemptHost::chooses_restore`]).
    pub restore: Option<RestorePoint>,
    /// `restore`, already read back by the driver.
    restored: Option<RestoredCheckpoint>,
    /// The lowest checkpoint id this run may use: above the savepoint it
    /// started from and every checkpoint before it; 0 without a savepoint.
    pub run_first_id: u64,
}

impl Attempt {
    /// Reads back `agreed`, what every task of this attempt restores (the
    /// chooser's [`Attempt::restore`]), reusing the driver's read when it
    /// is the same; logs what it restores.
    ///
    /// # Errors
    /// As [`RestorePoint::load`].
    pub async fn restored(
        &mut self,
        storage: &CheckpointStorage,
        agreed: Option<&RestorePoint>,
    ) -> Result<Option<RestoredCheckpoint>> {
        let restored = match agreed {
            None => None,
            Some(p) if Some(p) == self.restore.as_ref() && self.restored.is_some() => {
                self.restored.take()
            }
            Some(p) => Some(p.load(storage).await?),
        };
        if let Some(r) = &restored {
            tracing::info!("attempt {}: restoring checkpoint {}", self.number, r.id());
        }
        Ok(restored)
    }

    /// The first checkpoint id this attempt's coordinator uses: above every
    /// id in `storage` and not below [`Attempt::run_first_id`].
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the storage cannot be listed.
    pub async fn first_checkpoint_id(&self, storage: &CheckpointStorage) -> Result<u64> {
        Ok(storage.list().await?.last().map_or(1, |last| last + 1).max(self.run_first_id))
    }
}

/// How an attempt ended.
#[derive(Debug)]
pub enum AttemptEnd {
    /// The topology finished and every sink committed.
    Finished,
    /// A task failed, a peer was lost or a newer attempt started: the
    /// restart strategy decides.
    Failed(Error),
    /// The coordinator was refused a completion: this copy is stale.
    Stale,
}

/// Where an attempt's tasks run and how they agree: in this process, or
/// this worker's share of a cluster.
pub trait AttemptHost: Send {
    /// Where completed checkpoints are recorded, fenced against stale
    /// copies (`None`: one process, one copy).
    fn fence(&self) -> Option<Fence>;

    /// Whether this host chooses what attempts restore (locally always; on
    /// a cluster the worker of task 0). The others take the chooser's
    /// choice inside [`AttemptHost::run`].
    fn chooses_restore(&self) -> bool {
        true
    }

    /// Whether a topology without checkpoints restarts whole when an
    /// attempt fails under `at_least_once` (its input replayed from the
    /// start). Locally a failing task restarts by itself
    /// (`max_task_restarts`); a cluster also loses whole workers.
    fn restarts_without_checkpoints(&self) -> bool {
        false
    }

    /// Where attempt numbers count, for messages (`" in epoch 3"`).
    fn scope(&self) -> String {
        String::new()
    }

    /// Agrees on the number of the attempt to start now.
    fn agree(&mut self) -> impl Future<Output = Result<u64>> + Send;

    /// Runs `attempt` to its end.
    ///
    /// # Errors
    /// When the topology cannot run at all (no restart helps).
    fn run(&mut self, attempt: Attempt) -> impl Future<Output = Result<AttemptEnd>> + Send;

    /// Attempt `number` failed and another is granted: lets the others
    /// know (on a cluster, raises the shared number).
    fn restarting(&mut self, number: u64) -> impl Future<Output = Result<()>> + Send;
}

/// The strategy that applies to `topology` on `host`: whole restarts need
/// a checkpoint to go back to, or a tracked input to replay on a host that
/// loses workers; anything else runs one attempt.
fn restart_rule(topology: &Topology, host: &impl AttemptHost) -> RestartStrategy {
    let config = topology.config();
    let replays = config.tracking() && host.restarts_without_checkpoints();
    match config.checkpointing() || replays {
        true => config.restart_strategy,
        false => RestartStrategy::None,
    }
}

/// Runs `topology` on `host` until it finishes, `cancel` fires, its
/// restart strategy gives up or the fence says this copy is stale.
///
/// # Errors
/// [`Error::GaveUp`] past the restart strategy (the attempt's own error
/// under `restart_strategy: none`); [`Error::Checkpoint`] when this copy is
/// stale or the checkpoint storage cannot be opened or read; what the host
/// fails with.
pub async fn run<H: AttemptHost>(
    topology: &Topology,
    host: &mut H,
    cancel: &CancellationToken,
) -> Result<()> {
    let config = topology.config();
    let storage = match &config.checkpoint_dir {
        Some(dir) if config.checkpointing() => {
            Some(Arc::new(CheckpointStorage::open(dir, topology.name())?))
        }
        _ => None,
    };
    // A run started from a savepoint restores it, and after a failure its
    // own checkpoints (ids above the savepoint's and every existing one).
    let (savepoint, run_first_id) = match (&config.restore_from, &storage) {
        (Some(location), Some(storage)) => {
            let saved = CheckpointStorage::load_savepoint(location).await?;
            let last = storage.list().await?.last().copied().unwrap_or(0);
            let first = last.max(saved.id()) + 1;
            (Some((RestorePoint::Savepoint(location.clone()), saved)), first)
        }
        _ => (None, 0),
    };
    let strategy = restart_rule(topology, host);
    let mut restarts = RestartTracker::new(strategy);
    // Why attempts ended, as this host saw them.
    let mut reasons: BTreeMap<String, u32> = BTreeMap::new();
    let fence = host.fence();
    let scope = host.scope();
    let gave_up = |restarts: u64, rule: RestartRefused, reasons: &BTreeMap<String, u32>, last| {
        let reasons = describe(reasons);
        let rule = rule.to_string();
        let error = Error::GaveUp { restarts, scope: scope.clone(), rule, reasons, last };
        tracing::error!(topology = topology.name(), "{error}");
        error
    };
    loop {
        // A run whose end is recorded is over, whichever copy ended it.
        let recorded = match &fence {
            Some(fence) => Some(fence.completed().await?),
            None => None,
        };
        if recorded.as_ref().is_some_and(|ids| ids.last() == Some(&END_OF_RUN)) {
            tracing::info!(topology = topology.name(), "the run's end is recorded: nothing to run");
            return Ok(());
        }
        let number = host.agree().await?;
        if let Err(rule) = restarts.allows_attempt(number) {
            // `number - 1` restarts were made; restart `number` is refused.
            return Err(gave_up(number - 1, rule, &reasons, None));
        }
        let (restore, restored) = match (&storage, host.chooses_restore()) {
            (Some(storage), true) => {
                match storage.load_latest_of(run_first_id, recorded.as_deref()).await? {
                    Some(r) => (Some(RestorePoint::Checkpoint(r.id())), Some(r)),
                    None => savepoint.clone().map_or((None, None), |(p, r)| (Some(p), Some(r))),
                }
            }
            _ => (None, None),
        };
        let attempt = Attempt { number, storage: storage.clone(), restore, restored, run_first_id };
        let started = Instant::now();
        restarts.started(started);
        let error = match host.run(attempt).await? {
            AttemptEnd::Finished => return Ok(()),
            AttemptEnd::Stale => return Err(stale(topology)),
            AttemptEnd::Failed(e) if cancel.is_cancelled() => return Err(e),
            AttemptEnd::Failed(e) => e,
        };
        // Only the fence's word makes a copy stale: one that cannot answer
        // leaves the decision to the restart rule.
        if let Some(fence) = &fence {
            if matches!(fence.is_current().await, Ok(false)) {
                return Err(stale(topology));
            }
        }
        *reasons.entry(error.to_string()).or_default() += 1;
        let granted = restarts
            .on_failure(Instant::now())
            .and_then(|delay| restarts.allows_attempt(number + 1).map(|()| delay));
        let delay = match granted {
            Ok(delay) => delay,
            Err(_) if strategy == RestartStrategy::None => return Err(error),
            Err(rule) => return Err(gave_up(number, rule, &reasons, Some(Box::new(error)))),
        };
        tracing::warn!(
            topology = topology.name(),
            error = %error,
            attempt = number,
            "attempt {number} ended after {:.1} s; restarting from the last completed checkpoint \
             in {} ms",
            started.elapsed().as_secs_f64(),
            delay.as_millis()
        );
        host.restarting(number).await?;
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cancel.cancelled() => return Ok(()),
        }
    }
}

/// How often each cause ended an attempt: `2 x "..."`, `1 x "..."`.
fn describe(reasons: &BTreeMap<String, u32>) -> String {
    if reasons.is_empty() {
        return "restarted by other workers".into();
    }
    let counts: Vec<String> = reasons.iter().map(|(why, n)| format!("{n} x \"{why}\"")).collect();
    counts.join(", ")
}

fn stale(topology: &Topology) -> Error {
    Error::Checkpoint(format!(
        "this copy of topology '{}' is stale (its assignment moved on): it commits nothing more",
        topology.name()
    ))
}
