//! Logical graph to physical graph: tasks, chains, channels, partitioners.
//!
//! Task ids are global and contiguous per component, in topological order.
//! A bolt is chained into its producer's executor when chaining is on, it
//! has exactly one input, that input is `forward` or `local_or_shuffle`, and
//! both have the same parallelism: task i of the producer then calls task i
//! of the consumer directly. Every other edge gets one bounded channel per
//! (producer task, consumer task) pair.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, Receiver, Sender};
use tokio_util::sync::CancellationToken;

use crate::checkpoint::RestoredCheckpoint;
use crate::error::Result;
use crate::model::{Fields, TupleSource};
use crate::runtime::acker::{AckerTask, AckerWiring};
use crate::runtime::collector::{OutBuffer, OutputCollector, Route, RouteTarget, StreamOut};
use crate::runtime::combiner::{Combiner, Merge, WindowMerge};
use crate::runtime::executor::{Executor, Node, Op};
use crate::runtime::inputs::InputSet;
use crate::runtime::message::Message;
use crate::runtime::metrics::{ComponentEntry, Metrics, TaskMetrics};
use crate::runtime::partition::{Partitioner, Shuffle};
use crate::runtime::restart::Restarts;
use crate::runtime::spout_tracker::SpoutTracker;
use crate::runtime::tracking::EmitTracker;
use crate::state::{KeySelector, TaskState};
use crate::topology::context::TopologyInfo;
use crate::topology::{
    ComponentDef, ComponentKind, Grouping, InputCombining, Topology, TopologyConfig,
    TopologyContext,
};

/// The physical graph, ready to run.
pub(crate) struct Plan {
    pub executors: Vec<Executor>,
    /// Acker tasks to spawn beside the executors (tracking only).
    pub ackers: Vec<AckerTask>,
    /// The acker tasks' inboxes (tracking only), for messages from other
    /// workers (cluster mode).
    pub acker_inboxes:
        Vec<tokio::sync::mpsc::UnboundedSender<Vec<crate::runtime::acker::AckerMsg>>>,
    /// Inboxes of spout tasks with no executor here (cluster mode): what
    /// the ackers decide for them, to send to their worker.
    pub remote_spouts:
        Vec<(usize, tokio::sync::mpsc::UnboundedReceiver<crate::runtime::acker::Completion>)>,
}

/// The counters of every task of `topology`, grouped by component.
pub(crate) fn metrics(topology: &Topology) -> Arc<Metrics> {
    let mut metrics = Metrics { topology: topology.name().to_string(), ..Metrics::default() };
    for c in &topology.components {
        let tasks = (0..c.parallelism).map(|_| Arc::default()).collect();
        metrics.components.push(ComponentEntry {
            id: c.id.clone(),
            spout: matches!(c.kind, ComponentKind::Spout(_)),
            sink: topology.is_sink(&c.id),
            tasks,
        });
    }
    Arc::new(metrics)
}

/// Builds the physical graph of `topology`; every executor stops when
/// `cancel` fires. Tasks count into `metrics` (from [`metrics`]) and start
/// from the state of `restored`, if given.
pub(crate) fn build(
    topology: &Topology,
    cancel: &CancellationToken,
    metrics: &Arc<Metrics>,
    restored: Option<&RestoredCheckpoint>,
) -> Result<Plan> {
    build_part(topology, cancel, metrics, restored, &|_| true).map(|(plan, _)| plan)
}

/// The ends of channels whose other end is in another process (cluster
/// mode): `outputs` carry what local tasks send to remote ones, `inputs`
/// take what remote tasks send to local ones. Keyed by (producer task,
/// consumer task).
#[derive(Default)]
pub(crate) struct RemoteEnds {
    pub outputs: Vec<((usize, usize), Receiver<Message>)>,
    pub inputs: Vec<((usize, usize), Sender<Message>)>,
}

