//! The built-in components by name: turns a YAML component spec (its
//! `type` and settings) into a factory of task instances.
//!
//! Owns the settings of each kind (their names, defaults and validation).
//! It does not own the YAML file format around them ([`crate::yaml`]).
//!
//! | kind | settings |
//! |---|---|
//! | spout `file` | `path` (file or folder, required) |
//! | spout `stdin` | none |
//! | spout `generator` | `rate_per_sec` (tuples/s over all tasks, default 0 = unlimited), `limit` (total tuples, default unbounded), `lines` (default: built-in sentences), `lines_from` (a file or folder whose lines are cycled through instead) |
//! | bolt `split_words` | `field` (default `line`) |
//! | bolt `count` | `fields` (key fields, default `[word]`) |
//! | bolt `stateful_count` | `fields` (key fields, default `[word]`); the count is keyed state, checkpointed |
//! | bolt `stdout` | none |
//! | bolt `file` | `path` (required) |
//! | bolt `transactional_file` | `path` (folder, created if missing, required): part files committed with checkpoints |
//! | bolt `counts_csv` | `path` (required), `key` (default `word`), `count` (default `count`), `print_top` (default 0) |
//! | spout `csv` | `path` (file or folder, required), `time_field` (required), `time_format` (`rfc3339` default, `unix_seconds`, `unix_millis`, or a strftime pattern), `watermark` (`monotonous` default, or `{max_out_of_orderness_ms: N}`), `watermark_every` (records, default 256), `null_values` (default `["", "NA"]`), `max_watermark_drift_ms` (watermark alignment of the tasks, default off) |
//! | bolt `window` | `window` (required: `{type: tumbling, size_ms}`, `{type: sliding, size_ms, slide_ms}`, `{type: session, gap_ms}`, `{type: global}`), `aggregates` (required: `[{fn: count\|sum\|min\|max\|avg, field, as}]`), `keys` (default none), `trigger` (`event_time` default, `processing_time`, `{count: N}`), `early_every_ms`, `allowed_lateness_ms` (default 0), `time_field` (default `event_time`) |
//! | bolt `window_csv` | `path` (required), `upsert_key` (fields; default none: every row kept), `sort_buffer_bytes` (rows held in memory before a sorted run is spilled next to `path`, default 33554432: 32 MiB) |
//!
//! Unknown settings are refused, so a typo is reported, not ignored.

use std::path::PathBuf;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{
    CountBolt, CountsCsvSink, CsvSpout, CsvSpoutOptions, FileSink, FileSpout, GeneratorSpout,
    SplitWordsBolt, StatefulCountBolt, StdinSpout, StdoutSink, TransactionalFileSink, WindowBolt,
    WindowCsvSink, WindowSpec,
};
use crate::error::{Error, Result};
use crate::model::Fields;
use crate::time::{TimestampFormat, WatermarkStrategy};
use crate::topology::{Bolt, BoltFactory, Spout, SpoutFactory};
use crate::window::{AggregateSpec, Trigger, WindowAssigner};

/// A spout made from a spec: its factory and a one-line description for
/// the user.
pub struct BuiltSpout {
    /// Makes one instance per task.
    pub factory: SpoutFactory,
    /// What the spout reads, for logs and the CLI (`"file spout over
    /// data/shakespeare (42 files, 5.5 MB)"`).
    pub description: String,
}

/// A bolt made from a spec: its factory, where it writes, and a one-line
/// description for the user.
pub struct BuiltBolt {
    /// Makes one instance per task.
    pub factory: BoltFactory,
    /// The file a sink writes (`file`, `counts_csv`), so that the CLI can
    /// say where the results went; `None` for other bolts.
    pub output: Option<PathBuf>,
    /// What the bolt does, for logs and the CLI.
    pub description: String,
}

/// The spout kinds [`spout`] knows: the built-in ones, then those
/// registered by other crates ([`super::extensions`]).
pub fn spout_kinds() -> Vec<&'static str> {
    let mut kinds = vec!["file", "stdin", "generator", "csv"];
    kinds.extend(super::extensions::spout_kinds());
    kinds
}

