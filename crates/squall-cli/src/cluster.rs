//! The cluster commands: the daemons (`squall nimbus`, `squall supervisor`,
//! the hidden `squall worker` that supervisors start) and the API's client
//! commands (`squall submit`, `list`, `status`, `kill`). The work is in the
//! `squall-cluster` crate; this module reads arguments and prints.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use squall_cluster::api::SubmitRequest;
use squall_cluster::client::ApiClient;
use squall_cluster::control_api::RebalanceRequest;
use squall_cluster::store::TopologyStatus;
use squall_cluster::ClusterConfig;

use crate::failure::Failure;

/// Loads the cluster configuration (file, then `SQUALL__*` variables), and
/// trusts its `api_tls.ca` for calls to nimbus.
///
/// # Errors
/// [`Failure::config`] naming what is wrong.
pub fn config(file: Option<&Path>) -> Result<ClusterConfig, Failure> {
    let config = ClusterConfig::load(file).map_err(Failure::config)?;
    // Every HTTPS call of this process to nimbus checks it against this CA.
    squall_cluster::api_tls::trust(config.api_tls.ca.clone());
    Ok(config)
}

/// Runs `future` on a fresh multi-threaded tokio runtime.
pub(crate) fn block_on<T>(future: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("tokio runtime: {e}")))?
        .block_on(future)
}

/// The leading nimbus's URL and the API token, from the cluster
/// configuration `file` (then `SQUALL__*` variables) and etcd: where
/// `squall drpc` and `squall query` go without `--server`.
///
/// # Errors
/// [`Failure::config`] for a bad configuration; [`Failure::runtime`] when
/// etcd cannot be reached or no nimbus leads.
pub async fn leading_nimbus(file: Option<&Path>) -> Result<(String, String), Failure> {
    let config = config(file)?;
    let store = squall_cluster::store::Store::connect(&config).await.map_err(Failure::runtime)?;
    let leader = store.nimbus_leader().await.map_err(Failure::runtime)?;
    let leader =
        leader.ok_or_else(|| Failure::runtime("no nimbus is leading (or give --server URL)"))?;
    Ok((leader, config.api_token))
}

/// `squall nimbus`: runs until its lease is lost or it is killed.
///
/// # Errors
/// [`Failure::config`] for a bad configuration, [`Failure::runtime`] when
/// etcd fails or the lease is lost.
pub fn nimbus(config: ClusterConfig) -> Result<ExitCode, Failure> {
    block_on(async { squall_cluster::nimbus::run(config).await.map_err(daemon_failure) })?;
    Ok(ExitCode::SUCCESS)
}

/// `squall supervisor`: runs until its lease is lost or it is killed.
///
/// # Errors
/// As [`nimbus`].
pub fn supervisor(config: ClusterConfig) -> Result<ExitCode, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::runtime(format!("cannot find the squall binary: {e}")))?;
    block_on(async { squall_cluster::supervisor::run(config, exe).await.map_err(daemon_failure) })?;
    Ok(ExitCode::SUCCESS)
}

fn daemon_failure(e: squall_cluster::Error) -> Failure {
    match e {
        squall_cluster::Error::Config(_) => Failure::config(e),
        _ => Failure::runtime(e),
    }
}

/// `squall worker --assignment FILE` (started by a supervisor).
pub fn worker(file: &Path) -> ExitCode {
    ExitCode::from(squall_cluster::worker::run(file) as u8)
}

/// What a client command does once connected.
pub enum Request {
    /// Submit a YAML file (or a `.sql` script, sent as a YAML topology of
    /// one `sql` component) with overrides, over so many workers, maybe
    /// from a savepoint.
    Submit(PathBuf, Vec<(String, String)>, usize, Option<String>),
    /// Submit a topology binary under a name, with parameters, over so
    /// many workers.
    SubmitBinary(PathBuf, String, Vec<(String, String)>, usize),
    /// List every topology.
    List,
    /// One topology's status and metrics (as JSON when the flag is set).
    Status(String, bool),
    /// Kill a topology, after so many seconds of deactivation.
    Kill(String, std::time::Duration),
    /// Deactivate (`false`) or activate a topology's spouts.
    Activate(String, bool),
    /// Rebalance a topology to new parallelisms (and workers).
    Rebalance(String, RebalanceRequest),
    /// Take a savepoint of a topology (and stop it, when set), in a folder
    /// when one is given.
    Savepoint(String, bool, Option<String>),
}