/// As [`build`], for the part of the physical graph whose executors' head
/// tasks satisfy `local` (a chained task goes with its head): executors only
/// for those, and for every channel between a local and a remote task one
/// end in [`RemoteEnds`].
pub(crate) fn build_part(
    topology: &Topology,
    cancel: &CancellationToken,
    metrics: &Arc<Metrics>,
    restored: Option<&RestoredCheckpoint>,
    local: &dyn Fn(usize) -> bool,
) -> Result<(Plan, RemoteEnds)> {
    let config = topology.config();
    let comps = &topology.components;
    let by_id: HashMap<&str, &ComponentDef> = comps.iter().map(|c| (c.id.as_str(), c)).collect();

    let mut tasks = BTreeMap::new();
    let mut next = 0;
    for c in comps {
        tasks.insert(c.id.clone(), next..next + c.parallelism);
        next += c.parallelism;
    }
    let info = Arc::new(TopologyInfo {
        name: topology.name().to_string(),
        config: config.clone(),
        tasks: tasks.clone(),
        metrics: metrics.clone(),
    });

    // consumer id -> producer id, for chained edges.
    let mut chained_to: HashMap<&str, &str> = HashMap::new();
    for c in comps {
        if let [input] = c.inputs() {
            let producer = by_id[input.component.as_str()];
            let chainable = matches!(input.grouping, Grouping::Forward | Grouping::LocalOrShuffle);
            if config.chaining && chainable && producer.parallelism == c.parallelism {
                chained_to.insert(c.id.as_str(), producer.id.as_str());
            }
        }
    }

    // Each task's executor head: a chained task runs where its producer does.
    let mut head_of: HashMap<usize, usize> = HashMap::new();
    for c in comps {
        for (index, task) in tasks[&c.id].clone().enumerate() {
            let head = match chained_to.get(c.id.as_str()) {
                Some(p) => head_of[&(tasks[*p].start + index)],
                None => task,
            };
            head_of.insert(task, head);
        }
    }
    let is_local = |task: usize| local(head_of[&task]);
    let mut remote = RemoteEnds::default();

    // One channel per (producer task, consumer task) of every unchained edge.
    let mut senders: HashMap<(usize, usize), Sender<Message>> = HashMap::new();
    let mut receivers: HashMap<usize, Vec<Receiver<Message>>> = HashMap::new();
    for c in comps {
        if chained_to.contains_key(c.id.as_str()) {
            continue;
        }
        let mut producers: Vec<&str> = c.inputs().iter().map(|i| i.component.as_str()).collect();
        producers.dedup();
        producers.sort_unstable();
        producers.dedup();
        for p in producers {
            for pt in tasks[p].clone() {
                for ct in tasks[&c.id].clone() {
                    let (here, there) = (is_local(pt), is_local(ct));
                    if !here && !there {
                        continue;
                    }
                    let (tx, rx) = mpsc::channel(config.channel_capacity);
                    metrics.add_input(ct, &tx);
                    match here {
                        true => drop(senders.insert((pt, ct), tx)),
                        false => remote.inputs.push(((pt, ct), tx)),
                    }
                    match there {
                        true => receivers.entry(ct).or_default().push(rx),
                        false => remote.outputs.push(((pt, ct), rx)),
                    }
                }
            }
        }
    }

    let mut task_metrics: HashMap<usize, Arc<TaskMetrics>> = HashMap::new();
    for (c, entry) in comps.iter().zip(&metrics.components) {
        for (t, m) in tasks[&c.id].clone().zip(&entry.tasks) {
            task_metrics.insert(t, m.clone());
        }
    }

    // Tracking (at_least_once): acker tasks and their channels.
    let message_timeout = Duration::from_millis(config.message_timeout_ms);
    let mut wiring = config.tracking().then(|| {
        let spout_tasks = comps
            .iter()
            .filter(|c| matches!(c.kind, ComponentKind::Spout(_)))
            .flat_map(|c| tasks[&c.id].clone());
        AckerWiring::new(config.ackers, spout_tasks, next, message_timeout, cancel)
    });
    let acker_senders = wiring.as_ref().map(|w| w.ackers.clone());

    let make_node = |c: &ComponentDef, index: usize| -> Result<Node> {
        let task = tasks[&c.id].start + index;
        let mut streams = Vec::new();
        for decl in &c.streams {
            let source = Arc::new(TupleSource {
                component: c.id.clone(),
                stream: decl.id.clone(),
                task,
                fields: decl.fields.clone(),
            });
            let mut routes = Vec::new();
            for d in comps {
                for input in d.inputs() {
                    if input.component != c.id || input.stream != decl.id {
                        continue;
                    }
                    let chained = chained_to.get(d.id.as_str()) == Some(&c.id.as_str());
                    let target = if chained {
                        RouteTarget::Chained {
                            task: tasks[&d.id].start + index,
                            pending: Vec::new(),
                        }
                    } else {
                        let outs = tasks[&d.id]
                            .clone()
                            .map(|ct| OutBuffer {
                                tx: senders[&(task, ct)].clone(),
                                rows: Vec::with_capacity(config.batch_size),
                                ids: Vec::new(),
                                weights: Vec::new(),
                            })
                            .collect();
                        RouteTarget::Channels { first_task: tasks[&d.id].start, outs }
                    };
                    let partitioner = match &input.grouping {
                        Grouping::Shuffle | Grouping::None | Grouping::LocalOrShuffle => {
                            Partitioner::Shuffle(Shuffle::new(d.parallelism, rand::random()))
                        }
                        Grouping::Fields(fields) => Partitioner::Fields {
                            indices: fields
                                .names()
                                .iter()
                                .map(|f| decl.fields.index_of(f).expect("validated"))
                                .collect(),
                            tasks: d.parallelism,
                            max_parallelism: config.max_parallelism,
                        },
                        Grouping::All => Partitioner::All,
                        Grouping::Global => Partitioner::Global,
                        Grouping::Direct => Partitioner::Direct,
                        Grouping::Forward => Partitioner::Forward(index),
                    };
                    let combiner = match target {
                        RouteTarget::Channels { .. } if !decl.direct => {
                            combiner_for(config, d, &input.grouping, &decl.fields)
                        }
                        _ => None,
                    };
                    routes.push(Route { consumer: d.id.clone(), partitioner, target, combiner });
                }
            }
            streams.push(StreamOut { direct: decl.direct, source, routes });
        }
        let (op, spout) = match &c.kind {
            ComponentKind::Spout(f) => (Op::Spout(f()), true),
            ComponentKind::Bolt { factory, .. } => (Op::Bolt(factory()), false),
        };
        let state = task_state(topology, c, index, restored)?;
        metrics.states.register(&c.id, index, c.parallelism, config.max_parallelism, state.clone());
        let keys = KeySelector::new(
            c.inputs()
                .iter()
                .filter_map(|i| match &i.grouping {
                    Grouping::Fields(f) => Some((i.component.clone(), i.stream.clone(), f.clone())),
                    _ => None,
                })
                .collect(),
        );
        let mut collector =
            OutputCollector::new(c.id.clone(), task, spout, streams, config.batch_size);
        collector.tracker =
            acker_senders.as_ref().map(|a| Box::new(EmitTracker::new(task, a.clone())));
        let restarts = acker_senders.as_ref().map(|_| {
            let make: Arc<dyn Fn() -> Op + Send + Sync> = match &c.kind {
                ComponentKind::Spout(f) => {
                    let f = f.clone();
                    Arc::new(move || Op::Spout(f()))
                }
                ComponentKind::Bolt { factory, .. } => {
                    let f = factory.clone();
                    Arc::new(move || Op::Bolt(f()))
                }
            };
            Restarts { make, max: config.max_task_restarts, used: 0 }
        });
        Ok(Node {
            component: c.id.clone(),
            task,
            op,
            collector,
            context: TopologyContext::new(info.clone(), c.id.clone(), task, state.clone()),
            metrics: task_metrics[&task].clone(),
            feed: None,
            state,
            keys,
            restarts,
        })
    };

    let mut executors = Vec::new();
    for head in comps.iter().filter(|c| !chained_to.contains_key(c.id.as_str())) {
        for index in 0..head.parallelism {
            if !local(tasks[&head.id].start + index) {
                continue;
            }
            let mut nodes = vec![make_node(head, index)?];
            for d in comps {
                let Some(&producer) = chained_to.get(d.id.as_str()) else {
                    continue;
                };
                let Some(p) = nodes.iter().position(|n| n.component == producer) else {
                    continue;
                };
                let (s, r) = nodes[p].collector.chained_route(&d.id).expect("chained route exists");
                let mut node = make_node(d, index)?;
                node.feed = Some((p, s, r));
                nodes.push(node);
            }
            let head_task = tasks[&head.id].start + index;
            let inputs = match head.kind {
                ComponentKind::Spout(_) => None,
                ComponentKind::Bolt { .. } => {
                    let rx = receivers.remove(&head_task).unwrap_or_default();
                    Some(InputSet::new(rx, config.idle_timeout(), config.aligned_barriers()))
                }
            };
            let spout_tracker = wiring.as_mut().and_then(|w| {
                let inbox = w.spout_inboxes[head_task].take()?;
                let max = config.max_spout_pending;
                Some(SpoutTracker::new(inbox, message_timeout, max, std::time::Instant::now()))
            });
            executors.push(Executor {
                nodes,
                inputs,
                spout_tracker,
                buffer_timeout: Duration::from_millis(config.buffer_timeout_ms),
                cancel: cancel.clone(),
                checkpoint: None,
            });
        }
    }
    let (ackers, acker_inboxes, remote_spouts) = match wiring {
        None => Default::default(),
        Some(w) => {
            let rest = w.spout_inboxes.into_iter().enumerate();
            let rest = rest.filter_map(|(task, rx)| Some((task, rx?))).collect();
            (w.tasks, w.ackers, rest)
        }
    };
    Ok((Plan { executors, ackers, acker_inboxes, remote_spouts }, remote))
}