/// The bolt kinds [`bolt`] knows: the built-in ones, then those
/// registered by other crates ([`super::extensions`]).
pub fn bolt_kinds() -> Vec<&'static str> {
    let mut kinds = vec![
        "split_words",
        "count",
        "stateful_count",
        "stdout",
        "file",
        "transactional_file",
        "counts_csv",
        "window",
        "window_csv",
    ];
    kinds.extend(super::extensions::bolt_kinds());
    kinds
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpoutSettings {
    path: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoSettings {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GeneratorSettings {
    #[serde(default)]
    rate_per_sec: u64,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    lines: Option<Vec<String>>,
    /// A file, or a folder of files, whose non-empty lines are cycled
    /// through (e.g. Shakespeare at a given rate, without end).
    #[serde(default)]
    lines_from: Option<PathBuf>,
}

/// The non-empty lines of `path` (a file, or every file of a folder, by
/// name).
fn lines_of(what: &str, path: &std::path::Path) -> Result<Vec<String>> {
    let unreadable =
        |e: std::io::Error| Error::config(format!("{what}: lines_from {}: {e}", path.display()));
    let mut files = Vec::new();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(unreadable)? {
            let p = entry.map_err(unreadable)?.path();
            let hidden = p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if p.is_file() && !hidden {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut lines = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(unreadable)?;
        let text = String::from_utf8_lossy(&bytes);
        lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
    }
    if lines.is_empty() {
        return Err(Error::config(format!("{what}: lines_from {} has no line", path.display())));
    }
    Ok(lines)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitWordsSettings {
    #[serde(default = "default_line")]
    field: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountSettings {
    #[serde(default = "default_word_list")]
    fields: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSinkSettings {
    path: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountsCsvSettings {
    path: PathBuf,
    #[serde(default = "default_word")]
    key: String,
    #[serde(default = "default_count")]
    count: String,
    #[serde(default)]
    print_top: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvSpoutSettings {
    path: PathBuf,
    time_field: String,
    #[serde(default = "default_time_format")]
    time_format: TimestampFormat,
    #[serde(default = "default_watermark")]
    watermark: WatermarkStrategy,
    #[serde(default = "default_watermark_every")]
    watermark_every: usize,
    #[serde(default)]
    null_values: Option<Vec<String>>,
    #[serde(default)]
    max_watermark_drift_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowSettings {
    window: WindowAssigner,
    aggregates: Vec<AggregateSpec>,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    trigger: Trigger,
    #[serde(default)]
    early_every_ms: Option<u64>,
    #[serde(default)]
    allowed_lateness_ms: i64,
    #[serde(default = "default_event_time")]
    time_field: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowCsvSettings {
    path: PathBuf,
    #[serde(default)]
    upsert_key: Option<Vec<String>>,
    #[serde(default)]
    sort_buffer_bytes: Option<usize>,
}

fn default_time_format() -> TimestampFormat {
    TimestampFormat::Rfc3339
}
fn default_watermark() -> WatermarkStrategy {
    WatermarkStrategy::Monotonous
}
fn default_watermark_every() -> usize {
    256
}
fn default_event_time() -> String {
    "event_time".into()
}
fn default_line() -> String {
    "line".into()
}
fn default_word() -> String {
    "word".into()
}
fn default_count() -> String {
    "count".into()
}
fn default_word_list() -> Vec<String> {
    vec!["word".into()]
}

/// Reads the settings of `what` (`"spout 'file'"`); `Null` means none.
/// Reads the settings of a component spec into `T` (missing settings read
/// as an empty map), for built-in and extension kinds alike.
///
/// # Errors
/// [`Error::Config`] naming `what` and the bad setting.
pub fn settings<T: DeserializeOwned>(what: &str, value: &serde_yaml_ng::Value) -> Result<T> {
    let value = match value {
        serde_yaml_ng::Value::Null => serde_yaml_ng::Value::Mapping(Default::default()),
        v => v.clone(),
    };
    serde_yaml_ng::from_value(value)
        .map_err(|e| Error::config(format!("{what}: bad settings: {e}")))
}

/// A factory cloning `proto` for each task.
pub fn spout_factory<S: Spout + Clone + Sync>(proto: S) -> SpoutFactory {
    Arc::new(move || Box::new(proto.clone()))
}

/// A factory cloning `proto` for each task.
pub fn bolt_factory<B: Bolt + Clone + Sync>(proto: B) -> BoltFactory {
    Arc::new(move || Box::new(proto.clone()))
}

/// Bytes in a short human form (`5.5 MB`).
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut x = n as f64;
    let mut unit = 0;
    while x >= 1000.0 && unit + 1 < UNITS.len() {
        x /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[unit])
    }
}

/// Makes the built-in spout `kind` with `settings` (a YAML mapping, or
/// `Null` for none).
///
/// # Errors
/// [`Error::Config`] for an unknown kind (listing the known ones) or bad
/// settings (naming the kind and the field); the errors of the spout's
/// constructor, such as [`FileSpout::new`]'s for a missing path.
pub fn spout(kind: &str, settings_value: &serde_yaml_ng::Value) -> Result<BuiltSpout> {
    let what = format!("spout '{kind}'");
    let built = match kind {
        "file" => {
            let s: FileSpoutSettings = settings(&what, settings_value)?;
            let spout = FileSpout::new(&s.path)?;
            let files = spout.files().count();
            let description = format!(
                "file spout over {} ({files} file{}, {})",
                s.path.display(),
                if files == 1 { "" } else { "s" },
                human_bytes(spout.total_bytes())
            );
            BuiltSpout { factory: spout_factory(spout), description }
        }
        "stdin" => {
            let _: NoSettings = settings(&what, settings_value)?;
            BuiltSpout {
                factory: spout_factory(StdinSpout::new()),
                description: "stdin spout (lines of standard input)".into(),
            }
        }
        "generator" => {
            let s: GeneratorSettings = settings(&what, settings_value)?;
            let mut spout = GeneratorSpout::sentences(s.rate_per_sec);
            if let Some(lines) = s.lines.clone() {
                if lines.is_empty() {
                    return Err(Error::config(format!("{what}: bad settings: lines is empty")));
                }
                spout = spout.with_lines(lines);
            }
            if let Some(path) = &s.lines_from {
                if s.lines.is_some() {
                    return Err(Error::config(format!(
                        "{what}: bad settings: give lines or lines_from, not both"
                    )));
                }
                spout = spout.with_lines(lines_of(&what, path)?);
            }
            if let Some(limit) = s.limit {
                spout = spout.with_limit(limit);
            }
            let rate = match s.rate_per_sec {
                0 => "unlimited rate".to_string(),
                r => format!("{r} tuples/s"),
            };
            let limit = s.limit.map_or("unbounded".to_string(), |n| format!("{n} tuples"));
            BuiltSpout {
                factory: spout_factory(spout),
                description: format!("generator spout ({limit}, {rate})"),
            }
        }
        "csv" => {
            let s: CsvSpoutSettings = settings(&what, settings_value)?;
            let mut options = CsvSpoutOptions::new(&s.time_field);
            options.time_format = s.time_format;
            options.watermark = s.watermark;
            options.watermark_every = s.watermark_every;
            options.max_watermark_drift_ms = s.max_watermark_drift_ms;
            if let Some(nulls) = s.null_values {
                options.null_values = nulls;
            }
            let spout = CsvSpout::new(&s.path, options)?;
            let description = format!(
                "csv spout over {} (event time '{}', watermark {:?})",
                s.path.display(),
                s.time_field,
                s.watermark
            );
            BuiltSpout { factory: spout_factory(spout), description }
        }
        _ if super::extensions::spout(kind).is_some() => {
            let make = super::extensions::spout(kind).expect("checked");
            make(settings_value)?
        }
        _ => {
            return Err(Error::config(format!(
                "unknown spout type '{kind}'; known: {}",
                spout_kinds().join(", ")
            )))
        }
    };
    Ok(built)
}

/// Makes the built-in bolt or sink `kind` with `settings` (a YAML mapping,
/// or `Null` for none).
///
/// # Errors
/// [`Error::Config`] for an unknown kind (listing the known ones) or bad
/// settings (naming the kind and the field); the errors of the sink's
/// constructor, such as a missing output folder.
pub fn bolt(kind: &str, settings_value: &serde_yaml_ng::Value) -> Result<BuiltBolt> {
    let what = format!("bolt '{kind}'");
    let built = match kind {
        "split_words" => {
            let s: SplitWordsSettings = settings(&what, settings_value)?;
            BuiltBolt {
                description: format!("split_words bolt (words of field '{}')", s.field),
                factory: bolt_factory(SplitWordsBolt::new(&s.field)),
                output: None,
            }
        }
        "count" => {
            let s: CountSettings = settings(&what, settings_value)?;
            if s.fields.is_empty() {
                return Err(Error::config(format!("{what}: bad settings: fields is empty")));
            }
            BuiltBolt {
                description: format!("count bolt (count per {})", s.fields.join(", ")),
                factory: bolt_factory(CountBolt::new(Fields::new(s.fields))),
                output: None,
            }
        }
        "stateful_count" => {
            let s: CountSettings = settings(&what, settings_value)?;
            if s.fields.is_empty() {
                return Err(Error::config(format!("{what}: bad settings: fields is empty")));
            }
            BuiltBolt {
                description: format!(
                    "stateful_count bolt (count per {} in keyed state)",
                    s.fields.join(", ")
                ),
                factory: bolt_factory(StatefulCountBolt::new(Fields::new(s.fields))),
                output: None,
            }
        }
        "transactional_file" => {
            let s: FileSinkSettings = settings(&what, settings_value)?;
            let sink = TransactionalFileSink::new(&s.path)?;
            BuiltBolt {
                description: format!(
                    "transactional_file sink writing part files into {}",
                    s.path.display()
                ),
                factory: bolt_factory(sink.bolt()),
                output: Some(s.path),
            }
        }
        "stdout" => {
            let _: NoSettings = settings(&what, settings_value)?;
            BuiltBolt {
                factory: bolt_factory(StdoutSink::new()),
                output: None,
                description: "stdout sink (CSV lines on standard output)".into(),
            }
        }
        "file" => {
            let s: FileSinkSettings = settings(&what, settings_value)?;
            let sink = FileSink::new(&s.path)?;
            BuiltBolt {
                description: format!("file sink writing {}", s.path.display()),
                factory: bolt_factory(sink),
                output: Some(s.path),
            }
        }
        "counts_csv" => {
            let s: CountsCsvSettings = settings(&what, settings_value)?;
            let sink = CountsCsvSink::new(&s.path, &s.key, &s.count)?.with_print_top(s.print_top);
            BuiltBolt {
                description: format!(
                    "counts_csv sink writing {} ({}, {})",
                    s.path.display(),
                    s.key,
                    s.count
                ),
                factory: bolt_factory(sink),
                output: Some(s.path),
            }
        }
        "window" => {
            let s: WindowSettings = settings(&what, settings_value)?;
            let spec = WindowSpec {
                window: s.window,
                trigger: s.trigger,
                early_every_ms: s.early_every_ms,
                keys: s.keys,
                aggregates: s.aggregates,
                time_field: s.time_field,
                allowed_lateness_ms: s.allowed_lateness_ms,
            };
            let bolt = WindowBolt::new(spec).map_err(|e| match e {
                Error::Config(msg) => Error::config(format!("{what}: {msg}")),
                other => other,
            })?;
            let description = format!(
                "window bolt ({} per [{}]: {})",
                bolt.spec().window.describe(),
                bolt.spec().keys.join(", "),
                bolt.output_fields().names()[2 + bolt.spec().keys.len()..].join(", ")
            );
            BuiltBolt { factory: bolt_factory(bolt), output: None, description }
        }
        "window_csv" => {
            let s: WindowCsvSettings = settings(&what, settings_value)?;
            let mut sink = WindowCsvSink::new(&s.path, s.upsert_key.map(Fields::new))?;
            if let Some(bytes) = s.sort_buffer_bytes {
                if bytes == 0 {
                    let e = format!("{what}: sort_buffer_bytes must be at least 1");
                    return Err(Error::config(e));
                }
                sink = sink.with_sort_buffer(bytes);
            }
            BuiltBolt {
                description: format!("window_csv sink writing {}", s.path.display()),
                factory: bolt_factory(sink),
                output: Some(s.path),
            }
        }
        _ if super::extensions::bolt(kind).is_some() => {
            let make = super::extensions::bolt(kind).expect("checked");
            make(settings_value)?
        }
        _ => {
            return Err(Error::config(format!(
                "unknown bolt type '{kind}'; known: {}",
                bolt_kinds().join(", ")
            )))
        }
    };
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LocalCluster, TopologyBuilder};

    fn yaml(text: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    fn err_of<T>(r: Result<T>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn builtins_are_send_and_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<FileSpout>();
        check::<StdinSpout>();
        check::<GeneratorSpout>();
        check::<SplitWordsBolt>();
        check::<CountBolt>();
        check::<StdoutSink>();
        check::<FileSink>();
        check::<CountsCsvSink>();
        check::<CsvSpout>();
        check::<WindowBolt>();
        check::<WindowCsvSink>();
    }

    #[test]
    fn unknown_kind_lists_the_known_ones() {
        let err = err_of(spout("kafka", &serde_yaml_ng::Value::Null));
        assert_eq!(err, "unknown spout type 'kafka'; known: file, stdin, generator, csv");
        let err = err_of(bolt("sum", &serde_yaml_ng::Value::Null));
        assert_eq!(
            err,
            "unknown bolt type 'sum'; known: split_words, count, stateful_count, stdout, file, \
             transactional_file, counts_csv, window, window_csv"
        );
    }

    #[test]
    fn unknown_or_missing_setting_names_kind_and_field() {
        let err = err_of(spout("generator", &yaml("rate: 5")));
        assert!(err.contains("spout 'generator'") && err.contains("rate"), "{err}");
        let err = err_of(spout("file", &serde_yaml_ng::Value::Null));
        assert!(err.contains("spout 'file'") && err.contains("path"), "{err}");
        let err = err_of(bolt("counts_csv", &yaml("{path: c.csv, top: 3}")));
        assert!(err.contains("bolt 'counts_csv'") && err.contains("top"), "{err}");
        let err = err_of(bolt("split_words", &yaml("field: 3")));
        assert!(err.contains("bolt 'split_words'"), "{err}");
        let err = err_of(spout("generator", &yaml("rate_per_sec: -1")));
        assert!(err.contains("spout 'generator'"), "{err}");
        let err = err_of(bolt("stdout", &yaml("x: 1")));
        assert!(err.contains("bolt 'stdout'") && err.contains('x'), "{err}");
    }

    #[test]
    fn missing_file_and_folder_are_named() {
        let err = err_of(spout("file", &yaml("path: /no/such/corpus")));
        assert!(err.contains("/no/such/corpus"), "{err}");
        let err = err_of(bolt("file", &yaml("path: /no/such/out/x.csv")));
        assert!(err.contains("/no/such/out"), "{err}");
    }

    #[test]
    fn built_components_run_a_word_count() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.txt"), "a b a\nb a\n").unwrap();
        let out = dir.path().join("counts.csv");
        let input = yaml(&format!("path: {}", dir.path().join("in.txt").display()));
        let lines = spout("file", &input).unwrap();
        assert!(lines.description.contains("1 file,"), "{}", lines.description);
        let split = bolt("split_words", &serde_yaml_ng::Value::Null).unwrap();
        let count = bolt("count", &yaml("{}")).unwrap();
        let save = bolt("counts_csv", &yaml(&format!("path: {}", out.display()))).unwrap();
        assert_eq!(save.output.as_deref(), Some(out.as_path()));
        assert_eq!(split.output, None);

        let mut builder = TopologyBuilder::new("registry-test");
        builder.set_spout_factory("lines", lines.factory, 2);
        builder.set_bolt_factory("split", split.factory, 2).shuffle_grouping("lines");
        builder
            .set_bolt_factory("count", count.factory, 2)
            .fields_grouping("split", Fields::new(["word"]));
        builder.set_bolt_factory("save", save.factory, 1).global_grouping("count");
        LocalCluster::run(builder.build().unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "word,count\na,3\nb,2\n");
    }

    #[test]
    fn generator_settings_apply() {
        let g = spout("generator", &yaml("{limit: 7, lines: [x y], rate_per_sec: 0}")).unwrap();
        assert_eq!(g.description, "generator spout (7 tuples, unlimited rate)");
        let err = err_of(spout("generator", &yaml("lines: []")));
        assert!(err.contains("lines"), "{err}");
        let err = err_of(bolt("count", &yaml("fields: []")));
        assert!(err.contains("fields"), "{err}");
    }
}
