//! [`LinearDrpcBuilder`]: Storm's `LinearDRPCTopologyBuilder`, a DRPC
//! function as a chain of stages, each told when it has seen every tuple of
//! a request (Storm's `CoordinatedBolt` and its `finishBatch`).
//!
//! How a stage knows it has everything (the rule every stage keeps):
//! - The first stage gets each request on every task (all grouping); the
//!   task `id % parallelism` executes it and finishes it at once.
//! - A stage routes its outputs to the next stage itself (direct streams,
//!   by the stage's grouping), counting what it sent to each task, and
//!   when it finishes a request it sends every task of the next stage a
//!   coordination tuple `(id, count)` with the count sent to that task —
//!   0 included, so that each next task hears from every task before it.
//! - A task of a later stage finishes a request once it has a coordination
//!   tuple from every task of the stage before and has received as many
//!   data tuples as those counts sum to (the two may arrive in any order).
//!
//! The last stage's inputs are grouped by request id (whatever grouping it
//! declares): one task, `id % parallelism`, has all of a request and is the
//! only one to finish it; it must emit one value, the answer, which goes to
//! [`ReturnResults`] (none fails the request; a second is dropped). A stage that errs on a request leaves it unfinished:
//! under `at_least_once` its tuple tree fails and the caller errs at once;
//! otherwise the caller times out. What this module does not own: the
//! request table and timeouts ([`super::LocalDrpc`]).

use std::collections::HashMap;
use std::ops::Range;

use crate::drpc::{DrpcInvocations, DrpcSpout, ReturnResults, RETURN_INFO};
use crate::error::{Error, Result};
use crate::keys::key_hash;
use crate::model::{Fields, Tuple, Value, Values};
use crate::runtime::OutputCollector;
use crate::topology::{Bolt, OutputDeclarer, TopologyBuilder, TopologyContext, DEFAULT_STREAM};

/// The stream of coordination tuples `(id, count)` between stages.
pub const COORD_STREAM: &str = "__drpc_coord";

/// The spout's component id in a linear DRPC topology.
pub const SPOUT: &str = "drpc-requests";

/// The return-results bolt's component id in a linear DRPC topology.
pub const RETURN: &str = "drpc-return";

/// One stage of a linear DRPC function.
pub trait DrpcBolt: Send + 'static {
    /// The fields this stage emits, without the request id (the stage's
    /// output tuples are `("id", these...)`). The last stage emits one
    /// field, the answer.
    fn output_fields(&self) -> Fields;

    /// Called once per task before any input.
    ///
    /// # Errors
    /// Fails the task.
    fn prepare(&mut self, _context: &TopologyContext) -> Result<()> {
        Ok(())
    }

    /// One input of request `id`. The first stage's input is the request,
    /// fields `(args, return-info)`; a later stage's is `(id, fields of the
    /// stage before...)`.
    ///
    /// # Errors
    /// Fails the input (under `at_least_once` the caller errs at once).
    fn execute(&mut self, id: u64, input: &Tuple, out: &mut DrpcEmitter) -> Result<()>;

    /// Every input of request `id` has reached this task and was executed
    /// (Storm's `finishBatch`); called once per request on every task of
    /// the stage, even one that got no input for it.
    ///
    /// # Errors
    /// As [`DrpcBolt::execute`].
    fn finish(&mut self, _id: u64, _out: &mut DrpcEmitter) -> Result<()> {
        Ok(())
    }
}

/// What a [`DrpcBolt`] emits during one call: values without the request
/// id, as many as its [`DrpcBolt::output_fields`].
#[derive(Debug, Default)]
pub struct DrpcEmitter {
    emitted: Vec<Values>,
}

impl DrpcEmitter {
    /// Emits `values` for the request being executed or finished.
    pub fn emit(&mut self, values: Values) {
        self.emitted.push(values);
    }
}

/// How a stage's outputs reach the tasks of the next stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageGrouping {
    /// Round robin over the next stage's tasks.
    Shuffle,
    /// By these fields of the stage's outputs (`id` and its declared
    /// fields): equal values go to the same task.
    Fields(Fields),
}

struct Stage {
    name: String,
    bolt: Box<dyn ErasedStage>,
    parallelism: usize,
    grouping: StageGrouping,
    fields: Fields,
}

