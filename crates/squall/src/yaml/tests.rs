//! Tests of YAML loading, from strings, with components that need no files.

use super::*;
use crate::LocalCluster;

/// A word count over the generator, with parameters.
const WORD_COUNT: &str = r#"
name: wc
params:
  limit: 50
  parallelism: 2
config:
  buffer_timeout_ms: 5
spouts:
  - id: lines
    type: generator
    settings: { limit: "${limit}" }
bolts:
  - id: split
    type: split_words
    parallelism: ${parallelism}
    settings: { field: line }
  - id: count
    type: count
    parallelism: ${parallelism}
    settings: { fields: [word] }
  - id: print
    type: stdout
streams:
  - { from: lines, to: split, grouping: shuffle }
  - { from: split, to: count, grouping: { fields: [word] } }
  - { from: count, to: print, grouping: global }
"#;

fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn err(text: &str, overrides: &[(&str, &str)]) -> String {
    let e = parse(text, &set(overrides)).expect_err("should not load").to_string();
    assert!(!e.contains('\n'), "error spans several lines: {e}");
    e
}

#[test]
fn word_count_loads_with_params_and_config() {
    let loaded = parse(WORD_COUNT, &[]).unwrap();
    let t = &loaded.topology;
    assert_eq!(t.name(), "wc");
    assert_eq!(t.config().buffer_timeout_ms, 5);
    assert_eq!(t.parallelism("split"), Some(2));
    assert_eq!(t.parallelism("count"), Some(2));
    assert_eq!(t.parallelism("lines"), Some(1));
    assert!(t.is_spout("lines"));
    assert!(t.is_sink("print"));
    assert!(loaded.outputs.is_empty());
}

#[test]
fn set_overrides_with_yaml_types() {
    let loaded = parse(WORD_COUNT, &set(&[("parallelism", "3")])).unwrap();
    assert_eq!(loaded.topology.parallelism("count"), Some(3));
}

#[test]
fn loaded_topology_runs() {
    let loaded = parse(WORD_COUNT, &set(&[("limit", "40")])).unwrap();
    let summary = LocalCluster::run(loaded.topology).unwrap();
    assert_eq!(summary.metrics.spout_emitted(), 40);
    assert!(summary.metrics.component("split").unwrap().emitted > 40);
}

#[test]
fn named_stream_and_every_grouping_name_parse() {
    let text = r#"
name: g
spouts: [{ id: s, type: generator, settings: { limit: 1 } }]
bolts:
  - { id: a, type: split_words, settings: { field: line } }
  - { id: b, type: stdout }
  - { id: c, type: stdout }
  - { id: d, type: stdout }
  - { id: e, type: stdout }
streams:
  - { from: s, to: a, stream: default, grouping: local_or_shuffle }
  - { from: a, to: b, grouping: all }
  - { from: a, to: c, grouping: none }
  - { from: a, to: d }
  - { from: a, to: e, grouping: forward }
"#;
    parse(text, &[]).unwrap();
}

#[test]
fn bad_yaml_names_line_and_column() {
    let e = err("name: x\nspouts: [\n", &[]);
    assert!(e.starts_with("topology YAML: "), "{e}");
    assert!(e.contains("line"), "{e}");
}

#[test]
fn unknown_key_is_refused_with_its_place() {
    let text = WORD_COUNT.replace("settings: { limit", "setings: { limit");
    let e = err(&text, &[]);
    assert!(e.contains("unknown field `setings`"), "{e}");
    assert!(e.contains("at line 11 column 5"), "{e}");
}

#[test]
fn unknown_config_key_is_refused() {
    let text = WORD_COUNT.replace("buffer_timeout_ms: 5", "buffer_timeout: 5");
    let e = err(&text, &[]);
    assert!(e.starts_with("config: unknown field `buffer_timeout`"), "{e}");
}

#[test]
fn config_values_are_checked() {
    let text = WORD_COUNT.replace("buffer_timeout_ms: 5", "batch_size: 0");
    let e = err(&text, &[]);
    assert!(e.contains("batch_size"), "{e}");
}

#[test]
fn unknown_parameter_reference_is_named() {
    let text = WORD_COUNT.replace("${limit}", "${limt}");
    let e = err(&text, &[]);
    assert_eq!(
        e,
        "spout 'lines' settings.limit: unknown parameter '${limt}'; declared parameters: limit, \
         parallelism"
    );
}

#[test]
fn set_of_undeclared_parameter_is_refused() {
    let e = err(WORD_COUNT, &[("foo", "1")]);
    assert_eq!(
        e,
        "--set foo: the topology declares no parameter 'foo'; it has: limit, parallelism"
    );
}

