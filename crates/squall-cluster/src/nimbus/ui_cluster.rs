//! The web UI on a cluster: how nimbus reads back
//! ([`crate::nimbus::ui_api::Backend::Cluster`]) what each worker publishes
//! ([`crate::worker`]'s `ui_publish`).
//!
//! Every worker writes a [`WorkerReport`] (with its switch,
//! [`crate::worker::worker_control`]) under
//! `NS/metrics/{topology}/{supervisor}-{slot}`: the logical graph, its tasks'
//! counters, watermarks, latencies and errors
//! ([`squall::runtime::LiveStats`]), and the checkpoint history when it
//! coordinates the checkpoints. Nimbus merges the reports of the current
//! epoch (`Snapshot::of`), as for the REST metrics route; it deletes them
//! when the topology is submitted again.

use std::sync::Mutex;

use etcd_client::GetOptions;

use crate::nimbus::control;
use crate::nimbus::ui_api::{LogTail, NimbusInfo, Snapshot, SupervisorView};
use crate::nimbus::{self, NimbusError};
use crate::protocol::records::{Shape, WorkerReport};
use crate::protocol::store::{Assignment, Store, SupervisorInfo, TopologyRecord};

/// A shape rebuilt from a submitted record: (the record's YAML and
/// parameters it was built from, shape).
type BuiltShape = (String, Shape);

/// Nimbus's side: reads what workers published.
#[derive(Clone)]
pub struct ClusterBackend {
    store: Store,
    token: String,
    /// Shapes of topologies no worker published yet, by name.
    shapes: std::sync::Arc<Mutex<std::collections::HashMap<String, BuiltShape>>>,
}

impl ClusterBackend {
    /// Over `store`; asks supervisors for logs with `token`.
    pub fn new(store: Store, token: String) -> Self {
        ClusterBackend { store, token, shapes: Default::default() }
    }

    /// Every topology's name, and whether it is not over.
    pub(crate) async fn live_names(&self) -> Result<Vec<(String, bool)>, NimbusError> {
        Ok(nimbus::list(&self.store)
            .await?
            .into_iter()
            .map(|s| (s.name, !s.state.is_over()))
            .collect())
    }

    /// Nimbus daemons in the election, the leader first.
    pub(crate) async fn nimbuses(&self) -> Result<Vec<NimbusInfo>, NimbusError> {
        let leader = self.store.nimbus_leader().await?;
        let prefix = format!("{}/", self.store.key("nimbus"));
        let resp = self
            .store
            .client()
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(crate::Error::from)?;
        let mut out: Vec<NimbusInfo> = resp
            .kvs()
            .iter()
            .map(|kv| {
                let url = String::from_utf8_lossy(kv.value()).into_owned();
                NimbusInfo { leader: leader.as_deref() == Some(url.as_str()), url }
            })
            .collect();
        out.sort_by_key(|n| !n.leader);
        Ok(out)
    }

    /// Live supervisors with their slots' use.
    pub(crate) async fn supervisors(&self) -> Result<Vec<SupervisorView>, NimbusError> {
        let live = self.store.list::<SupervisorInfo>("supervisors").await?;
        let assignments = self.store.list::<Assignment>("assignments").await?;
        Ok(live
            .into_iter()
            .map(|(_, s)| {
                let used = assignments.iter().filter(|(_, a)| a.supervisor == s.id).count();
                SupervisorView {
                    id: s.id,
                    slots: s.slots,
                    used,
                    free: s.slots.saturating_sub(used),
                    serves_logs: s.logs.is_some(),
                }
            })
            .collect())
    }

    /// The topology `name` now.
    pub(crate) async fn snapshot(&self, name: &str) -> Result<Snapshot, NimbusError> {
        let (status, active, reports) = control::published(&self.store, name).await?;
        let shape = match reports.first() {
            Some(r) => r.shape.clone(),
            None => self.shape_of_record(name).await,
        };
        Ok(Snapshot::of(status, active, &reports, shape))
    }

    /// The shape of a YAML topology not running yet (empty for a binary).
    async fn shape_of_record(&self, name: &str) -> Shape {
        let record: Option<TopologyRecord> =
            self.store.get(&format!("topologies/{name}")).await.ok().flatten();
        let rescale: control::Rescale =
            self.store.get(&format!("rescale/{name}")).await.ok().flatten().unwrap_or_default();
        let Some(record) = record else { return Shape::default() };
        // Built once per submission: a build reads the topology's inputs.
        let key = format!("{}\n{:?}\n{:?}", record.yaml, record.overrides, rescale.parallelism);
        if let Some((k, shape)) = self.shapes.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
            if *k == key {
                return shape.clone();
            }
        }
        let built = control::build(&record, &rescale).map(|t| Shape::of(&t)).unwrap_or_default();
        let entry = (key, built.clone());
        self.shapes.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), entry);
        built
    }

    /// The last `lines` lines of worker `worker`'s log, from its
    /// supervisor.
    pub(crate) async fn log(
        &self,
        name: &str,
        worker: &str,
        lines: usize,
    ) -> Result<LogTail, NimbusError> {
        let not_found = || NimbusError::NotFound(format!("{name}: worker {worker}"));
        let supervisors = self.store.list::<SupervisorInfo>("supervisors").await?;
        let assignments = self.store.list::<Assignment>("assignments").await?;
        let slot = assignments
            .iter()
            .map(|(_, a)| a)
            .find(|a| a.topology.name == name && format!("{}-{}", a.supervisor, a.slot) == worker)
            .map(|a| (a.supervisor.clone(), a.slot));
        // A worker that ended has no assignment: its report still names it.
        let slot = match slot {
            Some(s) => s,
            None => {
                let report: Option<WorkerReport> =
                    self.store.get(&format!("metrics/{name}/{worker}")).await?;
                let r = report.ok_or_else(not_found)?;
                r.supervisor.zip(r.slot).ok_or_else(not_found)?
            }
        };
        let (supervisor, slot) = slot;
        let Some(info) = supervisors.into_iter().map(|(_, s)| s).find(|s| s.id == supervisor)
        else {
            return Err(NimbusError::Timeout(format!("supervisor {supervisor} is not live")));
        };
        let Some(url) = info.logs else {
            return Err(NimbusError::Timeout(format!(
                "supervisor {supervisor} serves no logs (it has no api_token)"
            )));
        };
        crate::protocol::ui_logs::fetch(&url, &self.token, name, slot, lines)
            .await
            .map(|(path, text)| LogTail {
                topology: name.to_string(),
                worker: worker.to_string(),
                path,
                text,
            })
            .map_err(|e| NimbusError::Timeout(format!("supervisor {supervisor}: {e}")))
    }
}
