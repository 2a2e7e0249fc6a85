//! DRPC over the network: a DRPC server (`squall drpc-server`, or nimbus on
//! a cluster), topologies whose spouts long-poll it from other processes,
//! and callers through HTTP and `squall drpc`. Storm's reach shape answers
//! what a plain loop over the graph computes, for concurrent callers; a
//! function nothing serves gets a timeout error (HTTP 504), not a hang; a
//! request held by a process that is then killed fails (HTTP 502) within
//! seconds of the kill, long before its timeout; a request whose tuple
//! tree fails gets HTTP 502 at once; a wrong token is refused.

use squall_test_support::reach as reach_graph;
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use reach_graph::stages::reach_builder;
use reach_graph::{graph, reach, words};
use squall::{Guarantee, LocalCluster, TopologyConfig};
use squall_cluster::drpc_client::{execute, HttpDrpc};
use support::{corpus, reference, wait_until, Cluster};

/// `squall drpc-server` on a free port; killed when dropped.
struct DrpcServer {
    child: Child,
    url: String,
}

impl DrpcServer {
    fn start(timeout_ms: u64, token: Option<&str>) -> DrpcServer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_squall"));
        command.args(["drpc-server", "--listen", "127.0.0.1:0", "--timeout-ms"]);
        command.arg(timeout_ms.to_string());
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        let mut child = command.stdout(Stdio::piped()).stdin(Stdio::null()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("drpc server on ").expect(&line).to_string();
        DrpcServer { child, url }
    }
}

impl Drop for DrpcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `squall drpc FUNCTION ARGS --server URL [--token T]`.
fn cli_call(url: &str, token: Option<&str>, function: &str, args: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_squall"));
    command.args(["drpc", function, args, "--server", url]);
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    command.stdin(Stdio::null()).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn call(
    url: &str,
    token: Option<&str>,
    function: &str,
    args: &str,
) -> squall_cluster::Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(execute(url, token, function, args))
}

