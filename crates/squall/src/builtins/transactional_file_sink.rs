//! [`TransactionalFileSink`]: CSV part files that appear only when the
//! checkpoint covering them completes — the exactly-once file sink, built
//! on [`TwoPhaseCommitSink`] (Flink's `FileSink` with its pending and
//! finished part files).
//!
//! Owns the part files of one output folder: naming, pending files,
//! renames. The protocol (when to pre-commit and commit) is
//! [`TwoPhaseCommitBolt`]'s.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::stdout_sink::write_values;
use crate::checkpoint::two_phase::owner;
use crate::checkpoint::{TwoPhaseCommitBolt, TwoPhaseCommitSink, END_OF_RUN};
use crate::error::{Error, Result};
use crate::model::Tuple;
use crate::topology::TopologyContext;

/// One transaction: a pending file, and the part file it becomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartFile {
    /// Name of the pending file in the folder (hidden: starts with `.`).
    pub pending: String,
    /// Name of the part file once committed; `None` for an empty
    /// transaction, which commits to nothing.
    pub part: Option<String>,
}

/// Writes each input tuple as a CSV row (values by their `Display` form, no
/// header) into part files in a folder. With checkpoints, the rows between
/// barriers n-1 and n go to `part-<task>-<n>.csv`, which appears (by
/// rename from a hidden `.part-<task>-<random>.pending` file) only when
/// checkpoint n completes; rows after the last checkpoint appear as
/// `part-<task>-end.csv` when the run ends. After a failure, pending files
/// that no completed checkpoint lists are deleted (task i of p deletes those
/// of every task index j with `j % p == i`, so that a run restored at a
/// smaller parallelism leaves none behind): the folder's part files hold
/// every input exactly once.
///
/// Wrap it with [`TransactionalFileSink::bolt`] to use it in a topology.
///
/// # Examples
/// ```no_run
/// use squall::builtins::{GeneratorSpout, TransactionalFileSink};
/// use squall::TopologyBuilder;
///
/// let mut builder = TopologyBuilder::new("save");
/// builder.set_spout("lines", GeneratorSpout::sentences(0).with_limit(3), 1);
/// builder
///     .set_bolt("save", TransactionalFileSink::new("out/")?.bolt(), 1)
///     .shuffle_grouping("lines");
/// # Ok::<(), squall::Error>(())
/// ```
#[derive(Debug)]
pub struct TransactionalFileSink {
    dir: PathBuf,
    task: usize,
    parallelism: usize,
    writer: Option<csv::Writer<BufWriter<File>>>,
    rows: u64,
    field: String,
}

impl Clone for TransactionalFileSink {
    /// A fresh copy with no file open.
    fn clone(&self) -> Self {
        TransactionalFileSink::at(self.dir.clone())
    }
}

impl TransactionalFileSink {
    /// A sink writing part files into the folder `dir`, created with its
    /// parents when the sink opens if missing (as Flink's `FileSink`
    /// creates its base path).
    ///
    /// # Errors
    /// [`Error::Config`] naming `dir` if it, or the nearest of its parents
    /// that exists, is not a folder.
    pub fn new(dir: impl Into<PathBuf>) -> Result<TransactionalFileSink> {
        let dir = dir.into();
        if let Some(file) = dir.ancestors().find(|a| a.exists()).filter(|a| !a.is_dir()) {
            return Err(Error::config(format!(
                "transactional file sink: output folder '{}': '{}' is not a folder",
                dir.display(),
                file.display()
            )));
        }
        Ok(TransactionalFileSink::at(dir))
    }

    fn at(dir: PathBuf) -> TransactionalFileSink {
        TransactionalFileSink {
            dir,
            task: 0,
            parallelism: 1,
            writer: None,
            rows: 0,
            field: String::new(),
        }
    }

    /// This sink inside the bolt that drives its transactions.
    pub fn bolt(self) -> TwoPhaseCommitBolt<TransactionalFileSink> {
        TwoPhaseCommitBolt::new(self)
    }