/// Builds a DRPC function as a chain of [`DrpcBolt`] stages (Storm's
/// `LinearDRPCTopologyBuilder`): a [`DrpcSpout`], the stages, and
/// [`ReturnResults`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use squall::drpc::{DrpcBolt, DrpcEmitter, LinearDrpcBuilder, LocalDrpc};
/// use squall::{Fields, LocalCluster, Tuple, Value};
///
/// #[derive(Clone)]
/// struct Exclaim;
/// impl DrpcBolt for Exclaim {
///     fn output_fields(&self) -> Fields { Fields::new(["result"]) }
///     fn execute(&mut self, _: u64, t: &Tuple, out: &mut DrpcEmitter) -> squall::Result<()> {
///         out.emit(vec![Value::from(format!("{}!", t.get_str("args")?))]);
///         Ok(())
///     }
/// }
///
/// let drpc = LocalDrpc::new();
/// let mut builder = LinearDrpcBuilder::new("exclaim");
/// builder.add_bolt("exclaim", Exclaim, 2);
/// let running = LocalCluster::submit(builder.build(&drpc)?.build()?)?;
/// assert_eq!(drpc.execute("exclaim", "hey", Duration::from_secs(60))?, "hey!");
/// running.kill();
/// running.join()?;
/// # Ok::<(), squall::Error>(())
/// ```
pub struct LinearDrpcBuilder {
    function: String,
    stages: Vec<Stage>,
}

impl std::fmt::Debug for LinearDrpcBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stages: Vec<&str> = self.stages.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("LinearDrpcBuilder")
            .field("function", &self.function)
            .field("stages", &stages)
            .finish()
    }
}

impl LinearDrpcBuilder {
    /// A function named `function` (the name callers execute), no stage yet.
    pub fn new(function: &str) -> Self {
        LinearDrpcBuilder { function: function.to_string(), stages: Vec::new() }
    }

    /// Appends a stage named `name` with `parallelism` tasks, each a clone
    /// of `bolt`. The inputs of a stage after the first arrive by shuffle
    /// unless [`StageDeclarer::fields_grouping`] says otherwise.
    pub fn add_bolt<B: DrpcBolt + Clone>(
        &mut self,
        name: &str,
        bolt: B,
        parallelism: usize,
    ) -> StageDeclarer<'_> {
        let fields = bolt.output_fields();
        self.stages.push(Stage {
            name: name.to_string(),
            bolt: Box::new(bolt),
            parallelism,
            grouping: StageGrouping::Shuffle,
            fields,
        });
        StageDeclarer { stage: self.stages.last_mut().expect("just pushed") }
    }

    /// The topology: a [`DrpcSpout`] for the function on `server` (one
    /// task), the stages, and [`ReturnResults`] to `server` (one task).
    /// Set its config on the returned builder.
    ///
    /// # Errors
    /// [`Error::InvalidTopology`] if there is no stage, the last stage does
    /// not emit exactly one field, or a fields grouping names a field the
    /// stage before does not emit.
    pub fn build<D: DrpcInvocations>(self, server: &D) -> Result<TopologyBuilder> {
        let function = self.function.clone();
        let invalid = |reason: String| Error::InvalidTopology {
            component: format!("drpc function '{function}'"),
            reason,
        };
        let Some(last) = self.stages.last() else {
            return Err(invalid("it has no stage (add_bolt)".into()));
        };
        if last.fields.len() != 1 {
            return Err(invalid(format!(
                "its last stage '{}' must emit one field (the answer), not {}",
                last.name,
                last.fields.len()
            )));
        }
        let mut routes = Vec::new();
        for (i, pair) in self.stages.windows(2).enumerate() {
            let (before, after) = (&pair[0], &pair[1]);
            let outputs = id_and(&before.fields);
            let route = match &after.grouping {
                _ if i + 2 == self.stages.len() => Route::ById,
                StageGrouping::Shuffle => Route::Shuffle,
                StageGrouping::Fields(fields) => {
                    let mut indices = Vec::new();
                    for field in fields.names() {
                        let Some(i) = outputs.iter().position(|f| f == field) else {
                            return Err(invalid(format!(
                                "stage '{}' groups by field '{field}', which stage '{}' does not emit (it emits {:?})",
                                after.name,
                                before.name,
                                outputs
                            )));
                        };
                        indices.push(i);
                    }
                    Route::Fields(indices)
                }
            };
            routes.push(route);
        }
        let mut builder = TopologyBuilder::new(self.function.clone());
        builder.set_spout(SPOUT, DrpcSpout::new(server, &self.function), 1);
        let count = self.stages.len();
        let names: Vec<String> = self.stages.iter().map(|s| s.name.clone()).collect();
        for (i, stage) in self.stages.iter().enumerate() {
            let coordinated = Coordinated {
                bolt: stage.bolt.clone_box(),
                first: i == 0,
                fields: stage.fields.clone(),
                upstream: if i == 0 { SPOUT.to_string() } else { names[i - 1].clone() },
                next: (i + 1 < count).then(|| (names[i + 1].clone(), routes[i].clone())),
                upstream_tasks: 0,
                next_tasks: 0..0,
                task_index: 0,
                parallelism: 0,
                round_robin: 0,
                pending: HashMap::new(),
            };
            let declarer = builder.set_bolt(&stage.name, coordinated, stage.parallelism);
            if i == 0 {
                declarer.all_grouping(SPOUT);
            } else {
                declarer
                    .direct_grouping(&names[i - 1], DEFAULT_STREAM)
                    .direct_grouping(&names[i - 1], COORD_STREAM);
            }
        }
        builder.set_bolt(RETURN, ReturnResults::new(server), 1).shuffle_grouping(&names[count - 1]);
        Ok(builder)
    }
}

