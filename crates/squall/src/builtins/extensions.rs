//! Component kinds registered at run time by other crates (connectors), so
//! that YAML topologies can name them beside the built-in kinds of
//! [`super::registry`].
//!
//! Owns the process-wide table of extension kinds. A crate with heavy
//! dependencies (`squall-connectors`: rdkafka) registers its kinds once,
//! before topologies are loaded (the CLI does it at start-up).

use std::collections::BTreeMap;
use std::sync::RwLock;

use super::registry::{BuiltBolt, BuiltSpout};
use crate::error::Result;

/// Makes a spout from its YAML settings (`null` when the spec has none).
pub type SpoutMaker = fn(&serde_yaml_ng::Value) -> Result<BuiltSpout>;
/// Makes a bolt from its YAML settings (`null` when the spec has none).
pub type BoltMaker = fn(&serde_yaml_ng::Value) -> Result<BuiltBolt>;

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
