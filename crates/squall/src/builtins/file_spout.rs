//! [`FileSpout`]: the lines of a file, or of every file in a folder, read in
//! parallel by byte ranges (Hadoop's input splits).
//!
//! Owns finding the files, splitting them across tasks and reading lines.
//! It does not parse lines (a downstream bolt does) nor follow files that
//! grow (only the bytes present when the spout was made are split; see
//! [`FileSpout::new`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::builtins::replay::Replay;
use crate::error::{Error, Result};
use crate::model::{Fields, Value};
use serde::{Deserialize, Serialize};

use crate::runtime::OutputCollector;
use crate::state::OperatorListState;
use crate::topology::{MessageId, OutputDeclarer, Spout, SpoutStatus, TopologyContext};

/// Read buffer of each task (bytes).
const READ_BUFFER: usize = 256 * 1024;
/// Lines emitted per `next_tuple` call at most.
const LINES_PER_CALL: usize = 256;

/// One input file and its size (bytes) when the spout was made.
#[derive(Debug)]
struct SourceFile {
    path: PathBuf,
    len: u64,
}

/// Part of one file that a task owns: the lines that *start* at a byte
/// offset in `start..end` of file `file`; with `resume`, reading resumes at
/// that offset (the start of a line), as checkpointed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    file: usize,
    start: u64,
    end: u64,
    resume: Option<u64>,
}

/// The open file a task is reading.
struct Reading {
    reader: BufReader<File>,
    /// Byte offset in the file of the next unread byte.
    pos: u64,
    /// Stop before a line starting at or after this offset.
    end: u64,
    /// Index of the file, for error messages.
    file: usize,
    /// Offset of the file's start in the concatenation of the files.
    base: u64,
}

/// Emits every line of a file, or of every file of a folder, once, on the
/// default stream with the single field `line` (a string).
///
/// Lines end at `'\n'`; a `'\r'` before it is stripped, so CRLF files read
/// like LF files. A last line without a newline is still a line. Bytes that
/// are not UTF-8 are replaced by U+FFFD (lossy decoding), never an error.
///
/// With parallelism N, the files are seen as one concatenation of T bytes,
/// and task i owns bytes `T*i/N .. T*(i+1)/N`: it reads every line that
/// *starts* in its range, including the one that crosses its end, as
/// Hadoop's input splits do. So every line is read exactly once whatever N,
/// and tasks read disjoint parts of the files in parallel. Lines never span
/// two files. The spout finishes (the source is bounded) when its range is
/// read.
///
/// With tracking (`at_least_once`) each line is emitted with the byte
/// offset of its start in the concatenation of the files as message id
/// (unique, and the same whatever the parallelism), kept until acked, and
/// emitted again if it fails or times out. Without tracking lines carry no
/// message id.
///
/// With checkpoints, each task's unread segments, the current one with the
/// byte offset of its next line, are operator list state (Flink's split
/// sources): a restore seeks back to them, so the same lines follow (a
/// replayable source). At another parallelism the segments are split
/// evenly over the new tasks (a task may get none), so every line is still
/// read exactly once.
///
/// # Examples
/// ```no_run
/// use squall::builtins::FileSpout;
/// use squall::TopologyBuilder;
///
/// let mut builder = TopologyBuilder::new("lines");
/// builder.set_spout("lines", FileSpout::new("data/shakespeare")?, 4);
/// # Ok::<(), squall::Error>(())
/// ```
pub struct FileSpout {
    root: PathBuf,
    files: Arc<[SourceFile]>,
    /// Segments this task still has to read, in order (after `open`).
    segments: Vec<Segment>,
    next_segment: usize,
    current: Option<Reading>,
    line: Vec<u8>,
    /// Offset of `line`'s start in the concatenation of the files (bytes).
    line_start: u64,
    replay: Replay,
    /// Where the unread segments are checkpointed.
    position: Option<OperatorListState<SplitPosition>>,
}

/// One segment a task has not finished reading, as checkpointed (an
/// element of operator list state `splits`, split evenly over the tasks
/// when the parallelism changes): the lines starting in `start..end` of the
/// file at `path`, from `offset` on if it was opened already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SplitPosition {
    path: PathBuf,
    start: u64,
    end: u64,
    offset: Option<u64>,
}

