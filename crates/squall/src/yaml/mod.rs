//! YAML topologies, as Storm's Flux: a file naming built-in components, their
//! parallelism and settings, and the streams between them, so that
//! `squall run topology.yaml` needs no compiled code.
//!
//! ```yaml
//! name: word-count
//! params: { input: data/shakespeare, parallelism: 2 }
//! config: { buffer_timeout_ms: 100 }
//! spouts:
//!   - { id: lines, type: file, parallelism: "${parallelism}", settings: { path: "${input}" } }
//! bolts:
//!   - { id: split, type: split_words, settings: { field: line } }
//! streams:
//!   - { from: lines, to: split, grouping: local_or_shuffle }
//! ```
//!
//! Loading goes in four steps, each reporting its errors in one line that
//! names the place: the text is read into the [`spec`] structs (bad YAML and
//! unknown keys, with line and column); `${name}` references are substituted
//! from the [`params`] and `--set` overrides; each component is made by
//! [`crate::builtins::registry`] (a composite kind, such as `squall-sql`'s
//! `sql`, adds several; [`extensions::register_composite`]); and [`TopologyBuilder::build`] validates
//! the graph. The format is documented for users in `docs/yaml.md`.
//!
//! What this module does not own: what the built-in components do
//! ([`crate::builtins`]) and the graph's validation ([`crate::topology`]).

mod params;
mod spec;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::builtins::extensions::{self, CompositeSpec};
use crate::builtins::registry;
use crate::error::{Error, Result};
use crate::topology::{Grouping, Topology, TopologyBuilder, TopologyConfig, DEFAULT_STREAM};
use params::Params;
use spec::{ComponentSpec, StreamSpec, TopologySpec};

/// A topology loaded from YAML, ready for [`crate::LocalCluster::submit`].
pub struct YamlTopology {
    /// The validated topology.
    pub topology: Topology,
    /// The files that sink components write their results to, as
    /// `(component id, path)`, in the order the bolts are declared.
    pub outputs: Vec<(String, PathBuf)>,
}

impl std::fmt::Debug for YamlTopology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YamlTopology")
            .field("topology", &self.topology.name())
            .field("outputs", &self.outputs)
            .finish()
    }
}

/// Reads the YAML topology at `path`, with `overrides` (`--set key=value`)
/// replacing parameter defaults.
///
/// Relative paths in component settings are relative to the current
/// directory, not to the file.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; otherwise as [`parse`], with
/// YAML errors prefixed by the file's path.
pub fn load(path: &Path, overrides: &[(String, String)]) -> Result<YamlTopology> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_from(&text, &path.display().to_string(), overrides)
}

/// Reads a YAML topology from `text`, with `overrides` (`--set key=value`)
/// replacing parameter defaults.
///
/// # Errors
/// [`Error::Config`] (one line, naming the problem and where it is) for bad
/// YAML or an unknown key (with line and column), an undeclared parameter in
/// `${..}` or in `overrides`, an unknown component type or a bad setting (as
/// the registry reports it, prefixed with the component), a bad grouping or
/// parallelism, or a stream naming an unknown component;
/// [`Error::InvalidTopology`] for a graph that does not validate (see
/// [`TopologyBuilder::build`]).
///
/// # Examples
/// ```
/// let yaml = r#"
/// name: demo
/// params: { n: 10 }
/// spouts:
///   - { id: lines, type: generator, settings: { limit: "${n}" } }
/// bolts:
///   - { id: split, type: split_words, parallelism: 2, settings: { field: line } }
/// streams:
///   - { from: lines, to: split, grouping: shuffle }
/// "#;
/// let loaded = squall::yaml::parse(yaml, &[("n".into(), "20".into())])?;
/// assert_eq!(loaded.topology.parallelism("split"), Some(2));
/// # Ok::<(), squall::Error>(())
/// ```
pub fn parse(text: &str, overrides: &[(String, String)]) -> Result<YamlTopology> {
    parse_from(text, "topology YAML", overrides)
}

/// [`parse`], naming the text's `origin` in YAML errors.
fn parse_from(text: &str, origin: &str, overrides: &[(String, String)]) -> Result<YamlTopology> {
    let spec: TopologySpec = serde_yaml_ng::from_str(text)
        .map_err(|e| Error::config(one_line(&format!("{origin}: {e}"))))?;
    let params = Params::new(spec.params.clone().unwrap_or_default(), overrides)?;
    build(spec, &params)
}

