//! [`SortedRows`]: rows of [`Value`]s held compactly, spilled to disk in
//! sorted runs of bounded size and read back in order (an external merge
//! sort), for the sinks that write one sorted file at the end.
//!
//! A row is encoded into one byte arena (a tag byte per cell and its
//! payload: 8 bytes for an int, a float or a timestamp, a length and the
//! bytes for text): 38 bytes for a window result, and 8 for its place in
//! the index, where a `Vec` of `Value`s took about 170. When the arena
//! passes its budget, its rows are sorted (stably) and written to an
//! unnamed temporary file in the output's folder (a run); at the end the
//! runs are merged with a binary heap, ties going to the earlier run
//! (Knuth, TAOCP vol. 3, 5.4.1, "multiway merging"). The files
//! have no name and are deleted when closed, so a failed or killed run
//! leaves none.
//!
//! Rows are held grouped by the upstream task that sent them (their
//! source), each group in arrival order, and sorted as the groups one
//! after the other: when each task sends its rows already in order (as
//! the window bolt does), that is a few sorted sequences concatenated,
//! which the standard library's stable sort detects and merges in linear
//! time instead of sorting; any other order is simply sorted. Equal rows
//! keep their source's order, and their arrival order within it.
//!
//! Rows compare cell by cell: nulls first, numbers and timestamps by
//! value, text by bytes, other pairs by their text; a shorter row first
//! when it is a prefix of the longer ([`order_values`] over [`Value`]s,
//! [`order_encoded`] over encoded rows).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::PathBuf;
use std::sync::{mpsc, Arc};

use crate::error::{Error, Result};
use crate::model::Value;

const NULL: u8 = 0;
const BOOL: u8 = 1;
const INT: u8 = 2;
const FLOAT: u8 = 3;
const STRING: u8 = 4;
const TIMESTAMP: u8 = 5;
/// Any other value (bytes, list, map, native), as its text: it only
/// compares and prints by its text.
const OTHER: u8 = 6;

/// One cell of an encoded row, borrowed from it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    /// [`Value::Null`].
    Null,
    /// [`Value::Bool`].
    Bool(bool),
    /// [`Value::Int`].
    Int(i64),
    /// [`Value::Float`].
    Float(f64),
    /// [`Value::String`].
    Str(&'a str),
    /// [`Value::Timestamp`] (ms since the Unix epoch).
    Timestamp(i64),
    /// Any other value, as its text.
    Other(&'a str),
}

impl Cell<'_> {
    /// The number, for the comparison of an int with a float.
    fn as_f64(self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(i as f64),
            Cell::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The order of the two values (see the module header).
    fn order(self, other: Cell<'_>) -> Ordering {
        match (self, other) {
            (Cell::Timestamp(x), Cell::Timestamp(y)) | (Cell::Int(x), Cell::Int(y)) => x.cmp(&y),
            (Cell::Str(x), Cell::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
            (Cell::Null, Cell::Null) => Ordering::Equal,
            (Cell::Null, _) => Ordering::Less,
            (_, Cell::Null) => Ordering::Greater,
            (x, y) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => x.to_string().cmp(&y.to_string()),
            },
        }
    }
}

/// The text of the value, as [`Value`]'s `Display`.
impl fmt::Display for Cell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cell::Null => Ok(()),
            Cell::Bool(b) => write!(f, "{b}"),
            Cell::Int(i) | Cell::Timestamp(i) => write!(f, "{i}"),
            Cell::Float(x) => write!(f, "{x}"),
            Cell::Str(s) | Cell::Other(s) => f.write_str(s),
        }
    }
}

/// The cells of an encoded row (its body, without the length).
pub(crate) struct Cells<'a>(&'a [u8]);

impl<'a> Iterator for Cells<'a> {
    type Item = Cell<'a>;

    fn next(&mut self) -> Option<Cell<'a>> {
        let (cell, rest) = split_cell(self.0)?;
        self.0 = rest;
        Some(cell)
    }
}

/// The cells of the encoded row `body`.
pub(crate) fn cells(body: &[u8]) -> Cells<'_> {
    Cells(body)
}

