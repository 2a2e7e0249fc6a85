//! Guarantees across cluster workers, with real processes on 127.0.0.1:
//! an exactly-once word count over two workers on two supervisors (one
//! checkpoint coordinator, barriers and acknowledgements over TCP),
//! broken mid-run by SIGKILL of a worker, or by freezing a supervisor so
//! that its topology moves while its worker lives on (epoch fencing), or
//! after its worker ended the run (the end, recorded in etcd, is not run
//! again); an at-least-once one (ackers in one worker, acker traffic over
//! TCP) broken by SIGKILL, with and without checkpoints (then both planes
//! run, and a restart restores the counts). Outputs are compared with a
//! count made here.
//!
//! Needs `etcd` on PATH and the corpus in `data/shakespeare`.

mod support;

use std::process::Command;
use std::time::Instant;

use support::*;

fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// Waits for a line containing `needle` in the worker log of `sup`.
fn wait_for_log(cluster: &Cluster, sup: &str, topology: &str, needle: &str) {
    wait_until(&format!("'{needle}' in {sup}'s worker log"), || {
        cluster.worker_log(sup, topology).contains(needle)
    });
}

#[test]
fn exactly_once_over_two_workers_survives_sigkill_of_each_worker_and_commits_the_reference() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 3);
    let name = "wc-eo-two";
    let (checkpoints, output) = cluster.submit_exactly_once(name, &input, &["--workers", "2"]);
    cluster.wait_for_state(name, "running");
    // Both workers run; the coordinator's is the one holding task 0
    // (sup-a's: the scheduler takes supervisors in id order on a tie).
    let mut pids = Vec::new();
    for sup in ["sup-a", "sup-b"] {
        let mut pid = None;
        wait_until(&format!("{sup}'s worker"), || {
            pid = cluster.worker_pid(sup, name);
            pid.is_some()
        });
        pids.push(pid.unwrap());
    }
    // Kill the follower after a checkpoint, then the coordinator after a
    // checkpoint of the restarted attempt.
    for (round, (victim, survivor)) in
        [("sup-b", "sup-a"), ("sup-a", "sup-b")].into_iter().enumerate()
    {
        let before = completed_checkpoints(&checkpoints).last().copied().unwrap_or(0);
        wait_until("a new completed checkpoint", || {
            completed_checkpoints(&checkpoints).last().is_some_and(|&id| id > before)
        });
        assert_ne!(
            cluster.status(name)["state"],
            "finished",
            "the run must still be going when a worker is killed; use more input"
        );
        let pid = cluster.worker_pid(victim, name).expect("the victim runs");
        kill(pid, "-KILL");
        let killed = Instant::now();
        let restart = format!("attempt {round} ended");
        wait_for_log(&cluster, survivor, name, &restart);
        let detected = killed.elapsed();
        let restored = format!("attempt {}: restoring checkpoint", round + 1);
        wait_for_log(&cluster, survivor, name, &restored);
        let restarted = killed.elapsed();
        eprintln!(
            "{victim}'s worker SIGKILLed: detected in {:.2} s, every worker restoring in {:.2} s",
            detected.as_secs_f64(),
            restarted.as_secs_f64()
        );
    }
    let done = cluster.wait_for_state(name, "finished");
    assert!(done["restarts"].as_u64().unwrap() >= 1, "{done}");
    let (rows, want) = (committed_rows(&output), expected_rows(&expected));
    assert!(rows == want, "{} rows committed, {} expected", rows.len(), want.len());
}

#[test]
fn a_frozen_supervisors_topology_moves_and_its_stale_worker_commits_nothing() {
    frozen_supervisor("wc-eo-fence", "2");
}

#[test]
fn a_frozen_supervisors_single_worker_topology_moves_and_its_stale_worker_commits_nothing() {
    frozen_supervisor("wc-eo-fence-one", "1");
}

