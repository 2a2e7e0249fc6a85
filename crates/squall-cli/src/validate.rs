//! `squall validate`: load and check a YAML topology without running it.

use std::path::Path;
use std::process::ExitCode;

use squall::yaml;

use crate::failure::Failure;
use crate::summary::Table;

/// Loads `file` (which builds and validates the topology) and prints its
/// components, their role and parallelism, and the files it will write.
///
/// # Errors
/// A [`Failure::config`] (exit code 2) if it does not load.
pub fn validate(file: &Path, overrides: &[(String, String)]) -> Result<ExitCode, Failure> {
    let loaded = yaml::load(file, overrides).map_err(Failure::config)?;
    let t = &loaded.topology;
    let ids: Vec<&str> = t.component_ids().collect();
    println!("topology '{}' is valid: {} components", t.name(), ids.len());
    let mut table = Table::new(["component", "role", "tasks"]);
    for id in ids {
        let role = if t.is_spout(id) {
            "spout"
        } else if t.is_sink(id) {
            "sink"
        } else {
            "bolt"
        };
        let tasks = t.parallelism(id).unwrap_or(0);
        table.row([id.to_string(), role.to_string(), tasks.to_string()]);
    }
    print!("{table}");
    for (component, path) in &loaded.outputs {
        println!("results of '{component}' will be written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
