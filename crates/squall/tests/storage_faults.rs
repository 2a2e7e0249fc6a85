//! Checkpoint storage that fails: the checkpoint folder is a tmpfs mounted
//! with a few KB and filled, so every write fails with "no space left on
//! device" (a full disk, for real). The checkpoints are declined and
//! retried while the topology goes on; once space is freed they complete
//! again and the committed output is exactly the reference. With
//! `tolerable_failed_checkpoints` the attempt fails instead, naming why.
//! With the `s3` feature, the checkpoints go to a real S3 API (moto) that
//! freezes mid-run: checkpoints are declined within
//! `tolerable_failed_checkpoints` while the topology runs on, and a failure
//! after the thaw restores a complete checkpoint from the bucket.
//!
//! A sink whose output disk is full (`TransactionalFileSink` into a
//! tmpfs with a few KB free) fails its task with an error naming the file
//! and the full disk, and commits nothing partial: what it committed is
//! the state of a completed checkpoint. Once space is freed, a run started
//! again from the newest checkpoint commits exactly the reference.
//!
//! The tmpfs tests need root (to mount a tmpfs); elsewhere they print why
//! and skip.

#[cfg(feature = "s3")]
use squall_test_support::chaos;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use squall::builtins::{GeneratorSpout, SplitWordsBolt, StatefulCountBolt, TransactionalFileSink};
use squall::topology::{Guarantee, RestartStrategy};
use squall::{Bolt, Fields, LocalCluster, Topology, TopologyBuilder};
use squall_test_support::full_disk::{newest_checkpoint, Tmpfs};

const LINES: [&str; 3] = ["to be or not to be", "that is the question", "the rest is silence"];

/// An exactly-once word count of `limit` generated lines at `rate` lines/s,
/// with `split` as its splitting bolt, checkpointing into `checkpoints` (a
/// folder or URL) every 50 ms, committing into `out`; no restart.
fn word_count(
    checkpoints: &str,
    out: &Path,
    limit: u64,
    rate: u64,
    split: impl Bolt + Clone,
) -> TopologyBuilder {
    let lines = LINES.iter().map(|l| l.to_string()).collect();
    let mut b = TopologyBuilder::new("full-disk");
    b.set_spout("lines", GeneratorSpout::sentences(rate).with_lines(lines).with_limit(limit), 1);
    b.set_bolt("split", split, 1).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", TransactionalFileSink::new(out).unwrap().bolt(), 1)
        .shuffle_grouping("count");
    let c = b.config_mut();
    c.guarantee = Guarantee::ExactlyOnce;
    c.checkpoint_interval_ms = 50;
    c.checkpoint_dir = Some(checkpoints.to_string());
    c.restart_strategy = RestartStrategy::None;
    b
}

/// [`word_count`] into the folder `checkpoints`, with `tolerable` failed
/// checkpoints in a row.
fn on_disk(
    checkpoints: &Path,
    out: &Path,
    limit: u64,
    rate: u64,
    tolerable: Option<u32>,
) -> Topology {
    let split = SplitWordsBolt::new("line");
    let mut b = word_count(checkpoints.to_str().unwrap(), out, limit, rate, split);
    b.config_mut().tolerable_failed_checkpoints = tolerable;
    b.build().unwrap()
}

/// The highest count committed per word in `out`'s part files.
fn committed(out: &Path) -> BTreeMap<String, i64> {
    let mut max = BTreeMap::new();
    for (w, n) in committed_rows(out) {
        let e = max.entry(w).or_insert(0);
        *e = (*e).max(n);
    }
    max
}