#[test]
fn unknown_component_type_names_the_component() {
    let text = WORD_COUNT.replace("type: count", "type: cuont");
    let e = err(&text, &[]);
    assert!(e.starts_with("bolt 'count' (cuont): unknown bolt type 'cuont'"), "{e}");
    assert!(e.contains("cuont"), "{e}");
}

#[test]
fn bad_setting_names_the_component() {
    let text = WORD_COUNT.replace("settings: { field: line }", "settings: { field: 3 }");
    let e = err(&text, &[]);
    assert!(e.starts_with("bolt 'split' (split_words): bad settings: "), "{e}");
}

#[test]
fn stream_from_unknown_component_is_named() {
    let text = WORD_COUNT.replace("from: split,", "from: splt,");
    let e = err(&text, &[]);
    assert_eq!(
        e,
        "streams[1] (splt -> count): from: no component is called 'splt'; components: lines, \
         split, count, print"
    );
}

#[test]
fn stream_to_unknown_or_spout_is_named() {
    let text = WORD_COUNT.replace("to: print", "to: prnt");
    assert!(err(&text, &[]).contains("to: no bolt is called 'prnt'"));
    let text = WORD_COUNT.replace("to: print", "to: lines");
    assert!(err(&text, &[]).contains("'lines' is a spout"));
}

#[test]
fn bad_grouping_and_parallelism_are_named() {
    let text = WORD_COUNT.replace("grouping: global", "grouping: globl");
    let e = err(&text, &[]);
    assert!(e.starts_with("streams[2] (count -> print): grouping must be one of"), "{e}");
    let e = err(WORD_COUNT, &[("parallelism", "two")]);
    assert_eq!(e, "bolt 'split': parallelism must be a whole number, got 'two'");
}

#[test]
fn graph_errors_come_from_the_builder() {
    // A fields grouping on a field the stream lacks.
    let text = WORD_COUNT.replace("{ fields: [word] } }", "{ fields: [wrd] } }");
    let e = err(&text, &[]);
    assert!(e.contains("'count'"), "{e}");
    // A bolt without inputs.
    let text = WORD_COUNT.replace("  - { from: count, to: print, grouping: global }\n", "");
    let e = err(&text, &[]);
    assert!(e.contains("'print'"), "{e}");
    // Parallelism 0.
    let e = err(WORD_COUNT, &[("parallelism", "0")]);
    assert!(e.contains("'split'") || e.contains("'count'"), "{e}");
}

#[test]
fn load_prefixes_yaml_errors_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "name: [unclosed\n").unwrap();
    let e = load(&path, &[]).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: ", path.display())), "{e}");
    let e = load(&dir.path().join("missing.yaml"), &[]).unwrap_err().to_string();
    assert!(e.contains("missing.yaml"), "{e}");
}

#[test]
fn at_least_once_config_loads_and_tracks_every_spout_tuple() {
    let text = WORD_COUNT.replace(
        "buffer_timeout_ms: 5",
        "buffer_timeout_ms: 5\n  guarantee: at_least_once\n  ackers: 2\n  \
         message_timeout_ms: 10000\n  max_spout_pending: 7\n  max_task_restarts: 3",
    );
    let loaded = parse(&text, &[]).unwrap();
    let c = loaded.topology.config();
    assert_eq!(c.guarantee, crate::Guarantee::AtLeastOnce);
    assert_eq!((c.ackers, c.message_timeout_ms), (2, 10_000));
    assert_eq!((c.max_spout_pending, c.max_task_restarts), (Some(7), 3));
    assert!(c.tracking());
    let summary = LocalCluster::run(loaded.topology).unwrap();
    let lines = summary.metrics.component("lines").unwrap();
    assert_eq!((lines.emitted, lines.acked, lines.failed), (50, 50, 0));
    // Each of the 50 lines has 6 to 10 words, each counted and printed.
    let split = summary.metrics.component("split").unwrap();
    assert_eq!(split.acked, 50, "the basic bolt acked each input");
    assert_eq!(summary.metrics.component("print").unwrap().acked, split.emitted);
}

#[test]
fn guarantee_and_tracking_knobs_are_checked() {
    let text = WORD_COUNT.replace("buffer_timeout_ms: 5", "guarantee: at_last_once");
    let e = err(&text, &[]);
    assert!(e.contains("guarantee") && e.contains("at_least_once"), "{e}");
    let text = WORD_COUNT.replace("buffer_timeout_ms: 5", "message_timeout_ms: 0");
    assert!(err(&text, &[]).contains("config.message_timeout_ms"));
    let text = WORD_COUNT.replace("buffer_timeout_ms: 5", "max_spout_pending: 0");
    assert!(err(&text, &[]).contains("config.max_spout_pending"));
    let text = WORD_COUNT.replace("buffer_timeout_ms: 5", "max_spout_pending: null");
    assert_eq!(parse(&text, &[]).unwrap().topology.config().max_spout_pending, None);
}