/// Freezes a supervisor running one of the `workers` workers of an
/// exactly-once word count, mid-run.
fn frozen_supervisor(name: &str, workers: &str) {
    let cluster = Cluster::start(1, &["sup-a", "sup-b", "sup-c"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 5);
    let (checkpoints, output) = cluster.submit_exactly_once(name, &input, &["--workers", workers]);
    let running = cluster.wait_for_state(name, "running");
    wait_until("a completed checkpoint", || !completed_checkpoints(&checkpoints).is_empty());
    // Freeze a supervisor that runs a worker: its lease expires, nimbus
    // moves the topology (epoch + 1), but its worker still runs and still
    // reaches etcd.
    let frozen = ["sup-a", "sup-b", "sup-c"]
        .into_iter()
        .position(|s| cluster.worker_pid(s, name).is_some())
        .unwrap();
    let sup = ["sup-a", "sup-b", "sup-c"][frozen];
    let stale_pid = cluster.worker_pid(sup, name).unwrap();
    kill(cluster.supervisors[frozen].id(), "-STOP");
    let frozen_at = Instant::now();
    let mut moved = serde_json::Value::Null;
    wait_until("the topology to move", || {
        moved = cluster.status(name);
        moved["epoch"].as_u64() > running["epoch"].as_u64()
    });
    eprintln!("frozen {sup}: topology moved after {:.2} s", frozen_at.elapsed().as_secs_f64());
    // The stale worker is fenced: it commits nothing and stops by itself.
    wait_until("the stale worker to stop", || {
        !std::path::Path::new(&format!("/proc/{stale_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{stale_pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    eprintln!("stale worker stopped after {:.2} s", frozen_at.elapsed().as_secs_f64());
    let log = cluster.worker_log(sup, name);
    let done = cluster.wait_for_state(name, "finished");
    if log.contains("finished in") {
        // The run ended, and its end was recorded, just before the move:
        // the new epoch must not run it again (a replay from the last
        // checkpoint would commit the rows after it twice).
        let new_logs: String =
            ["sup-a", "sup-b", "sup-c"].iter().map(|s| cluster.worker_log(s, name)).collect();
        assert!(new_logs.contains("the run's end is recorded"), "{new_logs}");
        eprintln!("the old epoch ended before the move; the new one did not run it again");
    } else {
        assert!(log.contains("stale"), "the stale worker says why it stopped:\n{log}");
    }
    assert_ne!(done["supervisor"].as_str(), Some(sup), "{done}");
    kill(cluster.supervisors[frozen].id(), "-CONT");
    let (rows, want) = (committed_rows(&output), expected_rows(&expected));
    assert!(rows == want, "{} rows committed, {} expected", rows.len(), want.len());
}

#[test]
fn a_run_that_ended_while_its_supervisor_was_frozen_is_not_run_again() {
    // A long lease: the run ends well before nimbus gives up on the frozen
    // supervisor, whose worker then cannot report that it finished.
    let lease = ("SQUALL__SUPERVISOR__LEASE_TTL_S".to_string(), "20".to_string());
    let cluster = Cluster::start_in(
        tempfile::tempdir().unwrap(),
        vec![lease],
        1,
        &["sup-a", "sup-b", "sup-c"],
        &[],
    );
    let (input, expected) = repeated_corpus(cluster.dir.path(), 1);
    let name = "wc-eo-ended";
    let (checkpoints, output) = cluster.submit_exactly_once(name, &input, &["--workers", "2"]);
    let running = cluster.wait_for_state(name, "running");
    wait_until("a completed checkpoint", || !completed_checkpoints(&checkpoints).is_empty());
    let sups = ["sup-a", "sup-b", "sup-c"];
    let frozen = sups.into_iter().position(|s| cluster.worker_pid(s, name).is_some()).unwrap();
    let sup = sups[frozen];
    let pid = cluster.worker_pid(sup, name).unwrap();
    kill(cluster.supervisors[frozen].id(), "-STOP");
    wait_until("the frozen supervisor's worker to end", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
    });
    assert_eq!(
        cluster.status(name)["epoch"],
        running["epoch"],
        "the topology moved before its run ended: use less input"
    );
    let log = cluster.worker_log(sup, name);
    assert!(log.contains("finished in"), "{log}");
    // Its lease expires: nimbus moves the topology (one worker did not
    // report), and the new epoch finds the run's end recorded. Replaying
    // from the last checkpoint would commit the rows after it twice.
    wait_until("the topology to move", || {
        cluster.status(name)["epoch"].as_u64() > running["epoch"].as_u64()
    });
    cluster.wait_for_state(name, "finished");
    kill(cluster.supervisors[frozen].id(), "-CONT");
    let logs: String = sups.iter().map(|s| cluster.worker_log(s, name)).collect();
    assert!(logs.contains("the run's end is recorded"), "{logs}");
    let (rows, want) = (committed_rows(&output), expected_rows(&expected));
    assert!(rows == want, "{} rows committed, {} expected", rows.len(), want.len());
}

#[test]
fn at_least_once_over_two_workers_survives_sigkill_and_counts_at_least_the_reference() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 3);
    let name = "wc-alo-two";
    let output = cluster.submit_word_count_with(
        name,
        &input,
        &["--set", "guarantee=at_least_once", "--workers", "2"],
    );
    for sup in ["sup-a", "sup-b"] {
        wait_for_log(&cluster, sup, name, "attempt 0: 2 workers joined");
    }
    assert_ne!(cluster.status(name)["state"], "finished", "killed before the end: use more input");
    let pid = cluster.worker_pid("sup-b", name).expect("sup-b's worker runs");
    kill(pid, "-KILL");
    let killed = Instant::now();
    wait_for_log(&cluster, "sup-a", name, "attempt 0 ended");
    let detected = killed.elapsed();
    wait_for_log(&cluster, "sup-a", name, "attempt 1: 2 workers joined");
    eprintln!(
        "at-least-once: sup-b's worker SIGKILLed, detected in {:.2} s, replaying in {:.2} s",
        detected.as_secs_f64(),
        killed.elapsed().as_secs_f64()
    );
    cluster.wait_for_state(name, "finished");
    let counts = read_counts(&output);
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "every word counted"
    );
    let short: Vec<_> = expected.iter().filter(|(w, &c)| counts[*w] < c).collect();
    assert!(
        short.is_empty(),
        "{} words counted less than the reference: {:?}",
        short.len(),
        &short[..short.len().min(5)]
    );
    // Every line was acked: both workers finished their attempt, spouts
    // only finish with no tree pending.
    for sup in ["sup-a", "sup-b"] {
        let log = cluster.worker_log(sup, name);
        assert!(log.contains("finished in"), "{sup}'s worker finished:\n{log}");
    }
}

/// `at_least_once` with checkpoints over two workers (Flink's
/// AT_LEAST_ONCE checkpointing mode: ackers and checkpoints at once):
/// SIGKILL of the follower's worker after a checkpoint restarts both
/// workers from it, restoring the counts and the spouts' positions. The
/// sink commits with checkpoints, so its rows `(word, k)` say what the
/// counts were: every word reaches at least its reference count (a restart
/// from zero state would leave the words seen before the checkpoint
/// short), and every row of the reference is there.
#[test]
fn at_least_once_with_checkpoints_over_two_workers_restores_state_after_sigkill() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let (input, expected) = repeated_corpus(cluster.dir.path(), 3);
    let name = "wc-alo-ckpt";
    let dir = cluster.dir.path().join(name);
    let (checkpoints, output) = (dir.join("checkpoints"), dir.join("out"));
    std::fs::create_dir_all(&output).unwrap();
    let yaml = exactly_once_yaml(name, &checkpoints, &input, &output)
        .replace("guarantee: exactly_once", "guarantee: at_least_once");
    assert!(yaml.contains("guarantee: at_least_once"), "{yaml}");
    let file = dir.join("topology.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = cluster.squall(&["submit", file.to_str().unwrap(), "--workers", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let checkpoints = checkpoints.join(name);
    for sup in ["sup-a", "sup-b"] {
        wait_for_log(&cluster, sup, name, "attempt 0: 2 workers joined");
    }
    wait_until("a completed checkpoint", || !completed_checkpoints(&checkpoints).is_empty());
    assert_ne!(cluster.status(name)["state"], "finished", "killed before the end: use more input");
    let pid = cluster.worker_pid("sup-b", name).expect("sup-b's worker runs");
    kill(pid, "-KILL");
    let killed = Instant::now();
    wait_for_log(&cluster, "sup-a", name, "attempt 0 ended");
    wait_for_log(&cluster, "sup-a", name, "attempt 1: restoring checkpoint");
    eprintln!(
        "at-least-once with checkpoints: sup-b's worker SIGKILLed, restoring in {:.2} s",
        killed.elapsed().as_secs_f64()
    );
    let done = cluster.wait_for_state(name, "finished");
    assert!(done["restarts"].as_u64().unwrap() >= 1, "{done}");
    let log = cluster.worker_log("sup-a", name);
    let restored: u64 = log
        .lines()
        .find_map(|l| l.split("attempt 1: restoring checkpoint ").nth(1))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("the restart names its checkpoint:\n{log}"));
    assert!(restored >= 1, "{log}");
    let rows = committed_rows(&output);
    let mut highest: std::collections::BTreeMap<&str, u64> = Default::default();
    for (word, k) in &rows {
        let top = highest.entry(word.as_str()).or_default();
        *top = (*top).max(*k);
    }
    let short: Vec<_> =
        expected.iter().filter(|(w, &c)| highest.get(w.as_str()).is_none_or(|&k| k < c)).collect();
    assert!(
        short.is_empty(),
        "{} words counted less than the reference (state not restored?): {:?}",
        short.len(),
        &short[..short.len().min(5)]
    );
    let committed: std::collections::BTreeSet<_> = rows.iter().cloned().collect();
    let missing = expected_rows(&expected).into_iter().filter(|r| !committed.contains(r)).count();
    assert_eq!(missing, 0, "rows of the reference never committed");
    eprintln!(
        "restored checkpoint {restored}: {} rows committed, {} in the reference",
        rows.len(),
        expected.values().sum::<u64>()
    );
}