#[test]
fn reach_over_http_answers_concurrent_callers_as_a_plain_loop() {
    const TOKEN: &str = "drpc-secret";
    let server = DrpcServer::start(120_000, Some(TOKEN));
    let graph = graph(&corpus());
    let asked = words(&graph, 60);
    for guarantee in [Guarantee::AtMostOnce, Guarantee::AtLeastOnce] {
        let remote = HttpDrpc::new(&server.url, Some(TOKEN.into())).unwrap();
        let mut topology = reach_builder(&graph).build(&remote).unwrap();
        topology.config(TopologyConfig { guarantee, buffer_timeout_ms: 1, ..Default::default() });
        let running = LocalCluster::submit(topology.build().unwrap()).unwrap();
        let callers: Vec<_> = asked
            .chunks(asked.len() / 5 + 1)
            .map(|chunk| {
                let (url, chunk) = (server.url.clone(), chunk.to_vec());
                std::thread::spawn(move || {
                    chunk
                        .into_iter()
                        .map(|w| (call(&url, Some(TOKEN), "reach", &w).unwrap(), w))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for caller in callers {
            for (answer, word) in caller.join().unwrap() {
                assert_eq!(answer, reach(&graph, &word).to_string(), "{word} ({guarantee:?})");
            }
        }
        let out = cli_call(&server.url, Some(TOKEN), "reach", "Denmark");
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{}\n", reach(&graph, "denmark")));
        running.kill();
        running.join().unwrap();
    }
    let out = cli_call(&server.url, None, "reach", "Denmark");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Bearer token is required (HTTP 401)"), "{}", stderr(&out));
    let out = cli_call(&server.url, Some("wrong"), "reach", "Denmark");
    assert!(stderr(&out).contains("wrong bearer token (HTTP 401)"), "{}", stderr(&out));
}

/// Errs on every input: under `at_least_once` the request's tree fails.
#[derive(Clone)]
struct Refuses;

impl squall::Bolt for Refuses {
    fn declare_outputs(&self, d: &mut squall::topology::OutputDeclarer) {
        d.declare(squall::Fields::new(["result", squall::drpc::RETURN_INFO]));
    }
    fn execute(&mut self, t: squall::Tuple, _: &mut squall::OutputCollector) -> squall::Result<()> {
        Err(squall::Error::Other(format!("refusing '{}'", t.get_str("args")?)))
    }
}

#[test]
fn a_request_whose_tree_fails_gets_a_502_at_once() {
    let server = DrpcServer::start(600_000, None);
    let remote = HttpDrpc::new(&server.url, None).unwrap();
    let mut b = squall::TopologyBuilder::new("refusing");
    b.set_spout("requests", squall::drpc::DrpcSpout::new(&remote, "f"), 1);
    b.set_bolt("refuse", Refuses, 1).shuffle_grouping("requests");
    b.set_bolt("return", squall::drpc::ReturnResults::new(&remote), 1).shuffle_grouping("refuse");
    b.config(TopologyConfig {
        guarantee: Guarantee::AtLeastOnce,
        message_timeout_ms: 600_000,
        ..Default::default()
    });
    let running = LocalCluster::submit(b.build().unwrap()).unwrap();
    // Only the failure posted back can answer before the 600 s timeouts.
    let out = cli_call(&server.url, None, "f", "x");
    assert_eq!(out.status.code(), Some(1));
    let stderr = stderr(&out);
    assert!(
        stderr.contains("the request's tuple tree failed") && stderr.contains("(HTTP 502)"),
        "{stderr}"
    );
    running.kill();
    running.join().unwrap();
}

#[test]
fn a_function_nothing_serves_times_out_with_an_error() {
    let server = DrpcServer::start(1000, None);
    let out = cli_call(&server.url, None, "nobody", "x");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: drpc function 'nobody': no answer within 1000 ms (HTTP 504)\n"
    );
    let out = cli_call("127.0.0.1:1", None, "nobody", "x");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("'127.0.0.1:1'"), "{}", stderr(&out));
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Calls `count` with `wait:FILE` in a thread (the Python bolt creates
/// FILE and never answers), waits until the request is held, runs `kill`,
/// and checks that the caller fails within 30 s of the kill (the request
/// timeout is 60 s), saying that the worker holding it stopped polling:
/// exit 1 and HTTP 502.
fn held_request_fails_after_kill(
    call: impl FnOnce(String) -> Output + Send + 'static,
    dir: &Path,
    kill: impl FnOnce(),
) {
    let held = dir.join("held");
    let args = format!("wait:{}", held.display());
    let caller = std::thread::spawn(move || call(args));
    wait_until("the request to be held by the bolt", || held.exists());
    let killed = std::time::Instant::now();
    kill();
    let out = caller.join().unwrap();
    let after = killed.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let error = stderr(&out);
    assert!(error.contains("stopped polling the DRPC server"), "{error}");
    assert!(error.ends_with("(HTTP 502)\n"), "{error}");
    // The holder timeout is 5 s; the request timeout 60 s.
    assert!(after < std::time::Duration::from_secs(30), "failed {after:?} after the kill");
    println!("the held request failed {after:?} after the kill: {}", error.trim());
}

#[test]
fn a_request_held_by_a_killed_local_topology_fails_soon_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = DrpcServer::start(60_000, None);
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_squall"))
            .args(["run", "examples/drpc-count.yaml", "-q", "--set"])
            .arg(format!("server={}", server.url))
            .current_dir(repo())
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    };
    let expected = reference(&corpus());
    let mut topology = run();
    let answered = |word: &str| {
        let mut answer = None;
        // The topology is up once it answers (a call before that times out).
        wait_until("the topology to answer", || {
            answer = call(&server.url, None, "count", word).ok();
            answer.is_some()
        });
        answer.unwrap()
    };
    assert_eq!(answered("Hamlet"), expected["hamlet"].to_string());
    let url = server.url.clone();
    held_request_fails_after_kill(
        move |args| cli_call(&url, None, "count", &args),
        dir.path(),
        || topology.kill().unwrap(),
    );
    topology.wait().unwrap();
    // The server outlives the topology: a new one serves it.
    let mut topology = run();
    assert_eq!(answered("love"), expected["love"].to_string());
    topology.kill().unwrap();
    topology.wait().unwrap();
}

#[test]
fn nimbus_serves_drpc_and_a_killed_workers_held_request_errs() {
    let timeout = ("SQUALL__NIMBUS__DRPC_REQUEST_TIMEOUT_MS".to_string(), "60000".to_string());
    let cluster =
        Cluster::start_in(tempfile::tempdir().unwrap(), vec![timeout], 1, &["sup-a"], &[]);
    let port = cluster.nimbus[0].0;
    let repo = repo();
    let out = cluster.squall(&[
        "submit",
        repo.join("examples/drpc-count.yaml").to_str().unwrap(),
        "--set",
        &format!("server=http://127.0.0.1:{port}"),
        "--set",
        &format!("python_dir={}", repo.join("examples/multilang").display()),
        "--set",
        &format!("corpus={}", corpus().display()),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let running = cluster.wait_for_state("drpc-count", "running");
    let expected = reference(&corpus());
    // Through etcd to the leading nimbus, with the configuration's token.
    let answered = |word: &str| {
        let mut out = None;
        wait_until("the topology to answer", || {
            let o = cluster.squall(&["drpc", "count", word]);
            let ok = o.status.success();
            out = Some(o);
            ok
        });
        String::from_utf8_lossy(&out.unwrap().stdout).trim().to_string()
    };
    assert_eq!(answered("Hamlet"), expected["hamlet"].to_string());
    let pid = running["worker_pid"].as_u64().expect("a running worker has a pid");
    let envs: Vec<(String, String)> = cluster.env();
    held_request_fails_after_kill(
        move |args| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_squall"));
            command.args(["drpc", "count", &args]).envs(envs).output().unwrap()
        },
        cluster.dir.path(),
        || {
            let killed = Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
            assert!(killed.success());
        },
    );
    // The supervisor restarts the worker; it serves the function again.
    assert_eq!(answered("love"), expected["love"].to_string());
}
