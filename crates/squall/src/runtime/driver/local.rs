//! [`LocalCluster`]: a whole topology in this process, as Storm's
//! `LocalCluster` and Flink's MiniCluster. No etcd, no daemons.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::runtime::coordinator::SavepointReply;
use crate::runtime::driver::{job, local_host::LocalHost};
use crate::runtime::executor::Executor;
use crate::runtime::metrics::Metrics;
use crate::runtime::part_checkpoint::SavepointTrigger;
use crate::runtime::CheckpointRecord;
use crate::runtime::{plan, MetricsSnapshot};
use crate::topology::Topology;

/// Runs topologies in this process.
///
/// # Examples
/// ```
/// use squall::builtins::{CountBolt, GeneratorSpout, SplitWordsBolt};
/// use squall::{Fields, LocalCluster, TopologyBuilder};
///
/// let mut builder = TopologyBuilder::new("demo");
/// builder.set_spout("lines", GeneratorSpout::sentences(50).with_limit(200), 1);
/// builder.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
/// builder
///     .set_bolt("count", CountBolt::new(Fields::new(["word"])), 2)
///     .fields_grouping("split", Fields::new(["word"]));
/// let summary = LocalCluster::run(builder.build().unwrap()).unwrap();
/// assert_eq!(summary.metrics.component("lines").unwrap().emitted, 200);
/// ```
pub struct LocalCluster;

impl LocalCluster {
    /// Starts `topology` on its own runtime threads and returns at once.
    ///
    /// # Errors
    /// [`Error::Io`] if the runtime threads cannot be started.
    pub fn submit(topology: Topology) -> Result<RunningTopology> {
        let cancel = CancellationToken::new();
        let metrics = plan::metrics(&topology);
        // Users' savepoints need checkpoints: without them the sender is
        // dropped and `savepoint` says so.
        let (tx, rx) = mpsc::unbounded_channel();
        let savepoints = topology.config().checkpointing().then_some(SavepointTrigger(tx));
        let mut host = LocalHost {
            topology: topology.clone(),
            metrics: metrics.clone(),
            cancel: cancel.clone(),
            savepoints: Arc::new(tokio::sync::Mutex::new(rx)),
            next: 0,
        };
        let (driven, killed) = (topology.clone(), cancel.clone());
        let body = async move { job::run(&driven, &mut host, &killed).await };
        let threads = match topology.config().worker_threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            n => n,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("squall-executor")
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let thread = std::thread::Builder::new()
            .name(format!("squall-{}", topology.name()))
            .spawn(move || {
                let result = runtime.block_on(body);
                // Joins the executor threads, so that none outlives the
                // run (found by fuzzing: a run per input left exiting
                // threads behind); a blocking read that never returns (the
                // stdin spout) is left behind after the grace period.
                runtime.shutdown_timeout(Duration::from_secs(1));
                result
            })
            .map_err(|e| Error::io("local cluster thread", e))?;
        tracing::info!(topology = topology.name(), threads, "topology started in local mode");
        Ok(RunningTopology {
            name: topology.name().to_string(),
            cancel,
            thread: Some(thread),
            metrics,
            savepoints,
            started: Instant::now(),
        })
    }

    /// Runs `topology` until its bounded spouts have finished and everything
    /// has drained.
    ///
    /// # Errors
    /// The first error or panic of any task, naming the component and task.
    pub fn run(topology: Topology) -> Result<RunSummary> {
        Self::submit(topology)?.join()
    }
}

