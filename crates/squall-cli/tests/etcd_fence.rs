//! The cluster's fence and its records on a real etcd (issue 20): a frozen
//! etcd is "unknown", never "stale"; only a replaced assignment is stale;
//! recording again after a lost answer records once; an assignment key
//! that already holds the next epoch is not deleted by a look taken at the
//! previous one; concurrent status updates lose nothing (so epochs never
//! go back). Needs `etcd` on the PATH (`scripts/setup.sh`).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use squall::runtime::CheckpointFence;
use squall_cluster::fence::EtcdFence;
use squall_cluster::store::{Assignment, Store, TopologyRecord, TopologyStatus};
use support::Cluster;

/// The configuration of a client of `cluster`'s etcd under `namespace`.
fn config_of(cluster: &Cluster, namespace: &str) -> squall_cluster::ClusterConfig {
    squall_cluster::ClusterConfig {
        etcd_endpoints: vec![cluster.etcd_url.clone()],
        namespace: namespace.into(),
        ..Default::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

fn assignment(epoch: u64) -> Assignment {
    Assignment {
        topology: TopologyRecord {
            name: "fenced".into(),
            yaml: String::new(),
            overrides: Vec::new(),
            tasks: 1,
            workers: 1,
            binary: None,
        },
        supervisor: "sup-a".into(),
        slot: 0,
        tasks: vec![0],
        workers: 1,
        epoch,
    }
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// The state letter of process `pid` (`T`: stopped, `Z`: exited).
fn state(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ").map(|(_, rest)| rest[..1].to_string()).unwrap_or_default()
}

#[test]
fn a_frozen_etcd_is_unknown_not_stale_and_only_a_new_epoch_fences_a_copy() {
    let cluster = Cluster::start(0, &[]);
    let rt = runtime();
    let store = rt.block_on(Store::connect(&config_of(&cluster, "/fence-test"))).unwrap();
    let key = "assignments/sup-a/fenced";
    rt.block_on(store.put(key, &assignment(1), None)).unwrap();
    let patience = Duration::from_secs(3);
    let fence =
        rt.block_on(EtcdFence::new(&store, &assignment(1))).unwrap().with_patience(patience);
    assert!(rt.block_on(fence.is_current()).unwrap());
    assert!(rt.block_on(fence.record_completed(1)).unwrap());

    // etcd frozen: no answer is not a refusal.
    let pid = cluster.etcd.id();
    signal(pid, "-STOP");
    support::wait_until("etcd to be stopped", || state(pid) == "T");
    let asked = Instant::now();
    let check = rt.block_on(fence.is_current());
    let record = rt.block_on(fence.record_completed(2));
    let frozen = state(pid);
    signal(pid, "-CONT");
    let waited = asked.elapsed();
    assert_eq!(frozen, "T", "etcd ran while it was asked");
    let check = check.expect_err("a frozen etcd cannot say current").to_string();
    assert!(check.contains("no answer from etcd"), "{check}");
    let record = record.expect_err("a frozen etcd cannot say recorded").to_string();
    assert!(record.contains("recording checkpoint 2"), "{record}");
    assert!(waited >= patience * 2 - Duration::from_secs(1), "asked again for {waited:?}");

    // Back: the same copy is current, and recording 2 again (its first
    // answer was lost, whether or not it was written) records it once.
    assert!(rt.block_on(fence.is_current()).unwrap());
    assert!(rt.block_on(fence.record_completed(2)).unwrap());
    assert!(rt.block_on(fence.record_completed(2)).unwrap());
    assert_eq!(rt.block_on(fence.completed()).unwrap(), [1, 2]);

    // Nimbus moves the topology: epoch 2 under the same key. A delete
    // meant for epoch 1 leaves it alone.
    assert!(rt.block_on(store.delete_assignment("sup-a/fenced", 1)).unwrap());
    rt.block_on(store.put(key, &assignment(2), None)).unwrap();
    assert!(!rt.block_on(store.delete_assignment("sup-a/fenced", 1)).unwrap());
    let held: Assignment = rt.block_on(store.get(key)).unwrap().expect("epoch 2 kept");
    assert_eq!(held.epoch, 2);

    // Now, and only now, the old copy is stale: said, not timed out.
    assert!(!rt.block_on(fence.is_current()).unwrap());
    assert!(!rt.block_on(fence.record_completed(3)).unwrap());
    let new = rt.block_on(EtcdFence::new(&store, &assignment(2))).unwrap();
    assert!(rt.block_on(new.record_completed(3)).unwrap());
    assert_eq!(rt.block_on(new.completed()).unwrap(), [1, 2, 3]);
    let stale = rt.block_on(EtcdFence::new(&store, &assignment(1))).unwrap_err().to_string();
    assert!(stale.contains("holds epoch 2, not 1"), "{stale}");
}

#[test]
fn concurrent_status_updates_lose_nothing() {
    let cluster = Cluster::start(0, &[]);
    let rt = runtime();
    let store = rt.block_on(Store::connect(&config_of(&cluster, "/status-test"))).unwrap();
    let writers = 24;
    rt.block_on(async {
        let updates = (0..writers).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.update_status("t", |s| s.restarts += 1).await })
        });
        for done in futures_join(updates).await {
            done.unwrap().unwrap();
        }
    });
    let status: TopologyStatus = rt.block_on(store.get("status/t")).unwrap().unwrap();
    assert_eq!(status.restarts, writers, "every read-modify-write counted once");
}

/// Awaits every handle, in order.
async fn futures_join<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await);
    }
    out
}
