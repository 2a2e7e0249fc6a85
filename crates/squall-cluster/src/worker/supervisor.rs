//! The supervisor daemon: registers its slots in etcd under a lease (its
//! heartbeat), watches its assignments, and runs one worker process per
//! assignment (`squall worker`, Storm's worker JVM). A worker that dies
//! without finishing (a signal, a crash) is started again with the same
//! assignment; one that finishes or fails has its status written and its
//! assignment removed. If its lease cannot be renewed, the supervisor stops
//! every worker and exits: nimbus will have given its work to others.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use etcd_client::WatchOptions;
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::protocol::config::ClusterConfig;
use crate::protocol::store::{keep_lease_alive, Assignment, State, Store, SupervisorInfo};
use crate::{Error, Result};

/// Worker exit code for "a task failed" (as `squall run`); the worker is not
/// restarted, the topology is marked failed.
pub const EXIT_FAILED: i32 = 1;
/// Worker exit code for "the topology does not load".
pub const EXIT_CONFIG: i32 = 2;

/// A running worker process.
struct Worker {
    epoch: u64,
    stop: CancellationToken,
}

/// Why the supervisor looks again at its assignments.
enum Wake {
    Assignments,
    Exited { topology: String, epoch: u64, status: std::io::Result<ExitStatus> },
}