/// Declares how a stage's inputs arrive (returned by
/// [`LinearDrpcBuilder::add_bolt`]).
pub struct StageDeclarer<'a> {
    stage: &'a mut Stage,
}

impl StageDeclarer<'_> {
    /// The stage's inputs arrive grouped by `fields` of the stage before's
    /// outputs (`id` among them if named).
    pub fn fields_grouping(self, fields: Fields) -> Self {
        self.stage.grouping = StageGrouping::Fields(fields);
        self
    }

    /// The stage's inputs arrive round robin (the default).
    pub fn shuffle_grouping(self) -> Self {
        self.stage.grouping = StageGrouping::Shuffle;
        self
    }
}

fn id_and(fields: &Fields) -> Vec<String> {
    std::iter::once("id".to_string()).chain(fields.names().iter().cloned()).collect()
}

/// A [`DrpcBolt`] behind a box, so that stages of different types chain.
trait ErasedStage: Send {
    fn clone_box(&self) -> Box<dyn ErasedStage>;
    fn prepare(&mut self, context: &TopologyContext) -> Result<()>;
    fn execute(&mut self, id: u64, input: &Tuple, out: &mut DrpcEmitter) -> Result<()>;
    fn finish(&mut self, id: u64, out: &mut DrpcEmitter) -> Result<()>;
}

impl<B: DrpcBolt + Clone> ErasedStage for B {
    fn clone_box(&self) -> Box<dyn ErasedStage> {
        Box::new(self.clone())
    }
    fn prepare(&mut self, context: &TopologyContext) -> Result<()> {
        DrpcBolt::prepare(self, context)
    }
    fn execute(&mut self, id: u64, input: &Tuple, out: &mut DrpcEmitter) -> Result<()> {
        DrpcBolt::execute(self, id, input, out)
    }
    fn finish(&mut self, id: u64, out: &mut DrpcEmitter) -> Result<()> {
        DrpcBolt::finish(self, id, out)
    }
}

#[derive(Debug, Clone)]
enum Route {
    Shuffle,
    /// To task `id % parallelism` only: the last stage.
    ById,
    Fields(Vec<usize>),
}

/// What a task of a later stage has of one request.
#[derive(Debug, Default)]
struct Pending {
    /// Coordination tuples received (one per task of the stage before).
    reports: usize,
    /// Data tuples those tasks said they sent here.
    expected: u64,
    /// Data tuples received.
    received: u64,
    /// Data tuples sent to each task of the next stage.
    sent: Vec<u64>,
    /// Answers emitted (last stage).
    answered: u64,
}

/// One stage's task: the user's bolt plus the coordination.
struct Coordinated {
    bolt: Box<dyn ErasedStage>,
    first: bool,
    fields: Fields,
    upstream: String,
    next: Option<(String, Route)>,
    upstream_tasks: usize,
    next_tasks: Range<usize>,
    task_index: usize,
    parallelism: usize,
    round_robin: usize,
    pending: HashMap<u64, Pending>,
}

impl Clone for Coordinated {
    fn clone(&self) -> Self {
        Coordinated {
            bolt: self.bolt.clone_box(),
            first: self.first,
            fields: self.fields.clone(),
            upstream: self.upstream.clone(),
            next: self.next.clone(),
            upstream_tasks: 0,
            next_tasks: 0..0,
            task_index: 0,
            parallelism: 0,
            round_robin: 0,
            pending: HashMap::new(),
        }
    }
}

impl Coordinated {
    /// Routes what the bolt emitted for request `id`, counting it in
    /// `sent` per next task.
    fn route(
        &mut self,
        id: u64,
        emitted: DrpcEmitter,
        sent: &mut [u64],
        c: &mut OutputCollector,
    ) -> Result<()> {
        for values in emitted.emitted {
            let Some((_, route)) = &self.next else {
                let [answer] = <[Value; 1]>::try_from(values).map_err(|v| {
                    Error::Other(format!("the last drpc stage emits one value, not {}", v.len()))
                })?;
                c.emit(vec![answer, Value::Int(id as i64)])?;
                continue;
            };
            let mut full = Vec::with_capacity(values.len() + 1);
            full.push(Value::Int(id as i64));
            full.extend(values);
            let n = self.next_tasks.len();
            let target = match route {
                Route::ById => (id % n as u64) as usize,
                Route::Shuffle => {
                    self.round_robin = self.round_robin.wrapping_add(1);
                    self.round_robin % n
                }
                Route::Fields(indices) => {
                    let selected = indices.iter().filter_map(|&i| full.get(i));
                    (key_hash(selected) % n as u64) as usize
                }
            };
            sent[target] += 1;
            c.emit_direct(self.next_tasks.start + target, DEFAULT_STREAM, full)?;
        }
        Ok(())
    }