/// The counts `limit` generated lines make (line `i` is `LINES[i % 3]`).
fn reference(limit: u64) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for i in 0..limit {
        for word in LINES[(i % 3) as usize].split(' ') {
            *counts.entry(word.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_full_checkpoint_disk_declines_checkpoints_while_the_topology_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (mnt, out) = (dir.path().join("checkpoints"), dir.path().join("out"));
    std::fs::create_dir(&out).unwrap();
    let Some(disk) = Tmpfs::mount(&mnt, 64) else { return };
    let filler = disk.fill();
    let limit = 30_000;
    let running = LocalCluster::submit(on_disk(&mnt, &out, limit, 6_000, None)).unwrap();
    // A third of the input goes through while no checkpoint can be written:
    // the topology runs on, nothing completes, nothing is committed.
    wait_until("a third of the input", || {
        running.metrics().component("lines").is_some_and(|m| m.emitted >= limit / 3)
    });
    assert!(!running.is_finished(), "the topology stopped on a full disk");
    assert!(running.checkpoints().is_empty(), "a checkpoint completed on a full disk");
    assert!(committed(&out).is_empty(), "output committed without a checkpoint");
    // Space again: the next checkpoints complete, and the output is exact.
    std::fs::remove_file(&filler).unwrap();
    wait_until("a checkpoint after the disk has room", || !running.checkpoints().is_empty());
    let summary = running.join().unwrap();
    assert!(!summary.checkpoints.is_empty());
    assert_eq!(committed(&out), reference(limit));
}

#[test]
fn beyond_tolerable_failed_checkpoints_the_attempt_fails_naming_why() {
    let dir = tempfile::tempdir().unwrap();
    let (mnt, out) = (dir.path().join("checkpoints"), dir.path().join("out"));
    std::fs::create_dir(&out).unwrap();
    let Some(disk) = Tmpfs::mount(&mnt, 64) else { return };
    disk.fill();
    let topology = on_disk(&mnt, &out, u64::MAX, 2_000, Some(2));
    let err = LocalCluster::run(topology).unwrap_err().to_string();
    assert!(
        err.contains("3 checkpoints in a row failed (tolerable_failed_checkpoints: 2)"),
        "{err}"
    );
    assert!(err.contains("No space left on device"), "the reason names the disk: {err}");
    assert!(committed(&out).is_empty(), "nothing committed");
}

/// Every committed row `(word, n)` of `out`'s part files, sorted.
fn committed_rows(out: &Path) -> Vec<(String, i64)> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let (w, n) = line.rsplit_once(',').unwrap();
            rows.push((w.trim_matches('"').to_string(), n.parse::<i64>().unwrap()));
        }
    }
    rows.sort();
    rows
}

/// `(word, 1..=count)` for every word of `counts`, sorted: each update once.
fn each_update_once(counts: &BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> =
        counts.iter().flat_map(|(w, &c)| (1..=c).map(move |n| (w.clone(), n))).collect();
    rows.sort();
    rows
}

#[test]
fn a_full_output_disk_fails_the_sink_naming_the_file_and_a_resumed_run_commits_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (checkpoints, mnt) = (dir.path().join("checkpoints"), dir.path().join("disk"));
    let Some(disk) = Tmpfs::mount(&mnt, 1024) else { return };
    let out = mnt.join("out");
    std::fs::create_dir(&out).unwrap();
    // Room for about 6 000 rows (1 300 lines) of the 20 000 lines' 93 000.
    let filler = disk.fill_leaving(64 * 1024);
    let limit = 20_000;
    let split = SplitWordsBolt::new("line");
    let first = word_count(checkpoints.to_str().unwrap(), &out, limit, 5_000, split.clone());
    let err = LocalCluster::run(first.build().unwrap()).unwrap_err().to_string();
    assert!(err.contains("component 'sink'"), "the sink's task failed: {err}");
    assert!(err.contains(&format!("{}/.part-0-", out.display())), "names the file: {err}");
    assert!(err.contains("No space left on device"), "names the full disk: {err}");
    // Nothing partial: no pending file is left, and what is committed is
    // the state of one checkpoint, the counts of a prefix of the input
    // (line i is LINES[i % 3]), each update once.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n.starts_with("part-")), "{names:?}");
    let rows = committed_rows(&out);
    let counts = committed(&out);
    // "question" is on line i when i % 3 == 1: (m + 1) / 3 times in m lines.
    let q: u64 = counts.get("question").map_or(0, |&n| n as u64);
    let prefix = ((3 * q).saturating_sub(1)..=3 * q + 1).find(|&m| reference(m) == counts);
    assert!(prefix.is_some_and(|m| m < limit), "not the state of a checkpoint: {counts:?}");
    assert_eq!(rows, each_update_once(&counts), "an update committed twice or lost");
    // Room again: the run resumed from its newest checkpoint commits the
    // rest, and the whole output is the reference, each update once.
    std::fs::remove_file(&filler).unwrap();
    let newest = newest_checkpoint(&checkpoints.join("full-disk")).expect("a completed checkpoint");
    let second = word_count(checkpoints.to_str().unwrap(), &out, limit, 20_000, split);
    let resumed = second.build().unwrap().restore_from(newest.to_str().unwrap()).unwrap();
    LocalCluster::run(resumed).unwrap();
    assert_eq!(committed(&out), reference(limit));
    assert!(committed_rows(&out) == each_update_once(&reference(limit)), "not each update once");
}

