//! The shape of a YAML topology file, as serde structs.
//!
//! Everything a parameter may stand for (parallelism, settings, config,
//! grouping) is kept as a raw [`Value`] here, so that the structure can be
//! checked against the source text (unknown keys are refused with a line and
//! column) before `${name}` references are substituted and the values are
//! given their types.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::error::{Error, Result};
use crate::model::Fields;
use crate::topology::Grouping;

/// A whole topology file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopologySpec {
    /// The topology's name.
    pub name: String,
    /// Parameters and their defaults.
    #[serde(default)]
    pub params: Option<BTreeMap<String, Value>>,
    /// [`crate::TopologyConfig`] fields.
    #[serde(default)]
    pub config: Value,
    /// Spouts, in order.
    #[serde(default)]
    pub spouts: Option<Vec<ComponentSpec>>,
    /// Bolts, in order.
    #[serde(default)]
    pub bolts: Option<Vec<ComponentSpec>>,
    /// Edges between components.
    #[serde(default)]
    pub streams: Option<Vec<StreamSpec>>,
}

/// One spout or bolt: a built-in kind with its settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComponentSpec {
    /// Component id, unique in the topology.
    pub id: String,
    /// The built-in kind (see [`crate::builtins::registry`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// Number of tasks; 1 when absent.
    #[serde(default)]
    pub parallelism: Option<Value>,
    /// The kind's settings; an empty map when absent.
    #[serde(default)]
    pub settings: Value,
}

/// One edge: `to` subscribes to `stream` of `from` with `grouping`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamSpec {
    /// The producing component.
    pub from: String,
    /// The consuming bolt.
    pub to: String,
    /// The producer's stream; `default` when absent.
    #[serde(default)]
    pub stream: Option<String>,
    /// How tuples are routed; `shuffle` when absent.
    #[serde(default)]
    pub grouping: Option<Value>,
}

/// The names a grouping may be written as, for messages and docs.
pub(crate) const GROUPING_NAMES: &str =
    "shuffle, {fields: [..]}, all, global, direct, local_or_shuffle, none, forward";

/// Reads a grouping: a name, or a map `{fields: [f1, f2]}` (a single field
/// may be written without brackets).
///
/// # Errors
/// [`Error::Config`] prefixed with `at` for anything else.
pub(crate) fn grouping(value: &Value, at: &str) -> Result<Grouping> {
    let bad = || {
        Error::config(format!(
            "{at}: grouping must be one of {GROUPING_NAMES}; got {}",
            show(value)
        ))
    };
    match value {
        Value::String(name) => match name.as_str() {
            "shuffle" => Ok(Grouping::Shuffle),
            "all" => Ok(Grouping::All),
            "global" => Ok(Grouping::Global),
            "direct" => Ok(Grouping::Direct),
            "local_or_shuffle" => Ok(Grouping::LocalOrShuffle),
            "none" => Ok(Grouping::None),
            "forward" => Ok(Grouping::Forward),
            "fields" => Err(Error::config(format!(
                "{at}: a fields grouping needs its fields: write {{fields: [name, ...]}}"
            ))),
            _ => Err(bad()),
        },
        Value::Mapping(map) if map.len() == 1 => {
            let (key, fields) = map.iter().next().expect("one entry");
            if key.as_str() != Some("fields") {
                return Err(bad());
            }
            let names: Vec<String> = match fields {
                Value::String(f) => vec![f.clone()],
                Value::Sequence(items) => items
                    .iter()
                    .map(|f| f.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        Error::config(format!(
                            "{at}: fields grouping: fields must be names, got {}",
                            show(fields)
                        ))
                    })?,
                _ => {
                    return Err(Error::config(format!(
                        "{at}: fields grouping: fields must be a list of names, got {}",
                        show(fields)
                    )))
                }
            };
            if names.is_empty() {
                return Err(Error::config(format!("{at}: fields grouping with no fields")));
            }
            Ok(Grouping::Fields(Fields::new(names)))
        }
        _ => Err(bad()),
    }
}

/// Reads a parallelism: a whole number (0 is left to the builder to refuse).
///
/// # Errors
/// [`Error::Config`] prefixed with `at` for anything else.
pub(crate) fn parallelism(value: &Value, at: &str) -> Result<usize> {
    value.as_u64().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| {
        Error::config(format!("{at}: parallelism must be a whole number, got {}", show(value)))
    })
}

/// A value as flow-style YAML on one line, for error messages.
pub(crate) fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim_end().replace('\n', " "))
            .unwrap_or_else(|_| format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(yaml: &str) -> Result<Grouping> {
        grouping(&serde_yaml_ng::from_str(yaml).unwrap(), "streams[0]")
    }

    #[test]
    fn groupings_by_name_and_fields_map() {
        assert_eq!(g("shuffle").unwrap(), Grouping::Shuffle);
        assert_eq!(g("local_or_shuffle").unwrap(), Grouping::LocalOrShuffle);
        assert_eq!(g("forward").unwrap(), Grouping::Forward);
        assert_eq!(g("{fields: [word]}").unwrap(), Grouping::Fields(Fields::new(["word"])));
        assert_eq!(g("{fields: word}").unwrap(), Grouping::Fields(Fields::new(["word"])));
    }

    #[test]
    fn bad_groupings_are_named() {
        let err = g("shufle").unwrap_err().to_string();
        assert!(err.starts_with("streams[0]: grouping must be one of shuffle"), "{err}");
        assert!(err.ends_with("got 'shufle'"), "{err}");
        assert!(g("fields").unwrap_err().to_string().contains("{fields: [name, ...]}"));
        assert!(g("{fields: []}").is_err());
        assert!(g("{fields: [1]}").is_err());
        assert!(g("{keys: [a]}").is_err());
    }

    #[test]
    fn parallelism_must_be_a_whole_number() {
        assert_eq!(parallelism(&Value::from(3), "p").unwrap(), 3);
        let err = parallelism(&Value::from(-1), "spout 'a'").unwrap_err().to_string();
        assert_eq!(err, "spout 'a': parallelism must be a whole number, got -1");
        assert!(parallelism(&Value::from("x"), "p").is_err());
    }
}
