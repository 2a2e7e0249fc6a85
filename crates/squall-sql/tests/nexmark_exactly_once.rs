//! Nexmark queries exactly-once with a keyed task failing at a random
//! record (the seed is printed; `SQUALL_FAIL_SEED` replays it): the
//! topology restarts from its last checkpoint and the committed output
//! equals DuckDB's (q5's HOP count, q6, q10, q11, q19). Helpers in
//! `common`.

mod common;

use common::{
    duck_hop_count, duck_sessions, duckdb, query_file, slowed_ddl, squall_partitioned, squall_with,
    HOP_COUNT, Q10_DUCKDB, Q19_DUCKDB, Q6_DUCKDB, Q6_TOP1_DUCKDB,
};
use squall_test_support::duckdb::{compare, upserted};

/// Fails its bolt once, on the `after`-th tuple of the first task that gets
/// there, across restarts.
struct FailOnce {
    inner: Box<dyn squall::Bolt>,
    seen: u64,
    after: u64,
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl squall::Bolt for FailOnce {
    fn declare_outputs(&self, d: &mut squall::topology::OutputDeclarer) {
        self.inner.declare_outputs(d)
    }
    fn prepare(&mut self, c: &squall::TopologyContext) -> squall::Result<()> {
        self.inner.prepare(c)
    }
    fn execute(&mut self, t: squall::Tuple, c: &mut squall::OutputCollector) -> squall::Result<()> {
        self.seen += 1;
        if self.seen == self.after && !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(squall::Error::TaskFailed("injected failure".into()));
        }
        self.inner.execute(t, c)
    }
    fn on_watermark(&mut self, w: i64, c: &mut squall::OutputCollector) -> squall::Result<()> {
        self.inner.on_watermark(w, c)
    }
    fn tick_interval(&self) -> Option<std::time::Duration> {
        self.inner.tick_interval()
    }
    fn on_tick(&mut self, now: i64, c: &mut squall::OutputCollector) -> squall::Result<()> {
        self.inner.on_tick(now, c)
    }
    fn finish(&mut self, c: &mut squall::OutputCollector) -> squall::Result<()> {
        self.inner.finish(c)
    }
    fn snapshot_state(&mut self, id: u64) -> squall::Result<()> {
        self.inner.snapshot_state(id)
    }
    fn on_checkpoint_complete(&mut self, id: u64) -> squall::Result<()> {
        self.inner.on_checkpoint_complete(id)
    }
    fn cleanup(&mut self) {
        self.inner.cleanup()
    }
    fn ack_mode(&self) -> squall::AckMode {
        self.inner.ack_mode()
    }
}

/// Runs `query` exactly-once with checkpoints every 100 ms, the source
/// slowed to about 2 s; the first keyed operator (`process...`) fails once,
/// at a random tuple up to its `after`-th, and the topology restarts from
/// its last checkpoint. Returns the committed rows.
fn exactly_once_with_one_failure(query: &str, after: u64) -> Vec<Vec<String>> {
    // The failure comes at a random record of a keyed task, in
    // [after / 4, after]; the seed is printed, `SQUALL_FAIL_SEED` replays it.
    let seed: u64 =
        std::env::var("SQUALL_FAIL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            u64::from(now.subsec_nanos())
        });
    let after = after / 4 + seed % (after - after / 4 + 1);
    eprintln!("injected failure at record {after} of a keyed task (SQUALL_FAIL_SEED={seed})");
    let (s, failed, _checkpoints) = failing_once(|id| id.starts_with("process"), after);
    let ddl = slowed_ddl();
    let ours = squall_with(&ddl, query, 2, s);
    assert!(failed.load(std::sync::atomic::Ordering::SeqCst), "the failure was not injected");
    ours
}