/// `squall submit|list|status|kill`: one call to the leading nimbus's API
/// (`nimbus` if given, else the leader named in etcd).
///
/// # Errors
/// [`Failure::config`] if the file cannot be read or nimbus refuses the
/// topology; [`Failure::runtime`] if nimbus cannot be reached.
pub fn client(
    config: ClusterConfig,
    nimbus: Option<String>,
    request: Request,
) -> Result<ExitCode, Failure> {
    block_on(async move {
        let api = ApiClient::connect(&config, nimbus.as_deref()).await.map_err(Failure::runtime)?;
        match request {
            Request::Submit(file, overrides, workers, from_savepoint) => {
                let yaml = match crate::sql::is_sql(&file) {
                    true => crate::sql::submit_yaml(&file, &overrides)?,
                    false => std::fs::read_to_string(&file)
                        .map_err(|e| Failure::config(format!("{}: {e}", file.display())))?,
                };
                let request = SubmitRequest { yaml, overrides, workers, from_savepoint };
                let status = api.submit(&request).await.map_err(Failure::config)?;
                println!("submitted '{}': {}", status.name, describe(&status));
            }
            Request::SubmitBinary(path, name, overrides, workers) => {
                let status = api
                    .submit_binary(&path, &name, &overrides, workers)
                    .await
                    .map_err(Failure::config)?;
                println!("submitted '{}': {}", status.name, describe(&status));
            }
            Request::List => {
                let all = api.list().await.map_err(Failure::runtime)?;
                if all.is_empty() {
                    println!("no topologies");
                }
                for s in all {
                    println!("{:<24} {}", s.name, describe(&s));
                }
                let live = api.supervisors().await.map_err(Failure::runtime)?;
                let live: Vec<String> =
                    live.iter().map(|s| format!("{} ({} slots)", s.id, s.slots)).collect();
                println!(
                    "supervisors: {}",
                    if live.is_empty() { "none".to_string() } else { live.join(", ") }
                );
            }
            Request::Status(name, json) => {
                let m = api.metrics(&name).await.map_err(Failure::runtime)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&m).expect("metrics serialize"));
                } else {
                    println!("{:<24} {}", name, describe(&m.status));
                    crate::status_table::print(&m);
                }
            }
            Request::Kill(name, wait) => {
                let s = api.kill(&name, wait).await.map_err(Failure::runtime)?;
                if wait.is_zero() || s.state.is_over() {
                    println!("'{}': {}", s.name, describe(&s));
                } else {
                    println!("'{}': deactivated, killed in {} s", s.name, wait.as_secs());
                }
            }
            Request::Activate(name, active) => {
                let s = api.set_active(&name, active).await.map_err(Failure::runtime)?;
                let verb = if active { "activated" } else { "deactivated" };
                println!("'{}': {verb}", s.name);
            }
            Request::Rebalance(name, request) => {
                let s = api.rebalance(&name, &request).await.map_err(Failure::config)?;
                println!("'{}': {}", s.name, describe(&s));
            }
            Request::Savepoint(name, stop, dir) => {
                let taken = api.savepoint(&name, stop, dir).await.map_err(Failure::config)?;
                match taken.stopped {
                    true => println!("'{name}' stopped with savepoint {}", taken.location),
                    false => println!("savepoint of '{name}': {}", taken.location),
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `running on sup-1 (epoch 2, 1 restart)`.
pub fn describe(s: &TopologyStatus) -> String {
    let state = serde_json::to_value(s.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut text = state;
    if let Some(sup) = &s.supervisor {
        text.push_str(&format!(" on {sup}"));
    }
    text.push_str(&format!(" (epoch {}, {} restarts)", s.epoch, s.restarts));
    if let Some(m) = &s.message {
        text.push_str(&format!(": {m}"));
    }
    text
}