/// The S3 server freezes (SIGSTOP) mid-run, while checkpoints are being
/// uploaded, for longer than `checkpoint_timeout_ms`: the checkpoints in
/// flight are declined (their ids never complete) within
/// `tolerable_failed_checkpoints`, the topology runs on, and once the server
/// thaws checkpoints complete again. A task failure after the thaw restores
/// the newest complete checkpoint from the bucket, and the output is exact:
/// nothing partial was restored or committed.
#[cfg(feature = "s3")]
#[test]
fn an_s3_server_that_freezes_mid_run_declines_checkpoints_and_the_output_stays_exact() {
    use std::sync::atomic::Ordering;

    let moto = squall_test_support::moto::Moto::start();
    moto.set_env();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let (limit, rate) = (80_000, 5_000);
    // The split task panics once, on a line from the 65 000th on: well after
    // the thaw (the server freezes from line 10 000 to past line 25 000).
    let split =
        chaos::Chaos::at_counts_after_checkpoints(SplitWordsBolt::new("line"), vec![65_000]);
    let killed = split.killed_flag();
    let mut b = word_count("s3://squall/faults", &out, limit, rate, split);
    let c = b.config_mut();
    c.checkpoint_timeout_ms = 1_000;
    c.tolerable_failed_checkpoints = Some(5);
    c.restart_strategy = RestartStrategy::FixedDelay { attempts: 2, delay_ms: 0 };
    let running = LocalCluster::submit(b.build().unwrap()).unwrap();
    let emitted = || running.metrics().component("lines").map_or(0, |m| m.emitted);
    let completed = || running.checkpoints().iter().map(|c| c.id).collect::<Vec<_>>();

    wait_until("a checkpoint and 10 000 lines", || !completed().is_empty() && emitted() >= 10_000);
    moto.pause();
    let (frozen, lines, last) = (Instant::now(), emitted(), completed().last().copied().unwrap());
    // Frozen for 3 s at least (three checkpoint timeouts), while 15 000
    // lines go through: the topology does not wait for its storage.
    wait_until("15 000 lines with the server frozen", || {
        emitted() >= lines + 15_000 && frozen.elapsed() >= Duration::from_secs(3)
    });
    assert!(!running.is_finished(), "the topology stopped while its storage was away");
    let during = completed().into_iter().filter(|&id| id > last).count();
    let frozen_for = frozen.elapsed();
    moto.resume();

    let mut after = Vec::new();
    wait_until("two checkpoints after the thaw", || {
        after = completed().into_iter().filter(|&id| id > last).collect();
        after.len() >= during + 2
    });
    assert!(!killed.load(Ordering::SeqCst), "the task failed before the thaw was seen: more input");
    // Checkpoint ids are consecutive but for those that never completed.
    let declined: Vec<u64> =
        (last + 1..*after.last().unwrap()).filter(|id| !after.contains(id)).collect();
    assert!(!declined.is_empty(), "no checkpoint was declined while S3 was frozen: {after:?}");
    let summary = running.join().expect("the topology ends well: the declines were tolerated");
    assert!(killed.load(Ordering::SeqCst), "the split task failed once and was restored");
    assert_eq!(committed(&out), reference(limit));
    eprintln!(
        "S3 frozen {:.1} s: {during} checkpoints completed meanwhile, {} declined ({declined:?}), \
         {} completed in the run",
        frozen_for.as_secs_f64(),
        declined.len(),
        summary.checkpoints.len()
    );
}
