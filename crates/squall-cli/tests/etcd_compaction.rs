//! etcd stays small while a checkpointed topology runs
//! (`squall_cluster::compaction`): the leading nimbus compacts etcd's
//! history, and deletes the records of attempts before the previous one,
//! while an exactly-once word count over two workers takes a checkpoint
//! every 200 ms and has its worker SIGKILLed three times. etcd is read
//! through its own JSON gateway (`/v3/...`), not through Squall.
//!
//! Needs `etcd` on PATH and the corpus in `data/shakespeare`.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use base64::Engine as _;
use support::*;

const NAME: &str = "wc-compacted";

/// etcd's JSON gateway on `url`.
struct Etcd {
    url: String,
    http: reqwest::blocking::Client,
}

impl Etcd {
    fn call(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let resp = self.http.post(format!("{}/v3/{path}", self.url)).json(&body).send().unwrap();
        resp.json().unwrap()
    }

    fn revision(&self) -> i64 {
        let status = self.call("maintenance/status", serde_json::json!({}));
        status["header"]["revision"].as_str().unwrap().parse().unwrap()
    }

    /// Keys under `prefix` (keys only).
    fn keys(&self, prefix: &str) -> Vec<String> {
        let mut end = prefix.as_bytes().to_vec();
        *end.last_mut().unwrap() += 1;
        let body = serde_json::json!({"key": b64(prefix.as_bytes()), "range_end": b64(&end), "keys_only": true});
        let resp = self.call("kv/range", body);
        let kvs = resp["kvs"].as_array().cloned().unwrap_or_default();
        kvs.iter().map(|kv| unb64(kv["key"].as_str().unwrap())).collect()
    }

    fn get(&self, key: &str) -> Option<String> {
        let resp = self.call("kv/range", serde_json::json!({"key": b64(key.as_bytes())}));
        resp["kvs"].as_array()?.first().map(|kv| unb64(kv["value"].as_str().unwrap()))
    }

    /// etcd's answer to a read of `key` at `revision`: the error message,
    /// if any.
    fn read_at(&self, key: &str, revision: i64) -> Option<String> {
        let body = serde_json::json!({"key": b64(key.as_bytes()), "revision": revision});
        let resp = self.call("kv/range", body);
        resp["message"].as_str().or(resp["error"].as_str()).map(str::to_string)
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> String {
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(text).unwrap()).unwrap()
}

#[test]
fn the_leader_compacts_history_and_forgets_old_attempts_while_a_checkpointed_run_stays_exact() {
    let env = vec![("SQUALL__NIMBUS__ETCD_COMPACTION_MS".to_string(), "1000".to_string())];
    let cluster = Cluster::start_in(tempfile::tempdir().unwrap(), env, 1, &["sup-a", "sup-b"], &[]);
    let etcd = Etcd { url: cluster.etcd_url.clone(), http: reqwest::blocking::Client::new() };
    let (input, expected) = repeated_corpus(cluster.dir.path(), 5);
    let (checkpoints, output) = cluster.submit_exactly_once(NAME, &input, &["--workers", "2"]);
    cluster.wait_for_state(NAME, "running");
    let epoch = cluster.status(NAME)["epoch"].as_u64().unwrap();
    let attempt_key = format!("/squall/attempt/{NAME}/{epoch}");
    let attempt = || etcd.get(&attempt_key).map_or(0, |v| v.parse::<u64>().unwrap());
    let submitted_at = etcd.revision();

    // Three restarts of the whole topology: attempts 1, 2, 3.
    for round in 1..=3u64 {
        let before = completed_checkpoints(&checkpoints).last().copied().unwrap_or(0);
        wait_until("a new completed checkpoint", || {
            completed_checkpoints(&checkpoints).last().is_some_and(|&id| id > before)
        });
        assert_ne!(
            cluster.status(NAME)["state"],
            "finished",
            "killed after the end: use more input"
        );
        let mut pid = None;
        wait_until("sup-b's worker", || {
            pid = cluster.worker_pid("sup-b", NAME);
            pid.is_some()
        });
        let killed = Command::new("kill").args(["-KILL", &pid.unwrap().to_string()]).status();
        assert!(killed.unwrap().success());
        wait_until(&format!("attempt {round}"), || attempt() >= round);
    }

    // The history before the submission is compacted away ...
    wait_until("the history compacted past the submission", || {
        etcd.read_at("/squall/status", submitted_at).is_some_and(|e| e.contains("compacted"))
    });
    // ... and of the attempts' records only the current one and the one
    // before it stay (the current one is written while the run restores).
    let run_dir = format!("/squall/run/{NAME}/{epoch}/");
    let attempts_kept = || -> BTreeSet<u64> {
        etcd.keys(&run_dir)
            .iter()
            .map(|k| k[run_dir.len()..].split('/').next().unwrap().parse().unwrap())
            .collect()
    };
    wait_until("attempts before the previous one forgotten", || {
        let now = attempt();
        attempts_kept().iter().all(|&a| a + 1 >= now)
    });
    let (now, kept) = (attempt(), attempts_kept());
    assert!(now >= 3 && !kept.is_empty() && kept.iter().all(|&a| a + 1 >= now), "{now}: {kept:?}");

    let done = cluster.wait_for_state(NAME, "finished");
    assert!(done["restarts"].as_u64().unwrap() >= 1, "{done}");
    let (rows, want) = (committed_rows(&output), expected_rows(&expected));
    assert!(rows == want, "{} rows committed, {} expected", rows.len(), want.len());
    // One report per worker (the metrics route's and the web UI's), however
    // long it ran, and no second record beside it.
    let keys = etcd.keys(&format!("/squall/metrics/{NAME}/"));
    assert_eq!(keys.len(), 2, "metrics: {keys:?}");
    assert!(etcd.keys(&format!("/squall/ui/{NAME}/")).is_empty());
}