/// Issue 20: a topology over two workers that keeps failing ends, once its
/// `restart_strategy` is used up, with an error that says so and why,
/// instead of restarting until someone notices. Here its follower's worker
/// is SIGKILLed twice, and one restart is allowed.
#[test]
fn a_topology_over_two_workers_fails_once_its_restart_strategy_is_used_up() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let (input, _) = repeated_corpus(cluster.dir.path(), 5);
    let name = "wc-eo-restarts";
    let dir = cluster.dir.path().join(name);
    let (checkpoints, output) = (dir.join("checkpoints"), dir.join("out"));
    std::fs::create_dir_all(&output).unwrap();
    let once = exactly_once_yaml(name, &checkpoints, &input, &output)
        .replace("attempts: 5, delay_ms: 0", "attempts: 1, delay_ms: 0");
    assert!(once.contains("attempts: 1"), "{once}");
    let file = dir.join("topology.yaml");
    std::fs::write(&file, once).unwrap();
    let out = cluster.squall(&["submit", file.to_str().unwrap(), "--workers", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for round in 0..2 {
        wait_for_log(&cluster, "sup-a", name, &format!("attempt {round}: 2 workers joined"));
        assert_ne!(
            cluster.status(name)["state"],
            "finished",
            "killed before the end: use more input"
        );
        let pid = cluster.worker_pid("sup-b", name).expect("sup-b's worker runs");
        kill(pid, "-KILL");
        if round == 0 {
            // The one restart allowed: this worker's attempt ends first.
            // After the second kill either worker may see the end first,
            // and the one that does fails the topology (the other may be
            // stopped before it logs anything).
            wait_for_log(&cluster, "sup-a", name, "attempt 0 ended");
        }
    }
    let mut status = serde_json::Value::Null;
    wait_until("the topology to fail", || {
        status = cluster.status(name);
        status["state"] == "failed"
    });
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("giving up after 1 restarts in epoch")
            && message.contains("(restart_strategy allows 1)"),
        "{status}"
    );
}

