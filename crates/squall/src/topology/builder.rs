//! [`TopologyBuilder`]: Storm's way of wiring spouts and bolts, and the
//! validated [`Topology`] it builds.

use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::model::Fields;
use crate::topology::component::{
    Bolt, BoltFactory, OutputDeclarer, Spout, SpoutFactory, StreamDecl, DEFAULT_STREAM,
};
use crate::topology::{validate, Grouping, InputCombining, InputDecl, TopologyConfig};

/// What a component is: a spout, or a bolt with its inputs.
#[derive(Clone)]
pub(crate) enum ComponentKind {
    Spout(SpoutFactory),
    Bolt { factory: BoltFactory, inputs: Vec<InputDecl> },
}

/// One component of the logical graph.
#[derive(Clone)]
pub(crate) struct ComponentDef {
    pub id: String,
    pub parallelism: usize,
    pub kind: ComponentKind,
    /// Output streams, as the component declared them.
    pub streams: Vec<StreamDecl>,
    /// What a bolt lets its producers pre-aggregate (`None` for spouts).
    pub combining: Option<InputCombining>,
}

impl ComponentDef {
    pub fn inputs(&self) -> &[InputDecl] {
        match &self.kind {
            ComponentKind::Spout(_) => &[],
            ComponentKind::Bolt { inputs, .. } => inputs,
        }
    }

    pub fn stream(&self, id: &str) -> Option<&StreamDecl> {
        self.streams.iter().find(|s| s.id == id)
    }
}

impl std::fmt::Debug for ComponentDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentDef")
            .field("id", &self.id)
            .field("parallelism", &self.parallelism)
            .field("inputs", &self.inputs())
            .field("streams", &self.streams)
            .finish()
    }
}

/// Wires spouts and bolts into a topology, as Storm's `TopologyBuilder`.
///
/// Mistakes (an unknown component, an undeclared stream or field, a cycle, a
/// parallelism of 0...) are reported by [`TopologyBuilder::build`], before
/// anything runs, with the component named.
///
/// # Examples
/// ```
/// use squall::builtins::{CountBolt, GeneratorSpout, SplitWordsBolt};
/// use squall::{Fields, TopologyBuilder};
///
/// let mut builder = TopologyBuilder::new("word-count");
/// builder.set_spout("lines", GeneratorSpout::sentences(100), 1);
/// builder.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
/// builder
///     .set_bolt("count", CountBolt::new(Fields::new(["word"])), 2)
///     .fields_grouping("split", Fields::new(["word"]));
/// let topology = builder.build().unwrap();
/// assert_eq!(topology.name(), "word-count");
/// ```
pub struct TopologyBuilder {
    name: String,
    config: TopologyConfig,
    components: Vec<ComponentDef>,
}

impl TopologyBuilder {
    /// An empty topology called `name`, with the default config.
    pub fn new(name: impl Into<String>) -> Self {
        TopologyBuilder { name: name.into(), config: TopologyConfig::default(), components: vec![] }
    }

    /// Replaces the topology's config.
    pub fn config(&mut self, config: TopologyConfig) -> &mut Self {
        self.config = config;
        self
    }

    /// Mutable access to the topology's config.
    pub fn config_mut(&mut self) -> &mut TopologyConfig {
        &mut self.config
    }

    /// Adds a spout with `parallelism` tasks, each a clone of `spout`.
    pub fn set_spout<S: Spout + Clone>(&mut self, id: &str, spout: S, parallelism: usize) {
        let prototype = Mutex::new(spout);
        let factory: SpoutFactory =
            Arc::new(move || Box::new(prototype.lock().expect("prototype lock").clone()));
        self.set_spout_factory(id, factory, parallelism);
    }

    /// Adds a spout whose task instances `factory` makes.
    pub fn set_spout_factory(&mut self, id: &str, factory: SpoutFactory, parallelism: usize) {
        let mut declarer = OutputDeclarer::default();
        factory().declare_outputs(&mut declarer);
        self.components.push(ComponentDef {
            id: id.to_string(),
            parallelism,
            kind: ComponentKind::Spout(factory),
            streams: declarer.into_streams(),
            combining: None,
        });
    }

    /// Adds a bolt with `parallelism` tasks, each a clone of `bolt`; its
    /// inputs are declared on the returned [`BoltDeclarer`].
    pub fn set_bolt<B: Bolt + Clone>(
        &mut self,
        id: &str,
        bolt: B,
        parallelism: usize,
    ) -> BoltDeclarer<'_> {
        let prototype = Mutex::new(bolt);
        let factory: BoltFactory =
            Arc::new(move || Box::new(prototype.lock().expect("prototype lock").clone()));
        self.set_bolt_factory(id, factory, parallelism)
    }

    /// Adds a bolt whose task instances `factory` makes.
    pub fn set_bolt_factory(
        &mut self,
        id: &str,
        factory: BoltFactory,
        parallelism: usize,
    ) -> BoltDeclarer<'_> {
        let mut declarer = OutputDeclarer::default();
        let prototype = factory();
        prototype.declare_outputs(&mut declarer);
        let combining = prototype.input_combining();
        self.components.push(ComponentDef {
            id: id.to_string(),
            parallelism,
            kind: ComponentKind::Bolt { factory, inputs: vec![] },
            streams: declarer.into_streams(),
            combining,
        });
        let def = self.components.last_mut().expect("just pushed");
        BoltDeclarer { def }
    }

    /// Validates the topology and freezes it.
    ///
    /// # Errors
    /// [`Error::InvalidTopology`] naming the component at fault: a duplicate
    /// or empty id, a parallelism of 0 or above `max_parallelism`, an input
    /// from an unknown component or undeclared stream, a fields grouping on
    /// a field the stream lacks, a direct grouping on a non-direct stream (or
    /// the reverse), a forward grouping between unequal parallelisms, a bolt
    /// without inputs, a cycle, no spout at all; or [`Error::Config`] for a
    /// bad config knob.
    pub fn build(self) -> Result<Topology> {
        self.config.validate()?;
        let order = validate::validate(&self.components, &self.config)?;
        let mut components = self.components;
        // Topological order: producers before consumers.
        let mut slots: Vec<Option<ComponentDef>> = components.drain(..).map(Some).collect();
        let components = order.iter().map(|&i| slots[i].take().expect("each once")).collect();
        Ok(Topology { name: self.name, config: self.config, components, fence: None })
    }
}

