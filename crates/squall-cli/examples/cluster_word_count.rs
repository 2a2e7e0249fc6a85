//! A Rust topology shipped to a cluster as a binary (Storm's topology jar):
//! word count over a folder of text into a `word,count` CSV. Its `main` is
//! [`squall_cluster::binary::cluster_main`], which gives it three modes:
//!
//! ```text
//! cargo build --release -p squall-cli --example cluster_word_count
//! B=target/release/examples/cluster_word_count
//! $B run --name wc --set input=data/shakespeare --set output=wc.csv   # local mode
//! squall submit --binary $B --name wc --set input=$PWD/data/shakespeare --set output=/tmp/wc.csv
//! ```
//!
//! Parameters: `input` (a file or folder, required), `output` (the CSV,
//! required), `parallelism` (tasks per component, default 2).

use std::process::ExitCode;

use squall::builtins::{CountBolt, CountsCsvSink, FileSpout, SplitWordsBolt};
use squall::{Fields, Topology, TopologyBuilder};

fn build(name: &str, params: &[(String, String)]) -> squall::Result<Topology> {
    let param = |key: &str| params.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let required = |key: &str| {
        param(key).ok_or_else(|| squall::Error::config(format!("parameter '{key}' is required")))
    };
    let p = match param("parallelism") {
        Some(v) => v
            .parse()
            .map_err(|_| squall::Error::config(format!("parallelism '{v}' is not a number")))?,
        None => 2,
    };
    let mut builder = TopologyBuilder::new(name);
    builder.set_spout("lines", FileSpout::new(required("input")?)?, p);
    builder.set_bolt("split", SplitWordsBolt::new("line"), p).local_or_shuffle_grouping("lines");
    builder
        .set_bolt("count", CountBolt::new(Fields::new(["word"])), p)
        .fields_grouping("split", Fields::new(["word"]));
    builder
        .set_bolt("sink", CountsCsvSink::new(required("output")?, "word", "count")?, 1)
        .global_grouping("count");
    builder.build()
}

fn main() -> ExitCode {
    squall_cluster::binary::cluster_main(build)
}
