//! [`StdoutSink`]: every tuple as a CSV line on standard output.
//!
//! Owns the CSV formatting of a tuple for the terminal. For large outputs
//! use [`super::FileSink`]; this sink writes each line as it comes.

use std::io::Write;

use crate::error::{Error, Result};
use crate::model::Tuple;
use crate::runtime::OutputCollector;
use crate::topology::Bolt;

/// Prints each input tuple as one CSV line on standard output: its values
/// in field order, by their `Display` form (strings bare, quoted only when
/// they hold a comma, quote or newline). No header.
///
/// Each line is written whole while standard output is locked, so tasks of
/// a sink with parallelism > 1 never interleave within a line. Lines are
/// written as they arrive (no delay), at the cost of one write per line.
///
/// # Examples
/// ```
/// use squall::builtins::{GeneratorSpout, StdoutSink};
/// use squall::TopologyBuilder;
///
/// let mut builder = TopologyBuilder::new("print");
/// builder.set_spout("lines", GeneratorSpout::sentences(0).with_limit(3), 1);
/// builder.set_bolt("print", StdoutSink::new(), 1).shuffle_grouping("lines");
/// ```
#[derive(Debug)]
pub struct StdoutSink {
    /// Formats one line at a time in its buffer, flushed after each tuple.
    line: csv::Writer<LockedStdout>,
    field: String,
}

/// Standard output, locked for each write: the CSV writer hands over a
/// whole line in one `write_all`, so lines of parallel tasks never mix.
#[derive(Debug)]
struct LockedStdout;

impl Write for LockedStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().lock().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        std::io::stdout().lock().write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().flush()
    }
}

impl Clone for StdoutSink {
    fn clone(&self) -> Self {
        StdoutSink::new()
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        StdoutSink::new()
    }
}

impl StdoutSink {
    /// A sink printing to this process's standard output.
    pub fn new() -> StdoutSink {
        let line = csv::WriterBuilder::new().flexible(true).from_writer(LockedStdout);
        StdoutSink { line, field: String::new() }
    }
}

/// Formats `input`'s values as one CSV record into `writer`, using `field`
/// as scratch space for each value's text.
pub(crate) fn write_values<W: Write>(
    writer: &mut csv::Writer<W>,
    field: &mut String,
    input: &Tuple,
) -> csv::Result<()> {
    use std::fmt::Write as _;
    for v in input.values() {
        field.clear();
        let _ = write!(field, "{v}");
        writer.write_field(field.as_bytes())?;
    }
    writer.write_record(None::<&[u8]>)
}

impl Bolt for StdoutSink {
    /// # Errors
    /// [`Error::Io`] on `stdout` if writing fails (for example a closed
    /// pipe).
    fn execute(&mut self, input: Tuple, _collector: &mut OutputCollector) -> Result<()> {
        let to_io = |e: csv::Error| Error::io("stdout", std::io::Error::other(e.to_string()));
        write_values(&mut self.line, &mut self.field, &input).map_err(to_io)?;
        self.line.flush().map_err(|e| Error::io("stdout", e))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{TupleSource, Value};
    use crate::Fields;

    #[test]
    fn formats_values_as_csv() {
        let src = TupleSource {
            component: "c".into(),
            stream: "default".into(),
            task: 0,
            fields: Fields::new(["a", "b", "c", "d"]),
        };
        let t = Tuple::new(
            Arc::new(src),
            vec![
                Value::from("plain"),
                Value::from("has, comma \"q\""),
                Value::Int(-3),
                Value::Null,
            ],
        );
        let mut w = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
        let mut field = String::new();
        write_values(&mut w, &mut field, &t).unwrap();
        write_values(&mut w, &mut field, &t).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text, "plain,\"has, comma \"\"q\"\"\",-3,\n".repeat(2));
    }
}