/// Declares the inputs of a bolt just added (Storm's `BoltDeclarer`).
/// Methods without `_stream` subscribe to the producer's default stream.
pub struct BoltDeclarer<'a> {
    def: &'a mut ComponentDef,
}

impl BoltDeclarer<'_> {
    /// Subscribes to `stream` of `component` with `grouping`.
    pub fn grouping_stream(self, component: &str, stream: &str, grouping: Grouping) -> Self {
        if let ComponentKind::Bolt { inputs, .. } = &mut self.def.kind {
            inputs.push(InputDecl {
                component: component.to_string(),
                stream: stream.to_string(),
                grouping,
            });
        }
        self
    }

    /// Subscribes to the default stream of `component` with `grouping`.
    pub fn grouping(self, component: &str, grouping: Grouping) -> Self {
        self.grouping_stream(component, DEFAULT_STREAM, grouping)
    }

    /// Shuffle grouping on the default stream of `component`.
    pub fn shuffle_grouping(self, component: &str) -> Self {
        self.grouping(component, Grouping::Shuffle)
    }

    /// Fields grouping on the default stream of `component`.
    pub fn fields_grouping(self, component: &str, fields: Fields) -> Self {
        self.grouping(component, Grouping::Fields(fields))
    }

    /// All grouping on the default stream of `component`.
    pub fn all_grouping(self, component: &str) -> Self {
        self.grouping(component, Grouping::All)
    }

    /// Global grouping on the default stream of `component`.
    pub fn global_grouping(self, component: &str) -> Self {
        self.grouping(component, Grouping::Global)
    }

    /// Direct grouping on `stream` of `component` (it must be direct).
    pub fn direct_grouping(self, component: &str, stream: &str) -> Self {
        self.grouping_stream(component, stream, Grouping::Direct)
    }

    /// Local-or-shuffle grouping on the default stream of `component`.
    pub fn local_or_shuffle_grouping(self, component: &str) -> Self {
        self.grouping(component, Grouping::LocalOrShuffle)
    }

    /// None grouping on the default stream of `component`.
    pub fn none_grouping(self, component: &str) -> Self {
        self.grouping(component, Grouping::None)
    }

    /// Forward grouping on the default stream of `component`.
    pub fn forward_grouping(self, component: &str) -> Self {
        self.grouping(component, Grouping::Forward)
    }
}

/// A validated topology: the logical graph plus its config, components in
/// topological order (producers first). Run it with
/// [`crate::runtime::LocalCluster`].
#[derive(Clone, Debug)]
pub struct Topology {
    name: String,
    config: TopologyConfig,
    pub(crate) components: Vec<ComponentDef>,
    /// Cluster mode: where completed checkpoints are recorded
    /// ([`Topology::with_fence`]).
    pub(crate) fence: Option<crate::runtime::Fence>,
}

impl Topology {
    /// The topology's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The topology's config.
    pub fn config(&self) -> &TopologyConfig {
        &self.config
    }

    /// Component ids, producers first.
    pub fn component_ids(&self) -> impl Iterator<Item = &str> {
        self.components.iter().map(|c| c.id.as_str())
    }

    /// Parallelism of `component`, if it exists.
    pub fn parallelism(&self, component: &str) -> Option<usize> {
        self.components.iter().find(|c| c.id == component).map(|c| c.parallelism)
    }

    /// Whether `component` is consumed by no bolt (a sink, or a spout
    /// nobody reads).
    pub fn is_sink(&self, component: &str) -> bool {
        !self.components.iter().any(|c| c.inputs().iter().any(|i| i.component == component))
    }

    /// This topology started from the savepoint at `location` (sets
    /// `config.restore_from`; the parallelisms may differ from the run that
    /// took it).
    ///
    /// # Errors
    /// [`crate::Error::Config`] if checkpoints are off.
    pub fn restore_from(mut self, location: impl Into<String>) -> crate::Result<Topology> {
        self.config.restore_from = Some(location.into());
        self.config.validate()?;
        Ok(self)
    }

    /// Whether `component` is a spout.
    pub fn is_spout(&self, component: &str) -> bool {
        self.components
            .iter()
            .any(|c| c.id == component && matches!(c.kind, ComponentKind::Spout(_)))
    }
}