impl Clone for FileSpout {
    /// A fresh, unopened copy: the files to read, not the reading position.
    fn clone(&self) -> Self {
        FileSpout::with_files(self.root.clone(), self.files.clone())
    }
}

impl std::fmt::Debug for FileSpout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSpout")
            .field("root", &self.root)
            .field("files", &self.files.len())
            .field("bytes", &self.total_bytes())
            .finish()
    }
}

impl FileSpout {
    /// A spout over `path`: a file, or a folder whose regular files are all
    /// read, sorted by name (not recursive; files whose name starts with `.`
    /// are skipped). The files' sizes are taken now: bytes appended later
    /// are not read.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path if it does not exist or cannot be
    /// listed; [`Error::Config`] naming the folder if it holds no files.
    pub fn new(path: impl Into<PathBuf>) -> Result<FileSpout> {
        let root = path.into();
        let meta = std::fs::metadata(&root).map_err(|e| Error::io(&root, e))?;
        let mut paths = Vec::new();
        if meta.is_dir() {
            for entry in std::fs::read_dir(&root).map_err(|e| Error::io(&root, e))? {
                let entry = entry.map_err(|e| Error::io(&root, e))?;
                if entry.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let p = entry.path();
                // Follows symbolic links, as `cat dir/*` would.
                if std::fs::metadata(&p).map(|m| m.is_file()).unwrap_or(false) {
                    paths.push(p);
                }
            }
            if paths.is_empty() {
                return Err(Error::config(format!(
                    "file spout: folder '{}' has no files to read",
                    root.display()
                )));
            }
            paths.sort();
        } else {
            paths.push(root.clone());
        }
        let files = paths
            .into_iter()
            .map(|path| {
                let len = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len();
                Ok(SourceFile { path, len })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FileSpout::with_files(root, files.into()))
    }

    fn with_files(root: PathBuf, files: Arc<[SourceFile]>) -> FileSpout {
        FileSpout {
            root,
            files,
            segments: Vec::new(),
            next_segment: 0,
            current: None,
            line: Vec::new(),
            position: None,
            line_start: 0,
            replay: Replay::default(),
        }
    }

    /// The file or folder given to [`FileSpout::new`].
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The files read, in reading order.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| f.path.as_path())
    }

    /// Total size of the files (bytes), as split across tasks.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.len).sum()
    }

    /// Reads the next line of the current segment into `self.line`
    /// (without its line ending), opening segments as needed. `None` when
    /// this task's ranges are all read.
    fn read_line(&mut self) -> Result<Option<()>> {
        loop {
            let Some(reading) = self.current.as_mut() else {
                let Some(&seg) = self.segments.get(self.next_segment) else {
                    return Ok(None);
                };
                self.next_segment += 1;
                let mut reading = open_segment(&self.files[seg.file], seg)?;
                reading.base = self.files[..seg.file].iter().map(|f| f.len).sum();
                self.current = Some(reading);
                continue;
            };
            if reading.pos < reading.end {
                self.line.clear();
                self.line_start = reading.base + reading.pos;
                let n = reading
                    .reader
                    .read_until(b'\n', &mut self.line)
                    .map_err(|e| Error::io(&self.files[reading.file].path, e))?;
                if n > 0 {
                    reading.pos += n as u64;
                    if self.line.last() == Some(&b'\n') {
                        self.line.pop();
                    }
                    if self.line.last() == Some(&b'\r') {
                        self.line.pop();
                    }
                    return Ok(Some(()));
                }
            }
            self.current = None;
        }
    }
}

impl FileSpout {
    /// The segments of a checkpoint, as this task's.
    ///
    /// # Errors
    /// [`Error::Config`] naming a file that is not one of this spout's.
    fn restore_segments(&self, splits: Vec<SplitPosition>) -> Result<Vec<Segment>> {
        splits
            .into_iter()
            .map(|p| {
                let file = self.files.iter().position(|f| f.path == p.path).ok_or_else(|| {
                    Error::config(format!(
                        "file spout over '{}': the checkpoint reads '{}', which is not one of \
                         its files",
                        self.root.display(),
                        p.path.display()
                    ))
                })?;
                Ok(Segment { file, start: p.start, end: p.end, resume: p.offset })
            })
            .collect()
    }

