//! Storm's DRPC in one process: a running topology answers
//! `execute(function, args)`. The function counts a word in Shakespeare's
//! plays with Storm's "reach" shape: the request fans out to every shard
//! (all grouping; each of three tasks holds the counts of a third of the
//! plays), each answers a partial count, and a merge task (fields grouping
//! on the request) sums the partials once every shard has answered. The
//! answers equal a plain count, concurrent callers get their own answers,
//! a request whose tuple tree fails errs at once (`at_least_once`), and a
//! request that nothing serves times out with an error.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::corpus;
use squall::drpc::{DrpcSpout, LocalDrpc, ReturnResults, RETURN_INFO};
use squall::topology::OutputDeclarer;
use squall::{
    Bolt, Fields, Guarantee, LocalCluster, OutputCollector, Result, TopologyBuilder,
    TopologyConfig, TopologyContext, Tuple, Value,
};

/// Adds the words of `text` to `counts` (maximal alphanumeric runs,
/// lowercased, as `split_words`).
fn count_words(text: &str, counts: &mut HashMap<String, i64>) {
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
}

/// The plays of `dir`, by name.
fn plays(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

/// One shard of the corpus: task i of n holds the counts of plays i, i+n,
/// ...; answers `(return-info, partial)` for the word in `args`.
#[derive(Clone)]
struct Shard {
    dir: PathBuf,
    counts: HashMap<String, i64>,
}

impl Bolt for Shard {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new([RETURN_INFO, "partial"]));
    }
    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        for (i, play) in plays(&self.dir).iter().enumerate() {
            if i % ctx.parallelism() == ctx.task_index() {
                count_words(&read(play), &mut self.counts);
            }
        }
        Ok(())
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        let word = t.get_str("args")?.to_lowercase();
        let partial = self.counts.get(&word).copied().unwrap_or(0);
        c.emit(vec![Value::Int(t.get_i64(RETURN_INFO)?), Value::Int(partial)])
    }
}

/// Sums the partials of each request; once every shard task has answered,
/// emits `(result, return-info)`.
#[derive(Clone, Default)]
struct Merge {
    shards: usize,
    /// Partials received and their sum, by request.
    partials: HashMap<i64, (usize, i64)>,
}

impl Bolt for Merge {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["result", RETURN_INFO]));
    }
    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.shards = ctx.component_tasks("shards").len();
        Ok(())
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        let id = t.get_i64(RETURN_INFO)?;
        let entry = self.partials.entry(id).or_default();
        entry.0 += 1;
        entry.1 += t.get_i64("partial")?;
        if entry.0 == self.shards {
            let (_, sum) = self.partials.remove(&id).expect("just seen");
            c.emit(vec![Value::Int(sum), Value::Int(id)])?;
        }
        Ok(())
    }
}

fn word_counting_topology(drpc: &LocalDrpc, guarantee: Guarantee) -> TopologyBuilder {
    let mut b = TopologyBuilder::new("drpc-count");
    b.set_spout("requests", DrpcSpout::new(drpc, "count"), 1);
    let shard = Shard { dir: corpus(), counts: HashMap::new() };
    b.set_bolt("shards", shard, 3).all_grouping("requests");
    b.set_bolt("merge", Merge::default(), 2).fields_grouping("shards", Fields::new([RETURN_INFO]));
    b.set_bolt("return", ReturnResults::new(drpc), 1).shuffle_grouping("merge");
    b.config(TopologyConfig { guarantee, buffer_timeout_ms: 1, ..TopologyConfig::default() });
    b
}

/// The word counts of the whole corpus, by a plain loop.
fn reference() -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for play in plays(&corpus()) {
        count_words(&read(&play), &mut counts);
    }
    counts
}

