//! Built-in components: the spouts, bolts and sinks that need no server, so
//! that a word count (or a YAML topology) runs with no code of one's own.
//!
//! | component | kind | fields |
//! |---|---|---|
//! | [`FileSpout`] | spout: lines of a file or folder, split across tasks | `line` |
//! | [`StdinSpout`] | spout: lines of standard input (task 0 only) | `line` |
//! | [`GeneratorSpout`] | spout: cycling sentences, optionally rate-limited and bounded | `seq`, `line` |
//! | [`SplitWordsBolt`] | bolt: one tuple per word of a text field | `word` |
//! | [`CountBolt`] | bolt: running count per key, emitted on every update | key fields, `count` |
//! | [`StdoutSink`] | sink: every tuple as a CSV line on standard output | — |
//! | [`FileSink`] | sink: every tuple as a CSV row, file replaced atomically at the end | — |
//! | [`StatefulCountBolt`] | bolt: running count per key in keyed state (checkpointed) | key fields, `count` |
//! | [`TransactionalFileSink`] | sink: CSV part files committed with checkpoints (exactly-once) | — |
//! | [`CountsCsvSink`] | sink: latest count per key, sorted, written atomically at the end | — |
//! | [`CsvSpout`] | spout: records of CSV files with an event-time column, watermarks, bad lines to `errors` | header fields, `event_time` |
//! | [`WindowBolt`] | bolt: tumbling, sliding, session or global windows with aggregates; late records to `late` | `window_start`, `window_end`, keys, aggregates |
//! | [`WindowCsvSink`] | sink: window results, sorted, written atomically at the end (append or update mode) | — |
//!
//! [`registry`] turns a YAML component spec (`type` plus settings) into a
//! factory for these. What this module does not own: the YAML file format
//! ([`crate::yaml`]) and the engine that runs the components
//! ([`crate::runtime`]).

mod atomic_file;
mod count;
mod counts_csv_sink;
mod csv_spout;
pub mod extensions;
mod file_sink;
mod file_spout;
mod generator_spout;
mod line_queue;
pub mod registry;
mod replay;
mod sorted_rows;
mod split_words;
mod stateful_count;
mod stdin_spout;
mod stdout_sink;
#[cfg(test)]
pub(crate) mod test_support;
mod transactional_file_sink;
mod window_bolt;
mod window_csv_sink;

pub use count::CountBolt;
pub use counts_csv_sink::CountsCsvSink;
pub use csv_spout::{CsvSpout, CsvSpoutOptions, EVENT_TIME_FIELD};
pub use file_sink::FileSink;
pub use file_spout::FileSpout;
pub use generator_spout::{GeneratorSpout, PASSES_GAUGE};
pub use line_queue::{LineQueue, LINES_PER_CALL, QUEUE_LINES};
pub use replay::Replay;
pub use split_words::SplitWordsBolt;
pub use stateful_count::StatefulCountBolt;
pub use stdin_spout::StdinSpout;
pub use stdout_sink::StdoutSink;
pub use transactional_file_sink::{PartFile, TransactionalFileSink};
pub use window_bolt::{WindowBolt, WindowSpec};
pub use window_csv_sink::WindowCsvSink;
