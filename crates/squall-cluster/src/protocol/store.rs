//! The cluster's state in etcd: key layout, records (JSON values) and a thin
//! [`Store`] over `etcd-client`. Every daemon reads and writes through here;
//! none keeps state that only it knows.
//!
//! Keys, under the configured namespace `NS`:
//!
//! | key | value | written by |
//! |---|---|---|
//! | `NS/supervisors/{id}` | [`SupervisorInfo`], under the supervisor's lease | supervisor |
//! | `NS/topologies/{name}` | [`TopologyRecord`] | nimbus |
//! | `NS/assignments/{supervisor}/{topology}` | [`Assignment`] | nimbus (supervisor deletes it when the worker finished) |
//! | `NS/status/{topology}` | [`TopologyStatus`] | nimbus and supervisors |
//! | `NS/nimbus` | election name; the leader's value is its API URL | nimbus |
//! | `NS/done/{topology}/{epoch}/{supervisor}-{slot}` | `true` once that worker finished | supervisor |
//! | `NS/checkpoints/{topology}` | [`crate::protocol::fence::CompletedCheckpoints`] | the coordinator's worker, in a transaction fenced by its assignment; nimbus deletes it at a new submission |

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A live supervisor and its slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SupervisorInfo {
    /// The supervisor's id.
    pub id: String,
    /// Worker slots it offers.
    pub slots: usize,
    /// Where it serves Prometheus's `/metrics` (`host:port`).
    #[serde(default)]
    pub metrics_addr: Option<String>,
    /// Where it serves its workers' logs (`http://HOST:PORT`), for the web
    /// UI ([`crate::protocol::ui_logs`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

/// A submitted topology: its YAML text and parameter overrides, exactly as
/// the user sent them, so any worker can rebuild it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopologyRecord {
    /// The topology's name (from its YAML).
    pub name: String,
    /// The YAML text.
    pub yaml: String,
    /// `--set KEY=VALUE` overrides.
    pub overrides: Vec<(String, String)>,
    /// Total number of tasks over all components.
    pub tasks: usize,
    /// Worker processes asked for.
    pub workers: usize,
    /// A topology binary's key in the blob store ([`crate::protocol::blobs`]); its
    /// workers run that binary instead of `squall` (`yaml` is then empty).
    #[serde(default)]
    pub binary: Option<String>,
}

/// One worker's share of a topology: which slot of which supervisor runs
/// which tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The topology, whole (the worker rebuilds the plan from it).
    pub topology: TopologyRecord,
    /// The supervisor that runs it.
    pub supervisor: String,
    /// The slot (0-based) on that supervisor.
    pub slot: usize,
    /// Global task ids this worker runs. An executor runs where its first
    /// task is listed; tasks chained to it go with it.
    pub tasks: Vec<usize>,
    /// How many workers run the topology (this one among them).
    pub workers: usize,
    /// Raised every time nimbus moves the topology, so that a stale copy can
    /// tell it is stale.
    pub epoch: u64,
}

/// Where a topology is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Accepted, waiting for a free slot.
    Pending,
    /// Assigned to a slot; the supervisor has not started it yet.
    Assigned,
    /// A worker runs it.
    Running,
    /// Its input ended and everything drained.
    Finished,
    /// A task failed (the message says which).
    Failed,
    /// Killed through the API.
    Killed,
}

impl State {
    /// Whether the topology is over (nothing runs it any more).
    pub fn is_over(self) -> bool {
        matches!(self, State::Finished | State::Failed | State::Killed)
    }
}

/// The status of one topology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopologyStatus {
    /// The topology's name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// The supervisor running it, if any.
    pub supervisor: Option<String>,
    /// The assignment's epoch.
    pub epoch: u64,
    /// How many times a worker process was restarted.
    pub restarts: u32,
    /// An error, for `failed`.
    pub message: Option<String>,
    /// The process id of the worker running it (on its supervisor's host).
    pub worker_pid: Option<u32>,
}

/// etcd, with the namespace and JSON records.
#[derive(Clone)]
pub struct Store {
    client: Client,
    prefix: String,
}

/// How long [`Store::nimbus_leader`] waits for etcd.
const LEADER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(15);

impl Store {
    /// Connects to `config`'s etcd endpoints, over TLS when `etcd_tls` is
    /// set ([`crate::protocol::etcd_tls`]), under its namespace.
    ///
    /// # Errors
    /// [`Error::Config`] for bad TLS settings; [`Error::Etcd`] if no
    /// endpoint answers.
    pub async fn connect(config: &crate::ClusterConfig) -> Result<Self> {
        let endpoints = &config.etcd_endpoints;
        let options =
            crate::protocol::etcd_tls::connect_options(config.etcd_tls.as_ref(), endpoints)?;
        let client = Client::connect(endpoints, options).await?;
        Ok(Store { client, prefix: config.prefix().to_string() })
    }