/// The 8-byte number at the start of `bytes`.
#[inline]
fn i64_at(bytes: &[u8]) -> i64 {
    i64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

/// The length-prefixed bytes at the start of `bytes`, and what follows.
#[inline]
fn bytes_at(bytes: &[u8]) -> (&[u8], &[u8]) {
    let len = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    bytes[4..].split_at(len)
}

/// The first cell of `body` (a row's body or its tail) and what follows
/// it; `None` if it is empty.
fn split_cell(body: &[u8]) -> Option<(Cell<'_>, &[u8])> {
    let (&tag, rest) = body.split_first()?;
    Some(match tag {
        NULL => (Cell::Null, rest),
        BOOL => (Cell::Bool(rest[0] != 0), &rest[1..]),
        INT => (Cell::Int(i64_at(rest)), &rest[8..]),
        TIMESTAMP => (Cell::Timestamp(i64_at(rest)), &rest[8..]),
        FLOAT => (Cell::Float(f64::from_bits(i64_at(rest) as u64)), &rest[8..]),
        _ => {
            let (bytes, rest) = bytes_at(rest);
            // Written by `encode` from a `String`: it is UTF-8.
            let text = std::str::from_utf8(bytes).unwrap_or_default();
            (if tag == STRING { Cell::Str(text) } else { Cell::Other(text) }, rest)
        }
    })
}

/// The order of two encoded rows (bodies), as described in the module
/// header. The common pairs (two ints, two timestamps, two texts) are
/// compared in place; the sort of a run is this function's loop.
pub(crate) fn order_encoded(mut a: &[u8], mut b: &[u8]) -> Ordering {
    loop {
        let (Some(&x), Some(&y)) = (a.first(), b.first()) else {
            // The shorter row first.
            return (!a.is_empty()).cmp(&!b.is_empty());
        };
        let (o, rest_a, rest_b) = if x == y && (x == INT || x == TIMESTAMP) {
            (i64_at(&a[1..]).cmp(&i64_at(&b[1..])), &a[9..], &b[9..])
        } else if x == STRING && y == STRING {
            let ((x, rest_a), (y, rest_b)) = (bytes_at(&a[1..]), bytes_at(&b[1..]));
            (x.cmp(y), rest_a, rest_b)
        } else {
            let (x, rest_a) = split_cell(a).expect("not empty");
            let (y, rest_b) = split_cell(b).expect("not empty");
            (x.order(y), rest_a, rest_b)
        };
        if o.is_ne() {
            return o;
        }
        (a, b) = (rest_a, rest_b);
    }
}

/// The order of two cells: nulls first, numbers and timestamps by value,
/// text by bytes, and otherwise by their text (as [`Cell`]'s).
fn order_value(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Int(x), Value::Int(y)) | (Value::Timestamp(x), Value::Timestamp(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => a.to_string().cmp(&b.to_string()),
        },
    }
}