/// Runs every executor; on the first error, cancels the rest and returns it.
pub(crate) async fn drive(executors: Vec<Executor>, cancel: CancellationToken) -> Result<()> {
    let mut set = JoinSet::new();
    for executor in executors {
        let name = executor.name();
        set.spawn(async move { (name, executor.run().await) });
    }
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        let error = match joined {
            Ok((_, Ok(_))) => continue,
            Ok((name, Err(e))) => {
                tracing::debug!(executor = %name, error = %e, "task failed; stopping the topology");
                e
            }
            Err(e) => Error::Other(format!("an executor crashed: {e}")),
        };
        if first_error.is_none() {
            first_error = Some(error);
            cancel.cancel();
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// A topology running in this process.
///
/// Dropping it kills the topology and waits for its threads.
pub struct RunningTopology {
    name: String,
    cancel: CancellationToken,
    thread: Option<JoinHandle<Result<()>>>,
    metrics: Arc<Metrics>,
    savepoints: Option<SavepointTrigger>,
    started: Instant,
}

impl RunningTopology {
    /// The topology's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Asks every task to stop. Returns at once; [`RunningTopology::join`]
    /// waits. Bolts' `finish` is not called, so sinks leave no result.
    pub fn kill(&self) {
        self.cancel.cancel();
    }

    /// Current totals of every component.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// A handle on the counters, readable from elsewhere while this runs
    /// (per component and per task).
    pub fn metrics_handle(&self) -> crate::runtime::MetricsHandle {
        crate::runtime::MetricsHandle(self.metrics.clone())
    }

    /// The live keyed state of every task, for queries (Kafka Streams'
    /// interactive queries); readable while this runs and after it ends.
    pub fn states(&self) -> crate::state::LiveStates {
        self.metrics.states.clone()
    }

    /// The checkpoints completed so far, oldest first (empty without
    /// checkpoints).
    pub fn checkpoints(&self) -> Vec<CheckpointRecord> {
        self.metrics.checkpoints.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes a savepoint now (Flink's `savepoint`): a checkpoint triggered
    /// at once, copied to `<checkpoint_dir>/<topology>/savepoints/sp-<id>/`
    /// where retention does not delete it. Waits for it and returns its
    /// location, for `config.restore_from` (also with other
    /// parallelisms: key groups are redistributed).
    ///
    /// # Errors
    /// [`Error::Config`] if checkpoints are off; [`Error::Checkpoint`] if a
    /// task has finished its input, the savepoint was aborted, or the
    /// topology stopped first.
    ///
    /// # Panics
    /// If called from inside an async runtime (it blocks).
    pub fn savepoint(&self) -> Result<String> {
        self.savepoint_to(None)
    }

    /// As [`RunningTopology::savepoint`], into a new folder
    /// `savepoint-<topology>-<id>/` inside `target` when it is given (a
    /// folder path or URL; Flink's `savepoint JOB targetDirectory`).
    ///
    /// # Errors
    /// As [`RunningTopology::savepoint`], or [`Error::Checkpoint`] if
    /// `target` cannot be written.
    ///
    /// # Panics
    /// If called from inside an async runtime (it blocks).
    pub fn savepoint_to(&self, target: Option<String>) -> Result<String> {
        let Some(requests) = &self.savepoints else {
            return Err(Error::config(
                "savepoints need checkpoints: set config.checkpoint_interval_ms and checkpoint_dir",
            ));
        };
        let (ask, rx) = SavepointReply::new(target);
        let stopped = || Error::Checkpoint("the topology stopped before the savepoint".into());
        requests.0.send(ask).map_err(|_| stopped())?;
        rx.blocking_recv().map_err(|_| stopped())?
    }

    /// A handle that takes savepoints asynchronously, as
    /// [`RunningTopology::savepoint_to`] does (`None` without checkpoints).
    pub fn savepoint_trigger(&self) -> Option<SavepointTrigger> {
        self.savepoints.clone()
    }

    /// Takes a savepoint, then kills the topology (Flink's `stop
    /// --savepointPath`): sinks have committed everything up to the
    /// savepoint, and a run restored from it continues from there.
    ///
    /// # Errors
    /// As [`RunningTopology::savepoint`] (the topology is then killed
    /// anyway), or the error the topology failed with.
    pub fn stop_with_savepoint(self) -> Result<(String, RunSummary)> {
        let saved = self.savepoint();
        self.kill();
        let summary = self.join()?;
        Ok((saved?, summary))
    }

    /// Whether every task has stopped.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Time since the topology started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits until every task has stopped.
    ///
    /// # Errors
    /// The first error or panic of any task, naming the component and task.
    pub fn join(mut self) -> Result<RunSummary> {
        let result = match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(Error::Other("local cluster thread panicked".into()))),
            None => Ok(()),
        };
        result?;
        Ok(RunSummary {
            name: self.name.clone(),
            elapsed: self.started.elapsed(),
            killed: self.cancel.is_cancelled(),
            metrics: self.metrics.snapshot(),
            checkpoints: self.checkpoints(),
        })
    }
}

impl Drop for RunningTopology {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.cancel.cancel();
            let _ = t.join();
        }
    }
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The topology's name.
    pub name: String,
    /// Wall time from submit to the last task stopping.
    pub elapsed: Duration,
    /// Whether it was stopped by [`RunningTopology::kill`] rather than by
    /// the end of its input.
    pub killed: bool,
    /// Final totals of every component.
    pub metrics: MetricsSnapshot,
    /// The checkpoints completed, oldest first (empty without checkpoints).
    pub checkpoints: Vec<CheckpointRecord>,
}