/// The state of task `index` of `c`: an empty backend for its key groups,
/// filled from `restored` if given (`checkpoint/restore.rs`).
/// The pre-aggregation of an edge into bolt `consumer`, when the bolt
/// allows it and it is exact there (see [`crate::InputCombining`]): the
/// topology is untracked, every tuple of a key goes to one consumer task,
/// and the stream has the key's fields.
fn combiner_for(
    config: &TopologyConfig,
    consumer: &ComponentDef,
    grouping: &Grouping,
    fields: &Fields,
) -> Option<Combiner> {
    let combining = consumer.combining.as_ref()?;
    if !config.local_aggregation || config.tracking() {
        return None;
    }
    let key = combining.key();
    let one_task_per_key = match grouping {
        Grouping::Fields(g) => g.names().iter().all(|f| key.names().contains(f)),
        Grouping::Global | Grouping::All => true,
        _ => consumer.parallelism == 1,
    };
    if !one_task_per_key {
        return None;
    }
    let positions = key.names().iter().map(|f| fields.index_of(f)).collect::<Option<_>>()?;
    let merge = match combining {
        InputCombining::Count(_) => Merge::Count,
        InputCombining::Latest(_) => Merge::Latest,
        // An input that turns idle may let the consumer's watermark pass
        // what this producer sent (see `runtime/event_time/watermark.rs`).
        InputCombining::Window(_) if config.idle_timeout_ms > 0 => return None,
        InputCombining::Window(w) => Merge::Window(WindowMerge::new(w, fields)?),
    };
    Some(Combiner::new(merge, positions))
}

fn task_state(
    topology: &Topology,
    c: &ComponentDef,
    index: usize,
    restored: Option<&RestoredCheckpoint>,
) -> Result<TaskState> {
    crate::checkpoint::restore::task_state(topology.config(), &c.id, index, c.parallelism, restored)
        .map_err(|e| e.in_task(&c.id, index))
}
