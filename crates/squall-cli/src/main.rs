//! `squall`: run Squall topologies.
//!
//! Commands live in their own modules: [`run`] (local mode, with progress and
//! a summary), [`validate`] and [`components`]. This file only parses the
//! command line, installs logging and turns a [`failure::Failure`] into `error: ...`
//! and an exit code.

mod components;
mod failure;
mod progress;
mod run;
mod summary;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

// Tuples are allocated on one executor thread and freed on another; mimalloc
// handles that far better than the system allocator (see the benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Squall: Storm's topologies with Flink's guarantees.
#[derive(Parser)]
#[command(name = "squall", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a YAML topology in this process (local mode) until its input ends
    /// or Ctrl-C kills it, then print a summary.
    ///
    /// Exit codes: 0 done, 1 a task failed, 2 the topology did not load,
    /// 130 killed by Ctrl-C.
    Run(RunArgs),
    /// Load a YAML topology and check it, without running it; print its
    /// components and their parallelism.
    Validate(TopologyArgs),
    /// List the built-in spout and bolt kinds that YAML topologies can name.
    Components,
}

/// A YAML topology file and its parameter overrides.
#[derive(Args)]
struct TopologyArgs {
    /// The topology file (see docs/yaml.md).
    file: PathBuf,
    /// Override a parameter declared under `params:`; the value is read as
    /// YAML (`--set parallelism=4` is a number). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
    set: Vec<(String, String)>,
}

/// Arguments of `squall run`.
#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    topology: TopologyArgs,
    /// Show no progress and no summary table; errors and result paths are
    /// still printed.
    #[arg(long, short)]
    quiet: bool,
    /// Start from this savepoint (a folder printed by `--savepoint-on-stop`);
    /// parallelisms may differ from the run that took it. Needs
    /// checkpoints on in the topology's config.
    #[arg(long, value_name = "DIR")]
    from_savepoint: Option<String>,
    /// On Ctrl-C, take a savepoint before stopping and print where it is
    /// (needs checkpoints on).
    #[arg(long)]
    savepoint_on_stop: bool,
}

/// Parses `KEY=VALUE`.
fn parse_set(s: &str) -> Result<(String, String), String> {
    let (key, value) = s.split_once('=').ok_or_else(|| format!("'{s}' is not KEY=VALUE"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("'{s}' has an empty key"));
    }
    Ok((key.to_string(), value.to_string()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Run(args) => run::run(
            &args.topology.file,
            &args.topology.set,
            &run::Options {
                quiet: args.quiet,
                from_savepoint: args.from_savepoint,
                savepoint_on_stop: args.savepoint_on_stop,
            },
        ),
        Command::Validate(args) => validate::validate(&args.file, &args.set),
        Command::Components => components::components(),
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

/// Logs to stderr, filtered by `RUST_LOG`. The default is `warn`, less the
/// runtime's log of a failed task: `squall run` reports that error itself,
/// as `error: ...`, and would otherwise print it twice.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// The log filter when `RUST_LOG` is not set.
const DEFAULT_LOG: &str = "warn,squall::runtime::local=off";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_is_key_equals_value() {
        assert_eq!(parse_set("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_set("a=").unwrap(), ("a".into(), "".into()));
        assert!(parse_set("a").is_err());
        assert!(parse_set("=b").is_err());
    }

    #[test]
    fn command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
