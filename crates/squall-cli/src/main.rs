//! `squall`: run Squall topologies.
//!
//! Commands live in their own modules: [`run`] (local mode, with progress and
//! a summary), [`validate`], [`components`] and [`cluster`] (daemons and the
//! cluster client). This file only parses the
//! command line, installs logging and turns a [`failure::Failure`] into `error: ...`
//! and an exit code.

mod cluster;
mod components;
mod drpc;
mod failure;
mod progress;
mod query;
mod run;
mod run_ui;
mod sql;
mod status_table;
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
    /// or Ctrl-C kills it, then print a summary. A `.sql` file runs as
    /// `squall sql FILE.sql` does.
    ///
    /// Exit codes: 0 done, 1 a task failed, 2 the topology did not load,
    /// 130 killed by Ctrl-C.
    Run(RunArgs),
    /// Run a SQL script (Flink SQL's dialect: CREATE TABLE ... WITH (...),
    /// CREATE VIEW, INSERT INTO ... SELECT, EXPLAIN; see docs/sql.md) in
    /// this process, planned by DataFusion on Squall's engine. Several files
    /// are read as one script, in order. `--set k=v` gives `${k}` in the
    /// script, and sets `parallelism`, `guarantee`, `checkpoint_interval_ms`,
    /// `checkpoint_dir`.
    ///
    /// Exit codes: 0 done, 1 a task failed, 2 the script did not plan (one
    /// line naming the statement, line and column).
    Sql {
        /// The script(s).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// KEY=VALUE (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
        set: Vec<(String, String)>,
        /// Print no operators and no summary table.
        #[arg(long)]
        quiet: bool,
    },
    /// Write generated Nexmark events (persons, auctions, bids) to
    /// DIR/{person,auction,bid}.csv (or .json), the events a `nexmark`
    /// table of the same seed and rate makes.
    Nexmark {
        /// The output folder.
        dir: PathBuf,
        /// How many events (all kinds).
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// The generator's seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Events per second of event time (`first-event.rate`).
        #[arg(long, default_value_t = 10_000.0)]
        rate: f64,
        /// JSON lines instead of CSV.
        #[arg(long)]
        json: bool,
    },
    /// Load a YAML topology and check it, without running it; print its
    /// components and their parallelism.
    Validate(TopologyArgs),
    /// List the built-in spout and bolt kinds that YAML topologies can name.
    Components,
    /// Run a nimbus daemon: it campaigns for leadership in etcd; the leader
    /// serves the REST API and assigns topologies to supervisors' slots.
    Nimbus(NimbusArgs),
    /// Run a supervisor daemon offering worker slots.
    Supervisor(SupervisorArgs),
    /// Call a DRPC function and print its answer (Storm's
    /// `DRPCClient.execute`). The leading nimbus serves DRPC unless
    /// --server names another server (e.g. `squall drpc-server`).
    ///
    /// Exit codes: 0 answered, 1 timed out, failed or unreachable, 2 bad
    /// configuration.
    Drpc {
        /// The function's name (the DRPC spout's `function`).
        function: String,
        /// The argument, passed as text.
        args: String,
        /// The DRPC server, `http://HOST:PORT`; by default the leading
        /// nimbus named in etcd.
        #[arg(long)]
        server: Option<String>,
        /// The bearer token; by default the configuration's `api_token`
        /// (when calling nimbus), none otherwise.
        #[arg(long)]
        token: Option<String>,
        /// The cluster configuration file (to find nimbus).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run a DRPC server alone (Storm's `storm drpc`): callers POST to
    /// /drpc/FUNCTION, DRPC spouts long-poll it for requests. Prints
    /// `drpc server on http://ADDR` once listening.
    DrpcServer {
        /// The address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:3772")]
        listen: std::net::SocketAddr,
        /// How long a caller waits for its answer, ms (Storm's
        /// `drpc.request.timeout.secs`).
        #[arg(long, default_value_t = squall_cluster::drpc_server::DEFAULT_REQUEST_TIMEOUT_MS)]
        timeout_ms: u64,
        /// How long a topology's spout holding requests may stay silent
        /// (it died) before its requests fail, ms.
        #[arg(long, default_value_t = squall_cluster::drpc_server::DEFAULT_HOLDER_TIMEOUT_MS)]
        holder_timeout_ms: u64,
        /// Require `Authorization: Bearer TOKEN` on every route.
        #[arg(long)]
        token: Option<String>,
    },
    /// Read a running topology's keyed state (Kafka Streams' interactive
    /// queries): one key's value, or a scan by --prefix/--from/--to with
    /// --limit. Prints JSON. Served by `squall run --query ADDR`, and on a
    /// cluster by the workers through nimbus.
    ///
    /// Exit codes: 0 answered, 1 refused or unreachable, 2 bad arguments.
    Query {
        /// The topology's name.
        topology: String,
        /// The component holding the state (e.g. a `stateful_count` bolt).
        component: String,
        /// The state's name (`count` for `stateful_count`).
        state: String,
        /// The key: text, or JSON with --json-key; omit it to scan.
        key: Option<String>,
        /// Read KEY as JSON (`7`, `["a", 3]` for a key of two fields).
        #[arg(long, requires = "key")]
        json_key: bool,
        /// Scan keys whose text starts with this.
        #[arg(long, conflicts_with = "key")]
        prefix: Option<String>,
        /// Scan keys whose text is at or after this.
        #[arg(long, conflicts_with = "key")]
        from: Option<String>,
        /// Scan keys whose text is before this.
        #[arg(long, conflicts_with = "key")]
        to: Option<String>,
        /// Scan at most this many entries (default 100).
        #[arg(long, conflicts_with = "key")]
        limit: Option<usize>,
        /// Read KEY's value in the latest completed checkpoint rather than
        /// the live one (topologies that checkpoint).
        #[arg(long, requires = "key")]
        committed: bool,
        /// The query API of `squall run --query`, `http://HOST:PORT` (as
        /// it printed it); by default the cluster's leading nimbus, which
        /// routes the query to the workers.
        #[arg(long)]
        server: Option<String>,
        /// The cluster configuration file (to find nimbus and its token).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run a worker process for one assignment (started by a supervisor).
    #[command(hide = true)]
    Worker {
        /// The assignment file the supervisor wrote.
        #[arg(long)]
        assignment: PathBuf,
    },
    /// Submit a YAML topology to the cluster, a SQL script (`FILE.sql`,
    /// planned by every worker as `squall sql` plans it; `--set` as there),
    /// or a Rust topology binary (`--binary PATH --name N`; see
    /// `squall_cluster::binary`).
    Submit {
        /// The topology file (see docs/yaml.md); not with --binary.
        #[arg(required_unless_present = "binary", conflicts_with = "binary")]
        file: Option<PathBuf>,
        /// Override a parameter (YAML `params:`, or the binary's
        /// parameters). Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
        set: Vec<(String, String)>,
        /// A program that links Squall and calls
        /// `squall_cluster::binary::cluster_main`: uploaded to nimbus and
        /// run by the supervisors.
        #[arg(long, requires = "name")]
        binary: Option<PathBuf>,
        /// The topology's name (with --binary).
        #[arg(long)]
        name: Option<String>,
        /// Worker processes to spread it over (Storm's topology.workers).
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Start from this savepoint (printed by `squall savepoint` or
        /// `squall stop`); parallelisms and workers may differ from its.
        #[arg(long, value_name = "DIR", conflicts_with = "binary")]
        from_savepoint: Option<String>,
        #[command(flatten)]
        cluster: ClientArgs,
    },
    /// List the cluster's topologies and their state.
    List(ClientArgs),
    /// Show one topology's status and its metrics per component and task.
    Status {
        /// The topology's name.
        name: String,
        /// Print status and metrics as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cluster: ClientArgs,
    },
    /// Kill a topology running on the cluster.
    Kill {
        /// The topology's name.
        name: String,
        /// Deactivate its spouts, wait this many seconds (for tuples in
        /// flight to complete), then kill it (Storm's `kill -w`).
        #[arg(long, value_name = "S", default_value_t = 0)]
        wait: u64,
        #[command(flatten)]
        cluster: ClientArgs,
    },
    /// Pause a topology's spouts (next_tuple is not called; tuples in
    /// flight complete). The state is kept in etcd.
    Deactivate {
        /// The topology's name.
        name: String,
        #[command(flatten)]
        cluster: ClientArgs,
    },
    /// Resume a deactivated topology's spouts.
    Activate {
        /// The topology's name.
        name: String,
        #[command(flatten)]
        cluster: ClientArgs,
    },
    /// Take a savepoint of a running topology (Flink's `savepoint`): a
    /// checkpoint copied to `<checkpoint_dir>/<topology>/savepoints/`, or
    /// into `--dir`, kept by retention; prints its folder.
    Savepoint {
        /// The topology's name.
        name: String,
        /// Put it in a new folder `savepoint-<topology>-<id>` inside this
        /// one (Flink's target directory): an absolute path on the
        /// workers' machines, or a URL such as `s3://bucket/savepoints`.
        #[arg(long, value_name = "DIR")]
        dir: Option<String>,
        #[command(flatten)]
        cluster: ClientArgs,
    },
    /// Stop a topology with a savepoint (Flink's `stop`): spouts paused,
    /// a final savepoint, then killed; `squall submit --from-savepoint`
    /// resumes it exactly there.
    Stop {
        /// The topology's name.
        name: String,
        /// Put the savepoint in a new folder inside this one (as
        /// `squall savepoint --dir`; Flink's `stop --savepointPath`).
        #[arg(long = "savepoint", value_name = "DIR")]
        savepoint: Option<String>,
        #[command(flatten)]
        cluster: ClientArgs,
    },
    /// Change a running topology's parallelism: stop it with a savepoint,
    /// and start it again from there (needs checkpoints).
    Rebalance {
        /// The topology's name.
        name: String,
        /// New parallelism of a component. Repeatable.
        #[arg(long = "parallelism", short = 'e', value_name = "COMPONENT=N", value_parser = parse_parallelism)]
        parallelism: Vec<(String, usize)>,
        /// New number of worker processes.
        #[arg(long)]
        workers: Option<usize>,
        #[command(flatten)]
        cluster: ClientArgs,
    },
}

/// The cluster configuration file (TOML); `SQUALL__*` variables override it
/// (`SQUALL__API_TOKEN`, `SQUALL__SUPERVISOR__SLOTS`, ...).
#[derive(Args)]
struct ClusterArgs {
    /// The configuration file.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

/// Arguments of `squall nimbus`.
#[derive(Args)]
struct NimbusArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Serve the REST API and web UI over HTTPS with this certificate chain
    /// (PEM; overrides `api_tls.cert`). Reloaded when the file changes.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM; overrides `api_tls.key`).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// Arguments of `squall supervisor`.
#[derive(Args)]
struct SupervisorArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Worker slots (overrides `supervisor.slots`).
    #[arg(long)]
    slots: Option<usize>,
    /// The supervisor's id (overrides `supervisor.id`).
    #[arg(long)]
    id: Option<String>,
}

/// Arguments of the client commands.
#[derive(Args)]
struct ClientArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// The nimbus API's URL; by default the leader named in etcd.
    #[arg(long)]
    nimbus: Option<String>,
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
    /// With `--savepoint-on-stop`: put the savepoint in a new folder
    /// `savepoint-<topology>-<id>` inside this one (a path or URL) instead
    /// of `<checkpoint_dir>/<topology>/savepoints/`.
    #[arg(long, value_name = "DIR", requires = "savepoint_on_stop")]
    savepoint_dir: Option<String>,
    /// Serve queries of the topology's keyed state on this address (port 0
    /// picks one; the address is printed): `squall query --server
    /// http://ADDR ...`. The state stays queryable after the topology
    /// finished, until Ctrl-C.
    #[arg(long, value_name = "ADDR")]
    query: Option<std::net::SocketAddr>,
    /// Serve Prometheus metrics on this address (port 0 picks one; the URL
    /// is printed): `GET /metrics`, and the per-task JSON at
    /// `/api/v1/topologies/NAME/metrics` (docs/metrics.md). Served after
    /// the topology finished too, until Ctrl-C, for a last scrape.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// Serve the web UI (the pages nimbus serves: graph, rates, latency,
    /// checkpoints, errors, actions) on this address, e.g. 127.0.0.1:8080
    /// (port 0 picks one); prints the URL to open. The UI stays up after
    /// the topology ended, until Ctrl-C.
    #[arg(long, value_name = "ADDR")]
    ui: Option<std::net::SocketAddr>,
    /// The bearer token of the web UI's API (default: a random one, in the
    /// printed URL).
    #[arg(long, value_name = "TOKEN", requires = "ui")]
    ui_token: Option<String>,
}

/// Parses `COMPONENT=N`.
fn parse_parallelism(s: &str) -> Result<(String, usize), String> {
    let (component, n) = parse_set(s)?;
    let n = n.trim().parse().map_err(|_| format!("'{s}': the parallelism is not a number"))?;
    Ok((component, n))
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
    // A worker logs as `squall_cluster::worker::init_log` says.
    if !matches!(cli.command, Command::Worker { .. }) {
        init_logging();
    }
    squall_connectors::register();
    squall_cluster::drpc_client::register();
    squall_sql::yaml::register();
    let result = match cli.command {
        Command::Run(args) if sql::is_sql(&args.topology.file) => {
            sql::run(std::slice::from_ref(&args.topology.file), &args.topology.set, args.quiet)
        }
        Command::Run(args) => run::run(
            &args.topology.file,
            &args.topology.set,
            &run::Options {
                quiet: args.quiet,
                from_savepoint: args.from_savepoint,
                savepoint_on_stop: args.savepoint_on_stop,
                savepoint_dir: args.savepoint_dir,
                query: args.query,
                metrics: args.metrics,
                ui: args.ui,
                ui_token: args.ui_token,
            },
        ),
        Command::Validate(args) => validate::validate(&args.file, &args.set),
        Command::Sql { files, set, quiet } => sql::run(&files, &set, quiet),
        Command::Nexmark { dir, events, seed, rate, json } => {
            sql::nexmark(&dir, events, seed, rate, json)
        }
        Command::Components => components::components(),
        Command::Nimbus(args) => {
            cluster::config(args.cluster.config.as_deref()).and_then(|mut c| {
                c.api_tls.cert = args.tls_cert.or(c.api_tls.cert);
                c.api_tls.key = args.tls_key.or(c.api_tls.key);
                cluster::nimbus(c)
            })
        }
        Command::Supervisor(args) => {
            cluster::config(args.cluster.config.as_deref()).and_then(|mut c| {
                c.supervisor.slots = args.slots.unwrap_or(c.supervisor.slots);
                c.supervisor.id = args.id.unwrap_or(c.supervisor.id);
                cluster::supervisor(c)
            })
        }
        Command::Query {
            topology,
            component,
            state,
            key,
            json_key,
            prefix,
            from,
            to,
            limit,
            committed,
            server,
            config,
        } => {
            let (key, key_json) = if json_key { (None, key) } else { (key, None) };
            let query = squall_cluster::query_api::StateQuery {
                key,
                key_json,
                prefix,
                from,
                to,
                limit,
                read: committed.then(|| "committed".to_string()),
            };
            let target = query::Target { topology, component, state };
            query::query(server, config.as_deref(), &target, &query)
        }
        Command::Drpc { function, args, server, token, config } => {
            drpc::call(config.as_deref(), server, token, &function, &args)
        }
        Command::DrpcServer { listen, timeout_ms, holder_timeout_ms, token } => {
            drpc::serve(listen, timeout_ms, holder_timeout_ms, token)
        }
        Command::Worker { assignment } => Ok(cluster::worker(&assignment)),
        Command::Submit { file, set, binary, name, workers, from_savepoint, cluster: c } => {
            let request = match (file, binary, name) {
                (_, Some(binary), Some(name)) => {
                    cluster::Request::SubmitBinary(binary, name, set, workers)
                }
                (Some(file), _, _) => cluster::Request::Submit(file, set, workers, from_savepoint),
                _ => unreachable!("clap requires a file or --binary with --name"),
            };
            client(c, request)
        }
        Command::List(c) => client(c, cluster::Request::List),
        Command::Status { name, json, cluster: c } => {
            client(c, cluster::Request::Status(name, json))
        }
        Command::Kill { name, wait, cluster: c } => {
            client(c, cluster::Request::Kill(name, std::time::Duration::from_secs(wait)))
        }
        Command::Deactivate { name, cluster: c } => {
            client(c, cluster::Request::Activate(name, false))
        }
        Command::Activate { name, cluster: c } => client(c, cluster::Request::Activate(name, true)),
        Command::Savepoint { name, dir, cluster: c } => {
            client(c, cluster::Request::Savepoint(name, false, dir))
        }
        Command::Stop { name, savepoint, cluster: c } => {
            client(c, cluster::Request::Savepoint(name, true, savepoint))
        }
        Command::Rebalance { name, parallelism, workers, cluster: c } => {
            let request = squall_cluster::control_api::RebalanceRequest {
                parallelism: parallelism.into_iter().collect(),
                workers,
            };
            client(c, cluster::Request::Rebalance(name, request))
        }
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

/// Runs one client command against the cluster.
fn client(args: ClientArgs, request: cluster::Request) -> Result<ExitCode, failure::Failure> {
    let config = cluster::config(args.cluster.config.as_deref())?;
    cluster::client(config, args.nimbus, request)
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
const DEFAULT_LOG: &str = "warn";

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
