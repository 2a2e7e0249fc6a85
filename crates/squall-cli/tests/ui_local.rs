//! The web UI of `squall run --ui`, in headless Chromium, as a person uses
//! it: a word count over Shakespeare that runs until killed
//! (`examples/word-count-live.yaml`, at-least-once with checkpoints), its
//! graph, rates, complete and execute latency, checkpoints with their
//! alignment, memory and CPU, the generator's own metric, a component's
//! tasks, deactivate and kill clicked on the page. Screenshots under
//! `target/ui-tests/ui_local/`. Also: every API route of the local UI
//! refuses a missing or wrong token.

mod browser;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use browser::Browser;

struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `squall run --ui` on the live word count (at-least-once);
/// returns the process and the URL it printed.
fn start(dir: &std::path::Path) -> (Run, String) {
    let (example, sets) = browser::word_count_live(dir);
    let mut run = Command::new(env!("CARGO_BIN_EXE_squall"));
    run.args(["run", example.to_str().unwrap(), "--quiet", "--ui", "127.0.0.1:0"])
        .args(&sets)
        .args(["--set", "guarantee=at_least_once"]);
    spawn(run)
}

/// Spawns `run` (a `squall run ... --ui`); returns it and the URL it printed.
fn spawn(mut run: Command) -> (Run, String) {
    let mut child =
        run.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("squall run: {line}");
            if let Some(url) = line.strip_prefix("web UI on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(60)).expect("squall run prints the UI's URL");
    (Run(child), url)
}

#[test]
fn the_local_ui_shows_a_running_word_count_and_deactivates_and_kills_it() {
    if !browser::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut run, url) = start(dir.path());
    let (base, token) = url.split_once("/#token=").expect("the URL carries the token");

    // Every API route refuses a missing or a wrong token; the health check
    // and the pages need none.
    let http = reqwest::blocking::Client::new();
    let name = "word-count-live";
    let routes = [
        ("GET", "/api/v1/cluster".to_string()),
        ("GET", format!("/api/v1/topologies/{name}/view")),
        ("GET", format!("/api/v1/topologies/{name}/components/lines")),
        ("GET", format!("/api/v1/topologies/{name}/history")),
        ("GET", format!("/api/v1/topologies/{name}/workers/local/log")),
        ("GET", "/api/openapi.json".to_string()),
        ("GET", "/api/v1/topologies".to_string()),
        ("GET", format!("/api/v1/topologies/{name}")),
        ("DELETE", format!("/api/v1/topologies/{name}")),
        ("GET", "/api/v1/supervisors".to_string()),
        ("POST", format!("/api/v1/topologies/{name}/activate")),
        ("POST", format!("/api/v1/topologies/{name}/deactivate")),
        ("POST", format!("/api/v1/topologies/{name}/rebalance")),
        ("POST", format!("/api/v1/topologies/{name}/savepoint")),
    ];
    let routes: Vec<(String, String)> =
        routes.into_iter().map(|(m, p)| (m.to_string(), p)).collect();
    browser::assert_token_required(&http, base, &routes);
    let health = http.get(format!("{base}/api/v1/health")).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert!(health.text().unwrap().contains("\"role\":\"local\""));
    let page = http.get(format!("{base}/")).send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().unwrap().contains("app.js"));
    let doc: serde_json::Value = http
        .get(format!("{base}/api/openapi.json"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(doc["paths"]["/api/v1/topologies/{name}/view"]["get"].is_object(), "{doc}");

    let b = Browser::start(&browser::output_dir("ui_local"), 1400, 1800);
    // The overview, opened with the printed URL.
    b.open(&url);
    b.wait_for("the topology in the overview", || {
        b.count("[data-testid=topology-row][data-name=word-count-live]") == 1
    });
    b.screenshot_checked("overview");

    // The topology's page: the graph with every component, rates above
    // zero, a checkpoint, the complete latency chart.
    b.click("[data-testid=topology-row] a");
    b.wait_for("the graph", || b.count("[data-testid=graph] g.node") == 4);
    let mut ids = b.attrs("[data-testid=graph] g.node", "data-id");
    ids.sort();
    assert_eq!(ids, ["count", "lines", "sink", "split"]);
    assert_eq!(b.count("[data-testid=graph] [data-testid=edge-label]"), 3);
    assert!(
        b.text("[data-testid=graph]").contains("fields (word)"),
        "edges labelled with their grouping"
    );
    b.wait_for("every component's rate above zero", || {
        let rates = b.attrs("[data-testid=graph] g.node", "data-rate");
        rates.len() == 4 && rates.iter().all(|r| r.parse::<f64>().is_ok_and(|r| r > 0.0))
    });
    b.wait_for("a completed checkpoint", || {
        b.count("[data-testid=checkpoint-row][data-status=completed]") > 0
    });
    b.wait_for("the charts", || {
        b.count("[data-testid=throughput-chart] canvas") == 1
            && b.count("[data-testid=latency-chart] canvas") == 1
    });
    b.wait_for_measures(&["split", "count", "sink"], 1);
    b.screenshot_checked("topology");

    // A component's page: one row per task.
    b.click("[data-testid=graph] g.node[data-id=count] rect");
    b.wait_for("the count tasks", || b.count("[data-testid=task-row]") == 2);
    b.screenshot_checked("component");
    b.js("history.back()", vec![]);
    b.wait_for("the topology page again", || b.count("[data-testid=graph] g.node") == 4);

    // A savepoint, confirmed: its folder is shown.
    b.click("button[data-action=savepoint]");
    b.click("[data-testid=confirm-ok]");
    b.wait_for("the savepoint's folder", || {
        b.text("[data-testid=action-result]").contains("/savepoints/sp-")
    });
    assert_eq!(b.attrs("[data-testid=action-result]", "data-ok"), ["true"]);
    let savepoint_row = "return [...document.querySelectorAll('[data-testid=checkpoint-row]')]\
        .some(r => r.textContent.includes('savepoint'))";
    b.wait_for("the savepoint in the history", || {
        b.js(savepoint_row, vec![]).as_bool() == Some(true)
    });
    // A rebalance is for a cluster: refused, saying why.
    b.click("button[data-action=rebalance]");
    b.click("[data-testid=confirm-ok]");
    b.wait_for("the refusal", || {
        b.text("[data-testid=action-result]").contains("rebalance refused")
    });
    assert_eq!(b.attrs("[data-testid=action-result]", "data-ok"), ["false"]);

    // Deactivate, confirmed: the spout's emitted count stops growing.
    b.click("button[data-action=deactivate]");
    b.click("[data-testid=confirm-ok]");
    b.wait_for("the result of deactivate", || {
        b.text("[data-testid=action-result]").contains("deactivated")
    });
    b.wait_for("the inactive badge", || b.text("[data-testid=active]") == "inactive");
    std::thread::sleep(Duration::from_secs(3)); // tuples in flight, a refresh
    let at_stop = b.emitted("lines");
    std::thread::sleep(Duration::from_secs(5));
    let later = b.emitted("lines");
    assert!(at_stop > 0);
    assert_eq!(later, at_stop, "the spout emitted after deactivate");

    // Activate again: it goes on.
    b.click("button[data-action=activate]");
    b.click("[data-testid=confirm-ok]");
    b.wait_for("the spout to emit again", || b.emitted("lines") > later);

    // Kill, confirmed, without waiting: the topology ends, the page says so.
    b.click("button[data-action=kill]");
    b.type_into("[data-field=wait]", "0");
    b.click("[data-testid=confirm-ok]");
    b.wait_for("the killed state", || b.text("[data-testid=state]") == "killed");
    b.screenshot_checked("killed");
    // The UI stays up after the run, until Ctrl-C.
    assert!(run.0.try_wait().unwrap().is_none(), "squall run exited with the UI");
    nix_interrupt(&run.0);
    let status = run.0.wait().unwrap();
    assert_eq!(status.code(), Some(130), "killed runs exit 130");
}

/// A component whose tasks keep failing (a multilang child that exits at
/// once): the page shows each task's errors with the time, and the run's
/// failure; the UI stays up after it.
#[test]
fn the_local_ui_shows_the_errors_of_a_failing_component() {
    if !browser::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("failing.yaml");
    std::fs::write(
        &yaml,
        "name: failing\n\
         config: { guarantee: at_least_once, max_task_restarts: 2 }\n\
         spouts:\n  - { id: lines, type: generator, parallelism: 1, settings: { rate_per_sec: 100 } }\n\
         bolts:\n  - id: broken\n    type: shell\n    parallelism: 2\n    \
         settings: { command: [sh, -c, \"exit 3\"], fields: [word] }\n\
         streams:\n  - { from: lines, to: broken, grouping: shuffle }\n",
    )
    .unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_squall"));
    run.args(["run", yaml.to_str().unwrap(), "--quiet", "--ui", "127.0.0.1:0"]);
    let (mut run, url) = spawn(run);
    let b = Browser::start(&browser::output_dir("ui_local_errors"), 1400, 1200);
    b.open(&url.replace("/#token=", "/#/topology/failing&token="));
    b.wait_for("the failed state", || b.text("[data-testid=state]") == "failed");
    b.wait_for("the errors", || b.count("[data-testid=error-row]") >= 2);
    let errors = b.text("main");
    assert!(errors.contains("exit status: 3") && errors.contains("broken"), "{errors}");
    assert!(errors.contains("max_task_restarts"), "the run's failure is shown: {errors}");
    b.screenshot_checked("errors");
    assert!(run.0.try_wait().unwrap().is_none(), "squall run exited with the UI");
    nix_interrupt(&run.0);
    assert_eq!(run.0.wait().unwrap().code(), Some(1), "a failed run exits 1");
}

/// Ctrl-C.
fn nix_interrupt(child: &Child) {
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
}