#[test]
fn concurrent_callers_get_the_counts_of_a_plain_loop() {
    let reference = reference();
    let mut words: Vec<&String> = reference.keys().collect();
    words.sort();
    let asked: Vec<String> = words
        .iter()
        .step_by(words.len() / 60)
        .map(|w| w.to_string())
        .chain(["nonesuchword".into()])
        .collect();
    for guarantee in [Guarantee::AtMostOnce, Guarantee::AtLeastOnce] {
        let drpc = LocalDrpc::new();
        let running =
            LocalCluster::submit(word_counting_topology(&drpc, guarantee).build().unwrap())
                .unwrap();
        let callers: Vec<_> = asked
            .chunks(asked.len() / 4 + 1)
            .map(|chunk| {
                let (drpc, chunk) = (drpc.clone(), chunk.to_vec());
                std::thread::spawn(move || {
                    chunk
                        .into_iter()
                        .map(|w| {
                            let answer = drpc.execute("count", &w, Duration::from_secs(60));
                            (w, answer.map(|a| a.parse::<i64>().unwrap()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for caller in callers {
            for (word, answer) in caller.join().unwrap() {
                let expected = reference.get(&word).copied().unwrap_or(0);
                assert_eq!(answer.unwrap(), expected, "{word} ({guarantee:?})");
            }
        }
        running.kill();
        running.join().unwrap();
    }
}

#[test]
fn a_request_nothing_serves_times_out_with_an_error() {
    let drpc = LocalDrpc::new();
    let topology = word_counting_topology(&drpc, Guarantee::AtMostOnce).build().unwrap();
    let running = LocalCluster::submit(topology).unwrap();
    let error = drpc.execute("reach", "x", Duration::from_millis(200)).unwrap_err();
    assert_eq!(error.to_string(), "drpc function 'reach': no answer within 200 ms");
    // The topology still serves its own function.
    let answer = drpc.execute("count", "Hamlet", Duration::from_secs(60)).unwrap();
    assert_eq!(answer, reference()["hamlet"].to_string());
    running.kill();
    running.join().unwrap();
}

/// A shard that fails (an error, so its input's tree fails) every request
/// for `word`.
#[derive(Clone)]
struct FailsOn {
    inner: Shard,
    word: &'static str,
}

impl Bolt for FailsOn {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        self.inner.declare_outputs(d);
    }
    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.inner.prepare(ctx)
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        if t.get_str("args")? == self.word {
            return Err(squall::Error::Other(format!("cannot count '{}'", self.word)));
        }
        self.inner.execute(t, c)
    }
}

#[test]
fn a_failed_request_errs_at_once_and_the_others_are_answered() {
    let drpc = LocalDrpc::new();
    let mut b = TopologyBuilder::new("drpc-failing");
    b.set_spout("requests", DrpcSpout::new(&drpc, "count"), 1);
    let shard = FailsOn { inner: Shard { dir: corpus(), counts: HashMap::new() }, word: "doom" };
    b.set_bolt("shards", shard, 3).all_grouping("requests");
    b.set_bolt("merge", Merge::default(), 2).fields_grouping("shards", Fields::new([RETURN_INFO]));
    b.set_bolt("return", ReturnResults::new(&drpc), 1).shuffle_grouping("merge");
    // A message timeout far longer than the test: only the fail of the
    // tree, not a timeout, can answer the caller in time.
    b.config(TopologyConfig {
        guarantee: Guarantee::AtLeastOnce,
        message_timeout_ms: 600_000,
        buffer_timeout_ms: 1,
        ..TopologyConfig::default()
    });
    let running = LocalCluster::submit(b.build().unwrap()).unwrap();
    let error = drpc.execute("count", "doom", Duration::from_secs(300)).unwrap_err();
    assert!(error
        .to_string()
        .starts_with("drpc function 'count': the request's tuple tree failed"));
    let answer = drpc.execute("count", "hamlet", Duration::from_secs(60)).unwrap();
    assert_eq!(answer, reference()["hamlet"].to_string());
    running.kill();
    running.join().unwrap();
}
