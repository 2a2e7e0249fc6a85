//! The web UI on a cluster: what each worker publishes for it
//! ([`crate::worker`]'s `ui_publish`), and how nimbus reads it back ([`crate::nimbus::ui_api::Backend::Cluster`]).
//!
//! Every worker writes a [`WorkerView`] once a second (with its switch and
//! metrics report, [`crate::worker::worker_control`]) under
//! `NS/ui/{topology}/{supervisor}-{slot}`: the logical graph, its tasks'
//! counters, watermarks, latencies and errors
//! ([`squall::runtime::LiveStats`]), and the checkpoint history when it
//! coordinates the checkpoints. Nimbus merges the views of the current
//! epoch; nimbus deletes them when the topology is submitted again.

use std::collections::BTreeMap;
use std::sync::Mutex;

use etcd_client::GetOptions;
use squall::runtime::{CheckpointRecord, TaskStats, TopologyGraph};

use crate::nimbus::control;
use crate::nimbus::ui_api::{LogTail, NimbusInfo, Snapshot, SupervisorView, WorkerInfo};
use crate::nimbus::{self, NimbusError};
use crate::protocol::records::guarantee_of;
pub use crate::protocol::records::WorkerView;
use crate::protocol::store::{Assignment, Store, SupervisorInfo, TopologyRecord};

/// A graph rebuilt from a submitted record: (the record's YAML and
/// parameters it was built from, graph, guarantee, checkpoint interval).
type BuiltGraph = (String, TopologyGraph, String, u64);

/// Nimbus's side: reads what workers published.
#[derive(Clone)]
pub struct ClusterBackend {
    store: Store,
    token: String,
    /// Graphs of topologies no worker published yet, by name.
    graphs: std::sync::Arc<Mutex<std::collections::HashMap<String, BuiltGraph>>>,
}

impl ClusterBackend {
    /// Over `store`; asks supervisors for logs with `token`.
    pub fn new(store: Store, token: String) -> Self {
        ClusterBackend { store, token, graphs: Default::default() }
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
        let status = nimbus::status(&self.store, name).await?;
        let switch = control::activation(&self.store, name).await?;
        let mut views: Vec<WorkerView> = self
            .store
            .list::<WorkerView>(&format!("ui/{name}"))
            .await?
            .into_iter()
            .map(|(_, v)| v)
            .filter(|v| v.epoch == status.epoch)
            .collect();
        views.sort_by(|a, b| a.worker.cmp(&b.worker));
        let (graph, guarantee, interval) = match views.first() {
            Some(v) => (v.graph.clone(), v.guarantee.clone(), v.checkpoint_interval_ms),
            None => self.graph_of_record(name).await,
        };
        // Each task as the worker running it has it, or its counts summed
        // over the workers' views of it.
        let mut tasks: BTreeMap<usize, TaskStats> = BTreeMap::new();
        for v in &views {
            for t in &v.tasks {
                let (id, snapshot) = (t.snapshot.task, &t.snapshot);
                let mine = v.assigned.contains(&id)
                    || snapshot.counters.emitted + snapshot.counters.executed > 0;
                let entry =
                    tasks.entry(id).or_insert_with(|| TaskStats::empty(&snapshot.component, id));
                entry.snapshot.counters += &snapshot.counters;
                let sum = &mut entry.snapshot;
                sum.watermark_ms = sum.watermark_ms.max(snapshot.watermark_ms);
                sum.input_queue_fill = sum.input_queue_fill.max(snapshot.input_queue_fill);
                sum.execute_latency = sum.execute_latency.or(snapshot.execute_latency);
                sum.complete_latency = sum.complete_latency.or(snapshot.complete_latency);
                entry.recent_complete_latency =
                    entry.recent_complete_latency.or(t.recent_complete_latency);
                entry.recent_execute_latency =
                    entry.recent_execute_latency.or(t.recent_execute_latency);
                entry.errors.extend(t.errors.iter().cloned());
                if mine && entry.snapshot.worker.is_none() {
                    entry.snapshot.worker = Some(v.worker.clone());
                }
            }
        }
        let mut checkpoints: Vec<CheckpointRecord> =
            views.iter().flat_map(|v| v.checkpoints.iter().cloned()).collect();
        checkpoints.sort_by_key(|c| c.id);
        let workers = views
            .iter()
            .map(|v| WorkerInfo {
                id: v.worker.clone(),
                supervisor: Some(v.supervisor.clone()),
                slot: Some(v.slot),
                pid: Some(v.pid),
                tasks: v.assigned.clone(),
                at_ms: v.at_ms,
                process: v.process,
            })
            .collect();
        Ok(Snapshot {
            applied: !views.is_empty() && views.iter().all(|v| v.active == switch.active),
            active: switch.active,
            graph,
            guarantee,
            checkpoint_interval_ms: interval,
            started_ms: views.iter().map(|v| v.started_ms).min(),
            workers,
            tasks: tasks.into_values().collect(),
            checkpoints,
            user_metrics: views.iter().flat_map(|v| v.user_metrics.iter().cloned()).collect(),
            status,
        })
    }

    /// The graph of a YAML topology not running yet (empty for a binary).
    async fn graph_of_record(&self, name: &str) -> (TopologyGraph, String, u64) {
        let record: Option<TopologyRecord> =
            self.store.get(&format!("topologies/{name}")).await.ok().flatten();
        let rescale: control::Rescale =
            self.store.get(&format!("rescale/{name}")).await.ok().flatten().unwrap_or_default();
        let Some(record) = record else { return (TopologyGraph::default(), String::new(), 0) };
        // Built once per submission: a build reads the topology's inputs.
        let key = format!("{}\n{:?}\n{:?}", record.yaml, record.overrides, rescale.parallelism);
        if let Some((k, g, guarantee, interval)) =
            self.graphs.lock().unwrap_or_else(|e| e.into_inner()).get(name)
        {
            if *k == key {
                return (g.clone(), guarantee.clone(), *interval);
            }
        }
        let built = match control::build(&record, &rescale) {
            Ok(t) => (TopologyGraph::of(&t), guarantee_of(&t), t.config().checkpoint_interval_ms),
            Err(_) => (TopologyGraph::default(), String::new(), 0),
        };
        let entry = (key, built.0.clone(), built.1.clone(), built.2);
        self.graphs.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), entry);
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
        // A worker that ended has no assignment: its view still names it.
        let slot = match slot {
            Some(s) => s,
            None => {
                let view: Option<WorkerView> =
                    self.store.get(&format!("ui/{name}/{worker}")).await?;
                let v = view.ok_or_else(not_found)?;
                (v.supervisor, v.slot)
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
