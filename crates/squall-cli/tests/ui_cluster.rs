//! The web UI on a real cluster (etcd, a leading and a standby nimbus, two
//! supervisors), in headless Chromium, as a person uses it: the token
//! typed into the page, the cluster overview, the live word count over
//! Shakespeare on two workers (`examples/word-count-live.yaml`,
//! exactly-once) with its graph, rates, execute latency, checkpoints with
//! their alignment, each worker's memory and CPU and the generator's own
//! metric, a worker's log
//! tailed through its supervisor, deactivate and kill clicked on the page.
//! Screenshots under `{target}/tmp/ui-tests/ui_cluster/`. Also: every
//! route of nimbus's OpenAPI document refuses a missing or wrong token,
//! and the standby redirects to the leader.

mod browser;
mod support;

use std::time::Duration;

use browser::Browser;
use support::{http_get, Cluster, TOKEN};

/// Every path and method of the OpenAPI document at `base`, with its
/// parameters filled in.
fn documented_routes(doc: &serde_json::Value, name: &str) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, methods) in doc["paths"].as_object().expect("paths") {
        let filled = path
            .replace("{name}", name)
            .replace("{component}", "count")
            .replace("{state}", "count")
            .replace("{worker}", "sup-a-0")
            .replace("{function}", "f")
            .replace("{id}", "1");
        for method in methods.as_object().unwrap().keys() {
            routes.push((method.to_uppercase(), filled.clone()));
        }
    }
    routes
}

#[test]
fn the_cluster_ui_shows_a_word_count_on_two_workers_and_deactivates_and_kills_it() {
    if !browser::available() {
        return;
    }
    let cluster = Cluster::start(2, &["sup-a", "sup-b"]);
    let leader = cluster.leader().expect("a nimbus leads");
    let (port, standby) = (cluster.nimbus[leader].0, cluster.nimbus[1 - leader].0);
    let base = format!("http://127.0.0.1:{port}");
    let name = "word-count-live";
    let (example, sets) = browser::word_count_live(&cluster.dir.path().join(name));
    let mut args = vec!["submit", example.to_str().unwrap(), "--workers", "2"];
    args.extend(sets.iter().map(String::as_str));
    let submitted = cluster.squall(&args);
    assert!(submitted.status.success(), "{}", String::from_utf8_lossy(&submitted.stderr));
    cluster.wait_for_state(name, "running");

    // The API: the health check answers without a token; every documented
    // route refuses a missing or wrong one.
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let health = http_get(port, "/api/v1/health").unwrap();
    assert!(
        health.starts_with("HTTP/1.0 200") && health.contains("\"role\":\"leader\""),
        "{health}"
    );
    let doc: serde_json::Value = http
        .get(format!("{base}/api/openapi.json"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let routes = documented_routes(&doc, name);
    assert!(routes.len() >= 20, "{routes:?}");
    let guarded: Vec<_> = routes.into_iter().filter(|(_, p)| p != "/api/v1/health").collect();
    browser::assert_token_required(&http, &base, &guarded);
    // The standby: healthy, and sends pages and API calls to the leader.
    let answer = http_get(standby, "/api/v1/health").unwrap();
    assert!(answer.contains("\"role\":\"standby\"") && answer.contains(&base), "{answer}");
    let moved = http.get(format!("http://127.0.0.1:{standby}/api/v1/cluster")).send().unwrap();
    assert_eq!(moved.status().as_u16(), 307);
    assert_eq!(moved.headers()["location"].to_str().unwrap(), format!("{base}/api/v1/cluster"));

    let b = Browser::start(&browser::output_dir("ui_cluster"), 1400, 1800);
    // Opened through the standby's address: redirected; the token typed in.
    b.open(&format!("http://127.0.0.1:{standby}/"));
    b.type_into("[data-testid=token-input]", TOKEN);
    b.click("form button[type=submit]");
    b.wait_for("two supervisors and the topology", || {
        b.count("[data-testid=supervisor-row]") == 2
            && b.count("[data-testid=topology-row][data-name=word-count-live]") == 1
    });
    assert!(b.js("return location.href", vec![]).as_str().unwrap().starts_with(&base));
    b.screenshot_checked("overview");

    // The topology: its graph, rates above zero, checkpoints, two workers.
    b.click("[data-testid=topology-row] a");
    b.wait_for("the graph", || b.count("[data-testid=graph] g.node") == 4);
    b.wait_for("every component's rate above zero", || {
        let rates = b.attrs("[data-testid=graph] g.node", "data-rate");
        rates.len() == 4 && rates.iter().all(|r| r.parse::<f64>().is_ok_and(|r| r > 0.0))
    });
    b.wait_for("a completed checkpoint", || {
        b.count("[data-testid=checkpoint-row][data-status=completed]") > 0
    });
    b.wait_for("two workers", || b.count("[data-testid=worker-row]") == 2);
    b.wait_for("the throughput chart", || b.count("[data-testid=throughput-chart] canvas") == 1);
    b.wait_for_measures(&["split", "count", "sink"], 2);
    b.screenshot_checked("topology");

    // A worker's log, through its supervisor.
    b.click("[data-testid=worker-row] a");
    b.wait_for("the log", || b.text("main .muted").contains("slot"));
    assert!(!b.text("[data-testid=log]").contains("HTTP "), "{}", b.text("[data-testid=log]"));
    b.screenshot_checked("worker-log");
    b.js("history.back()", vec![]);
    b.wait_for("the topology page again", || b.count("[data-testid=graph] g.node") == 4);

    // Deactivate: the spout's emitted count stops growing.
    b.click("button[data-action=deactivate]");
    b.click("[data-testid=confirm-ok]");
    b.wait_for("the inactive badge", || b.text("[data-testid=active]") == "inactive");
    std::thread::sleep(Duration::from_secs(4));
    let at_stop = b.emitted("lines");
    std::thread::sleep(Duration::from_secs(5));
    assert!(at_stop > 0);
    assert_eq!(b.emitted("lines"), at_stop, "the spout emitted after deactivate");

    // Kill: the topology ends.
    b.click("button[data-action=kill]");
    b.type_into("[data-field=wait]", "0");
    b.click("[data-testid=confirm-ok]");
    b.wait_for("the killed state", || b.text("[data-testid=state]") == "killed");
    b.screenshot_checked("killed");
    assert_eq!(cluster.status(name)["state"], "killed");
}
