//! [`StreamEnv`]: Flink's `StreamExecutionEnvironment`, a graph builder that
//! holds a [`TopologyBuilder`].

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::ops::source::{IterSpout, SpoutAdapter};
use super::stream::{Input, Stream};
use crate::error::Result;
use crate::model::{Data, Tuple};
use crate::runtime::{LocalCluster, RunSummary};
use crate::topology::{Bolt, Grouping, Spout, Topology, TopologyBuilder};

/// Wraps an operator's bolt: given the component id and the bolt.
pub type OperatorWrapper = Arc<dyn Fn(&str, Box<dyn Bolt>) -> Box<dyn Bolt> + Send + Sync>;

/// The graph being built: shared by the environment and its streams.
pub(crate) struct Graph {
    pub builder: Option<TopologyBuilder>,
    pub parallelism: usize,
    pub next: usize,
    pub wrapper: Option<OperatorWrapper>,
    /// Put before every generated component id.
    pub prefix: String,
}

pub(crate) type Shared = Rc<RefCell<Graph>>;

impl Graph {
    fn builder(&mut self) -> &mut TopologyBuilder {
        self.builder.as_mut().expect("the environment was built already")
    }

    /// A fresh component id from `name` (`map-3`).
    pub fn id(&mut self, name: &str) -> String {
        self.next += 1;
        format!("{}{name}-{}", self.prefix, self.next)
    }

    /// Adds the bolt made by `make` with `parallelism` tasks, subscribed to
    /// `inputs`: by key (fields grouping on the key hash) if `keyed`, else
    /// forward (chained) when the parallelisms match, else rebalanced.
    pub fn add_bolt<B: Bolt>(
        &mut self,
        name: &str,
        parallelism: usize,
        inputs: &[Input],
        keyed: bool,
        make: impl Fn() -> B + Send + Sync + 'static,
    ) -> String {
        let id = self.id(name);
        let (wrapper, of) = (self.wrapper.clone(), id.clone());
        let factory = Arc::new(move || {
            let bolt = Box::new(make()) as Box<dyn Bolt>;
            match &wrapper {
                Some(wrap) => wrap(&of, bolt),
                None => bolt,
            }
        });
        let mut declarer = self.builder().set_bolt_factory(&id, factory, parallelism);
        for input in inputs {
            let grouping = if keyed {
                Grouping::Fields(crate::Fields::new(["key"]))
            } else if input.parallelism == parallelism
                && input.stream == crate::topology::DEFAULT_STREAM
            {
                Grouping::Forward
            } else {
                Grouping::Shuffle
            };
            declarer = declarer.grouping_stream(&input.component, &input.stream, grouping);
        }
        id
    }
}

/// Builds a topology from typed streams, and runs it.
///
/// Operators get the environment's parallelism (default 1; see
/// [`StreamEnv::set_parallelism`]). Component ids are the operator's name
/// and a number (`map-3`), as the summary and errors show them.
pub struct StreamEnv {
    graph: Shared,
}

impl StreamEnv {
    /// An environment for a topology called `name`.
    pub fn new(name: &str) -> StreamEnv {
        Self::on_builder(TopologyBuilder::new(name), "")
    }

    /// An environment adding to `builder` (which may hold components
    /// already, from YAML say), its generated component ids starting with
    /// `prefix`; [`StreamEnv::take_builder`] gives the builder back.
    pub fn on_builder(builder: TopologyBuilder, prefix: &str) -> StreamEnv {
        let graph = Graph {
            builder: Some(builder),
            parallelism: 1,
            next: 0,
            wrapper: None,
            prefix: prefix.to_string(),
        };
        StreamEnv { graph: Rc::new(RefCell::new(graph)) }
    }

    /// The builder, with the operators added so far, unbuilt.
    ///
    /// # Panics
    /// If it was taken or built already.
    pub fn take_builder(&self) -> TopologyBuilder {
        self.graph.borrow_mut().builder.take().expect("the environment was built already")
    }

