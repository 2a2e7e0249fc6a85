//! `squall components`: the built-in kinds that YAML topologies can name.

use std::process::ExitCode;

use squall::builtins::registry;

use crate::failure::Failure;

/// Lists the registry's spout and bolt kinds.
pub fn components() -> Result<ExitCode, Failure> {
    println!("spouts: {}", registry::spout_kinds().join(", "));
    println!("bolts:  {}", registry::bolt_kinds().join(", "));
    let composites = squall::builtins::extensions::composite_kinds();
    if !composites.is_empty() {
        println!("several components in one (in spouts or bolts): {}", composites.join(", "));
    }
    println!();
    println!("Each kind's settings are described in docs/yaml.md.");
    Ok(ExitCode::SUCCESS)
}