/// The order of two rows of [`Value`]s, the one [`order_encoded`] gives
/// them encoded (see the module header): for producers that send their
/// rows in the order the sinks sort them.
pub(crate) fn order_values(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match order_value(x, y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// Appends `row` to `out` as a length (u32, little-endian) and its body.
fn encode(row: &[Value], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let bytes = |out: &mut Vec<u8>, tag: u8, b: &[u8]| {
        out.push(tag);
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    for v in row {
        match v {
            Value::Null => out.push(NULL),
            Value::Bool(b) => out.extend_from_slice(&[BOOL, *b as u8]),
            Value::Int(i) => {
                out.push(INT);
                out.extend_from_slice(&i.to_le_bytes());
            }
            Value::Timestamp(t) => {
                out.push(TIMESTAMP);
                out.extend_from_slice(&t.to_le_bytes());
            }
            Value::Float(f) => {
                out.push(FLOAT);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            Value::String(s) => bytes(out, STRING, s.as_bytes()),
            other => bytes(out, OTHER, other.to_string().as_bytes()),
        }
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// The body of the row encoded at `at` in `arena`.
fn body_at(arena: &[u8], at: usize) -> &[u8] {
    let len = u32::from_le_bytes(arena[at..at + 4].try_into().expect("4 bytes")) as usize;
    &arena[at + 4..at + 4 + len]
}

/// Rows held for one sorted pass over them at the end; see the module
/// header.
///
/// A clone holds the same rows; runs already spilled are shared with it
/// (clones are made of a sink before it runs, when there are none).
#[derive(Debug, Clone)]
pub(crate) struct SortedRows {
    /// Where runs are spilled (the output's folder).
    dir: PathBuf,
    /// The arena's size that makes [`SortedRows::push`] spill (bytes).
    run_bytes: usize,
    arena: Vec<u8>,
    /// Where each row held starts in `arena`: the rows kept, and those
    /// pushed once [`SortedRows::sort`] has gathered them.
    index: Vec<usize>,
    /// The rows pushed, as their starts in `arena` per source (an
    /// upstream task), in arrival order; sources in order of their first
    /// row.
    by_source: Vec<(usize, Vec<usize>)>,
    /// The place in `by_source` of the last row's source.
    last_source: usize,
    runs: Vec<Arc<File>>,
}

impl SortedRows {
    /// No rows yet; runs will be spilled into `dir` once the rows held
    /// take `run_bytes` (the encoded rows: 38 bytes for a window result).
    pub(crate) fn new(dir: impl Into<PathBuf>, run_bytes: usize) -> SortedRows {
        SortedRows {
            dir: dir.into(),
            run_bytes: run_bytes.max(1),
            arena: Vec::new(),
            index: Vec::new(),
            by_source: Vec::new(),
            last_source: 0,
            runs: Vec::new(),
        }
    }

    /// Adds a row sent by `source` (any id of the upstream task: the
    /// rows of one source that arrive in order cost no sort), first
    /// spilling the rows held if the arena is full.
    ///
    /// # Errors
    /// [`Error::Io`] naming the folder if a run cannot be written.
    pub(crate) fn push(&mut self, source: usize, row: &[Value]) -> Result<()> {
        if self.arena.len() >= self.run_bytes {
            self.spill()?;
        }
        if self.arena.capacity() == 0 {
            // One allocation for the run (only the pages written are
            // resident), not a doubling that copies it.
            self.arena.reserve_exact(self.run_bytes.min(64 << 20) + 4096);
        }
        if self.by_source.get(self.last_source).is_none_or(|(s, _)| *s != source) {
            self.last_source = match self.by_source.iter().position(|(s, _)| *s == source) {
                Some(i) => i,
                None => {
                    self.by_source.push((source, Vec::new()));
                    self.by_source.len() - 1
                }
            };
        }
        self.by_source[self.last_source].1.push(self.arena.len());
        encode(row, &mut self.arena);
        Ok(())
    }

    /// Adds a row that stays in memory (never spilled) and returns its
    /// slot for [`SortedRows::replace`]. For update mode, where a later
    /// row replaces an earlier one; do not mix with [`SortedRows::push`].
    pub(crate) fn keep(&mut self, row: &[Value]) -> usize {
        self.index.push(self.arena.len());
        encode(row, &mut self.arena);
        self.index.len() - 1
    }

    /// Replaces the row in `slot` (the old bytes stay in the arena unused).
    pub(crate) fn replace(&mut self, slot: usize, row: &[Value]) {
        self.index[slot] = self.arena.len();
        encode(row, &mut self.arena);
    }

    /// Gathers the rows pushed into `index`, source after source, and
    /// sorts it stably. The sort detects each source's rows that arrive in
    /// order as one sorted sequence and merges those in linear time (the
    /// standard library documents it for "two or more sorted sequences
    /// concatenated").
    fn sort(&mut self) {
        for (_, rows) in &mut self.by_source {
            if self.index.is_empty() {
                std::mem::swap(&mut self.index, rows);
            } else {
                self.index.append(rows);
            }
        }
        let arena = &self.arena;
        self.index.sort_by(|&a, &b| order_encoded(body_at(arena, a), body_at(arena, b)));
    }

    fn io_error(&self, e: io::Error) -> Error {
        Error::io(&self.dir, e)
    }

    /// Sorts the rows held and writes them to a new run file.
    fn spill(&mut self) -> Result<()> {
        self.sort();
        let file = tempfile::tempfile_in(&self.dir).map_err(|e| self.io_error(e))?;
        let mut w = BufWriter::with_capacity(256 * 1024, file);
        for &at in &self.index {
            // The row as held: its length, then its body.
            let len = body_at(&self.arena, at).len();
            w.write_all(&self.arena[at..at + 4 + len]).map_err(|e| self.io_error(e))?;
        }
        let file = w.into_inner().map_err(|e| self.io_error(e.into_error()))?;
        self.runs.push(Arc::new(file));
        self.arena.clear();
        self.index.clear();
        Ok(())
    }

    /// Calls `f` with every row's body in order (read its cells with
    /// [`cells`]), then drops the rows and runs.
    ///
    /// # Errors
    /// [`Error::Io`] naming the folder if a run cannot be written or read
    /// back; `f`'s error.
    pub(crate) fn drain_sorted(&mut self, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        if self.runs.is_empty() {
            self.sort();
            for &at in &self.index {
                f(body_at(&self.arena, at))?;
            }
        } else {
            // The rows held are the last run, merged from memory.
            self.sort();
            self.merge(&mut f)?;
        }
        *self = SortedRows::new(std::mem::take(&mut self.dir), self.run_bytes);
        Ok(())
    }

    /// As [`SortedRows::drain_sorted`], on two threads: the rows are
    /// sorted and merged on a thread of its own and handed over in chunks
    /// (rows one after the other, each its length and body: read them with
    /// [`rows_of`]). Every other chunk is made into a `T` by `beside` on
    /// the merging thread, the others by `here` on this one, and `take`
    /// gets the `T`s here, in the chunks' order. So the work on the rows
    /// (a sink's formatting) is shared by two cores, and overlaps the
    /// merge.
    ///
    /// # Errors
    /// As [`SortedRows::drain_sorted`]; the first error of `beside`, `here`
    /// or `take`, after which no more rows are taken; [`Error::Io`] naming
    /// the folder if the thread cannot be started.
    pub(crate) fn drain_sorted_beside<T, M>(
        &mut self,
        mut beside: M,
        mut here: M,
        mut take: impl FnMut(T) -> Result<()>,
    ) -> Result<()>
    where
        T: Send,
        M: FnMut(&[u8]) -> Result<T> + Send,
    {
        /// Bytes of rows per chunk.
        const CHUNK: usize = 256 * 1024;
        let dir = self.dir.clone();
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel::<Chunk<T>>(4);
            // Chunks of rows go back once read, so that a few buffers
            // circulate.
            let (back, used) = mpsc::channel::<Vec<u8>>();
            let rows = &mut *self;
            let merge_dir = dir.clone();
            let merger = std::thread::Builder::new()
                .name("squall-sorted-rows".into())
                .spawn_scoped(scope, move || {
                    let mut chunk = Vec::with_capacity(CHUNK);
                    let mut mine = false;
                    let mut hand_over = |chunk: &mut Vec<u8>| -> Result<()> {
                        let sent = if mine {
                            let made = beside(chunk)?;
                            chunk.clear();
                            tx.send(Chunk::Made(made))
                        } else {
                            let next =
                                used.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                            tx.send(Chunk::Rows(std::mem::replace(chunk, next)))
                        };
                        mine = !mine;
                        sent.map_err(|_| Error::io(&merge_dir, io::Error::other("rows not taken")))
                    };
                    rows.drain_sorted(|row| {
                        chunk.extend_from_slice(&(row.len() as u32).to_le_bytes());
                        chunk.extend_from_slice(row);
                        match chunk.len() >= CHUNK {
                            true => hand_over(&mut chunk),
                            false => Ok(()),
                        }
                    })?;
                    match chunk.is_empty() {
                        true => Ok(()),
                        false => hand_over(&mut chunk),
                    }
                })
                .map_err(|e| Error::io(&dir, e))?;
            let taken = rx.iter().try_for_each(|chunk| match chunk {
                Chunk::Made(made) => take(made),
                Chunk::Rows(mut rows) => {
                    take(here(&rows)?)?;
                    rows.clear();
                    let _ = back.send(rows);
                    Ok(())
                }
            });
            // Stops the merge, if this side failed, at its next chunk.
            drop(rx);
            let merged = merger.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // This side's error first: the merge's is then only that its
            // rows were not taken.
            taken.and(merged)
        })
    }

    /// Merges the spilled runs (each sorted) and the rows held (sorted,
    /// the last run) into `f`.
    fn merge(&self, f: &mut impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let mut readers = Vec::with_capacity(self.runs.len());
        let mut heap = BinaryHeap::with_capacity(self.runs.len() + 1);
        for (run, file) in self.runs.iter().enumerate() {
            let mut file: &File = file;
            file.rewind().map_err(|e| self.io_error(e))?;
            let mut reader = BufReader::with_capacity(64 * 1024, file);
            let mut row = Vec::new();
            if read_row(&mut reader, &mut row).map_err(|e| self.io_error(e))? {
                heap.push(Head { row, run });
            }
            readers.push(reader);
        }
        let held_run = self.runs.len();
        let mut held = self.index.iter().map(|&at| body_at(&self.arena, at));
        if let Some(row) = held.next() {
            heap.push(Head { row: row.to_vec(), run: held_run });
        }
        while let Some(mut head) = heap.peek_mut() {
            f(&head.row)?;
            let run = head.run;
            let next = match readers.get_mut(run) {
                Some(reader) => read_row(reader, &mut head.row).map_err(|e| self.io_error(e))?,
                None => match held.next() {
                    Some(row) => {
                        head.row.clear();
                        head.row.extend_from_slice(row);
                        true
                    }
                    None => false,
                },
            };
            if !next {
                std::collections::binary_heap::PeekMut::pop(head);
            }
        }
        Ok(())
    }
}

/// A chunk of rows in order, from the merging thread of
/// [`SortedRows::drain_sorted_beside`].
enum Chunk<T> {
    /// The rows themselves (see [`rows_of`]).
    Rows(Vec<u8>),
    /// What the merging thread made of them.
    Made(T),
}

/// The rows' bodies of a chunk of [`SortedRows::drain_sorted_beside`], in
/// order.
pub(crate) fn rows_of(chunk: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = chunk;
    std::iter::from_fn(move || {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().expect("4 bytes")) as usize;
        let (row, next) = rest[4..].split_at(len);
        rest = next;
        Some(row)
    })
}

/// Reads the next row's body of a run into `row`; false at its end.
fn read_row(r: &mut impl Read, row: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    row.resize(u32::from_le_bytes(len) as usize, 0);
    r.read_exact(row)?;
    Ok(true)
}

/// A run's current row in the merge: the heap's top is the least row,
/// of the earliest run among equal ones.
struct Head {
    row: Vec<u8>,
    run: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Head) -> Ordering {
        order_encoded(&other.row, &self.row).then(other.run.cmp(&self.run))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Head {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::test_support::dir_entries;
    use crate::model::Values;

    /// Rows of 2 to 5 cells, each column of one family of types whose
    /// order is total (mixed families, such as a number beside text, are
    /// ordered by text against one and by value against the other).
    fn random_rows(n: usize, seed: u64) -> Vec<Values> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let cell = |rng: &mut fastrand::Rng, column: usize| match (column, rng.u8(0..4)) {
            (_, 0) if column != 3 => Value::Null,
            (0, _) => Value::Timestamp(rng.i64(-3..3) * 10_000),
            (1, 1) => Value::Float(rng.i64(-5..5) as f64 / 2.0),
            (1, _) => Value::Int(rng.i64(-4..4)),
            (2, _) => Value::String(["b", "a", "ab", "é", ""][rng.usize(0..5)].to_string()),
            (3, 1) => Value::Bool(rng.bool()),
            (3, _) => Value::List(vec![Value::Int(rng.i64(0..3))]),
            _ => Value::Int(rng.i64(-4..4)),
        };
        (0..n)
            .map(|_| {
                let len = rng.usize(2..6);
                (0..len).map(|c| cell(&mut rng, c)).collect()
            })
            .collect()
    }

    /// The rows as the texts of their cells.
    fn texts(rows: &[Values]) -> Vec<Vec<String>> {
        rows.iter().map(|r| r.iter().map(Value::to_string).collect()).collect()
    }

    /// The reference: the texts of the rows after one stable sort.
    fn sorted_texts(rows: &[Values]) -> Vec<Vec<String>> {
        let mut sorted = rows.to_vec();
        sorted.sort_by(|a, b| order_values(a, b));
        texts(&sorted)
    }

    fn drained(rows: &mut SortedRows) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        rows.drain_sorted(|body| {
            out.push(cells(body).map(|c| c.to_string()).collect());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn in_memory_and_spilled_orders_are_one_stable_sort() {
        let dir = tempfile::tempdir().unwrap();
        let rows = random_rows(3000, 7);
        let expected = sorted_texts(&rows);
        for run_bytes in [1, 1000, 20_000, 1 << 30] {
            let mut sorted = SortedRows::new(dir.path(), run_bytes);
            for row in &rows {
                sorted.push(0, row).unwrap();
            }
            assert_eq!(sorted.runs.is_empty(), run_bytes == 1 << 30, "{run_bytes}");
            assert_eq!(drained(&mut sorted), expected, "run_bytes {run_bytes}");
            assert!(sorted.runs.is_empty() && sorted.index.is_empty());
        }
        assert!(dir_entries(dir.path()).is_empty(), "spilled runs have no name");
    }

    #[test]
    fn rows_drained_beside_come_out_as_drained_and_errors_stop_the_merge() {
        let dir = tempfile::tempdir().unwrap();
        let rows = random_rows(30_000, 9);
        let expected = sorted_texts(&rows);
        let texts = |body: &[u8]| cells(body).map(|c| c.to_string()).collect::<Vec<_>>();
        let on = |thread: &'static str| {
            move |chunk: &[u8]| Ok((thread, rows_of(chunk).map(texts).collect::<Vec<_>>()))
        };
        for run_bytes in [50_000, 1 << 30] {
            let fill = || {
                let mut sorted = SortedRows::new(dir.path(), run_bytes);
                for row in &rows {
                    sorted.push(0, row).unwrap();
                }
                sorted
            };
            let (mut out, mut threads) = (Vec::new(), Vec::new());
            fill()
                .drain_sorted_beside(on("beside"), on("here"), |(thread, texts)| {
                    threads.push(thread);
                    out.extend(texts);
                    Ok(())
                })
                .unwrap();
            assert_eq!(out, expected, "run_bytes {run_bytes}");
            assert!(threads.len() > 2, "{threads:?}");
            assert!(threads
                .chunks(2)
                .all(|t| t[0] == "here" && t.get(1).is_none_or(|b| *b == "beside")));
            let fail_on = |thread: &'static str| {
                move |_: &[u8]| match thread {
                    "here" => Err(Error::config("here")),
                    _ => Ok(()),
                }
            };
            let err = fill()
                .drain_sorted_beside(fail_on("beside"), fail_on("here"), |()| Ok(()))
                .unwrap_err();
            assert!(err.to_string().contains("here"), "{err}");
            let fail_on = |thread: &'static str| {
                move |_: &[u8]| match thread {
                    "beside" => Err(Error::config("beside")),
                    _ => Ok(()),
                }
            };
            let mut taken = 0;
            let err = fill()
                .drain_sorted_beside(fail_on("beside"), fail_on("here"), |()| {
                    taken += 1;
                    Ok(())
                })
                .unwrap_err();
            assert!(err.to_string().contains("beside"), "{err}");
            assert_eq!(taken, 1, "the chunk before the failed one only");
        }
        assert!(dir_entries(dir.path()).is_empty(), "spilled runs have no name");
    }

    #[test]
    fn rows_of_several_sources_in_order_or_not_come_out_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let rows = random_rows(3000, 11);
        let expected = sorted_texts(&rows);
        let mut rng = fastrand::Rng::with_seed(3);
        for in_order in [true, false] {
            // Three sources (tasks 7, 2 and 40), each sending its share in
            // order or not, interleaved at random.
            let mut shares: Vec<Vec<Values>> = vec![Vec::new(); 3];
            for row in &rows {
                shares[rng.usize(0..3)].push(row.clone());
            }
            for share in shares.iter_mut().filter(|_| in_order) {
                share.sort_by(|a, b| order_values(a, b));
            }
            for run_bytes in [1000, 1 << 30] {
                let mut sorted = SortedRows::new(dir.path(), run_bytes);
                let mut next = [0; 3];
                while let Some(s) =
                    (0..3).filter(|&s| next[s] < shares[s].len()).max_by_key(|_| rng.u8(..))
                {
                    sorted.push([7, 2, 40][s], &shares[s][next[s]]).unwrap();
                    next[s] += 1;
                }
                assert_eq!(drained(&mut sorted), expected, "in order {in_order}, {run_bytes}");
            }
        }
    }

    #[test]
    fn rows_order_as_values_and_encoded_alike() {
        let rows = random_rows(400, 5);
        let mut body = |row: &Values| {
            let mut out = Vec::new();
            encode(row, &mut out);
            out.split_off(4)
        };
        let encoded: Vec<Vec<u8>> = rows.iter().map(&mut body).collect();
        for (a, x) in rows.iter().zip(&encoded) {
            for (b, y) in rows.iter().zip(&encoded) {
                assert_eq!(order_values(a, b), order_encoded(x, y), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn replaced_rows_are_read_back_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorted = SortedRows::new(dir.path(), 1);
        let a = sorted.keep(&[Value::Int(2), "x".into()]);
        sorted.keep(&[Value::Int(1), "y".into()]);
        sorted.replace(a, &[Value::Int(0), "z".into()]);
        let expected = [[Value::Int(0), "z".into()], [Value::Int(1), "y".into()]].map(Vec::from);
        assert_eq!(drained(&mut sorted), texts(&expected));
    }

    #[test]
    fn a_missing_folder_is_named() {
        let mut sorted = SortedRows::new("/no/such/folder", 1);
        sorted.push(0, &[Value::Int(1)]).unwrap();
        let err = sorted.push(0, &[Value::Int(2)]).unwrap_err();
        assert!(err.to_string().contains("/no/such/folder"), "{err}");
    }
}
