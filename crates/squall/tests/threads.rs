//! A local run leaves no thread behind: when `LocalCluster::run` returns,
//! its executor threads have exited (joined), so that a program running
//! topologies one after another (a test suite, a fuzzer: the `csv_spout`
//! fuzz target's leak report was threads still exiting) does not pile them
//! up. Alone in its binary, so that no other test's threads are counted.

use squall::builtins::{GeneratorSpout, SplitWordsBolt};
use squall::{LocalCluster, TopologyBuilder};

/// Threads of this process named `squall-executor` (the runtime's).
fn executor_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "squall-executor")
        .count()
}

#[test]
fn a_finished_local_run_has_joined_its_executor_threads() {
    assert_eq!(executor_threads(), 0);
    for run in 0..20 {
        let mut b = TopologyBuilder::new("threads");
        b.set_spout("lines", GeneratorSpout::sentences(0).with_limit(100), 1);
        b.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
        b.config_mut().worker_threads = 4;
        let summary = LocalCluster::run(b.build().unwrap()).unwrap();
        assert_eq!(summary.metrics.component("lines").unwrap().emitted, 100);
        assert_eq!(executor_threads(), 0, "run {run}: executor threads still alive after run");
    }
}
