//! The nimbus daemon: campaigns for leadership through etcd's election API;
//! the leader serves the REST API ([`crate::nimbus::api`]) and reconciles
//! assignments with live supervisors (a topology whose supervisor's lease
//! expired is scheduled again, with a higher epoch). A standby waits in the
//! election and takes over when the leader's lease expires. Everything it
//! decides is written to etcd ([`crate::protocol::store`]) before it is answered.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::nimbus::api::SubmitRequest;
use crate::nimbus::scheduler::schedule;
use crate::protocol::config::ClusterConfig;
use crate::protocol::store::{
    Assignment, State, Store, SupervisorInfo, TopologyRecord, TopologyStatus,
};
use crate::{Error, Result};

/// Held while [`reconcile`] runs.
static RECONCILING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Why an API call was refused.
#[derive(Debug, thiserror::Error)]
pub enum NimbusError {
    /// The submission is not a valid topology (the reason says why).
    #[error("bad topology: {0}")]
    BadTopology(String),
    /// A topology of that name is still running.
    #[error("topology '{0}' is already running")]
    Exists(String),
    /// No topology of that name.
    #[error("no topology '{0}'")]
    NotFound(String),
    /// The workers did not answer in time (the reason says what).
    #[error("{0}")]
    Timeout(String),
    /// etcd failed.
    #[error(transparent)]
    Cluster(#[from] Error),
}

/// Validates a YAML topology, stores it and schedules it.
///
/// # Errors
/// [`NimbusError::BadTopology`] (nothing stored), [`NimbusError::Exists`],
/// [`NimbusError::Cluster`].
pub async fn submit(store: &Store, request: &SubmitRequest) -> Result<TopologyStatus, NimbusError> {
    let (yaml, overrides) = (&request.yaml, &request.overrides);
    if request.workers == 0 {
        return Err(NimbusError::BadTopology("workers must be at least 1".into()));
    }
    let loaded = squall::yaml::parse(yaml, overrides)
        .map_err(|e| NimbusError::BadTopology(e.to_string()))?;
    let mut topology = loaded.topology;
    if let Some(location) = &request.from_savepoint {
        // Refused before anything is stored: no checkpoints, or a
        // savepoint that does not read back whole.
        topology = topology
            .restore_from(location.clone())
            .map_err(|e| NimbusError::BadTopology(e.to_string()))?;
        squall::checkpoint::CheckpointStorage::load_savepoint(location)
            .await
            .map_err(|e| NimbusError::BadTopology(format!("--from-savepoint: {e}")))?;
    }
    let record = TopologyRecord {
        name: topology.name().to_string(),
        yaml: yaml.to_string(),
        overrides: overrides.to_vec(),
        tasks: topology.component_ids().filter_map(|c| topology.parallelism(c)).sum(),
        workers: request.workers,
        binary: None,
    };
    let from = request.from_savepoint.clone();
    register(store, record, from).await
}

/// Stores a validated topology and schedules it.
///
/// # Errors
/// [`NimbusError::Exists`], [`NimbusError::Cluster`].
pub(crate) async fn register(
    store: &Store,
    record: TopologyRecord,
    from_savepoint: Option<String>,
) -> Result<TopologyStatus, NimbusError> {
    let (name, tasks) = (record.name.clone(), record.tasks);
    let current: Option<TopologyStatus> = store.get(&format!("status/{name}")).await?;
    if current.is_some_and(|s| !s.state.is_over()) {
        return Err(NimbusError::Exists(name));
    }
    crate::nimbus::control::forget(store, &name).await?;
    if let Some(location) = from_savepoint {
        let rescale =
            crate::nimbus::control::Rescale { restore_from: Some(location), ..Default::default() };
        store.put(&format!("rescale/{name}"), &rescale, None).await?;
    }
    store.put(&format!("topologies/{name}"), &record, None).await?;
    store
        .update_status(&name, |s| {
            s.state = State::Pending;
            s.supervisor = None;
            s.restarts = 0;
            s.message = None;
            s.worker_pid = None;
        })
        .await?;
    reconcile(store).await?;
    tracing::info!(topology = %name, tasks, "topology submitted");
    status(store, &name).await
}

/// Every topology's status, by name.
///
/// # Errors
/// [`NimbusError::Cluster`].
pub async fn list(store: &Store) -> Result<Vec<TopologyStatus>, NimbusError> {
    Ok(store.list::<TopologyStatus>("status").await?.into_iter().map(|(_, s)| s).collect())
}

/// The status of `name`.
///
/// # Errors
/// [`NimbusError::NotFound`], [`NimbusError::Cluster`].
pub async fn status(store: &Store, name: &str) -> Result<TopologyStatus, NimbusError> {
    store
        .get(&format!("status/{name}"))
        .await?
        .ok_or_else(|| NimbusError::NotFound(name.to_string()))
}

/// Kills `name`: its assignments go, so its supervisors stop its workers
/// (bolts' `finish` is not called: a sink leaves no result).
///
/// # Errors
/// [`NimbusError::NotFound`], [`NimbusError::Cluster`].
pub async fn kill(store: &Store, name: &str) -> Result<TopologyStatus, NimbusError> {
    let current = status(store, name).await?;
    if !current.state.is_over() {
        store.update_status(name, |s| s.state = State::Killed).await?;
        for (key, a) in store.list::<Assignment>("assignments").await? {
            if a.topology.name == name {
                store.delete(&format!("assignments/{key}"), false).await?;
            }
        }
        tracing::info!(topology = %name, "topology killed");
    }
    status(store, name).await
}

/// Brings assignments in line with live supervisors: drops the assignments
/// of supervisors whose lease expired and schedules every topology that is
/// not over and has no assignment. Calls in one process run one at a time.
///
/// # Errors
/// [`Error::Etcd`] or [`Error::Record`].
pub async fn reconcile(store: &Store) -> Result<()> {
    // One reconcile at a time (the API's submit and the periodic one), or
    // both could schedule the same topology.
    let _one_at_a_time = RECONCILING.lock().await;
    crate::nimbus::control::reconcile(store).await?;
    let supervisors: BTreeMap<String, usize> = store
        .list::<SupervisorInfo>("supervisors")
        .await?
        .into_iter()
        .map(|(id, s)| (id, s.slots))
        .collect();
    let mut used = BTreeSet::new();
    let mut assigned = BTreeSet::new();
    let mut live: Vec<(String, Assignment)> = Vec::new();
    for (key, a) in store.list::<Assignment>("assignments").await? {
        if supervisors.contains_key(&a.supervisor) {
            live.push((key, a));
        } else {
            tracing::warn!(topology = %a.topology.name, supervisor = %a.supervisor, "supervisor lost; moving its worker");
            store.delete_assignment(&key, a.epoch).await?;
        }
    }
    // A topology that lost some of its workers is moved whole.
    crate::nimbus::regroup::drop_incomplete(store, &mut live).await?;
    for (_, a) in &live {
        used.insert((a.supervisor.clone(), a.slot));
        assigned.insert(a.topology.name.clone());
    }
    // Statuses are read after assignments: a supervisor writes `finished`
    // before it deletes the assignment, so a missing assignment of a
    // finished topology is never taken for a lost one.
    let statuses: BTreeMap<String, TopologyStatus> =
        store.list("status").await?.into_iter().collect();
    for (name, record) in store.list::<TopologyRecord>("topologies").await? {
        let Some(status) = statuses.get(&name) else { continue };
        if status.state.is_over() || assigned.contains(&name) {
            continue;
        }
        // One worker of a topology per supervisor (assignments are keyed by
        // supervisor and topology): fewer when fewer supervisors live.
        let workers = record.workers.min(supervisors.len().max(1));
        let Some(placements) = schedule(record.tasks, workers, &supervisors, &used) else {
            if status.state != State::Pending {
                store
                    .update_status(&name, |s| {
                        s.state = State::Pending;
                        s.supervisor = None;
                    })
                    .await?;
            }
            continue;
        };
        let epoch = status.epoch + 1;
        // Status before assignments: a supervisor reacts to the assignment
        // and writes `running`, which must not be overwritten by this.
        store
            .update_status(&name, |s| {
                s.state = State::Assigned;
                s.supervisor = Some(placements[0].supervisor.clone());
                s.epoch = epoch;
                s.worker_pid = None;
            })
            .await?;
        for p in &placements {
            used.insert((p.supervisor.clone(), p.slot));
            let assignment = Assignment {
                topology: record.clone(),
                supervisor: p.supervisor.clone(),
                slot: p.slot,
                tasks: p.tasks.clone(),
                workers: placements.len(),
                epoch,
            };
            store.put(&format!("assignments/{}/{name}", p.supervisor), &assignment, None).await?;
        }
        tracing::info!(topology = %name, epoch, supervisor = %placements[0].supervisor, "topology assigned");
    }
    Ok(())
}

/// Runs a nimbus daemon: waits for etcd to answer
/// ([`Store::connect_until_reached`]) and to lead, then serves the API and
/// reconciles every `reconcile_ms` until its lease is lost.
///
/// # Errors
/// [`Error::Config`] without an API token, with a read-only token equal to
/// it, or with `api_tls`/`etcd_tls` files that do not load; [`Error::Etcd`]
/// if the lease is lost; [`Error::Io`] if the API address cannot be bound.
pub async fn run(config: ClusterConfig) -> Result<()> {
    // Refused before anything starts: no token, a shared token, TLS files
    // that do not load.
    let tokens = std::sync::Arc::new(crate::protocol::auth::Tokens::new(
        &config.api_token,
        &config.api_read_token,
    )?);
    let tls = crate::protocol::api_tls::server_config(&config.api_tls).await?;
    crate::protocol::api_tls::serve_as(&config.api_tls);
    let store = Store::connect_until_reached(&config).await?;
    let mut client = store.client();
    let lease = client.lease_grant(config.nimbus.lease_ttl_s, None).await?.id();
    let heartbeat = tokio::spawn(crate::protocol::store::keep_lease_alive(
        client.clone(),
        lease,
        config.nimbus.lease_ttl_s,
    ));
    let url = format!("{}://{}", config.api_tls.scheme(), config.nimbus.api_addr);
    // The address is served from the start: a standby redirects to the
    // leader (the web UI, crate::nimbus::ui), and answers the health check.
    let listener = tokio::net::TcpListener::bind(config.nimbus.api_addr)
        .await
        .map_err(|source| Error::Io { what: format!("bind {}", config.nimbus.api_addr), source })?;
    let blobs = crate::protocol::blobs::BlobStore::open(&config.blob_store)?;
    let drpc = crate::nimbus::drpc_server::DrpcServer::new(config.nimbus.drpc_request_timeout_ms)?
        .with_holder_timeout_ms(config.nimbus.drpc_holder_timeout_ms);
    let api = crate::nimbus::api::router(store.clone(), tokens.clone(), blobs, drpc);
    let leading = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let token = config.api_token.clone();
    let app = crate::nimbus::ui::nimbus_app(api, store.clone(), tokens, token, leading.clone());
    let mut serve = tokio::spawn(crate::protocol::api_tls::serve(listener, app, tls));
    tracing::info!(%url, "nimbus waiting to lead");
    tokio::select! {
        led = client.campaign(store.key("nimbus"), url.clone(), lease) => { led?; }
        served = &mut serve => return Err(served_error(served)),
    }
    leading.store(true, std::sync::atomic::Ordering::SeqCst);
    tracing::info!(%url, "nimbus leads");
    crate::announce!("nimbus leading, API on {url}");
    crate::announce!("web UI on {url}/ (the API token opens it)");
    let every = Duration::from_millis(config.nimbus.reconcile_ms);
    let reconciler = async {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = reconcile(&store).await {
                tracing::warn!(error = %e, "reconcile failed; retrying");
            }
        }
    };
    let housekeeping =
        crate::nimbus::compaction::Compactor::new(store.clone(), config.clone()).run();
    tokio::select! {
        served = serve => Err(served_error(served)),
        () = reconciler => Ok(()),
        () = housekeeping => Ok(()),
        lost = heartbeat => Err(match lost {
            Ok(Err(e)) => e,
            Ok(Ok(())) => Error::Config("nimbus lease expired".into()),
            Err(e) => Error::Config(format!("heartbeat task failed: {e}")),
        }),
    }
}

fn served_error(served: std::result::Result<std::io::Result<()>, tokio::task::JoinError>) -> Error {
    match served {
        Ok(Ok(())) => Error::Config("the REST API stopped".into()),
        Ok(Err(source)) => Error::Io { what: "REST API".into(), source },
        Err(e) => Error::Config(format!("the REST API task failed: {e}")),
    }
}
