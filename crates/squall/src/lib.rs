//! # Squall
//!
//! Storm's topologies of spouts and bolts, on an engine built for Flink's
//! guarantees. This crate is the core: the data model ([`Value`],
//! [`Fields`], [`Tuple`]), Storm's topology API ([`TopologyBuilder`],
//! [`Spout`], [`Bolt`], [`Grouping`]), YAML topologies ([`yaml`]), the local
//! runtime ([`LocalCluster`]), the built-in components ([`builtins`]) and
//! Storm's DRPC in one process ([`drpc`]).
//!
//! ```
//! use squall::builtins::{CountBolt, GeneratorSpout, SplitWordsBolt};
//! use squall::{Fields, LocalCluster, TopologyBuilder};
//!
//! let mut builder = TopologyBuilder::new("word-count");
//! builder.set_spout("lines", GeneratorSpout::sentences(1000).with_limit(100), 1);
//! builder.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
//! builder
//!     .set_bolt("count", CountBolt::new(Fields::new(["word"])), 2)
//!     .fields_grouping("split", Fields::new(["word"]));
//! let summary = LocalCluster::run(builder.build()?)?;
//! assert_eq!(summary.metrics.component("lines").unwrap().emitted, 100);
//! # Ok::<(), squall::Error>(())
//! ```

pub mod builtins;
pub mod checkpoint;
pub mod datastream;
pub mod drpc;
mod error;
pub mod keys;
mod model;
pub mod runtime;
pub mod state;
pub mod time;
pub mod topology;
pub mod window;
pub mod yaml;

pub use error::{Error, Result};
pub use model::{Data, Fields, Native, Tuple, TupleSource, Value, Values};
pub use runtime::{LocalCluster, OutputCollector, RunSummary, RunningTopology};
pub use topology::{
    AckMode, Bolt, Grouping, Guarantee, InputCombining, Spout, SpoutStatus, Topology,
    TopologyBuilder, TopologyConfig, TopologyContext, WindowCombining,
};