    /// The parallelism of operators added from now on.
    pub fn set_parallelism(&self, parallelism: usize) -> &Self {
        self.graph.borrow_mut().parallelism = parallelism;
        self
    }

    /// Passes the bolt of every operator added from now on (each task's
    /// instance) through `wrap`, with its component id (`window-7`): for
    /// tracing, metrics or fault injection around DataStream operators, as
    /// one would wrap a Storm bolt. Sources' spouts are not wrapped.
    pub fn wrap_operators(
        &self,
        wrap: impl Fn(&str, Box<dyn Bolt>) -> Box<dyn Bolt> + Send + Sync + 'static,
    ) -> &Self {
        self.graph.borrow_mut().wrapper = Some(Arc::new(wrap));
        self
    }

    /// A bounded source of `items`, read by one task, without event time.
    pub fn from_iter<T: Data + Sync>(&self, name: &str, items: Vec<T>) -> Stream<T> {
        let spout = IterSpout::new(items);
        self.add_spout(name, spout, 1)
    }

    /// A Storm spout as a typed source: `convert` turns each tuple it emits
    /// on its default stream into a record and its event time (ms), if any.
    /// The spout's watermarks pass through. A conversion error stops the
    /// topology, naming the component.
    pub fn from_spout<T: Data, S: Spout + Clone + Sync>(
        &self,
        name: &str,
        spout: S,
        parallelism: usize,
        convert: impl Fn(&Tuple) -> Result<(T, Option<i64>)> + Send + Sync + 'static,
    ) -> Stream<T> {
        let spout_id = self.graph.borrow_mut().id(&format!("{name}-spout"));
        self.from_spout_as(&spout_id, name, spout, parallelism, convert)
    }

    /// As [`StreamEnv::from_spout`], the spout's component id being
    /// `spout_id`, so that its other streams (a reader's `errors`, say)
    /// can be subscribed to through [`StreamEnv::with_builder`].
    pub fn from_spout_as<T: Data, S: Spout + Clone + Sync>(
        &self,
        spout_id: &str,
        name: &str,
        spout: S,
        parallelism: usize,
        convert: impl Fn(&Tuple) -> Result<(T, Option<i64>)> + Send + Sync + 'static,
    ) -> Stream<T> {
        self.graph.borrow_mut().builder().set_spout(spout_id, spout, parallelism);
        let storm: Stream<()> = Stream::new(
            self.graph.clone(),
            vec![Input::new(spout_id.to_string(), parallelism)],
            parallelism,
        );
        let convert = Arc::new(convert);
        let id =
            self.graph.borrow_mut().add_bolt(name, parallelism, &storm.inputs, false, move || {
                SpoutAdapter::new(convert.clone())
            });
        Stream::new(self.graph.clone(), vec![Input::new(id, parallelism)], parallelism)
    }

    fn add_spout<T: Data, S: Spout + Clone + Sync>(
        &self,
        name: &str,
        spout: S,
        parallelism: usize,
    ) -> Stream<T> {
        let mut g = self.graph.borrow_mut();
        let id = g.id(name);
        g.builder().set_spout(&id, spout, parallelism);
        drop(g);
        Stream::new(self.graph.clone(), vec![Input::new(id, parallelism)], parallelism)
    }

    /// Gives `f` the topology builder, to add Storm spouts and bolts next to
    /// the DataStream operators (see [`Stream::to_tuples`]).
    pub fn with_builder(&self, f: impl FnOnce(&mut TopologyBuilder)) {
        f(self.graph.borrow_mut().builder())
    }

    /// The topology.
    ///
    /// # Errors
    /// As [`TopologyBuilder::build`].
    pub fn build(&self) -> Result<Topology> {
        self.take_builder().build()
    }

    /// Builds and runs the topology in this process until its sources end.
    ///
    /// # Errors
    /// As [`StreamEnv::build`] and [`LocalCluster::run`].
    pub fn execute(&self) -> Result<RunSummary> {
        LocalCluster::run(self.build()?)
    }
}