/// A session running exactly-once with checkpoints every 100 ms (into the
/// returned folder) and up to 3 restarts, where the first task of a
/// component `wrapped` names fails once at its `after`-th tuple (the flag
/// says it did).
fn failing_once(
    wrapped: impl Fn(&str) -> bool + Send + Sync + 'static,
    after: u64,
) -> (squall_sql::Session, std::sync::Arc<std::sync::atomic::AtomicBool>, tempfile::TempDir) {
    let checkpoints = tempfile::tempdir().unwrap();
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = failed.clone();
    let mut s = squall_sql::Session::new();
    s.set("guarantee", "exactly_once").unwrap();
    s.set("checkpoint_interval_ms", "100").unwrap();
    s.set("checkpoint_dir", checkpoints.path().to_str().unwrap()).unwrap();
    s.config.restart_strategy =
        serde_yaml_ng::from_str("{type: fixed_delay, attempts: 3, delay_ms: 50}").unwrap();
    s.wrap = Some(std::sync::Arc::new(
        move |id: &str, b: Box<dyn squall::Bolt>| -> Box<dyn squall::Bolt> {
            if wrapped(id) {
                Box::new(FailOnce { inner: b, seen: 0, after, failed: f.clone() })
            } else {
                b
            }
        },
    ));
    (s, failed, checkpoints)
}

#[test]
fn exactly_once_window_aggregate_with_a_failure_equals_duckdb() {
    // The q5 HOP count; the window aggregate fails once mid-run (at a
    // random record up to its 5000th: it receives each batch's rows folded
    // per auction and window, over 30 000 records in all where it took
    // 230 000 unfolded).
    // The committed part files hold DuckDB's result exactly.
    let ours = exactly_once_with_one_failure(HOP_COUNT, 5_000);
    let theirs = duck_hop_count();
    compare("exactly-once hop count", ours, theirs);
}

#[test]
fn exactly_once_top_n_with_a_failure_restores_its_ranking() {
    // q19 exactly-once: the Top-N fails once mid-run and resumes from the
    // ranking in its last checkpoint; the committed changelog folds to
    // DuckDB's table.
    let changelog = exactly_once_with_one_failure(&query_file("q19.sql"), 20_000);
    compare("exactly-once q19", upserted(changelog), duckdb(Q19_DUCKDB));
}

#[test]
fn exactly_once_sessions_with_a_failure_equal_duckdb() {
    // q11 exactly-once: the session aggregate fails once mid-run and
    // resumes from the open sessions in its last checkpoint.
    let ours = exactly_once_with_one_failure(&query_file("q11.sql"), 20_000);
    let theirs = duckdb(&format!(
        "SELECT bidder, n, starttime, endtime FROM ({})",
        duck_sessions(10_000, "")
    ));
    compare("exactly-once q11", ours, theirs);
}

#[test]
fn exactly_once_q6_with_a_failure_restores_its_over_state() {
    // The keyed operators (join, Top-1, OVER aggregate) resume from their
    // last checkpoint after a failure; the committed changelog folds to
    // DuckDB's table.
    let changelog = exactly_once_with_one_failure(&query_file("q6.sql"), 20_000);
    compare(
        "exactly-once q6",
        upserted(changelog),
        duckdb(&format!("{Q6_DUCKDB}{Q6_TOP1_DUCKDB}")),
    );
}

#[test]
fn q10_exactly_once_partition_files_commit_with_checkpoints() {
    // With checkpoints every 100 ms over a ~2 s run, each second's folder
    // gets part files as checkpoints complete; none is left pending and
    // the rows are DuckDB's exactly once.
    // The operator before the sink fails once at its 8th batch; the run
    // restarts from the last checkpoint and the sink discards what that
    // checkpoint does not cover, in every partition folder.
    let (s, failed, _checkpoints) =
        failing_once(|id| id.starts_with("sink-") && id.contains("-rows"), 8);
    let ddl = slowed_ddl();
    let by_second = query_file("q10.sql").replace("'HH:mm')", "'HH:mm:ss')");
    let (ours, _) = squall_partitioned(&ddl, &by_second, s);
    assert!(failed.load(std::sync::atomic::Ordering::SeqCst), "the failure was not injected");
    compare("q10 exactly-once", ours, duckdb(&Q10_DUCKDB.replace("'%H:%M'", "'%H:%M:%S'")));
}
