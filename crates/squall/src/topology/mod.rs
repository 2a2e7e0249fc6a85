//! Storm's topology API: [`Spout`] and [`Bolt`] traits, the
//! [`TopologyBuilder`] that wires them with [`Grouping`]s, and the validated
//! [`Topology`] (the logical graph) that the runtime turns into tasks.
//!
//! This module only describes a topology; running it is the job of
//! [`crate::runtime`].

mod builder;
mod combining;
mod component;
mod config;
pub(crate) mod context;
mod control;
mod grouping;
mod validate;

pub use builder::{BoltDeclarer, Topology, TopologyBuilder};
pub(crate) use builder::{ComponentDef, ComponentKind};
pub use combining::{InputCombining, WindowCombining};
pub use component::{
    AckMode, Bolt, BoltFactory, MessageId, OutputDeclarer, Spout, SpoutFactory, SpoutStatus,
    StreamDecl, DEFAULT_STREAM,
};
pub use config::{Guarantee, RestartStrategy, TopologyConfig};
pub use context::TopologyContext;
pub use control::Activation;
pub use grouping::{Grouping, InputDecl};
