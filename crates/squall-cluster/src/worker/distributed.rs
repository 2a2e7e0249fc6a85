//! A topology spread over several workers, as the core's one job driver
//! ([`squall::runtime::drive_job`]) runs it through a [`ClusterHost`]: one
//! checkpoint coordinator and/or one set of ackers for
//! all workers, restarts of every worker from the last completed
//! checkpoint (or from nothing, with replay) when one fails, and epoch
//! fencing. The driver owns what is restored, the restart rule and what a
//! stale copy does; this host owns where the tasks are and how they talk.
//!
//! **Coordinator.** The worker that holds task 0 (the first spout's first
//! task) runs the [`ClusterCoordinator`], as Flink's JobManager does. Every
//! worker has a control listener besides its data listener: each other
//! worker connects to the coordinator's and sends its tasks' checkpoint
//! events (acknowledgements carry the snapshot's file in the shared
//! checkpoint storage, not its bytes); the coordinator connects to each
//! other worker's and sends [`Command`]s (inject barrier n at your spouts;
//! checkpoint n is complete), over [`Link::hub`] and [`Link::spoke`].
//!
//! **Ackers.** Under `at_least_once` every worker also has an acking
//! listener, and its connections carry acker messages to the worker of
//! task 0 ([`squall::runtime::PartAckers`]) and verdicts back. With checkpoints on as well
//! (Flink's AT_LEAST_ONCE checkpointing mode) both planes run side by side,
//! each on its own connections: the attempt ends well once the run's end
//! is committed and every worker's tasks said they are done with the
//! ackers; a restart restores the last completed checkpoint (state and
//! spout positions with their tuples in flight) and replays from there.
//!
//! **Attempts** (Flink's full restart, across processes). Within one epoch
//! the workers run numbered attempts; the current number is in etcd
//! (`attempt/{topology}/{epoch}`). An attempt starts when every worker has
//! published its addresses under `run/{topology}/{epoch}/{attempt}/`; the
//! coordinator's worker publishes the checkpoint everyone restores. When a
//! worker sees its attempt break (a peer's connection closes before its
//! end, a task fails) it raises the number by one (a compare-and-swap, so
//! concurrent raises count once); every worker watching the number leaves
//! the old attempt and joins the new one. A worker restarted by its
//! supervisor that finds its own address in the current attempt raises
//! the number too: its old self was part of it.
//!
//! **Fencing** (no split brain): the coordinator completes a checkpoint,
//! or the run's end, only through [`crate::protocol::fence::EtcdFence`] (a
//! transaction that checks that its assignment is unchanged); workers
//! commit only what it recorded, and the driver restores only recorded
//! checkpoints and stops a copy the fence calls stale.
//!
//! **Restarts** follow the topology's `restart_strategy`, judged by the
//! driver as in local mode (a fixed-delay strategy counts the shared
//! attempt number, per epoch); past it every worker ends with the
//! driver's "giving up" error.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use futures_util::future::{FutureExt, OptionFuture};
use futures_util::stream::{self, SelectAll, StreamExt};
use serde::{Deserialize, Serialize};
use squall::checkpoint::{CheckpointBarrier, END_OF_RUN};
use squall::runtime::{
    AckerOutbox, AckerTraffic, Attempt, AttemptEnd, AttemptHost, ClusterCoordinator, Fence,
    PartAckers, PartCheckpointing, PartEvents, PartOptions, RestorePoint, TopologyPart,
};
use squall::topology::Activation;
use squall::Topology;
use tokio::net::TcpListener;
use AttemptEnd::Failed;

use crate::protocol::fence::EtcdFence;
use crate::protocol::store::{Assignment, Store};
use crate::protocol::wire::{self, WireConfig, WireStats};
use crate::worker::link::Link;
use crate::{ClusterConfig, Error, Result};

/// What the coordinator's worker tells the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Inject this barrier at your spouts.
    Trigger(CheckpointBarrier),
    /// Checkpoint `id` is complete (`END_OF_RUN`: the run is over): commit.
    Complete(u64),
}

/// One worker's record in an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// Data listener (remote channels).
    pub data: SocketAddr,
    /// Control listener (commands from the coordinator; events to it).
    pub control: SocketAddr,
    /// Acking listener, under `at_least_once` (the ackers' connections,
    /// beside the checkpoints' when those are on too).
    #[serde(default)]
    pub acking: Option<SocketAddr>,
    /// Its global task ids.
    pub tasks: Vec<usize>,
    /// For the coordinator's worker: what every worker restores (`None`:
    /// a fresh start).
    pub restore: Option<RestorePoint>,
}