    /// Tells every next task how many data tuples of `id` it was sent.
    fn report(&mut self, id: u64, sent: &[u64], c: &mut OutputCollector) -> Result<()> {
        let Some((_, route)) = &self.next else {
            return Ok(());
        };
        if let Route::ById = route {
            let i = (id % self.next_tasks.len() as u64) as usize;
            let values = vec![Value::Int(id as i64), Value::Int(sent[i] as i64)];
            return c.emit_direct(self.next_tasks.start + i, COORD_STREAM, values);
        }
        for (i, count) in sent.iter().enumerate() {
            let values = vec![Value::Int(id as i64), Value::Int(*count as i64)];
            c.emit_direct(self.next_tasks.start + i, COORD_STREAM, values)?;
        }
        Ok(())
    }

    /// Finishes `id` if every report and data tuple is in.
    fn finish_if_complete(&mut self, id: u64, c: &mut OutputCollector) -> Result<()> {
        let complete = self
            .pending
            .get(&id)
            .is_some_and(|p| p.reports == self.upstream_tasks && p.received == p.expected);
        if !complete {
            return Ok(());
        }
        let mut pending = self.pending.remove(&id).expect("complete");
        let mut out = DrpcEmitter::default();
        self.bolt.finish(id, &mut out)?;
        if self.next.is_none() && out.emitted.is_empty() && pending.answered == 0 {
            return Err(Error::Other(format!(
                "the last drpc stage emitted no answer to request {id}"
            )));
        }
        self.route(id, out, &mut pending.sent, c)?;
        self.report(id, &pending.sent, c)
    }
}

impl Bolt for Coordinated {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        if self.next.is_some() {
            let fields = id_and(&self.fields);
            d.declare_direct_stream(DEFAULT_STREAM, Fields::new(fields.iter().map(String::as_str)));
            d.declare_direct_stream(COORD_STREAM, Fields::new(["id", "count"]));
        } else {
            d.declare(Fields::new(["result", RETURN_INFO]));
        }
    }

    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.upstream_tasks = ctx.component_tasks(&self.upstream).len();
        if let Some((next, _)) = &self.next {
            self.next_tasks = ctx.component_tasks(next);
        }
        self.task_index = ctx.task_index();
        self.parallelism = ctx.parallelism();
        self.bolt.prepare(ctx)
    }

    /// # Errors
    /// The bolt's, or [`Error::NoSuchField`]/[`Error::WrongType`] for an
    /// input without its int request id.
    fn execute(&mut self, input: Tuple, c: &mut OutputCollector) -> Result<()> {
        let mut sent = vec![0; self.next_tasks.len()];
        if self.first {
            let id = input.get_i64(RETURN_INFO)? as u64;
            if id % self.parallelism as u64 == self.task_index as u64 {
                let mut out = DrpcEmitter::default();
                self.bolt.execute(id, &input, &mut out)?;
                self.bolt.finish(id, &mut out)?;
                if self.next.is_none() && out.emitted.is_empty() {
                    return Err(Error::Other(format!(
                        "the last drpc stage emitted no answer to request {id}"
                    )));
                }
                self.route(id, out, &mut sent, c)?;
            }
            return self.report(id, &sent, c);
        }
        let id = input.get_i64_at(0)? as u64;
        let next_tasks = self.next_tasks.len();
        let entry = self
            .pending
            .entry(id)
            .or_insert_with(|| Pending { sent: vec![0; next_tasks], ..Pending::default() });
        if input.source_stream() == COORD_STREAM {
            entry.reports += 1;
            entry.expected += input.get_i64_at(1)? as u64;
        } else {
            entry.received += 1;
            let mut out = DrpcEmitter::default();
            self.bolt.execute(id, &input, &mut out)?;
            let entry = self.pending.get_mut(&id).expect("entry");
            entry.answered += out.emitted.len() as u64;
            let mut sent = std::mem::take(&mut entry.sent);
            let routed = self.route(id, out, &mut sent, c);
            self.pending.get_mut(&id).expect("entry").sent = sent;
            routed?;
        }
        self.finish_if_complete(id, c)
    }
}