    /// What is left to read: the current segment from its position, and
    /// the segments not opened yet.
    fn unread(&self) -> Vec<SplitPosition> {
        let split = |seg: &Segment, offset| SplitPosition {
            path: self.files[seg.file].path.clone(),
            start: seg.start,
            end: seg.end,
            offset,
        };
        let current = self
            .current
            .as_ref()
            .map(|r| split(&self.segments[self.next_segment - 1], Some(r.pos)));
        current
            .into_iter()
            .chain(self.segments[self.next_segment..].iter().map(|s| split(s, s.resume)))
            .collect()
    }
}

/// Opens `file` positioned at the first line that starts at or after
/// `seg.start`: unless the segment starts the file, the (partial) line
/// around `seg.start - 1` belongs to the previous range and is skipped.
fn open_segment(file: &SourceFile, seg: Segment) -> Result<Reading> {
    let io = |e| Error::io(&file.path, e);
    let mut f = File::open(&file.path).map_err(io)?;
    if let Some(pos) = seg.resume {
        f.seek(SeekFrom::Start(pos)).map_err(io)?;
        let reader = BufReader::with_capacity(READ_BUFFER, f);
        return Ok(Reading { reader, pos, end: seg.end, file: seg.file, base: 0 });
    }
    let mut pos = 0;
    if seg.start > 0 {
        pos = seg.start - 1;
        f.seek(SeekFrom::Start(pos)).map_err(io)?;
    }
    let mut reader = BufReader::with_capacity(READ_BUFFER, f);
    if seg.start > 0 {
        pos += skip_line(&mut reader).map_err(io)?;
    }
    Ok(Reading { reader, pos, end: seg.end, file: seg.file, base: 0 })
}

/// Skips bytes up to and including the next `'\n'` without copying them;
/// returns how many were skipped.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<u64> {
    let mut skipped = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(skipped + i as u64 + 1);
            }
            None => {
                let n = buf.len();
                reader.consume(n);
                skipped += n as u64;
            }
        }
    }
}

/// The segments task `index` of `parallelism` owns, given file sizes
/// `lens`: its byte range of their concatenation, cut at file boundaries.
fn segments_of_task(lens: &[u64], index: usize, parallelism: usize) -> Vec<Segment> {
    let total: u64 = lens.iter().sum();
    let bound = |i: usize| (total as u128 * i as u128 / parallelism as u128) as u64;
    let (from, to) = (bound(index), bound(index + 1));
    let mut segments = Vec::new();
    let mut offset = 0;
    for (file, &len) in lens.iter().enumerate() {
        let (start, end) = (from.max(offset), to.min(offset + len));
        if start < end {
            segments.push(Segment { file, start: start - offset, end: end - offset, resume: None });
        }
        offset += len;
    }
    segments
}

