//! Queryable state: while a word count over Shakespeare runs, reads of
//! the `stateful_count` bolt's `count` state by key (answered by the task
//! owning the key's key group) only grow; once the input is done, a scan
//! of the whole state equals a plain count, and reads by key, prefix and
//! range with limits equal the reference's. A user `MapState` is read by
//! key as a JSON object. Unknown components and states are named in the
//! error.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::corpus;
use squall::builtins::{FileSpout, SplitWordsBolt, StatefulCountBolt};
use squall::state::{LiveStates, MapState, Scan};
use squall::topology::OutputDeclarer;
use squall::{
    Bolt, Fields, LocalCluster, OutputCollector, Result, TopologyBuilder, TopologyContext, Tuple,
    Value,
};

/// Word counts of the corpus by a plain loop (as `split_words`).
fn reference() -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let text =
            String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap()).into_owned();
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}

fn key(word: &str) -> Vec<Value> {
    vec![Value::from(word)]
}

fn count(states: &LiveStates, word: &str) -> i64 {
    let answer = states.get("count", "count", &key(word)).unwrap();
    answer.value.as_i64().unwrap_or(0)
}

/// Keeps, per first letter of a word, a map from word to count.
#[derive(Default)]
struct ByLetter(Option<MapState<String, i64>>);

impl Clone for ByLetter {
    /// A fresh copy without a state handle.
    fn clone(&self) -> Self {
        ByLetter(None)
    }
}

impl Bolt for ByLetter {
    fn declare_outputs(&self, _: &mut OutputDeclarer) {}
    fn prepare(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.0 = Some(ctx.map_state("words")?);
        Ok(())
    }
    fn execute(&mut self, t: Tuple, _: &mut OutputCollector) -> Result<()> {
        let state = self.0.as_ref().unwrap();
        let word = t.get_str("word")?.to_string();
        state.put(&word, &(state.get(&word)?.unwrap_or(0) + 1))
    }
}

/// Emits each word with its first letter.
#[derive(Clone)]
struct Letter;

impl Bolt for Letter {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        d.declare(Fields::new(["letter", "word"]));
    }
    fn execute(&mut self, t: Tuple, c: &mut OutputCollector) -> Result<()> {
        let word = t.get_str("word")?.to_string();
        c.emit(vec![Value::from(word.chars().next().unwrap().to_string()), Value::from(word)])
    }
}

#[test]
fn counts_read_while_running_only_grow_and_end_equal_to_a_plain_count() {
    let reference = reference();
    let mut b = TopologyBuilder::new("queried-word-count");
    b.set_spout("lines", FileSpout::new(corpus()).unwrap(), 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 3)
        .fields_grouping("split", Fields::new(["word"]));
    b.set_bolt("letters", Letter, 1).shuffle_grouping("split");
    b.set_bolt("by-letter", ByLetter::default(), 2)
        .fields_grouping("letters", Fields::new(["letter"]));
    let running = LocalCluster::submit(b.build().unwrap()).unwrap();
    let states = running.states();
    let watched = ["the", "hamlet", "love", "king", "denmark", "zounds"];
    let mut last: HashMap<&str, i64> = HashMap::new();
    let mut reads = 0;
    while !running.is_finished() {
        for word in watched {
            let Ok(answer) = states.get("count", "count", &key(word)) else {
                continue; // the component's tasks are not built yet
            };
            let now = answer.value.as_i64().unwrap_or(0);
            let before = last.insert(word, now).unwrap_or(0);
            assert!(now >= before, "'{word}' went from {before} to {now}");
            assert!(now <= reference[word], "'{word}' is {now}, above {}", reference[word]);
            reads += 1;
        }
    }
    running.join().unwrap();
    assert!(reads > 0);
    for word in watched {
        assert_eq!(count(&states, word), reference[word], "{word}");
    }
    assert_eq!(
        states.get("count", "count", &key("nonesuchword")).unwrap().value,
        serde_json::Value::Null
    );

    // The whole state, scanned over every task, is the reference.
    let all =
        states.scan("count", "count", &Scan { limit: usize::MAX, ..Scan::default() }).unwrap();
    assert!(!all.truncated);
    let scanned: BTreeMap<String, i64> = all
        .entries
        .iter()
        .map(|e| (e.key[0].as_str().unwrap().to_string(), e.value.as_i64().unwrap()))
        .collect();
    assert_eq!(scanned, reference);

    // Prefix and range with a limit: the reference's first keys.
    let scan = Scan { prefix: Some("ham".into()), limit: 4, ..Scan::default() };
    let found = states.scan("count", "count", &scan).unwrap();
    let expected: Vec<(&String, &i64)> =
        reference.iter().filter(|(w, _)| w.starts_with("ham")).take(4).collect();
    let got: Vec<(String, i64)> = found
        .entries
        .iter()
        .map(|e| (e.key[0].as_str().unwrap().to_string(), e.value.as_i64().unwrap()))
        .collect();
    assert_eq!(got, expected.iter().map(|(w, c)| (w.to_string(), **c)).collect::<Vec<_>>());
    assert!(found.truncated);
    let scan =
        Scan { from: Some("zo".into()), to: Some("zp".into()), limit: 1000, ..Scan::default() };
    let found = states.scan("count", "count", &scan).unwrap();
    let expected: Vec<String> =
        reference.keys().filter(|w| w.as_str() >= "zo" && w.as_str() < "zp").cloned().collect();
    let got: Vec<String> =
        found.entries.iter().map(|e| e.key[0].as_str().unwrap().to_string()).collect();
    assert_eq!(got, expected);
    assert!(!found.truncated);

    // A user MapState: the map of one key, as a JSON object.
    let z = states.get("by-letter", "words", &key("z")).unwrap().value;
    let expected: serde_json::Map<String, serde_json::Value> = reference
        .iter()
        .filter(|(w, _)| w.starts_with('z'))
        .map(|(w, c)| (w.clone(), serde_json::Value::from(*c)))
        .collect();
    assert_eq!(z, serde_json::Value::Object(expected));

    // Bad input names what is wrong.
    let error = states.get("counter", "count", &key("x")).unwrap_err().to_string();
    assert!(error.contains("no component 'counter'") && error.contains("\"count\""), "{error}");
    let error = states.get("count", "counts", &key("x")).unwrap_err().to_string();
    assert!(error.contains("no keyed state 'counts' (it has [\"count\"])"), "{error}");
    let error = states.scan("count", "count", &Scan::default()).unwrap_err().to_string();
    assert!(error.contains("limit must be at least 1"), "{error}");
}

