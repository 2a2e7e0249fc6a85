//! The `csv` spout on an arbitrary file (header, records, event times in
//! each of the time formats): the run ends, malformed records go to its
//! `errors` stream, nothing panics. Input: one byte choosing the time
//! format, then the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use squall::builtins::{CsvSpout, CsvSpoutOptions};
use squall::time::TimestampFormat;
use squall::{LocalCluster, TopologyBuilder};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, file)) = data.split_first() else { return };
    let format = match choice % 4 {
        0 => TimestampFormat::Rfc3339,
        1 => TimestampFormat::UnixSeconds,
        2 => TimestampFormat::UnixMillis,
        _ => TimestampFormat::Pattern("%Y-%m-%d %H:%M:%S".into()),
    };
    // The formats' parsers alone, on the whole text too.
    if let Ok(text) = std::str::from_utf8(file) {
        let _ = format.parse(text);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.csv");
    std::fs::write(&path, file).unwrap();
    let mut options = CsvSpoutOptions::new("ts");
    options.time_format = format;
    let Ok(spout) = CsvSpout::new(&path, options) else { return };
    let mut builder = TopologyBuilder::new("fuzz-csv");
    builder.set_spout("events", spout, 1);
    builder.config_mut().worker_threads = 1;
    let Ok(topology) = builder.build() else { return };
    let summary = LocalCluster::run(topology).expect("a csv spout never fails on bad records");
    assert!(summary.metrics.component("events").is_some());
});