/// How long a worker waits for its peers to join an attempt.
const PEER_PATIENCE: Duration = Duration::from_secs(120);
/// Between two looks at etcd while waiting or running.
const POLL: Duration = Duration::from_millis(200);

/// Runs this worker's part of `topology`, spread over several workers,
/// until it finishes: the core's job driver ([`squall::runtime::drive_job`])
/// over a [`ClusterHost`].
///
/// # Errors
/// [`Error::Topology`] when the driver gave up or this copy was fenced;
/// [`Error::Etcd`] when etcd cannot be reached at the start.
pub async fn run(
    a: &Assignment,
    topology: &Topology,
    config: &ClusterConfig,
    activation: &Activation,
) -> Result<()> {
    let store = Store::connect(config).await?;
    let fence: Fence = Arc::new(EtcdFence::new(&store, a).await?);
    let mut host = ClusterHost { store, a, topology, config, fence, activation, first: true };
    let never = tokio_util::sync::CancellationToken::new();
    Ok(squall::runtime::drive_job(topology, &mut host, &never).await?)
}

/// The job driver's attempts on a cluster: this worker's tasks, TCP links
/// to its peers, attempt numbers and rendezvous in etcd
/// (`attempt/{topology}/{epoch}`, `run/{topology}/{epoch}/{attempt}/`).
struct ClusterHost<'a> {
    store: Store,
    a: &'a Assignment,
    topology: &'a Topology,
    config: &'a ClusterConfig,
    fence: Fence,
    activation: &'a Activation,
    /// Before this worker's first attempt.
    first: bool,
}

impl ClusterHost<'_> {
    /// The attempt to join. A worker restarted by its supervisor that
    /// finds its own record in the current attempt raises the number: its
    /// old self was part of it.
    async fn current(&mut self) -> Result<u64> {
        let key = attempt_key(self.a);
        let attempt: u64 = self.store.get(&key).await?.unwrap_or(0);
        let (name, epoch, a) = (&self.a.topology.name, self.a.epoch, self.a);
        let mine = format!("run/{name}/{epoch}/{attempt}/{}-{}", a.supervisor, a.slot);
        if std::mem::take(&mut self.first) && self.store.get::<PeerRecord>(&mine).await?.is_some() {
            tracing::info!(
                "restarted while attempt {attempt} ran: starting attempt {}",
                attempt + 1
            );
            raise(&self.store, &key, attempt).await?;
            return Ok(self.store.get(&key).await?.unwrap_or(attempt + 1));
        }
        Ok(attempt)
    }
}

impl AttemptHost for ClusterHost<'_> {
    fn fence(&self) -> Option<Fence> {
        Some(self.fence.clone())
    }

    fn chooses_restore(&self) -> bool {
        self.a.tasks.contains(&0)
    }

    fn restarts_without_checkpoints(&self) -> bool {
        true
    }

    fn scope(&self) -> String {
        format!(" in epoch {}", self.a.epoch)
    }

    async fn agree(&mut self) -> squall::Result<u64> {
        Ok(self.current().await?)
    }

    async fn run(&mut self, attempt: Attempt) -> squall::Result<AttemptEnd> {
        let (number, started) = (attempt.number, Instant::now());
        let ended = run_attempt(self, attempt).await.unwrap_or_else(|e| Failed(e.into()));
        if let Failed(why) = &ended {
            let secs = started.elapsed().as_secs_f64();
            tracing::warn!("attempt {number} ended after {secs:.1} s: {why}");
        }
        Ok(ended)
    }

    async fn restarting(&mut self, number: u64) -> squall::Result<()> {
        Ok(raise(&self.store, &attempt_key(self.a), number).await?)
    }
}

/// Raises the attempt number from `from` to `from + 1`, unless another
/// worker already has.
async fn raise(store: &Store, key: &str, from: u64) -> Result<()> {
    let full = store.key(key);
    let encode = |n: u64| serde_json::to_vec(&n).map_err(|e| Error::record(key, e));
    let unchanged = match from {
        0 => Compare::version(full.clone(), CompareOp::Equal, 0),
        n => Compare::value(full.clone(), CompareOp::Equal, encode(n)?),
    };
    let put = TxnOp::put(full, encode(from + 1)?, None);
    store.client().txn(Txn::new().when([unchanged]).and_then([put])).await?;
    Ok(())
}