/// A spout that, once its inner spout has ended, stays idle instead of
/// finishing, so that checkpoints go on after the input is done.
#[derive(Clone)]
struct IdleAfterEnd<S>(S);

impl<S: squall::Spout + Clone> squall::Spout for IdleAfterEnd<S> {
    fn declare_outputs(&self, d: &mut OutputDeclarer) {
        self.0.declare_outputs(d);
    }
    fn open(&mut self, ctx: &TopologyContext) -> Result<()> {
        self.0.open(ctx)
    }
    fn next_tuple(&mut self, c: &mut OutputCollector) -> Result<squall::SpoutStatus> {
        Ok(match self.0.next_tuple(c)? {
            squall::SpoutStatus::Finished => squall::SpoutStatus::Idle,
            other => other,
        })
    }
    fn ack(&mut self, id: squall::topology::MessageId) {
        self.0.ack(id);
    }
    fn fail(&mut self, id: squall::topology::MessageId) {
        self.0.fail(id);
    }
    fn snapshot_state(&mut self, id: u64) -> Result<()> {
        self.0.snapshot_state(id)
    }
    fn on_checkpoint_complete(&mut self, id: u64) -> Result<()> {
        self.0.on_checkpoint_complete(id)
    }
}

#[test]
fn a_committed_read_is_the_value_of_the_latest_checkpoint() {
    let reference = reference();
    let checkpoints = tempfile::tempdir().unwrap();
    let mut b = TopologyBuilder::new("committed-reads");
    b.set_spout("lines", IdleAfterEnd(FileSpout::new(corpus()).unwrap()), 1);
    b.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("lines");
    b.set_bolt("count", StatefulCountBolt::new(Fields::new(["word"])), 2)
        .fields_grouping("split", Fields::new(["word"]));
    let config = b.config_mut();
    config.guarantee = squall::topology::Guarantee::ExactlyOnce;
    config.checkpoint_interval_ms = 100;
    config.checkpoint_dir = Some(checkpoints.path().display().to_string());
    let running = LocalCluster::submit(b.build().unwrap()).unwrap();
    let states = running.states();
    let storage = squall::checkpoint::CheckpointStorage::open(
        &checkpoints.path().display().to_string(),
        "committed-reads",
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let watched = ["the", "hamlet", "love", "zounds"];
    // Committed values lag the live ones and only grow, checkpoint after
    // checkpoint, until the input is done.
    let (mut last_committed, mut done) = (HashMap::new(), false);
    let started = std::time::Instant::now();
    let mut drained_at = None;
    loop {
        assert!(started.elapsed().as_secs() < 300, "no checkpoint after the input was done");
        let Some(latest) = runtime.block_on(storage.load_latest(0)).unwrap() else {
            continue;
        };
        for word in watched {
            let committed = states.get_committed("count", "count", &key(word), &latest).unwrap();
            assert_eq!(committed.checkpoint, Some(latest.id()));
            let value = committed.value.as_i64().unwrap_or(0);
            let live = count(&states, word);
            assert!(value <= live, "'{word}': committed {value} above live {live}");
            let before = last_committed.insert(word, value).unwrap_or(0);
            assert!(value >= before, "'{word}': committed went from {before} to {value}");
        }
        if !done && watched.iter().all(|w| count(&states, w) == reference[*w]) {
            // Everything counted: checkpoints from now on hold the reference.
            done = true;
            drained_at = running.checkpoints().last().map(|c| c.id);
        }
        // One checkpoint runs at a time: the one after the next of the
        // last completed when the counts were done was triggered after.
        if done && latest.id() > drained_at.unwrap_or(0) + 1 {
            for word in watched {
                let committed =
                    states.get_committed("count", "count", &key(word), &latest).unwrap();
                assert_eq!(committed.value.as_i64(), Some(reference[word]), "{word}");
            }
            let missing = states.get_committed("count", "count", &key("nonesuchword"), &latest);
            assert_eq!(missing.unwrap().value, serde_json::Value::Null);
            break;
        }
    }
    running.kill();
    running.join().unwrap();
}
