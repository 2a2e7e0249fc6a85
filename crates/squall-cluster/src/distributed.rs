//! A topology spread over several workers, as the core's one job driver
//! ([`squall::runtime::drive_job`]) runs it through a [`ClusterHost`]: one
//! checkpoint coordinator (or one set of ackers, [`crate::acking`]) for
//! all workers, restarts of every worker from the last completed
//! checkpoint (or from nothing, with replay) when one fails, and epoch
//! fencing. The driver owns what is restored, the restart rule and what a
//! stale copy does; this host owns where the tasks are and how they talk.
//!
//! **Coordinator.** The worker that holds task 0 (the first spout's first
//! task) runs the [`ClusterCoordinator`], as Flink's JobManager does. Every
//! worker has a control listener besides its data listener: each other
//! worker connects to the coordinator's and sends its tasks'
//! [`CheckpointEvent`]s (acknowledgements carry the snapshot's file in the
//! shared checkpoint storage, not its bytes); the coordinator connects to
//! each other worker's and sends [`Command`]s (inject barrier n at your
//! spouts; checkpoint n is complete). Both use [`crate::wire`]'s frames.
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
//! **Fencing** (no split brain). Nimbus moves a topology by deleting its
//! assignments and writing new ones with epoch + 1. The coordinator
//! completes a checkpoint, or the end of the run, only by recording it in
//! etcd in a transaction that also checks that its assignment is unchanged
//! ([`crate::fence::EtcdFence`]); workers commit only what it recorded, and
//! every attempt restores only recorded checkpoints. A stale copy (a frozen
//! supervisor's worker, a cut-off one) is refused its next completion and
//! stops; what it recorded before the move, the new copy restores. A
//! fence that cannot reach etcd answers "unknown", never "stale": the
//! checkpoint is declined and the topology goes on.
//!
//! **Restarts** follow the topology's `restart_strategy`, judged by the
//! driver as in local mode (a fixed-delay strategy counts the shared
//! attempt number, per epoch): each worker waits its delay before it
//! joins the next attempt, and past the strategy every worker ends with
//! the driver's "giving up" error, which names how often each reason
//! ended an attempt.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use serde::{Deserialize, Serialize};
use squall::checkpoint::{CheckpointBarrier, END_OF_RUN};
use squall::runtime::{
    Attempt, AttemptEnd, AttemptHost, CheckpointEvent, ClusterCoordinator, CoordinatorInbox, Fence,
    PartCheckpointing, PartEvents, RestorePoint, TopologyPart,
};
use squall::topology::Activation;
use squall::Topology;
use tokio::net::{TcpListener, TcpStream};

use crate::fence::EtcdFence;
use crate::store::{Assignment, Store};
use crate::wire::{self, Hello, WireConfig, WireStats};
use crate::ClusterConfig;
use crate::{acking, link};

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

