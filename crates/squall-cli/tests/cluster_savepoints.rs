//! Flink's everyday operations on a cluster, from the CLI and the REST
//! API: a savepoint of a running topology, stop-with-savepoint, and a new
//! submission from that savepoint at other parallelisms and on another
//! number of workers. An exactly-once word count over copies of
//! Shakespeare commits exactly the reference counts across all of it.
//!
//! Needs `etcd` on PATH and the corpus in `data/shakespeare`.

mod support;

use std::path::Path;

use support::*;

/// The folder `squall savepoint` or `squall stop` printed last on `stdout`.
fn printed_location(stdout: &str) -> String {
    let last = stdout.trim().rsplit(' ').next().unwrap_or_default().to_string();
    assert!(Path::new(&last).join("_metadata").is_file(), "no savepoint at '{last}': {stdout}");
    last
}

/// Committed rows hold each (word, k) at most once and, per word, counts
/// 1..=m with no gap: what an exactly-once sink has committed mid-run.
fn assert_committed_prefix(output: &Path) {
    let rows = committed_rows(output);
    let mut next: std::collections::BTreeMap<&str, u64> = Default::default();
    for (word, k) in &rows {
        let want = next.entry(word.as_str()).or_insert(1);
        assert_eq!(
            *k, *want,
            "'{word}': committed {k} where {want} was due (a gap or a duplicate)"
        );
        *want += 1;
    }
}

#[test]
fn savepoint_stop_and_resume_elsewhere_commit_exactly_the_reference() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 8);
    let name = "wc-stop";
    let (checkpoints, output) = cluster.submit_exactly_once(name, &input, &["--workers", "2"]);
    wait_until("a first checkpoint", || !completed_checkpoints(&checkpoints).is_empty());

    // A savepoint of the running topology: it goes on.
    let out = cluster.squall(&["savepoint", name]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with(&format!("savepoint of '{name}': ")), "{stdout}");
    let first = printed_location(&stdout);
    assert!(first.starts_with(&checkpoints.join("savepoints").display().to_string()), "{first}");
    assert_eq!(cluster.status(name)["state"], "running");

    // Stop with a savepoint into a folder of the user's (Flink's `stop
    // --savepointPath`): paused, saved, killed; the output so far is a
    // clean prefix, short of the whole.
    let target = cluster.dir.path().join("user-savepoints");
    let out = cluster.squall(&["stop", name, "--savepoint", target.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with(&format!("'{name}' stopped with savepoint ")), "{stdout}");
    let stopped_at = printed_location(&stdout);
    let inside = target.join(format!("savepoint-{name}-")).display().to_string();
    assert!(stopped_at.starts_with(&inside), "{stopped_at} is not in {}", target.display());
    let status = cluster.status(name);
    assert_eq!(status["state"], "killed", "{status}");
    assert!(status["message"].as_str().unwrap_or_default().contains(&stopped_at), "{status}");
    assert_committed_prefix(&output);
    let total: u64 = expected.values().sum();
    assert!((committed_rows(&output).len() as u64) < total, "stopped after the end");

    // A savepoint that does not exist is refused before anything starts.
    let file = cluster.dir.path().join(name).join("topology.yaml");
    let missing = cluster.dir.path().join("no-such-savepoint");
    let out = cluster.squall(&[
        "submit",
        file.to_str().unwrap(),
        "--from-savepoint",
        missing.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("400") && stderr.contains("--from-savepoint"), "{stderr}");
    assert_eq!(cluster.status(name)["state"], "killed", "a refused submission changes nothing");

    // Resumed from the stop's savepoint with 3 count tasks on one worker:
    // the whole output is exactly the reference.
    let yaml = std::fs::read_to_string(&file)
        .unwrap()
        .replace("type: stateful_count, parallelism: 2", "type: stateful_count, parallelism: 3");
    let rescaled = cluster.dir.path().join("rescaled.yaml");
    std::fs::write(&rescaled, yaml).unwrap();
    let out =
        cluster.squall(&["submit", rescaled.to_str().unwrap(), "--from-savepoint", &stopped_at]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    cluster.wait_for_state(name, "finished");
    let (rows, want) = (committed_rows(&output), expected_rows(&expected));
    assert!(rows == want, "{} rows committed, {} expected", rows.len(), want.len());
}

/// The same operations on a topology of one worker (the local driver
/// inside the worker), and their refusals: no checkpoints, no topology.
#[test]
fn savepoints_of_one_worker_and_refusals() {
    let cluster = Cluster::start(1, &["sup-a"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 6);
    let name = "wc-one";
    let (_, output) = cluster.submit_exactly_once(name, &input, &[]);
    cluster.wait_for_state(name, "running");
    // A folder must be one the workers can find: a relative one is refused.
    let out = cluster.squall(&["savepoint", name, "--dir", "savepoints"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("400") && stderr.contains("'savepoints' is relative"), "{stderr}");
    let target = cluster.dir.path().join("user-savepoints");
    let out = cluster.squall(&["savepoint", name, "--dir", target.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inside = target.join(format!("savepoint-{name}-")).display().to_string();
    assert!(printed_location(&stdout).starts_with(&inside), "{stdout}");
    let out = cluster.squall(&["stop", name]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stopped_at = printed_location(&stdout);
    assert_committed_prefix(&output);
    let file = cluster.dir.path().join(name).join("topology.yaml");
    let out = cluster.squall(&[
        "submit",
        file.to_str().unwrap(),
        "--from-savepoint",
        &stopped_at,
        "--workers",
        "2",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    cluster.wait_for_state(name, "finished");
    let (rows, want) = (committed_rows(&output), expected_rows(&expected));
    assert!(rows == want, "{} rows committed, {} expected", rows.len(), want.len());

    // Refusals, each naming why.
    let out = cluster.squall(&["savepoint", "nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("404") && stderr.contains("no topology 'nope'"), "{stderr}");
    let out = cluster.squall(&["savepoint", name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("400") && stderr.contains("finished"), "{stderr}");
    let plain = cluster.submit_word_count("wc-plain", &input);
    cluster.wait_for_state("wc-plain", "running");
    let out = cluster.squall(&["savepoint", "wc-plain"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("400") && stderr.contains("checkpoint_interval_ms"),
        "{stderr} (output {})",
        plain.display()
    );
}
