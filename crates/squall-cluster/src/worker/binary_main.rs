//! The `main` of a Rust topology binary ([`cluster_main`]), as Storm ships
//! a topology's jar: `describe` for `squall submit --binary PATH`, `run` in
//! this process, and `worker`, which a supervisor starts in place of
//! `squall worker` (nimbus's side of it is [`crate::nimbus::binary`]).

use std::process::ExitCode;

use clap::Parser;
use squall::Topology;

use crate::protocol::rest::BinaryDescription;
use crate::protocol::store::TopologyRecord;
use crate::worker::supervisor::{EXIT_CONFIG, EXIT_FAILED};

/// The modes of a topology binary.
#[derive(Parser)]
#[command(about = "A Squall topology binary: run it locally, or let a cluster run it")]
enum Mode {
    /// Print the topology's name and components as JSON (used by
    /// `squall submit --binary`).
    Describe(Params),
    /// Run the topology in this process (local mode) and print a summary.
    Run(Params),
    /// Run one assignment (started by a supervisor).
    #[command(hide = true)]
    Worker {
        /// The assignment file the supervisor wrote.
        #[arg(long)]
        assignment: std::path::PathBuf,
    },
}

#[derive(clap::Args)]
struct Params {
    /// The topology's name.
    #[arg(long)]
    name: String,
    /// A parameter for the topology's code. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
    set: Vec<(String, String)>,
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("'{s}' is not KEY=VALUE"))?;
    Ok((k.trim().to_string(), v.to_string()))
}

/// The `main` of a topology binary: `build(name, params)` makes the
/// topology (`params` are `squall submit --set KEY=VALUE`); the command
/// line picks the mode (`describe`, `run`, or `worker` when a supervisor
/// starts it). Exit codes as `squall worker`.
///
/// # Examples
/// ```no_run
/// use squall::builtins::GeneratorSpout;
/// use squall::TopologyBuilder;
///
/// fn main() -> std::process::ExitCode {
///     squall_cluster::binary::cluster_main(|name, _params| {
///         let mut b = TopologyBuilder::new(name);
///         b.set_spout("numbers", GeneratorSpout::sentences(10).with_limit(100), 1);
///         b.build()
///     })
/// }
/// ```
pub fn cluster_main<F>(build: F) -> ExitCode
where
    F: Fn(&str, &[(String, String)]) -> squall::Result<Topology>,
{
    match Mode::parse() {
        Mode::Describe(p) => match build(&p.name, &p.set) {
            Ok(t) => {
                let components = t
                    .component_ids()
                    .map(|c| (c.to_string(), t.parallelism(c).unwrap_or(0)))
                    .collect();
                let d = BinaryDescription { name: t.name().to_string(), components };
                println!("{}", serde_json::to_string(&d).expect("a description serializes"));
                ExitCode::SUCCESS
            }
            Err(e) => {
                crate::announce!("error: {e}");
                ExitCode::from(EXIT_CONFIG as u8)
            }
        },
        Mode::Run(p) => match build(&p.name, &p.set).and_then(squall::LocalCluster::run) {
            Ok(s) => {
                crate::announce!("{} finished in {:.1} s", s.name, s.elapsed.as_secs_f64());
                ExitCode::SUCCESS
            }
            Err(e) => {
                crate::announce!("error: {e}");
                ExitCode::from(EXIT_FAILED as u8)
            }
        },
        Mode::Worker { assignment } => {
            let code = crate::worker::run_with(&assignment, &|record: &TopologyRecord| {
                build(&record.name, &record.overrides)
            });
            ExitCode::from(code as u8)
        }
    }
}