/// Substitutes the parameters, makes the components and wires them.
fn build(spec: TopologySpec, params: &Params) -> Result<YamlTopology> {
    let name = params.substitute_str(&spec.name, "name")?;
    let config = config(spec.config, params)?;
    let spouts = components(spec.spouts.unwrap_or_default(), "spout", params)?;
    let bolts = components(spec.bolts.unwrap_or_default(), "bolt", params)?;
    let streams = streams(spec.streams.unwrap_or_default(), &spouts, &bolts, params)?;

    let mut builder = TopologyBuilder::new(name);
    builder.config(config);
    let mut outputs = vec![];
    for c in spouts.iter().chain(&bolts) {
        let Some(make) = extensions::composite(&c.kind) else { continue };
        if let Some(s) = streams.iter().find(|s| s.to == c.id) {
            return Err(c.error(Error::config(format!(
                "a '{}' component takes no input streams (the stream from '{}')",
                c.kind, s.from
            ))));
        }
        let spec = CompositeSpec { id: &c.id, parallelism: c.parallelism, settings: &c.settings };
        outputs.extend(make(&spec, &mut builder).map_err(|e| c.error(e))?);
    }
    let simple = |c: &&Component| extensions::composite(&c.kind).is_none();
    for c in spouts.iter().filter(simple) {
        let built = registry::spout(&c.kind, &c.settings).map_err(|e| c.error(e))?;
        builder.set_spout_factory(&c.id, built.factory, c.parallelism);
    }
    for c in bolts.iter().filter(simple) {
        let built = registry::bolt(&c.kind, &c.settings).map_err(|e| c.error(e))?;
        let mut declarer = builder.set_bolt_factory(&c.id, built.factory, c.parallelism);
        for s in streams.iter().filter(|s| s.to == c.id) {
            declarer = declarer.grouping_stream(&s.from, &s.stream, s.grouping.clone());
        }
        if let Some(path) = built.output {
            outputs.push((c.id.clone(), path));
        }
    }
    Ok(YamlTopology { topology: builder.build()?, outputs })
}

/// The `config:` section as a [`TopologyConfig`]; absent means the defaults.
fn config(mut value: Value, params: &Params) -> Result<TopologyConfig> {
    if value.is_null() {
        return Ok(TopologyConfig::default());
    }
    params.substitute(&mut value, "config")?;
    serde_yaml_ng::from_value(value).map_err(|e| Error::config(one_line(&format!("config: {e}"))))
}

/// A component with its parameters substituted and its parallelism read.
struct Component {
    role: &'static str,
    id: String,
    kind: String,
    parallelism: usize,
    settings: Value,
}

impl Component {
    /// `e` from the registry, prefixed with this component
    /// (`bolt 'split' (split_words): ...`).
    fn error(&self, e: Error) -> Error {
        let msg = match e {
            Error::Config(msg) => msg,
            other => other.to_string(),
        };
        // The registry names the kind itself; say it once.
        let kind_prefix = format!("{} '{}': ", self.role, self.kind);
        let msg = msg.strip_prefix(&kind_prefix).unwrap_or(&msg);
        Error::config(format!("{} '{}' ({}): {msg}", self.role, self.id, self.kind))
    }
}

fn components(
    specs: Vec<ComponentSpec>,
    role: &'static str,
    params: &Params,
) -> Result<Vec<Component>> {
    specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            let id = params.substitute_str(&spec.id, &format!("{role}s[{i}].id"))?;
            let at = format!("{role} '{id}'");
            let kind = params.substitute_str(&spec.kind, &format!("{at} type"))?;
            let parallelism = match spec.parallelism {
                None => 1,
                Some(mut value) => {
                    params.substitute(&mut value, &format!("{at} parallelism"))?;
                    spec::parallelism(&value, &at)?
                }
            };
            let mut settings = match spec.settings {
                Value::Null => Value::Mapping(Default::default()),
                other => other,
            };
            params.substitute(&mut settings, &format!("{at} settings"))?;
            Ok(Component { role, id, kind, parallelism, settings })
        })
        .collect()
}

/// An edge with its parameters substituted and its ends checked.
struct Stream {
    from: String,
    to: String,
    stream: String,
    grouping: Grouping,
}

fn streams(
    specs: Vec<StreamSpec>,
    spouts: &[Component],
    bolts: &[Component],
    params: &Params,
) -> Result<Vec<Stream>> {
    let known = || {
        let ids: Vec<&str> = spouts.iter().chain(bolts).map(|c| c.id.as_str()).collect();
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        }
    };
    specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            let at = format!("streams[{i}]");
            let from = params.substitute_str(&spec.from, &format!("{at}.from"))?;
            let to = params.substitute_str(&spec.to, &format!("{at}.to"))?;
            let at = format!("{at} ({from} -> {to})");
            if !spouts.iter().chain(bolts).any(|c| c.id == from) {
                return Err(Error::config(format!(
                    "{at}: from: no component is called '{from}'; components: {}",
                    known()
                )));
            }
            if !bolts.iter().any(|c| c.id == to) {
                let why = if spouts.iter().any(|c| c.id == to) {
                    format!("'{to}' is a spout, and only bolts take inputs")
                } else {
                    format!("no bolt is called '{to}'")
                };
                return Err(Error::config(format!("{at}: to: {why}; components: {}", known())));
            }
            let stream = match spec.stream {
                None => DEFAULT_STREAM.to_string(),
                Some(s) => params.substitute_str(&s, &format!("{at} stream"))?,
            };
            let grouping = match spec.grouping {
                None => Grouping::Shuffle,
                Some(mut value) => {
                    params.substitute(&mut value, &format!("{at} grouping"))?;
                    spec::grouping(&value, &at)?
                }
            };
            Ok(Stream { from, to, stream, grouping })
        })
        .collect()
}

/// `msg` on one line: serde's messages may span several.
fn one_line(msg: &str) -> String {
    msg.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}