/// A newer attempt started: this one is over.
fn superseded() -> AttemptEnd {
    Failed(Error::Attempt("a newer attempt started".into()).into())
}

/// Runs one attempt: publish (the worker of task 0 with what every worker
/// restores, as the driver chose it), wait for the peers, restore, run.
async fn run_attempt(host: &ClusterHost<'_>, mut job: Attempt) -> Result<AttemptEnd> {
    let ClusterHost { store, a, topology, config, fence, activation, .. } = host;
    let (a, topology, config, activation) = (*a, *topology, *config, *activation);
    let attempt = job.number;
    let storage = job.storage.clone();
    let leader = a.tasks.contains(&0);
    let host = config.supervisor.data_host;
    let ((data, data_addr), (control, control_addr)) =
        (wire::bind(host, "data").await?, wire::bind(host, "control").await?);
    let acking_listener = match topology.config().tracking() {
        true => Some(wire::bind(host, "acking").await?),
        false => None,
    };
    let acking = acking_listener.as_ref().map(|(_, addr)| *addr);
    let restore = job.restore.clone().filter(|_| leader);
    let record = PeerRecord {
        data: data_addr,
        control: control_addr,
        acking,
        tasks: a.tasks.clone(),
        restore,
    };
    let dir = format!("run/{}/{}/{attempt}", a.topology.name, a.epoch);
    store.put(&format!("{dir}/{}-{}", a.supervisor, a.slot), &record, None).await?;
    let attempt_key = attempt_key(a);
    let newer = || async {
        let now: Option<u64> = store.get(&attempt_key).await.ok().flatten();
        now.is_some_and(|n| n > attempt)
    };
    let started = Instant::now();
    let peers = loop {
        let peers = store.list::<PeerRecord>(&dir).await?;
        if peers.len() >= a.workers {
            break peers;
        }
        if newer().await {
            return Ok(superseded());
        }
        if started.elapsed() > PEER_PATIENCE {
            let why = format!("only {} of {} workers joined", peers.len(), a.workers);
            return Ok(Failed(Error::Attempt(why).into()));
        }
        tokio::time::sleep(POLL).await;
    };
    let head = peers.iter().find(|(_, p)| p.tasks.contains(&0)).map(|(_, p)| p.clone());
    let head = head.ok_or_else(|| Error::Attempt("no worker holds task 0".into()))?;
    // Read by the cluster bench (steady rate from the join to the end).
    let (n, after) = (peers.len(), crate::worker::worker_control::uptime_secs());
    crate::announce!("attempt {attempt}: {n} workers joined after {after:.3} s");
    let owner: HashMap<usize, SocketAddr> =
        peers.iter().flat_map(|(_, p)| p.tasks.iter().map(move |&t| (t, p.data))).collect();
    let local: HashSet<usize> = a.tasks.iter().copied().collect();
    let is_local = |t: usize| local.contains(&t);
    let followers: Vec<&PeerRecord> =
        peers.iter().map(|(_, p)| p).filter(|p| !p.tasks.contains(&0)).collect();
    // Data and control connections use the supervisor's TLS, if any.
    let net = Link {
        config: WireConfig {
            compression: config.supervisor.data_compression,
            session: wire::session(&a.topology.name, a.epoch, attempt),
            ..WireConfig::default()
        },
        stats: Arc::new(WireStats::default()),
        tls: crate::protocol::tls::of_worker(config)?,
    };
    if net.tls.is_some() {
        crate::announce!("control plane: TLS");
    }
    let restored = match &storage {
        Some(storage) => job.restored(storage, head.restore.as_ref()).await?,
        None => None,
    };
    let options =
        PartOptions { storage: storage.clone(), restored: restored.as_ref(), runs_ackers: leader };
    let mut part = TopologyPart::build(topology, is_local, options)?;
    // Under `at_least_once`, the ackers' plane over the acking listeners.
    let acking = match part.ackers.take() {
        Some(ackers) => {
            let listener = acking_listener.map(|(l, _)| l).expect("bound under at_least_once");
            Some(acking_plane(ackers, listener, a, &head, &followers, net.clone())?)
        }
        None => None,
    };
    // With checkpoints, their plane: beside the ackers' under
    // `at_least_once` (Flink's AT_LEAST_ONCE checkpointing mode).
    let checkpoints = match (part.checkpoints.take(), &storage) {
        (Some((link, events)), Some(storage)) => {
            let (fence, net) = (fence.clone(), net.clone());
            let plane = ControlPlane { part: link, events, control, fence: fence.clone(), net };
            Some(match leader {
                true => {
                    let first_id = job.first_checkpoint_id(storage).await?;
                    // Its figures and history go to this worker's, for the
                    // web UI.
                    let (cancel, history) = (part.cancel_token(), part.metrics_handle());
                    let storage = storage.clone();
                    let coordinator = ClusterCoordinator::new(
                        topology, storage, first_id, cancel, fence, &history,
                    );
                    // Users' savepoints, for as long as this attempt.
                    let savepoints = crate::protocol::savepoint_requests::serve(
                        store.clone(),
                        a.clone(),
                        coordinator.savepoints(),
                    );
                    let others = followers.iter().map(|p| (p.control, first_task(&p.tasks)));
                    plane.coordinate(coordinator, others.collect(), savepoints).boxed()
                }
                false => plane.follow(head.control, first_task(&a.tasks)).boxed(),
            })
        }
        _ => None,
    };
    // Without either (`at_most_once`), the data path alone.
    let control_plane = both_planes(
        OptionFuture::from(checkpoints).map(|end| end.unwrap_or(Ok(AttemptEnd::Finished))),
        OptionFuture::from(acking).map(|done| done.unwrap_or(Ok(()))),
    );
    let cancel = part.cancel_token();
    // This attempt's state, queryable through nimbus until it ends.
    let states = part.metrics_handle().states();
    let checkpoints = crate::protocol::query_api::checkpoints_of(topology);
    // The server stops when this guard is dropped, at the attempt's end.
    let _queries = crate::protocol::query_api::publish(store, a, host, states, checkpoints)
        .await
        .map_err(|e| tracing::warn!("queries not served: {e}"));
    // The attempt's metrics and the spouts' switch, as a single worker
    // follows them (the counts start again with every attempt).
    let reported = tokio_util::sync::CancellationToken::new();
    let reports = tokio::spawn(crate::worker::worker_control::follow(
        store.clone(),
        a.clone(),
        activation.clone(),
        part.metrics_handle(),
        reported.clone(),
    ));
    let outputs = std::mem::take(&mut part.outputs);
    let inputs = std::mem::take(&mut part.inputs);
    let stats = net.stats.clone();
    // The first to end otherwise than well ends the attempt: a stale
    // copy's plane does not wait for its links.
    let failed = |e: Error| Failed(e.into());
    let work = async {
        tokio::try_join!(
            async { part.run().await.map_err(|e| failed(e.into())) },
            async { net.serve_inputs(data, inputs).await.map_err(failed) },
            async { net.send_outputs(outputs, |t| owner[&t]).await.map_err(failed) },
            async {
                match control_plane.await.map_err(failed)? {
                    AttemptEnd::Finished => Ok(()),
                    other => Err(other),
                }
            },
        )
    };
    let watch_attempt = async {
        loop {
            tokio::time::sleep(POLL).await;
            if newer().await {
                return;
            }
        }
    };
    let ended = tokio::select! {
        done = work => done.map_or_else(|end| end, |_| AttemptEnd::Finished),
        () = watch_attempt => superseded(),
    };
    cancel.cancel();
    reported.cancel();
    if let Err(e) = reports.await {
        tracing::warn!("metrics task: {e}");
    }
    if matches!(ended, AttemptEnd::Finished) {
        let (bytes, messages) = (stats.bytes.load(Relaxed), stats.messages.load(Relaxed));
        // A line of the slot's log that tests and operators read.
        crate::announce!("data plane: {bytes} bytes in {messages} messages");
    }
    Ok(ended)
}