/// Every guarantee with and without checkpoints runs the word count over
/// two workers to the reference counts (`at_least_once` with checkpoints
/// runs the ackers and the checkpoints at once).
#[test]
fn every_guarantee_and_checkpoint_combination_runs_on_two_workers() {
    let cluster = Cluster::start(1, &["sup-a", "sup-b"]);
    let corpus = corpus();
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/word-count.yaml"),
    )
    .unwrap();
    let combinations = [
        ("at_most_once", false),
        ("at_most_once", true),
        ("at_least_once", false),
        ("at_least_once", true),
        ("exactly_once", true),
    ];
    for (guarantee, checkpoints) in combinations {
        let name = format!("wc-{}-{checkpoints}", guarantee.replace('_', "-"));
        let dir = cluster.dir.path().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let config = match checkpoints {
            true => format!(
                "config:\n  guarantee: {guarantee}\n  checkpoint_interval_ms: 100\n  \
                 checkpoint_dir: \"{}\"\n",
                dir.join("checkpoints").display()
            ),
            false => format!("config:\n  guarantee: {guarantee}\n"),
        };
        let yaml = example
            .replace("name: word-count", &format!("name: {name}"))
            .replace("config:", &format!("{config}  # the example's:"))
            .replace("  guarantee: ${guarantee}\n", "")
            .replace("type: count\n", "type: stateful_count\n");
        let file = dir.join("topology.yaml");
        std::fs::write(&file, yaml).unwrap();
        let output = dir.join("counts.csv");
        let out = cluster.squall(&[
            "submit",
            file.to_str().unwrap(),
            "--set",
            &format!("input={}", corpus.display()),
            "--set",
            &format!("output={}", output.display()),
            "--workers",
            "2",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let done = cluster.wait_for_state(&name, "finished");
        assert_eq!(done["restarts"].as_u64(), Some(0), "{name}: {done}");
        assert_eq!(read_counts(&output), reference(&corpus), "{name}");
    }
}
