//! Component kinds registered at run time by other crates (connectors), so
//! that YAML topologies can name them beside the built-in kinds of
//! [`super::registry`].
//!
//! Owns the process-wide table of extension kinds. A crate with heavy
//! dependencies (`squall-connectors`: rdkafka) registers its kinds once,
//! before topologies are loaded (the CLI does it at start-up).
//!
//! A *composite* kind ([`register_composite`]) is one YAML component that
//! adds several components to the topology (`squall-sql`'s `sql` kind: a
//! SQL script's sources, operators and sinks); its result, if any, is the
//! stream of a component named by the YAML component's id.

use std::collections::BTreeMap;
use std::sync::RwLock;

use super::registry::{BuiltBolt, BuiltSpout};
use crate::error::Result;
use crate::topology::TopologyBuilder;

/// Makes a spout from its YAML settings (`null` when the spec has none).
pub type SpoutMaker = fn(&serde_yaml_ng::Value) -> Result<BuiltSpout>;
/// Makes a bolt from its YAML settings (`null` when the spec has none).
pub type BoltMaker = fn(&serde_yaml_ng::Value) -> Result<BuiltBolt>;

/// A YAML component of a composite kind, as its maker gets it.
#[derive(Debug, Clone, Copy)]
pub struct CompositeSpec<'a> {
    /// The component's id: the maker names its output component so, and
    /// may prefix the others with it.
    pub id: &'a str,
    /// The component's `parallelism` (1 when not given).
    pub parallelism: usize,
    /// Its settings, parameters substituted (an empty map when none).
    pub settings: &'a serde_yaml_ng::Value,
}

/// Adds a composite component's parts to `builder` (whose configuration is
/// the YAML `config:` section, which the maker may refine); returns the
/// files its sinks write, as `(component id, path)`.
pub type CompositeMaker =
    fn(&CompositeSpec<'_>, &mut TopologyBuilder) -> Result<Vec<(String, std::path::PathBuf)>>;

static COMPOSITES: RwLock<BTreeMap<&'static str, CompositeMaker>> = RwLock::new(BTreeMap::new());

/// Registers composite kind `kind` (usable in `spouts:` or `bolts:`, with
/// no input streams); a second registration replaces the first. A YAML
/// component's kind is looked up among composites first.
pub fn register_composite(kind: &'static str, make: CompositeMaker) {
    COMPOSITES.write().unwrap_or_else(|e| e.into_inner()).insert(kind, make);
}

/// The maker of composite kind `kind`, if registered.
pub(crate) fn composite(kind: &str) -> Option<CompositeMaker> {
    COMPOSITES.read().unwrap_or_else(|e| e.into_inner()).get(kind).copied()
}

/// The registered composite kinds, sorted.
pub fn composite_kinds() -> Vec<&'static str> {
    COMPOSITES.read().unwrap_or_else(|e| e.into_inner()).keys().copied().collect()
}

static SPOUTS: RwLock<BTreeMap<&'static str, SpoutMaker>> = RwLock::new(BTreeMap::new());
static BOLTS: RwLock<BTreeMap<&'static str, BoltMaker>> = RwLock::new(BTreeMap::new());

/// Registers spout kind `kind`; a second registration of a kind replaces
/// the first. Built-in kinds win over extensions of the same name.
pub fn register_spout(kind: &'static str, make: SpoutMaker) {
    SPOUTS.write().unwrap_or_else(|e| e.into_inner()).insert(kind, make);
}

/// Registers bolt kind `kind`; a second registration of a kind replaces
/// the first. Built-in kinds win over extensions of the same name.
pub fn register_bolt(kind: &'static str, make: BoltMaker) {
    BOLTS.write().unwrap_or_else(|e| e.into_inner()).insert(kind, make);
}

/// The maker of extension spout kind `kind`, if registered.
pub(crate) fn spout(kind: &str) -> Option<SpoutMaker> {
    SPOUTS.read().unwrap_or_else(|e| e.into_inner()).get(kind).copied()
}

/// The maker of extension bolt kind `kind`, if registered.
pub(crate) fn bolt(kind: &str) -> Option<BoltMaker> {
    BOLTS.read().unwrap_or_else(|e| e.into_inner()).get(kind).copied()
}

/// The registered spout kinds, sorted.
pub(crate) fn spout_kinds() -> Vec<&'static str> {
    SPOUTS.read().unwrap_or_else(|e| e.into_inner()).keys().copied().collect()
}

/// The registered bolt kinds, sorted.
pub(crate) fn bolt_kinds() -> Vec<&'static str> {
    BOLTS.read().unwrap_or_else(|e| e.into_inner()).keys().copied().collect()
}