    /// As [`Store::connect`], for a daemon starting: while etcd cannot be
    /// reached, says so (a warning naming the endpoints and the error) and
    /// tries again after a pause that doubles from 100 ms to 5 s, as
    /// Storm's daemons wait for ZooKeeper. Never gives up on etcd; bad TLS
    /// settings are an error at once.
    ///
    /// # Errors
    /// [`Error::Config`] for bad TLS settings.
    ///
    /// # Cancel safety
    /// Cancel-safe: a dropped call leaves nothing behind.
    pub async fn connect_until_reached(config: &crate::ClusterConfig) -> Result<Self> {
        crate::protocol::etcd_tls::connect_options(
            config.etcd_tls.as_ref(),
            &config.etcd_endpoints,
        )?;
        let endpoints = &config.etcd_endpoints;
        let mut pause = std::time::Duration::from_millis(100);
        loop {
            // Reached means an RPC answered: a client may connect lazily.
            let reached = match Store::connect(config).await {
                Ok(store) => store.client().status().await.map(|_| store).map_err(Error::from),
                Err(e) => Err(e),
            };
            match reached {
                Ok(store) => return Ok(store),
                Err(e) => {
                    tracing::warn!(?endpoints, error = %e, retry_ms = pause.as_millis() as u64, "etcd unreachable");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
    }

    /// The raw client, for leases, watches and elections.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// `NS/{rest}`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}/{rest}", self.prefix)
    }

    /// Writes `value` as JSON under `NS/{rest}`, attached to `lease` if given.
    ///
    /// # Errors
    /// [`Error::Etcd`].
    pub async fn put<T: Serialize>(&self, rest: &str, value: &T, lease: Option<i64>) -> Result<()> {
        let key = self.key(rest);
        let json =
            serde_json::to_vec(value).map_err(|source| Error::record(key.clone(), source))?;
        let options = lease.map(|id| PutOptions::new().with_lease(id));
        self.client.clone().put(key, json, options).await?;
        Ok(())
    }

    /// Reads the record under `NS/{rest}`.
    ///
    /// # Errors
    /// [`Error::Etcd`], or [`Error::Record`] if the value is not a `T`.
    pub async fn get<T: DeserializeOwned>(&self, rest: &str) -> Result<Option<T>> {
        let key = self.key(rest);
        let resp = self.client.clone().get(key.clone(), None).await?;
        resp.kvs()
            .first()
            .map(|kv| {
                serde_json::from_slice(kv.value()).map_err(|source| Error::record(key, source))
            })
            .transpose()
    }

    /// Every record under `NS/{dir}/`, with the key's part after it.
    ///
    /// # Errors
    /// [`Error::Etcd`], or [`Error::Record`] naming a value that is not a `T`.
    pub async fn list<T: DeserializeOwned>(&self, dir: &str) -> Result<Vec<(String, T)>> {
        let base = self.key(&format!("{}/", dir.trim_end_matches('/')));
        let resp =
            self.client.clone().get(base.clone(), Some(GetOptions::new().with_prefix())).await?;
        resp.kvs()
            .iter()
            .map(|kv| {
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                let value = serde_json::from_slice(kv.value())
                    .map_err(|source| Error::record(key.clone(), source))?;
                Ok((key[base.len()..].to_string(), value))
            })
            .collect()
    }

    /// Deletes `NS/{rest}`, or every key under it when `prefix`.
    ///
    /// # Errors
    /// [`Error::Etcd`].
    pub async fn delete(&self, rest: &str, prefix: bool) -> Result<()> {
        let options = prefix.then(|| DeleteOptions::new().with_prefix());
        self.client.clone().delete(self.key(rest), options).await?;
        Ok(())
    }

    /// Deletes the assignment `assignments/{key}` if it still holds
    /// `epoch`, in one transaction: `false` if it is gone or holds another
    /// epoch. Assignments are keyed by supervisor and topology, so the key
    /// of an epoch read a moment ago may already hold the next epoch's
    /// assignment; deleting that one would stop the new copy (and a
    /// reschedule at the same key would change the `mod_revision` that its
    /// workers' fences hold).
    ///
    /// # Errors
    /// [`Error::Etcd`], or [`Error::Record`] if the value is not an
    /// [`Assignment`].
    pub async fn delete_assignment(&self, key: &str, epoch: u64) -> Result<bool> {
        let full = self.key(&format!("assignments/{key}"));
        let resp = self.client.clone().get(full.clone(), None).await?;
        let Some(kv) = resp.kvs().first() else { return Ok(false) };
        let held: Assignment = serde_json::from_slice(kv.value())
            .map_err(|source| Error::record(full.clone(), source))?;
        if held.epoch != epoch {
            return Ok(false);
        }
        let unchanged = Compare::mod_revision(full.clone(), CompareOp::Equal, kv.mod_revision());
        let txn = Txn::new().when([unchanged]).and_then([TxnOp::delete(full, None)]);
        Ok(self.client.clone().txn(txn).await?.succeeded())
    }

    /// Updates the status of `name` with `change`, starting from a fresh
    /// `Pending` status if there is none. Nimbus and every supervisor write
    /// statuses: the write is a compare-and-swap on the key's revision,
    /// read and changed again on a conflict, so no update is lost (a lost
    /// update could set the epoch back, and nimbus would then give the next
    /// move an epoch number already used).
    ///
    /// # Errors
    /// [`Error::Etcd`] or [`Error::Record`].
    pub async fn update_status(
        &self,
        name: &str,
        mut change: impl FnMut(&mut TopologyStatus),
    ) -> Result<()> {
        let key = self.key(&format!("status/{name}"));
        loop {
            let resp = self.client.clone().get(key.clone(), None).await?;
            let (mut status, seen) = match resp.kvs().first() {
                Some(kv) => (
                    serde_json::from_slice(kv.value())
                        .map_err(|source| Error::record(key.clone(), source))?,
                    kv.mod_revision(),
                ),
                None => (
                    TopologyStatus {
                        name: name.to_string(),
                        state: State::Pending,
                        supervisor: None,
                        epoch: 0,
                        restarts: 0,
                        message: None,
                        worker_pid: None,
                    },
                    0,
                ),
            };
            change(&mut status);
            let json =
                serde_json::to_vec(&status).map_err(|source| Error::record(key.clone(), source))?;
            let unchanged = Compare::mod_revision(key.clone(), CompareOp::Equal, seen);
            let txn = Txn::new().when([unchanged]).and_then([TxnOp::put(key.clone(), json, None)]);
            if self.client.clone().txn(txn).await?.succeeded() {
                return Ok(());
            }
        }
    }

    /// The API URL of the leading nimbus, if one leads.
    ///
    /// # Errors
    /// [`Error::Etcd`]; [`Error::Config`] when etcd does not answer in
    /// 15 s (down, or refusing this client's certificate).
    pub async fn nimbus_leader(&self) -> Result<Option<String>> {
        let mut client = self.client.clone();
        // A refused TLS handshake is retried by the client forever: bound it.
        let asked = tokio::time::timeout(LEADER_PATIENCE, client.leader(self.key("nimbus")));
        let Ok(answer) = asked.await else {
            return Err(Error::Config(format!(
                "etcd did not answer in {} s: is it up, and does it accept this client \
                 (etcd_endpoints, etcd_tls)?",
                LEADER_PATIENCE.as_secs()
            )));
        };
        match answer {
            Ok(resp) => Ok(resp.kv().map(|kv| String::from_utf8_lossy(kv.value()).into_owned())),
            // etcd answers "election: no leader" as an error.
            Err(etcd_client::Error::GRpcStatus(s)) if s.message().contains("no leader") => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Renews `lease` every third of `ttl_s` until etcd says it has expired or
/// it may have.
///
/// A renewal whose answer is late is not a lost lease: on a loaded machine
/// this daemon's own threads, not etcd, may be what is slow. So renewals go
/// out on time whether or not the previous one was answered, and the lease
/// counts as lost only when etcd says so (an answer with no time left, or a
/// closed stream) or when no renewal sent in the last `ttl_s` has been
/// answered: the last one etcd is known to have received was sent before
/// that, so by now it may have let the lease go, and the daemon must stop
/// acting on it (a nimbus its leadership, a supervisor its workers). Until
/// issue 20 a renewal unanswered for two thirds of the TTL ended the
/// daemon, and a test nimbus (TTL 2 s) beside a CPU hog exited while its
/// lease was alive.
///
/// # Errors
/// [`Error::Etcd`] when a renewal cannot be sent or etcd's answer is an
/// error; [`Error::Config`] when no renewal was answered for `ttl_s`; `Ok`
/// when etcd answers that the lease is gone.
pub async fn keep_lease_alive(mut client: Client, lease: i64, ttl_s: i64) -> Result<()> {
    let (mut keeper, mut stream) = client.lease_keep_alive(lease).await?;
    let ttl = Duration::from_secs(ttl_s.max(1) as u64);
    let every = ttl / 3;
    // When each unanswered renewal was sent, oldest first (etcd answers a
    // stream's renewals in order).
    let mut unanswered = std::collections::VecDeque::new();
    // The send time of the newest renewal etcd answered: the lease lives at
    // least until this plus the TTL.
    let mut alive_from = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if alive_from.elapsed() >= ttl {
                    return Err(Error::Config(format!(
                        "etcd answered no lease renewal for {} s: the lease may have expired",
                        ttl.as_secs()
                    )));
                }
                keeper.keep_alive().await?;
                unanswered.push_back(tokio::time::Instant::now());
            }
            answer = stream.message() => match answer? {
                Some(resp) if resp.ttl() > 0 => {
                    if let Some(sent) = unanswered.pop_front() {
                        alive_from = sent;
                    }
                }
                _ => return Ok(()),
            },
        }
    }
}