/// Runs a supervisor daemon until its lease is lost or etcd fails. At
/// start it waits for etcd to answer ([`Store::connect_until_reached`]),
/// so a supervisor started before etcd, or on a host whose link is not up
/// yet, registers once it can.
///
/// `worker_exe` is the `squall` binary that runs `worker --assignment FILE`.
///
/// # Errors
/// [`Error::Config`] for zero slots or bad `etcd_tls` settings;
/// [`Error::Etcd`] once running;
/// [`Error::Io`] if the work directory cannot be made.
pub async fn run(config: ClusterConfig, worker_exe: PathBuf) -> Result<()> {
    let sup = &config.supervisor;
    if sup.slots == 0 {
        return Err(Error::Config("supervisor.slots must be at least 1".into()));
    }
    let id = if sup.id.is_empty() {
        format!("supervisor-{}", std::process::id())
    } else {
        sup.id.clone()
    };
    // Its servers (metrics, workers' logs) serve HTTPS as nimbus does.
    config.api_tls.served()?;
    crate::protocol::api_tls::serve_as(&config.api_tls);
    let work_dir = sup.work_dir.join(&id);
    std::fs::create_dir_all(&work_dir)
        .map_err(|source| Error::Io { what: format!("create {}", work_dir.display()), source })?;
    let store = Store::connect_until_reached(&config).await?;
    let blobs = crate::protocol::blobs::BlobStore::open(&config.blob_store)?;
    let metrics_addr = serve_metrics(&id, sup.data_host);
    metrics::gauge!("squall_supervisor_slots").set(sup.slots as f64);
    let slots_used = metrics::gauge!("squall_supervisor_slots_used");
    let worker_restarts = metrics::counter!("squall_supervisor_worker_restarts_total");
    worker_restarts.increment(0);
    let mut client = store.client();
    // Its workers' logs, for the web UI.
    let logs = crate::protocol::ui_logs::start(&config, &work_dir).await;
    let lease = client.lease_grant(sup.lease_ttl_s, None).await?.id();
    let info = SupervisorInfo { id: id.clone(), slots: sup.slots, metrics_addr, logs };
    store.put(&format!("supervisors/{id}"), &info, Some(lease)).await?;
    let mut heartbeat = tokio::spawn(keep_lease_alive(client.clone(), lease, sup.lease_ttl_s));
    let (_watcher, mut watch) = client
        .watch(store.key(&format!("assignments/{id}/")), Some(WatchOptions::new().with_prefix()))
        .await?;
    tracing::info!(%id, slots = sup.slots, "supervisor registered");
    crate::announce!("supervisor {id} registered with {} slots", sup.slots);

    // What a worker needs to find its peers through etcd.
    let mut worker_env = vec![
        (
            "SQUALL__ETCD_ENDPOINTS".to_string(),
            serde_json::to_string(&config.etcd_endpoints).expect("strings serialize"),
        ),
        ("SQUALL__NAMESPACE".to_string(), config.namespace.clone()),
        ("SQUALL__SUPERVISOR__DATA_HOST".to_string(), sup.data_host.to_string()),
        ("SQUALL__SUPERVISOR__DATA_COMPRESSION".to_string(), sup.data_compression.to_string()),
    ];
    use crate::protocol::config::worker_env as section;
    worker_env.extend(section("SQUALL__SUPERVISOR__DATA_TLS", sup.data_tls.as_ref()));
    worker_env.extend(section("SQUALL__ETCD_TLS", config.etcd_tls.as_ref()));
    // Workers call nimbus over HTTPS with this CA, and serve HTTPS.
    worker_env.extend(section("SQUALL__API_TLS", Some(&config.api_tls)));
    let (wake_tx, mut wake_rx) = mpsc::unbounded_channel();
    let mut workers: HashMap<String, Worker> = HashMap::new();
    let mut restarts: HashMap<(String, u64), u32> = HashMap::new();
    wake_tx.send(Wake::Assignments).ok();
    let result = loop {
        let wake = tokio::select! {
            w = wake_rx.recv() => w.expect("the sender lives in this function"),
            event = watch.message() => match event {
                Ok(Some(_)) => Wake::Assignments,
                Ok(None) => break Err(Error::Config("etcd closed the assignment watch".into())),
                Err(e) => break Err(e.into()),
            },
            lost = &mut heartbeat => break Err(match lost {
                Ok(Err(e)) => e,
                _ => Error::Config(format!("supervisor {id}: lease expired")),
            }),
        };
        let assignments: HashMap<String, Assignment> =
            match store.list::<Assignment>(&format!("assignments/{id}")).await {
                Ok(list) => list.into_iter().collect(),
                Err(e) => break Err(e),
            };
        if let Wake::Exited { topology, epoch, status } = wake {
            let current = assignments.get(&topology).filter(|a| a.epoch == epoch);
            if workers.get(&topology).is_some_and(|w| w.epoch == epoch) {
                workers.remove(&topology);
            }
            if let Some(a) = current {
                let code = status.as_ref().ok().and_then(|s| s.code());
                let outcome = match code {
                    Some(0) => Some((State::Finished, None)),
                    Some(EXIT_FAILED | EXIT_CONFIG) => {
                        Some((State::Failed, Some(last_line(&log_path(&work_dir, a)))))
                    }
                    _ => None,
                };
                if let Some((state, message)) = outcome {
                    // A topology over several workers is finished once all
                    // have finished: each leaves a mark, the last to look
                    // sees them all.
                    let all_done = match finished_everywhere(&store, a, state).await {
                        Ok(all) => all,
                        Err(e) => break Err(e),
                    };
                    // Status first, then the assignment: see nimbus::reconcile.
                    let done = match all_done {
                        false => Ok(()),
                        true => {
                            store
                                .update_status(&topology, |s| {
                                    s.state = state;
                                    s.message = message.clone();
                                    s.worker_pid = None;
                                })
                                .await
                        }
                    };
                    if let Err(e) = done {
                        break Err(e);
                    }
                    if let Err(e) =
                        store.delete_assignment(&format!("{id}/{topology}"), epoch).await
                    {
                        break Err(e);
                    }
                    tracing::info!(%topology, ?state, "worker done");
                    continue;
                }
                tracing::warn!(%topology, ?status, "worker died; restarting it");
                *restarts.entry((topology.clone(), epoch)).or_default() += 1;
                worker_restarts.increment(1);
            }
        }
        // Stop workers whose assignment is gone or moved to another epoch.
        workers.retain(|topology, w| {
            let keep = assignments.get(topology).is_some_and(|a| a.epoch == w.epoch);
            if !keep {
                w.stop.cancel();
            }
            keep
        });
        for (topology, a) in &assignments {
            if workers.contains_key(topology) {
                continue;
            }
            let exe =
                match crate::protocol::blobs::worker_exe(&blobs, &work_dir, a, &worker_exe).await {
                    Ok(exe) => exe,
                    Err(e) => {
                        // Status first, then the assignment: see nimbus::reconcile.
                        let message = format!("cannot fetch the topology binary: {e}");
                        tracing::error!(%topology, %message);
                        let failed = store
                            .update_status(topology, |s| {
                                s.state = State::Failed;
                                s.message = Some(message.clone());
                            })
                            .await;
                        let key = format!("{id}/{topology}");
                        if let Err(e) =
                            failed.and(store.delete_assignment(&key, a.epoch).await.map(drop))
                        {
                            tracing::warn!(error = %e, "cannot write status");
                        }
                        continue;
                    }
                };
            match start_worker(&exe, &work_dir, a, &worker_env, wake_tx.clone()) {
                Ok((worker, pid)) => {
                    let count = restarts.get(&(topology.clone(), a.epoch)).copied().unwrap_or(0);
                    workers.insert(topology.clone(), worker);
                    let written = store
                        .update_status(topology, |s| {
                            // Never back to an older epoch (a worker of the
                            // previous one started just before the move).
                            if !s.state.is_over() && a.epoch >= s.epoch {
                                s.state = State::Running;
                                s.supervisor = Some(id.clone());
                                s.epoch = a.epoch;
                                s.restarts = count;
                                s.worker_pid = pid;
                            }
                        })
                        .await;
                    if let Err(e) = written {
                        tracing::warn!(error = %e, "cannot write status");
                    }
                }
                Err(e) => tracing::error!(error = %e, %topology, "cannot start worker"),
            }
        }
        slots_used.set(workers.len() as f64);
    };
    for w in workers.values() {
        w.stop.cancel();
    }
    result
}