/// The traffic of every outbox, merged; ends when they all have.
fn merged(outboxes: Vec<AckerOutbox>) -> SelectAll<stream::BoxStream<'static, AckerTraffic>> {
    stream::select_all(
        outboxes.into_iter().map(|o| {
            stream::unfold(o, |mut o| async move { o.recv().await.map(|t| (t, o)) }).boxed()
        }),
    )
}

/// This worker's side, `a` with `ackers`, of the ackers' connections on
/// `listener` ([`Link::hub`], [`Link::spoke`]). The worker of task 0
/// (whose record is `head`) runs the ackers, takes every other worker's
/// acker messages and sends each its spouts' verdicts, until every one of
/// `followers` said it is done and the local tasks stopped; any other
/// sends its tasks' acker messages to it and delivers the verdicts it
/// sends back, until both sides said they are done.
///
/// # Errors
/// [`Error::Attempt`] when a peer published no acking listener; the
/// future's, as [`Link::hub`] and [`Link::spoke`].
fn acking_plane(
    ackers: PartAckers,
    listener: TcpListener,
    a: &Assignment,
    head: &PeerRecord,
    followers: &[&PeerRecord],
    link: Link,
) -> Result<impl Future<Output = Result<()>> + Send> {
    let missing = || Error::Attempt("a worker published no acking listener".into());
    let (hub, first) = (head.acking.ok_or_else(missing)?, first_task(&a.tasks));
    let mut route: HashMap<usize, usize> = HashMap::new();
    let mut firsts = Vec::new();
    for (i, p) in followers.iter().enumerate() {
        route.extend(p.tasks.iter().map(|&t| (t, i)));
        firsts.push((p.acking.ok_or_else(missing)?, first_task(&p.tasks)));
    }
    let a_leads = a.tasks.contains(&0);
    let (run, inbox, outboxes) = ackers.split();
    // The inbox goes with the loop: then the ackers stop.
    let deliver = move |traffic| {
        inbox.deliver(traffic);
    };
    Ok(async move {
        if !a_leads {
            return link.spoke(&listener, hub, first, merged(outboxes), deliver).await;
        }
        // Never ends: the loop ends when every follower is done, even with
        // no spout task elsewhere (no verdict to send).
        let verdicts = merged(outboxes).chain(stream::pending()).filter_map(move |verdict| {
            let target = verdict.spout_task().and_then(|t| route.get(&t)).copied();
            std::future::ready(target.map(|i| (Some(i), verdict)))
        });
        let (looped, ()) = tokio::join!(link.hub(&listener, &firsts, verdicts, deliver), run);
        looped
    })
}