/// How an attempt ended.
enum Ended {
    /// The topology finished and every sink committed.
    Finished,
    /// Another worker started a newer attempt (or this one is broken and
    /// the number was raised): join the next.
    Restart(String),
    /// This copy is stale (its assignment moved): stop without committing.
    Fenced,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs this worker's part of `topology`, spread over several workers,
/// until it finishes: the core's job driver ([`squall::runtime::drive_job`])
/// over a [`ClusterHost`].
///
/// # Errors
/// Why the topology cannot run: etcd unreachable at the start, the
/// restart strategy gave up, or this copy was fenced.
pub async fn run(
    a: &Assignment,
    topology: &Topology,
    config: &ClusterConfig,
    activation: &Activation,
) -> Result<(), String> {
    let store = Store::connect(config).await.map_err(err)?;
    let fence: Fence = Arc::new(EtcdFence::new(&store, a).await.map_err(err)?);
    let mut host = ClusterHost { store, a, topology, config, fence, activation, first: true };
    let never = tokio_util::sync::CancellationToken::new();
    squall::runtime::drive_job(topology, &mut host, &never).await.map_err(err)
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
    fn attempt_key(&self) -> String {
        format!("attempt/{}/{}", self.a.topology.name, self.a.epoch)
    }

    /// The attempt to join. A worker restarted by its supervisor that
    /// finds its own record in the current attempt raises the number: its
    /// old self was part of it.
    async fn current(&mut self) -> Result<u64, String> {
        let key = self.attempt_key();
        let attempt: u64 = self.store.get(&key).await.map_err(err)?.unwrap_or(0);
        let (name, epoch, a) = (&self.a.topology.name, self.a.epoch, self.a);
        let mine = format!("run/{name}/{epoch}/{attempt}/{}-{}", a.supervisor, a.slot);
        if std::mem::take(&mut self.first)
            && self.store.get::<PeerRecord>(&mine).await.map_err(err)?.is_some()
        {
            eprintln!("restarted while attempt {attempt} ran: starting attempt {}", attempt + 1);
            raise(&self.store, &key, attempt).await?;
            return Ok(self.store.get(&key).await.map_err(err)?.unwrap_or(attempt + 1));
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

    fn agree(&mut self) -> impl Future<Output = squall::Result<u64>> + Send {
        async { self.current().await.map_err(squall::Error::Other) }
    }

    fn run(&mut self, attempt: Attempt) -> impl Future<Output = squall::Result<AttemptEnd>> + Send {
        async move {
            let (number, started) = (attempt.number, Instant::now());
            let ended = run_attempt(self, attempt).await;
            let why = match ended {
                Ok(Ended::Finished) => return Ok(AttemptEnd::Finished),
                Ok(Ended::Fenced) => return Ok(AttemptEnd::Stale),
                Ok(Ended::Restart(why)) | Err(why) => why,
            };
            eprintln!(
                "attempt {number} ended after {:.1} s: {why}",
                started.elapsed().as_secs_f64()
            );
            Ok(AttemptEnd::Failed(squall::Error::Other(why)))
        }
    }

    fn restarting(&mut self, number: u64) -> impl Future<Output = squall::Result<()>> + Send {
        async move {
            eprintln!("restarting from the last completed checkpoint: attempt {}", number + 1);
            raise(&self.store, &self.attempt_key(), number).await.map_err(squall::Error::Other)
        }
    }
}

/// Raises the attempt number from `from` to `from + 1`, unless another
/// worker already has.
async fn raise(store: &Store, key: &str, from: u64) -> Result<(), String> {
    let full = store.key(key);
    let next = serde_json::to_vec(&(from + 1)).map_err(err)?;
    let unchanged = match from {
        0 => Compare::version(full.clone(), CompareOp::Equal, 0),
        n => Compare::value(full.clone(), CompareOp::Equal, serde_json::to_vec(&n).map_err(err)?),
    };
    let txn = Txn::new().when([unchanged]).and_then([TxnOp::put(full, next, None)]);
    store.client().txn(txn).await.map_err(err)?;
    Ok(())
}

/// Runs one attempt: publish (the worker of task 0 with what every worker
/// restores, as the driver chose it), wait for the peers, restore, run.
async fn run_attempt(host: &ClusterHost<'_>, mut job: Attempt) -> Result<Ended, String> {
    let ClusterHost { store, a, topology, config, fence, activation, .. } = host;
    let (a, topology, config, activation) = (*a, *topology, *config, *activation);
    let attempt = job.number;
    let storage = job.storage.clone();
    let leader = a.tasks.contains(&0);
    let host = config.supervisor.data_host;
    let data = TcpListener::bind((host, 0)).await.map_err(|e| format!("bind a data port: {e}"))?;
    let control =
        TcpListener::bind((host, 0)).await.map_err(|e| format!("bind a control port: {e}"))?;
    let restore = job.restore.clone().filter(|_| leader);
    let record = PeerRecord {
        data: data.local_addr().map_err(err)?,
        control: control.local_addr().map_err(err)?,
        tasks: a.tasks.clone(),
        restore,
    };
    let dir = format!("run/{}/{}/{attempt}", a.topology.name, a.epoch);
    store.put(&format!("{dir}/{}-{}", a.supervisor, a.slot), &record, None).await.map_err(err)?;
    let attempt_key = format!("attempt/{}/{}", a.topology.name, a.epoch);
    let superseded = || async {
        let now: Option<u64> = store.get(&attempt_key).await.ok().flatten();
        now.is_some_and(|n| n > attempt)
    };
    let started = Instant::now();
    let peers = loop {
        let peers = store.list::<PeerRecord>(&dir).await.map_err(err)?;
        if peers.len() >= a.workers {
            break peers;
        }
        if superseded().await {
            return Ok(Ended::Restart("a newer attempt started".into()));
        }
        if started.elapsed() > PEER_PATIENCE {
            return Ok(Ended::Restart(format!(
                "only {} of {} workers joined",
                peers.len(),
                a.workers
            )));
        }
        tokio::time::sleep(POLL).await;
    };
    let head = peers.iter().find(|(_, p)| p.tasks.contains(&0)).map(|(_, p)| p.clone());
    let head = head.ok_or("no worker holds task 0")?;
    eprintln!("attempt {attempt}: {} workers joined", peers.len());
    let owner: HashMap<usize, SocketAddr> =
        peers.iter().flat_map(|(_, p)| p.tasks.iter().map(move |&t| (t, p.data))).collect();
    let local: HashSet<usize> = a.tasks.iter().copied().collect();
    let is_local = |t: usize| local.contains(&t);
    let wire = WireConfig {
        compression: config.supervisor.data_compression,
        session: wire::session(&a.topology.name, a.epoch, attempt),
        ..WireConfig::default()
    };
    let stats = Arc::new(WireStats::default());
    let followers: Vec<(SocketAddr, Vec<usize>)> = peers
        .iter()
        .filter(|(_, p)| !p.tasks.contains(&0))
        .map(|(_, p)| (p.control, p.tasks.clone()))
        .collect();
    // Data and control connections use the supervisor's TLS, if any.
    let tls = crate::tls::of_worker(config).map_err(err)?;
    if tls.is_some() {
        eprintln!("control plane: TLS");
    }
    type Control<'a> = Pin<Box<dyn Future<Output = Result<(), Ended>> + Send + 'a>>;
    let (mut part, control_plane): (TopologyPart, Control<'_>) = match &storage {
        Some(storage) => {
            let restored = job.restored(storage, head.restore.as_ref()).await.map_err(err)?;
            let first_id = job.first_checkpoint_id(storage).await.map_err(err)?;
            if let Some(r) = &restored {
                eprintln!("attempt {attempt}: restoring checkpoint {}", r.id());
            }
            let (part, link, events) = TopologyPart::build_checkpointed(
                topology,
                is_local,
                restored.as_ref(),
                storage.clone(),
            )
            .map_err(err)?;
            let cancel = part.cancel_token();
            let reported_checkpoints = part.metrics_handle().checkpoints();
            // The checkpoint history, for the web UI (crate::ui_cluster).
            let history = part.metrics_handle();
            let plane = ControlPlane {
                link,
                events,
                control,
                fence: fence.clone(),
                wire,
                stats: stats.clone(),
                tls: tls.clone(),
            };
            let others = followers.iter().map(|(addr, _)| *addr).collect();
            let checkpoints = async move {
                let committed = match leader {
                    true => {
                        let mut coordinator = ClusterCoordinator::new(
                            topology,
                            storage.clone(),
                            first_id,
                            cancel,
                            fence.clone(),
                        )
                        .with_history(&history);
                        coordinator.record_into(reported_checkpoints);
                        // Users' savepoints, for as long as this attempt.
                        let trigger = coordinator.savepoints();
                        let serve = crate::savepoint::serve(store.clone(), a.clone(), trigger);
                        let serving = tokio::spawn(serve);
                        let committed = plane.coordinate(coordinator, others).await;
                        serving.abort();
                        committed
                    }
                    false => plane.follow(head.control).await,
                };
                match committed {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(Ended::Fenced),
                    Err(e) => Err(Ended::Restart(e)),
                }
            };
            (part, Box::pin(checkpoints))
        }
        None if !topology.config().tracking() => {
            // `at_most_once`: the data path alone.
            let part = TopologyPart::build(topology, is_local).map_err(err)?;
            (part, Box::pin(async { Ok(()) }))
        }
        None => {
            let (part, ackers) =
                TopologyPart::build_tracked(topology, is_local, leader).map_err(err)?;
            let stats = stats.clone();
            let tls = tls.clone();
            let acking = async move {
                let link = acking::Link { config: wire, stats, tls };
                let acked = match leader {
                    true => acking::lead(ackers, control, followers, link).await,
                    false => {
                        let first = a.tasks.iter().copied().min().unwrap_or(0);
                        acking::follow(ackers, control, head.control, first, link).await
                    }
                };
                acked.map_err(Ended::Restart)
            };
            (part, Box::pin(acking))
        }
    };
    let cancel = part.cancel_token();
    // This attempt's state, queryable through nimbus until it ends.
    let states = part.metrics_handle().states();
    let checkpoints = crate::query_route::checkpoints_of(topology);
    let _queries = crate::query_route::publish(store, a, host, states, checkpoints)
        .await
        .map_err(|e| eprintln!("queries not served: {e}"));
    // The attempt's metrics and the spouts' switch, as a single worker
    // follows them (the counts start again with every attempt).
    let reported = tokio_util::sync::CancellationToken::new();
    let reports = tokio::spawn(crate::worker_control::follow(
        store.clone(),
        a.clone(),
        activation.clone(),
        part.metrics_handle(),
        reported.clone(),
    ));
    let outputs = std::mem::take(&mut part.outputs);
    let inputs = std::mem::take(&mut part.inputs);
    let tls_out = tls.clone();
    let restart = |e: String| Ended::Restart(e);
    let work = async {
        tokio::try_join!(
            async { part.run().await.map(drop).map_err(|e| restart(e.to_string())) },
            async {
                link::serve_inputs(data, inputs, wire, stats.clone(), tls)
                    .await
                    .map_err(|e| restart(e.to_string()))
            },
            async {
                link::send_outputs(outputs, |t| owner[&t], wire, stats.clone(), tls_out)
                    .await
                    .map_err(|e| restart(e.to_string()))
            },
            control_plane,
        )
    };
    let watch_attempt = async {
        loop {
            tokio::time::sleep(POLL).await;
            if superseded().await {
                return;
            }
        }
    };
    let ended = tokio::select! {
        done = work => match done {
            Ok(_) => Ended::Finished,
            Err(ended) => ended,
        },
        () = watch_attempt => Ended::Restart("a newer attempt started".into()),
    };
    cancel.cancel();
    reported.cancel();
    if let Err(e) = reports.await {
        eprintln!("metrics task: {e}");
    }
    if matches!(ended, Ended::Finished) {
        eprintln!(
            "data plane: {} bytes in {} messages",
            stats.bytes.load(std::sync::atomic::Ordering::Relaxed),
            stats.messages.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    Ok(ended)
}

/// The hello of a control connection (no task channel: ids `u64::MAX`).
fn control_hello(config: WireConfig) -> Hello {
    let none = u64::MAX;
    Hello {
        version: wire::VERSION,
        session: config.session,
        producer: none,
        consumer: none,
        compression: config.compression,
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    TcpStream::connect(addr).await.map_err(|e| format!("connect to worker {addr}: {e}"))
}

/// A worker's control connections and its tasks' checkpoint ends.
struct ControlPlane {
    link: PartCheckpointing,
    events: PartEvents,
    control: TcpListener,
    fence: Fence,
    wire: WireConfig,
    stats: Arc<WireStats>,
    /// The supervisor's TLS, for the control connections too.
    tls: Option<crate::tls::DataTls>,
}

impl ControlPlane {
    /// The coordinator's worker: runs the coordinator, takes every
    /// worker's events, sends barriers and (fenced) completions to all.
    /// `Ok(true)` once the run's end was committed, `Ok(false)` if fenced.
    async fn coordinate(
        self,
        mut coordinator: ClusterCoordinator,
        others: Vec<SocketAddr>,
    ) -> Result<bool, String> {
        let ControlPlane { link, mut events, control, fence, wire, stats, tls } = self;
        let inbox = coordinator.events();
        let run = coordinator.run();
        // Both ways at once: a TLS handshake needs the other end's accept.
        let outgoing = async {
            let mut commands = Vec::new();
            for addr in others.iter().copied() {
                let stream = crate::tls::connect_maybe(tls.as_ref(), connect(addr).await?)
                    .await
                    .map_err(err)?;
                commands.push(wire::sender::<Command, _>(
                    stream,
                    control_hello(wire),
                    wire,
                    stats.clone(),
                ));
            }
            Ok::<_, String>(commands)
        };
        let incoming = async {
            let mut readers = Vec::new();
            for _ in &others {
                let (stream, _) = control
                    .accept()
                    .await
                    .map_err(|e| format!("accept a control connection: {e}"))?;
                let stream = crate::tls::accept_maybe(tls.as_ref(), stream).await.map_err(err)?;
                let (_, rx, reader) =
                    wire::receiver::<CheckpointEvent, _>(stream, wire, stats.clone())
                        .await
                        .map_err(err)?;
                readers.push((rx, reader));
            }
            Ok::<_, String>(readers)
        };
        let (commands, readers) = tokio::try_join!(outgoing, incoming)?;
        let local_events = {
            let inbox = inbox.clone();
            async move {
                while let Some(event) = events.next().await {
                    inbox.send(event);
                }
                Ok::<(), String>(())
            }
        };
        let remote_events =
            futures_util::future::try_join_all(readers.into_iter().map(|(mut rx, reader)| {
                let inbox: CoordinatorInbox = inbox.clone();
                let run_state = coordinator.completed.clone();
                async move {
                    while let Some(event) = rx.recv().await {
                        inbox.send(event);
                    }
                    reader.await.map_err(err)?.map_err(err)?;
                    // A worker's events end only after the end of the run.
                    match *run_state.borrow() == END_OF_RUN {
                        true => Ok(()),
                        false => Err::<(), String>("a worker's control connection closed".into()),
                    }
                }
            }));
        drop(inbox);
        let mut barriers =
            std::mem::replace(&mut coordinator.barriers, tokio::sync::mpsc::unbounded_channel().1);
        let mut completed = coordinator.completed.clone();
        let fan_out = async move {
            let closed = |_| "a worker's control connection closed".to_string();
            let mut ended = false;
            loop {
                tokio::select! {
                    Some(barrier) = barriers.recv() => {
                        link.trigger(barrier);
                        for (tx, _) in &commands {
                            tx.send(Command::Trigger(barrier)).await.map_err(closed)?;
                        }
                    }
                    changed = completed.changed() => {
                        if changed.is_err() {
                            break; // the coordinator stopped
                        }
                        let id = *completed.borrow_and_update();
                        // The coordinator recorded it through the fence.
                        link.complete(id);
                        for (tx, _) in &commands {
                            tx.send(Command::Complete(id)).await.map_err(closed)?;
                        }
                        if id == END_OF_RUN {
                            ended = true;
                            break;
                        }
                    }
                }
            }
            for (tx, writer) in commands {
                drop(tx);
                writer.await.map_err(err)?.map_err(err)?;
            }
            Ok::<bool, String>(ended)
        };
        drop(coordinator);
        let ended = async {
            let ended = fan_out.await?;
            match ended {
                true => Ok(true),
                false if matches!(fence.is_current().await, Ok(false)) => Ok(false),
                false => Err("the checkpoint coordinator stopped before the end of the run".into()),
            }
        };
        // The other workers' event streams end after the run's end: do not
        // wait for them once it is committed.
        let background = async {
            let (_, local, remote) = tokio::join!(run, local_events, remote_events);
            local?;
            remote?;
            std::future::pending::<Result<bool, String>>().await
        };
        tokio::select! {
            ended = ended => ended,
            failed = background => failed,
        }
    }

    /// Any other worker: sends its events to the coordinator's worker,
    /// follows its commands. `Ok(true)` once the run's end was committed.
    async fn follow(self, coordinator: SocketAddr) -> Result<bool, String> {
        let ControlPlane { link, mut events, control, fence, wire, stats, tls } = self;
        // Both ways at once: a TLS handshake needs the other end's accept.
        let outgoing = async {
            let stream = connect(coordinator).await?;
            crate::tls::connect_maybe(tls.as_ref(), stream).await.map_err(err)
        };
        let incoming = async {
            let (stream, _) =
                control.accept().await.map_err(|e| format!("accept the coordinator: {e}"))?;
            crate::tls::accept_maybe(tls.as_ref(), stream).await.map_err(err)
        };
        let (up, down) = tokio::try_join!(outgoing, incoming)?;
        let (up_tx, writer) =
            wire::sender::<CheckpointEvent, _>(up, control_hello(wire), wire, stats.clone());
        let (_, mut commands, reader) =
            wire::receiver::<Command, _>(down, wire, stats).await.map_err(err)?;
        let up = async move {
            while let Some(event) = events.next().await {
                if up_tx.send(event).await.is_err() {
                    break;
                }
            }
            drop(up_tx);
            writer.await.map_err(err)?.map_err(err)?;
            std::future::pending::<Result<bool, String>>().await
        };
        let down = async move {
            while let Some(command) = commands.recv().await {
                match command {
                    Command::Trigger(barrier) => link.trigger(barrier),
                    Command::Complete(id) => {
                        // Recorded by the coordinator: commit, even if this
                        // copy has gone stale since (a new copy restores a
                        // checkpoint at least as new, and committing is
                        // idempotent).
                        link.complete(id);
                        if id == END_OF_RUN {
                            return Ok(true);
                        }
                    }
                }
            }
            // The coordinator's worker is gone. If it recorded the run's
            // end first, this worker's sinks commit it all the same.
            if fence.completed().await.is_ok_and(|ids| ids.last() == Some(&END_OF_RUN)) {
                link.complete(END_OF_RUN);
                return Ok(true);
            }
            reader.await.map_err(err)?.map_err(err)?;
            Err("the coordinator's worker closed its control connection before the end".to_string())
        };
        tokio::select! {
            ended = down => ended,
            failed = up => failed,
        }
    }
}