/// Serves this supervisor's Prometheus `/metrics` on `host` (an ephemeral
/// port): its slots, worker restarts, RSS and CPU, labelled `supervisor`.
/// The address, or `None` (said on stderr) when it cannot.
fn serve_metrics(id: &str, host: std::net::IpAddr) -> Option<String> {
    match crate::protocol::metrics_api::serve_on(host, &[("supervisor", id)]) {
        Ok(addr) => {
            let scheme = crate::protocol::api_tls::served().scheme();
            crate::announce!("supervisor {id}: metrics on {scheme}://{addr}/metrics");
            Some(addr.to_string())
        }
        Err(e) => {
            tracing::warn!("supervisor {id}: no metrics endpoint: {e}");
            None
        }
    }
}

/// Marks `a`'s worker as done; whether every worker of its topology (at
/// this epoch) is. A failure ends the topology at once.
async fn finished_everywhere(store: &Store, a: &Assignment, state: State) -> Result<bool> {
    if a.workers <= 1 || state != State::Finished {
        return Ok(true);
    }
    let dir = format!("done/{}/{}", a.topology.name, a.epoch);
    store.put(&format!("{dir}/{}-{}", a.supervisor, a.slot), &true, None).await?;
    Ok(store.list::<bool>(&dir).await?.len() >= a.workers)
}

fn log_path(work_dir: &std::path::Path, a: &Assignment) -> PathBuf {
    work_dir.join(format!("{}-slot{}.log", a.topology.name, a.slot))
}

/// The last non-empty line of `path` (a worker's error), or a note that
/// there is none.
fn last_line(path: &std::path::Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string))
        .unwrap_or_else(|| format!("worker failed; no log in {}", path.display()))
}

/// Writes `a` to a file and starts `worker_exe worker --assignment FILE`,
/// its output going to the slot's log. The process is killed when `stop`
/// fires; its exit is reported on `wake`.
fn start_worker(
    worker_exe: &std::path::Path,
    work_dir: &std::path::Path,
    a: &Assignment,
    env: &[(String, String)],
    wake: mpsc::UnboundedSender<Wake>,
) -> Result<(Worker, Option<u32>)> {
    let file = work_dir.join(format!("{}-slot{}.json", a.topology.name, a.slot));
    let json = serde_json::to_vec_pretty(a)
        .map_err(|source| Error::record(file.display().to_string(), source))?;
    std::fs::write(&file, json)
        .map_err(|source| Error::Io { what: format!("write {}", file.display()), source })?;
    let log_file = log_path(work_dir, a);
    let log = std::fs::File::create(&log_file)
        .map_err(|source| Error::Io { what: format!("create {}", log_file.display()), source })?;
    let log2 = log.try_clone().map_err(|source| Error::Io { what: "log file".into(), source })?;
    let mut child = Command::new(worker_exe)
        .arg("worker")
        .arg("--assignment")
        .arg(&file)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| Error::Io { what: format!("start {}", worker_exe.display()), source })?;
    let pid = child.id();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let (topology, epoch) = (a.topology.name.clone(), a.epoch);
    tokio::spawn(async move {
        tokio::select! {
            status = child.wait() => { wake.send(Wake::Exited { topology, epoch, status }).ok(); }
            () = stopped.cancelled() => { child.kill().await.ok(); }
        }
    });
    tracing::info!(topology = %a.topology.name, epoch = a.epoch, ?pid, "worker started");
    Ok((Worker { epoch: a.epoch, stop }, pid))
}
