//! Word count written against Storm's topology API in Rust, with one
//! user-written bolt (`WordCounter`), the same job as
//! `examples/word-count.yaml`.
//!
//! ```text
//! cargo run --release -p squall --example word_count -- --input data/shakespeare
//! ```

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Parser;
use squall::builtins::{CountsCsvSink, FileSpout, SplitWordsBolt};
use squall::topology::OutputDeclarer;
use squall::{Bolt, Fields, LocalCluster, OutputCollector, TopologyBuilder, Tuple, Value};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A user-written bolt: counts the words it receives (its input is fields
/// grouped on `word`, so each word has one owner task) and emits
/// `(word, count)` on every update.
#[derive(Clone, Default)]
struct WordCounter {
    counts: HashMap<String, i64>,
}

impl Bolt for WordCounter {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(Fields::new(["word", "count"]));
    }

    fn execute(&mut self, input: Tuple, collector: &mut OutputCollector) -> squall::Result<()> {
        let word = input.get_str("word")?;
        let count = match self.counts.get_mut(word) {
            Some(c) => {
                *c += 1;
                *c
            }
            None => {
                self.counts.insert(word.to_string(), 1);
                1
            }
        };
        collector.emit(vec![Value::from(word), Value::Int(count)])
    }
}

/// Counts the words of a file or folder of text.
#[derive(Parser)]
struct Args {
    /// A text file, or a folder of them.
    #[arg(long, default_value = "data/shakespeare")]
    input: PathBuf,
    /// Where the `word,count` CSV goes.
    #[arg(long, default_value = "word-count.csv")]
    output: PathBuf,
    /// Tasks per component.
    #[arg(long, default_value_t = 2)]
    parallelism: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let p = args.parallelism;
    let mut builder = TopologyBuilder::new("word-count");
    builder.set_spout("lines", FileSpout::new(&args.input)?, p);
    builder.set_bolt("split", SplitWordsBolt::new("line"), p).local_or_shuffle_grouping("lines");
    builder
        .set_bolt("count", WordCounter::default(), p)
        .fields_grouping("split", Fields::new(["word"]));
    builder
        .set_bolt("sink", CountsCsvSink::new(&args.output, "word", "count")?.with_print_top(10), 1)
        .global_grouping("count");
    let summary = LocalCluster::run(builder.build()?)?;
    let words = summary.metrics.component("count").map_or(0, |c| c.executed);
    let secs = summary.elapsed.as_secs_f64();
    println!(
        "{words} words in {secs:.2} s ({:.0} words/s); results: {}",
        words as f64 / secs,
        args.output.display()
    );
    Ok(())
}
