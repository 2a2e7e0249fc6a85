//! SQL in YAML topologies and on the cluster.
//!
//! The `sql` component kind ([`register`]) makes a YAML component out of a
//! SQL script: its tables' sources, its operators and its sinks are added
//! to the YAML topology, and the result of its bare `SELECT` (if any) is
//! the stream of the component's own id, one field per column, for YAML
//! bolts to subscribe to. Settings:
//!
//! | setting | meaning |
//! |---|---|
//! | `script` | the SQL text (or `file`) |
//! | `file` | a `.sql` file to read instead (on every machine that loads the topology) |
//! | `set` | a map of `--set` values: `${var}`s of the script, `parallelism`, `guarantee`, `checkpoint_interval_ms`, `checkpoint_dir` |
//!
//! The component's `parallelism` is the script's; the YAML `config:` is the
//! topology's configuration, which the script's `SET` statements and `set`
//! values refine.
//!
//! `squall submit FILE.sql` ships a script to the cluster as a YAML
//! topology of one `sql` component ([`submit_yaml`]): nimbus validates it
//! and every worker plans the same text into the same components, as it
//! does for any YAML topology.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};
use squall::builtins::extensions::{register_composite, CompositeSpec};
use squall::{Error, TopologyBuilder};

use crate::session::Session;

/// Registers the `sql` component kind for YAML topologies (the CLI does it
/// at start-up, before loading any topology).
pub fn register() {
    register_composite("sql", make);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlSettings {
    #[serde(default)]
    script: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
    #[serde(default)]
    set: BTreeMap<String, Value>,
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The `sql` kind's maker.
fn make(
    spec: &CompositeSpec<'_>,
    builder: &mut TopologyBuilder,
) -> squall::Result<Vec<(String, PathBuf)>> {
    let settings: SqlSettings = serde_yaml_ng::from_value(spec.settings.clone())
        .map_err(|e| Error::config(format!("settings: {e}")))?;
    let (text, origin) = match (settings.script, settings.file) {
        (Some(s), None) => (s, "script".to_string()),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| Error::config(format!("file {}: {e}", f.display())))?;
            (text, f.display().to_string())
        }
        _ => return Err(Error::config("give the SQL as `script` or as `file` (one of them)")),
    };
    let mut session = Session::new();
    session.config = builder.config_mut().clone();
    session.parallelism = spec.parallelism;
    session.prefix = format!("{}-", spec.id);
    session.emit_as = Some(spec.id.to_string());
    for (k, v) in &settings.set {
        let v = text_of(v).ok_or_else(|| {
            Error::config(format!("set.{k}: a text, number or boolean, not a list or map"))
        })?;
        session.set(k, &v).map_err(|e| Error::config(e.to_string()))?;
    }
    let outcome =
        session.add_to(&text, builder).map_err(|e| Error::config(format!("{origin}: {e}")))?;
    Ok(outcome.outputs)
}

/// The YAML topology that `squall submit FILE.sql` sends: one `sql`
/// component `sql` holding `script` (its `${` escaped, so that the script
/// substitutes its own variables), the `set` values declared as the
/// topology's parameters (so that they are recorded, and a restart or
/// rebalance plans the same script) and handed to the script. The
/// topology is called `name`, or `set`'s `name`.
///
/// # Errors
/// A value that YAML cannot hold (none in practice).
pub fn submit_yaml(name: &str, script: &str, set: &[(String, String)]) -> squall::Result<String> {
    let s = |t: &str| Value::String(t.to_string());
    let mut params = Mapping::new();
    let mut values = Mapping::new();
    for (k, v) in set {
        params.insert(s(k), s(v));
        values.insert(s(k), s(&format!("${{{k}}}")));
    }
    let mut settings = Mapping::new();
    settings.insert(s("script"), s(&script.replace("${", "$${")));
    if !values.is_empty() {
        settings.insert(s("set"), Value::Mapping(values));
    }
    let mut component = Mapping::new();
    component.insert(s("id"), s("sql"));
    component.insert(s("type"), s("sql"));
    component.insert(s("settings"), Value::Mapping(settings));
    let name = set.iter().rev().find(|(k, _)| k == "name").map_or(name, |(_, v)| v.as_str());
    let mut doc = Mapping::new();
    doc.insert(s("name"), s(name));
    if !params.is_empty() {
        doc.insert(s("params"), Value::Mapping(params));
    }
    doc.insert(s("spouts"), Value::Sequence(vec![Value::Mapping(component)]));
    serde_yaml_ng::to_string(&Value::Mapping(doc))
        .map_err(|e| Error::config(format!("the SQL topology as YAML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_yaml_escapes_the_script_and_declares_the_settings() {
        let yaml = submit_yaml(
            "q",
            "SELECT '${x}' AS a",
            &[("x".into(), "1".into()), ("name".into(), "n".into())],
        )
        .unwrap();
        let v: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(v["name"], Value::String("n".into()));
        assert_eq!(v["params"]["x"], Value::String("1".into()));
        let c = &v["spouts"][0];
        assert_eq!(c["type"], Value::String("sql".into()));
        assert_eq!(c["settings"]["script"], Value::String("SELECT '$${x}' AS a".into()));
        assert_eq!(c["settings"]["set"]["x"], Value::String("${x}".into()));
    }
}