/// The checkpoints' plane and the ackers' together (`at_least_once` with
/// checkpoints): finished when both are; the first other end (a failure,
/// or a stale copy) ends it at once.
async fn both_planes(
    checkpoints: impl Future<Output = Result<AttemptEnd>>,
    acking: impl Future<Output = Result<()>>,
) -> Result<AttemptEnd> {
    let checkpoints = async {
        match checkpoints.await {
            Ok(AttemptEnd::Finished) => Ok(()),
            end => Err(end),
        }
    };
    let acking = async { acking.await.map_err(Err) };
    tokio::try_join!(checkpoints, acking).map_or_else(|end| end, |_| Ok(AttemptEnd::Finished))
}

/// The first of a worker's `tasks`: what its control connections' hello
/// names.
fn first_task(tasks: &[usize]) -> usize {
    tasks.iter().copied().min().unwrap_or(0)
}

/// Where the workers of `a`'s epoch count their attempts.
fn attempt_key(a: &Assignment) -> String {
    format!("attempt/{}/{}", a.topology.name, a.epoch)
}

/// A worker's control connections and its tasks' checkpoint ends.
struct ControlPlane {
    part: PartCheckpointing,
    events: PartEvents,
    control: TcpListener,
    fence: Fence,
    /// Wire settings, counters and the supervisor's TLS.
    net: Link,
}