    /// The output folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, name: &str, e: std::io::Error) -> Error {
        Error::io(self.dir.join(name), e)
    }

    /// Whether `name` is a pending file that this task owns: written by a
    /// task whose index j has [`owner`]`(j, parallelism)` equal to this
    /// task's.
    fn is_own_pending(&self, name: &str) -> bool {
        let Some(rest) = name.strip_prefix(".part-") else { return false };
        let writer = rest.split_once('-').and_then(|(task, _)| task.parse::<usize>().ok());
        name.ends_with(".pending")
            && writer.is_some_and(|j| owner(j, self.parallelism) == self.task)
    }
}

impl TwoPhaseCommitSink for TransactionalFileSink {
    type Transaction = PartFile;

    fn open(&mut self, context: &TopologyContext) -> Result<()> {
        self.task = context.task_index();
        self.parallelism = context.parallelism();
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))
    }

    /// # Errors
    /// [`Error::Io`] naming the file if it cannot be created.
    fn begin_transaction(&mut self) -> Result<PartFile> {
        let pending = format!(".part-{}-{:016x}.pending", self.task, rand::random::<u64>());
        let file = File::create(self.dir.join(&pending)).map_err(|e| self.io(&pending, e))?;
        self.writer = Some(
            csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(BufWriter::with_capacity(256 * 1024, file)),
        );
        self.rows = 0;
        Ok(PartFile { pending, part: None })
    }

    /// # Errors
    /// [`Error::Io`] naming the pending file if writing fails.
    fn invoke(&mut self, txn: &mut PartFile, input: Tuple) -> Result<()> {
        let writer = self.writer.as_mut().expect("a transaction is open");
        self.rows += 1;
        write_values(writer, &mut self.field, &input)
            .map_err(|e| Error::Other(format!("{}: {e}", self.dir.join(&txn.pending).display())))
    }

    /// Flushes and syncs the pending file and names its part file.
    ///
    /// # Errors
    /// [`Error::Io`] naming the pending file if flushing fails.
    fn pre_commit(&mut self, txn: &mut PartFile, checkpoint_id: u64) -> Result<()> {
        let writer = self.writer.take().expect("a transaction is open");
        let mut inner = writer
            .into_inner()
            .map_err(|e| self.io(&txn.pending, std::io::Error::other(e.to_string())))?;
        inner.flush().map_err(|e| self.io(&txn.pending, e))?;
        inner.get_ref().sync_all().map_err(|e| self.io(&txn.pending, e))?;
        if self.rows > 0 {
            let n = if checkpoint_id == END_OF_RUN {
                "end".to_string()
            } else {
                format!("{checkpoint_id:020}")
            };
            txn.part = Some(format!("part-{}-{n}.csv", self.task));
        }
        Ok(())
    }

    /// Renames the pending file onto its part file (deletes it if empty).
    /// Committing again is a no-op.
    ///
    /// # Errors
    /// [`Error::Io`] if neither the pending file nor the part file exists.
    fn commit(&mut self, txn: &PartFile) -> Result<()> {
        let pending = self.dir.join(&txn.pending);
        match &txn.part {
            Some(part) => {
                let target = self.dir.join(part);
                if let Err(e) = std::fs::rename(&pending, &target) {
                    if !target.exists() {
                        return Err(self.io(&txn.pending, e));
                    }
                }
            }
            None => {
                let _ = std::fs::remove_file(&pending);
            }
        }
        Ok(())
    }

    fn abort(&mut self, txn: &PartFile) {
        self.writer = None;
        let _ = std::fs::remove_file(self.dir.join(&txn.pending));
    }

    /// Deletes the pending files this task owns that `keep` does not list.
    ///
    /// # Errors
    /// [`Error::Io`] naming the folder if it cannot be listed.
    fn discard_others(&mut self, keep: &[PartFile]) -> Result<()> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if self.is_own_pending(&name) && !keep.iter().any(|t| t.pending == name) {
                tracing::info!(file = %entry.path().display(), "discarding uncommitted output");
                std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::test_support::{dir_entries as files, PanicAfter};
    use crate::builtins::GeneratorSpout;
    use crate::{Fields, LocalCluster, TopologyBuilder};

    #[test]
    fn without_checkpoints_everything_is_committed_at_the_end() {
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("missing").join("out"); // created on open
        let mut builder = TopologyBuilder::new("tx-sink");
        let lines = vec!["a".to_string(), "b,c".to_string()];
        builder.set_spout("gen", GeneratorSpout::sentences(0).with_lines(lines).with_limit(5), 1);
        builder
            .set_bolt("sink", TransactionalFileSink::new(&out).unwrap().bolt(), 1)
            .shuffle_grouping("gen");
        assert!(!out.exists(), "nothing is created before the run");
        LocalCluster::run(builder.build().unwrap()).unwrap();
        assert_eq!(files(&out), ["part-0-end.csv"]);
        let text = std::fs::read_to_string(out.join("part-0-end.csv")).unwrap();
        assert_eq!(text, "0,a\n1,\"b,c\"\n2,a\n3,\"b,c\"\n4,a\n");
    }

    #[test]
    fn a_failed_run_commits_nothing_and_leaves_no_pending_file() {
        let out = tempfile::tempdir().unwrap();
        let mut builder = TopologyBuilder::new("tx-sink-fails");
        builder.set_spout("gen", GeneratorSpout::sentences(0).with_limit(10_000), 1);
        builder
            .set_bolt("sink", TransactionalFileSink::new(out.path()).unwrap().bolt(), 1)
            .shuffle_grouping("gen");
        let boom =
            PanicAfter { fields: Fields::new(["seq", "line"]), panic_at: Some(100), seen: 0 };
        builder.set_bolt("boom", boom, 1).shuffle_grouping("gen");
        assert!(LocalCluster::run(builder.build().unwrap()).is_err());
        assert!(files(out.path()).is_empty(), "{:?}", files(out.path()));
    }

    #[test]
    fn after_a_rescale_each_leftover_has_exactly_one_owner() {
        let out = tempfile::tempdir().unwrap();
        // Leftovers of a run at parallelism 5, restored at 2.
        let left: Vec<String> =
            (0..5).map(|j| format!(".part-{j}-00000000000000ab.pending")).collect();
        for name in &left {
            std::fs::write(out.path().join(name), "x\n").unwrap();
        }
        let mut owned = Vec::new();
        for task in 0..2 {
            let mut sink = TransactionalFileSink::new(out.path()).unwrap();
            (sink.task, sink.parallelism) = (task, 2);
            owned.push(left.iter().filter(|n| sink.is_own_pending(n)).count());
            assert!(
                !sink.is_own_pending("part-0-end.csv") && !sink.is_own_pending(".part-x-1.pending")
            );
        }
        assert_eq!(owned, [3, 2], "task 0 owns 0, 2, 4; task 1 owns 1, 3");
        let mut sink = TransactionalFileSink::new(out.path()).unwrap();
        (sink.task, sink.parallelism) = (1, 2);
        sink.discard_others(&[]).unwrap();
        assert_eq!(files(out.path()), [left[0].clone(), left[2].clone(), left[4].clone()]);
    }

    #[test]
    fn commit_is_idempotent_and_leftovers_are_discarded() {
        let out = tempfile::tempdir().unwrap();
        let mut sink = TransactionalFileSink::new(out.path()).unwrap();
        let mut kept = sink.begin_transaction().unwrap();
        sink.pre_commit(&mut kept, 3).unwrap(); // empty: commits to nothing
        let mut other = sink.begin_transaction().unwrap();
        sink.pre_commit(&mut other, 4).unwrap();
        sink.discard_others(std::slice::from_ref(&kept)).unwrap();
        assert_eq!(files(out.path()), [kept.pending.clone()], "the unlisted one is gone");
        sink.commit(&kept).unwrap();
        sink.commit(&kept).unwrap();
        assert!(files(out.path()).is_empty());
        let file = out.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let err = TransactionalFileSink::new(file.join("out")).unwrap_err().to_string();
        assert!(err.contains("a-file") && err.contains("is not a folder"), "{err}");
    }
}