impl Spout for FileSpout {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(Fields::new(["line"]));
    }

    fn open(&mut self, context: &TopologyContext) -> Result<()> {
        let position = context.operator_list_state::<SplitPosition>("splits")?;
        self.segments = match context.state().restored_from() {
            Some(_) => self.restore_segments(position.get()?)?,
            None => {
                let lens: Vec<u64> = self.files.iter().map(|f| f.len).collect();
                segments_of_task(&lens, context.task_index(), context.parallelism())
            }
        };
        self.next_segment = 0;
        self.current = None;
        self.position = Some(position);
        self.replay.open_checkpointed(context)?;
        Ok(())
    }

    /// Records the unread segments, so that a restore rewinds to them.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        self.replay.snapshot()?;
        match &self.position {
            Some(state) => state.update(&self.unread()),
            None => Ok(()),
        }
    }

    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        if self.replay.replay(collector, LINES_PER_CALL)? > 0 {
            return Ok(SpoutStatus::Active);
        }
        for _ in 0..LINES_PER_CALL {
            if self.read_line()?.is_none() {
                return Ok(SpoutStatus::Finished);
            }
            // Valid UTF-8 (checked by the faster `from_utf8`) is copied as is.
            let text = match std::str::from_utf8(&self.line) {
                Ok(text) => text.to_owned(),
                Err(_) => String::from_utf8_lossy(&self.line).into_owned(),
            };
            self.replay.emit(collector, self.line_start, vec![Value::String(text)])?;
        }
        Ok(SpoutStatus::Active)
    }

    fn ack(&mut self, msg_id: MessageId) {
        self.replay.ack(msg_id);
    }

    fn fail(&mut self, msg_id: MessageId) {
        self.replay.fail(msg_id);
    }

    fn close(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::builtins::test_support::Collect;
    use crate::{LocalCluster, TopologyBuilder};

    /// Lines of every length from 0 up, some CRLF, one file without a
    /// trailing newline, an empty file and a hidden file that is skipped.
    fn corpus(dir: &Path) -> Vec<String> {
        let words =
            ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "ünïcødé"];
        let mut expected = Vec::new();
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        for f in 0..5 {
            let mut text = String::new();
            for l in 0..(7 * f + 3) {
                let n = (l * 7 + f * 3) % 23;
                let line: Vec<&str> = (0..n).map(|k| words[(k + l) % words.len()]).collect();
                let line = format!("f{f} l{l} {}", line.join(" "));
                let line = if l % 5 == 4 { String::new() } else { line };
                text.push_str(&line);
                text.push_str(if l % 3 == 0 { "\r\n" } else { "\n" });
                expected.push(line);
            }
            if f == 2 {
                text.push_str("last line without newline");
                expected.push("last line without newline".into());
            }
            files.insert(format!("part-{f}.txt"), text);
        }
        files.insert("part-9-empty.txt".into(), String::new());
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        std::fs::write(dir.join(".hidden"), "never read\n").unwrap();
        expected
    }

    fn run(spout: FileSpout, parallelism: usize) -> Vec<String> {
        let sink = Collect::default();
        let mut builder = TopologyBuilder::new("file-spout-test");
        builder.set_spout("lines", spout, parallelism);
        builder.set_bolt("sink", sink.clone(), 1).shuffle_grouping("lines");
        LocalCluster::run(builder.build().unwrap()).unwrap();
        sink.rows().into_iter().map(|v| v[0].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn every_line_read_exactly_once_whatever_the_parallelism() {
        let dir = tempfile::tempdir().unwrap();
        let mut expected = corpus(dir.path());
        expected.sort();
        let spout = FileSpout::new(dir.path()).unwrap();
        assert_eq!(spout.files().count(), 6, "hidden file skipped");
        for n in 1..=5 {
            let mut got = run(spout.clone(), n);
            got.sort();
            assert_eq!(got, expected, "parallelism {n}");
        }
    }

    #[test]
    fn splits_cover_every_line_start_once_at_every_cut() {
        // Direct check of the split rule, including ranges that end exactly
        // on a line start and ranges smaller than a line.
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, "x\nyy\n\nzzzz\n").unwrap();
        std::fs::write(&b, "long line here\nq").unwrap();
        let spout = FileSpout::new(dir.path()).unwrap();
        let lens: Vec<u64> = spout.files.iter().map(|f| f.len).collect();
        for n in 1..=40 {
            let mut lines = Vec::new();
            for i in 0..n {
                let mut s = spout.clone();
                s.segments = segments_of_task(&lens, i, n);
                while s.read_line().unwrap().is_some() {
                    lines.push(String::from_utf8(s.line.clone()).unwrap());
                }
            }
            assert_eq!(lines, ["x", "yy", "", "zzzz", "long line here", "q"], "n = {n}");
        }
    }

    #[test]
    fn single_file_and_lossy_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("one.txt");
        std::fs::write(&p, b"ok\nbad \xff byte\r\n").unwrap();
        let got = run(FileSpout::new(&p).unwrap(), 2);
        let mut got = got;
        got.sort();
        assert_eq!(got, ["bad \u{fffd} byte", "ok"]);
    }

    #[test]
    fn missing_path_and_empty_folder_are_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = FileSpout::new(&missing).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        std::fs::write(dir.path().join(".only-hidden"), "x\n").unwrap();
        let err = FileSpout::new(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&dir.path().display().to_string()) && err.contains("no files"),
            "{err}"
        );
    }
}