impl ControlPlane {
    /// The coordinator's worker: runs the coordinator, takes every
    /// worker's events, sends barriers and (fenced) completions to all
    /// `followers` (control address, first task), and serves `savepoints`
    /// meanwhile. `Finished` once the run's end was committed, `Stale` if
    /// fenced.
    async fn coordinate(
        self,
        mut coordinator: ClusterCoordinator,
        followers: Vec<(SocketAddr, usize)>,
        savepoints: impl Future<Output = ()> + Send + 'static,
    ) -> Result<AttemptEnd> {
        let ControlPlane { part, mut events, control, fence, net } = self;
        let inbox = coordinator.events();
        let run = coordinator.run();
        let local_events = {
            let inbox = inbox.clone();
            async move {
                while let Some(event) = events.next().await {
                    inbox.send(event);
                }
            }
        };
        let barriers =
            std::mem::replace(&mut coordinator.barriers, tokio::sync::mpsc::unbounded_channel().1);
        let completed = coordinator.completed.clone();
        drop(coordinator);
        // The commands for every worker, until the run's end or until the
        // coordinator stopped.
        let commands = stream::unfold(Some((barriers, completed.clone())), |state| async move {
            let (mut barriers, mut completed) = state?;
            let command = tokio::select! {
                Some(barrier) = barriers.recv() => Command::Trigger(barrier),
                changed = completed.changed() => {
                    changed.ok()?;
                    Command::Complete(*completed.borrow_and_update())
                }
            };
            let next = (command != Command::Complete(END_OF_RUN)).then_some((barriers, completed));
            Some(((None, command), next))
        });
        // Applied here first (a completion was recorded through the fence).
        let commands = commands.inspect(|&(_, command)| match command {
            Command::Trigger(barrier) => part.trigger(barrier),
            Command::Complete(id) => part.complete(id),
        });
        let ended = async {
            let up = move |event| {
                inbox.send(event);
            };
            net.hub(&control, &followers, commands, up).await?;
            let ended = *completed.borrow() == END_OF_RUN;
            match ended {
                true => Ok(AttemptEnd::Finished),
                false if matches!(fence.is_current().await, Ok(false)) => Ok(AttemptEnd::Stale),
                false => Err(Error::Attempt(
                    "the checkpoint coordinator stopped before the end of the run".into(),
                )),
            }
        };
        // The other workers' events go on after the run's end: do not wait
        // for them once it is committed.
        let background = async {
            tokio::join!(run, local_events);
            std::future::pending().await
        };
        let serving = tokio::spawn(savepoints);
        let ended = tokio::select! {
            ended = ended => ended,
            never = background => never,
        };
        serving.abort();
        ended
    }

    /// Any other worker (whose first task is `first_task`): sends its
    /// events to the coordinator's worker, follows its commands. `Finished`
    /// once the run's end was committed.
    async fn follow(self, coordinator: SocketAddr, first_task: usize) -> Result<AttemptEnd> {
        let ControlPlane { part, events, control, fence, net } = self;
        let events = stream::unfold(events, |mut e| async move { e.next().await.map(|x| (x, e)) });
        let mut last = 0;
        let command = |command| match command {
            Command::Trigger(barrier) => part.trigger(barrier),
            Command::Complete(id) => {
                // Recorded by the coordinator: commit, even if this copy
                // has gone stale since (a new copy restores a checkpoint at
                // least as new, and committing is idempotent).
                part.complete(id);
                last = id;
            }
        };
        let followed = net.spoke(&control, coordinator, first_task, events, command).await;
        if last == END_OF_RUN {
            return Ok(AttemptEnd::Finished);
        }
        // The coordinator's worker is gone. If it recorded the run's end
        // first, this worker's sinks commit it all the same.
        if fence.completed().await.is_ok_and(|ids| ids.last() == Some(&END_OF_RUN)) {
            part.complete(END_OF_RUN);
            return Ok(AttemptEnd::Finished);
        }
        followed?;
        Err(Error::Attempt(
            "the coordinator's worker ended its control connection before the end".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;

    use super::{both_planes, AttemptEnd, Error};

    fn lost() -> Error {
        Error::Attempt("a worker's control connection closed".into())
    }

    #[tokio::test]
    async fn both_planes_finish_only_when_the_ackers_are_done_too() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let acking = async move { done_rx.await.map_err(|_| lost()) };
        let checkpoints = async { Ok(AttemptEnd::Finished) };
        let both = tokio::spawn(both_planes(checkpoints, acking));
        tokio::task::yield_now().await;
        assert!(!both.is_finished(), "the run's end is committed, the ackers still work");
        done_tx.send(()).unwrap();
        assert!(matches!(both.await.unwrap(), Ok(AttemptEnd::Finished)));
        // The other order: the ackers done first.
        let ended = both_planes(async { Ok(AttemptEnd::Finished) }, async { Ok(()) }).await;
        assert!(matches!(ended, Ok(AttemptEnd::Finished)));
    }

    #[tokio::test]
    async fn a_stale_copy_or_a_lost_plane_ends_both_at_once() {
        let stale = both_planes(async { Ok(AttemptEnd::Stale) }, pending()).await;
        assert!(matches!(stale, Ok(AttemptEnd::Stale)));
        let acking_lost = both_planes(pending(), async { Err(lost()) }).await;
        assert!(matches!(acking_lost, Err(Error::Attempt(_))));
        let checkpoints_lost = both_planes(async { Err(lost()) }, pending()).await;
        assert!(matches!(checkpoints_lost, Err(Error::Attempt(_))));
    }
}
