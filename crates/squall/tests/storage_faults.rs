//! Checkpoint storage that fails: the checkpoint folder is a tmpfs mounted
//! with a few KB and filled, so every write fails with "no space left on
//! device" (a full disk, for real). The checkpoints are declined and
//! retried while the topology goes on; once space is freed they complete
//! again and the committed output is exactly the reference. With
//! `tolerable_failed_checkpoints` the attempt fails instead, naming why.
//!
//! Needs root (to mount a tmpfs); elsewhere it prints why and skips.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use squall::builtins::{GeneratorSpout, SplitWordsBolt, StatefulCountBolt, TransactionalFileSink};
use squall::topology::{Guarantee, RestartStrategy};
use squall::{Fields, LocalCluster, Topology, TopologyBuilder};

const LINES: [&str; 3] = ["to be or not to be", "that is the question", "the rest is silence"];

/// A tmpfs of `kb` KB on `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts it; `None` when this process may not mount.
    fn mount(dir: &Path, kb: u32) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let size = format!("size={kb}k");
        let out =
            Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(dir).output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                eprintln!("skipped: cannot mount a tmpfs: {}", String::from_utf8_lossy(&o.stderr));
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    /// Fills it with one file until a write fails for lack of space;
    /// returns the file.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 512];
        loop {
            match f.write_all(&block).and_then(|()| f.flush()) {
                Ok(()) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
                    return path;
                }
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// An exactly-once word count of `limit` generated lines at `rate` lines/s,
/// checkpointing into `checkpoints` every 50 ms, committing into `out`.
fn word_count(
    checkpoints: &Path,
    out: &Path,
    limit: u64,
    rate: u64,
    tolerable: Option<u32>,
) -> Topology {
    let lines = LINES.iter().map(|l| l.to_string()).collect();
    let mut b = TopologyBuilder::new("full-disk");
    b.set_spout("lines", GeneratorSpout::sentences(rate).with_lines(lines).with_limit(limit), 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("sink", TransactionalFileSink::new(out).unwrap().bolt(), 1)
        .shuffle_grouping("count");
    let c = b.config_mut();
    c.guarantee = Guarantee::ExactlyOnce;
    c.checkpoint_interval_ms = 50;
    c.checkpoint_dir = Some(checkpoints.display().to_string());
    c.tolerable_failed_checkpoints = tolerable;
    c.restart_strategy = RestartStrategy::None;
    b.build().unwrap()
}

/// The highest count committed per word in `out`'s part files.
fn committed(out: &Path) -> BTreeMap<String, i64> {
    let mut max = BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let (w, n) = line.rsplit_once(',').unwrap();
            let e = max.entry(w.trim_matches('"').to_string()).or_insert(0);
            *e = (*e).max(n.parse::<i64>().unwrap());
        }
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
    let running = LocalCluster::submit(word_count(&mnt, &out, limit, 6_000, None)).unwrap();
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
    let topology = word_count(&mnt, &out, u64::MAX, 2_000, Some(2));
    let err = LocalCluster::run(topology).unwrap_err().to_string();
    assert!(
        err.contains("3 checkpoints in a row failed (tolerable_failed_checkpoints: 2)"),
        "{err}"
    );
    assert!(err.contains("No space left on device"), "the reason names the disk: {err}");
    assert!(committed(&out).is_empty(), "nothing committed");
}
