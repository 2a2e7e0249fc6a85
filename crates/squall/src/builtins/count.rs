//! [`CountBolt`]: a running count per key, Storm's `WordCount` bolt.
//!
//! Owns the in-memory counts of one task. The counts live as long as the
//! task: they are not checkpointed (keyed state is the engine's job, later).

use std::collections::HashMap;
use std::hash::Hash;

use compact_str::CompactString;
use foldhash::fast::RandomState;

use crate::error::{Error, Result};
use crate::model::{Fields, Key, Tuple, Value, Values};
use crate::runtime::OutputCollector;
use crate::topology::{Bolt, InputCombining, OutputDeclarer, TopologyContext};

/// Counts inputs per key and, on every input, emits the key's values
/// followed by its new count, on the default stream with the fields
/// `key fields..., "count"` (the count an int, from 1).
///
/// Subscribe it with a fields grouping on the same key so that each key is
/// counted by one task. A key of one string field (the usual word count)
/// takes a fast path: the word is moved from the input into the output,
/// copied only the first time it is seen.
///
/// # Examples
/// ```
/// use squall::builtins::{CountBolt, GeneratorSpout, SplitWordsBolt};
/// use squall::{Fields, TopologyBuilder};
///
/// let mut builder = TopologyBuilder::new("count");
/// builder.set_spout("lines", GeneratorSpout::sentences(0).with_limit(10), 1);
/// builder.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
/// builder
///     .set_bolt("count", CountBolt::new(Fields::new(["word"])), 2)
///     .fields_grouping("split", Fields::new(["word"]));
/// ```
#[derive(Debug, Clone)]
pub struct CountBolt {
    key: Fields,
    /// Counts of one-string-field keys.
    words: HashMap<CompactString, i64, RandomState>,
    /// Counts of every other key.
    others: HashMap<Key, i64, RandomState>,
    /// Positions of the key fields in the last input's schema, and that
    /// schema, so that they are looked up once per stream.
    indices: Vec<usize>,
    indices_of: Option<Fields>,
}

impl CountBolt {
    /// A bolt counting inputs per value of the `key` fields.
    pub fn new(key: Fields) -> CountBolt {
        CountBolt {
            key,
            words: HashMap::with_hasher(hasher()),
            others: HashMap::with_hasher(hasher()),
            indices: Vec::new(),
            indices_of: None,
        }
    }

    /// The key fields.
    pub fn key(&self) -> &Fields {
        &self.key
    }

    /// Finds the positions of the key fields in `input`.
    fn locate(&mut self, input: &Tuple) -> Result<()> {
        // `Fields` compares by pointer first: one schema per stream is cheap.
        if self.indices_of.as_ref() != Some(input.fields()) {
            self.indices =
                self.key.names().iter().map(|f| input.index_of(f)).collect::<Result<_>>()?;
            self.indices_of = Some(input.fields().clone());
        }
        for &i in &self.indices {
            input.get(i)?;
        }
        Ok(())
    }
}

/// xxh3 with a random seed: faster than the default SipHash on short words,
/// and the seed keeps crafted inputs from choosing collisions.
fn hasher() -> RandomState {
    RandomState::default()
}

/// Adds `by` to the count of `key` in `map`, inserting `owned(key)` if new.
fn bump<K, Q, S: std::hash::BuildHasher>(
    map: &mut HashMap<K, i64, S>,
    key: &Q,
    by: i64,
    owned: impl FnOnce(&Q) -> K,
) -> i64
where
    K: std::borrow::Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
{
    if let Some(c) = map.get_mut(key) {
        *c += by;
        *c
    } else {
        map.insert(owned(key), by);
        by
    }
}

impl Bolt for CountBolt {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        let names = self.key.names().iter().map(String::as_str).chain(["count"]);
        declarer.declare(Fields::new(names));
    }

    /// Producers may merge equal keys before the shuffle: an input of
    /// weight n adds n (and is answered by one update).
    fn input_combining(&self) -> Option<InputCombining> {
        Some(InputCombining::Count(self.key.clone()))
    }

    /// # Errors
    /// [`Error::Config`] if the key is empty or names a field twice.
    fn prepare(&mut self, _context: &TopologyContext) -> Result<()> {
        let names = self.key.names();
        if names.is_empty() {
            return Err(Error::config("count bolt: the key has no fields"));
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(Error::config(format!("count bolt: key field '{n}' is repeated")));
            }
        }
        Ok(())
    }

    /// # Errors
    /// [`Error::NoSuchField`] if the input lacks a key field.
    fn execute(&mut self, input: Tuple, collector: &mut OutputCollector) -> Result<()> {
        self.locate(&input)?;
        let by = input.weight() as i64;
        let mut values = input.into_values();
        if let [i] = self.indices[..] {
            if let Value::String(word) = &mut values[i] {
                let word = std::mem::take(word);
                let count = bump(&mut self.words, word.as_str(), by, |w| CompactString::from(w));
                return collector.emit(vec![Value::String(word), Value::Int(count)]);
            }
        }
        let key: Values = self.indices.iter().map(|&i| std::mem::take(&mut values[i])).collect();
        let mut key = Key(key);
        let count = bump(&mut self.others, &key, by, Key::clone);
        key.0.push(Value::Int(count));
        collector.emit(key.0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::builtins::test_support::Collect;
    use crate::builtins::{GeneratorSpout, SplitWordsBolt};
    use crate::{LocalCluster, TopologyBuilder};

    /// The counts `count` emitted per word for 10 lines, "b a b" and
    /// "c b a" in turn, split by two tasks and counted by three.
    fn counts_seen(local_aggregation: bool) -> (usize, BTreeMap<String, Vec<i64>>) {
        let lines = vec!["b a b".to_string(), "c b a".to_string()];
        let sink = Collect::default();
        let mut builder = TopologyBuilder::new("count-test");
        builder.config_mut().local_aggregation = local_aggregation;
        builder.set_spout("gen", GeneratorSpout::sentences(0).with_lines(lines).with_limit(10), 1);
        builder.set_bolt("split", SplitWordsBolt::new("line"), 2).shuffle_grouping("gen");
        builder
            .set_bolt("count", CountBolt::new(Fields::new(["word"])), 3)
            .fields_grouping("split", Fields::new(["word"]));
        builder.set_bolt("sink", sink.clone(), 1).shuffle_grouping("count");
        LocalCluster::run(builder.build().unwrap()).unwrap();
        let rows = sink.rows();
        let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for r in &rows {
            seen.entry(r[0].as_str().unwrap().to_string())
                .or_default()
                .push(r[1].as_i64().unwrap());
        }
        for counts in seen.values_mut() {
            counts.sort();
        }
        (rows.len(), seen)
    }

    #[test]
    fn emits_running_counts_per_word() {
        assert!(!crate::TopologyConfig::default().local_aggregation, "off by default");
        let (rows, seen) = counts_seen(false);
        assert_eq!(rows, 30, "one output per word");
        // Per word, the counts seen are exactly 1..=total, each once.
        let expect = |n: i64| (1..=n).collect::<Vec<_>>();
        assert_eq!(seen["a"], expect(10));
        assert_eq!(seen["b"], expect(15));
        assert_eq!(seen["c"], expect(5));
    }

    #[test]
    fn with_local_aggregation_fewer_updates_reach_the_same_counts() {
        let (rows, seen) = counts_seen(true);
        assert!(rows < 30, "the split tasks merged equal words: {rows} updates");
        for (word, total) in [("a", 10), ("b", 15), ("c", 5)] {
            let counts = &seen[word];
            assert_eq!(counts.last(), Some(&total), "{word}: {counts:?}");
            assert!(counts.windows(2).all(|w| w[0] < w[1]), "{word}: {counts:?}");
        }
    }

    #[test]
    fn multi_field_and_non_string_keys() {
        let mut bolt = CountBolt::new(Fields::new(["x", "y"]));
        let a = Key(vec![Value::Float(0.0), Value::Int(1)]);
        let b = Key(vec![Value::Float(-0.0), Value::Int(1)]);
        assert_eq!(bump(&mut bolt.others, &a, 1, Key::clone), 1);
        assert_eq!(bump(&mut bolt.others, &b, 1, Key::clone), 2, "-0.0 and 0.0 are one key");
        let nan = Key(vec![Value::Float(f64::NAN), Value::Int(1)]);
        assert_eq!(bump(&mut bolt.others, &nan, 1, Key::clone), 1);
        assert_eq!(bump(&mut bolt.others, &nan.clone(), 1, Key::clone), 2, "NaN is one key");
        let mut words = HashMap::new();
        assert_eq!(bump(&mut words, "w", 1, str::to_string), 1);
        assert_eq!(bump(&mut words, "w", 1, str::to_string), 2);
    }

    #[test]
    fn counts_by_seq_parity_key_of_two_fields() {
        // Key (line, seq) over generator output: every key is new.
        let sink = Collect::default();
        let mut builder = TopologyBuilder::new("count-multi");
        builder.set_spout("gen", GeneratorSpout::sentences(0).with_limit(6), 1);
        builder
            .set_bolt("count", CountBolt::new(Fields::new(["line", "seq"])), 1)
            .shuffle_grouping("gen");
        builder.set_bolt("sink", sink.clone(), 1).shuffle_grouping("count");
        LocalCluster::run(builder.build().unwrap()).unwrap();
        let rows = sink.rows();
        assert_eq!(rows.len(), 6);
        assert!(rows.iter().all(|r| r.len() == 3 && r[2] == Value::Int(1)), "{rows:?}");
        // Key of one int field: goes through the general path.
        let sink = Collect::default();
        let mut builder = TopologyBuilder::new("count-int");
        let lines = vec!["x".to_string()];
        builder.set_spout("gen", GeneratorSpout::sentences(0).with_lines(lines).with_limit(4), 2);
        builder.set_bolt("count", CountBolt::new(Fields::new(["seq"])), 1).shuffle_grouping("gen");
        builder.set_bolt("sink", sink.clone(), 1).shuffle_grouping("count");
        LocalCluster::run(builder.build().unwrap()).unwrap();
        let mut rows: Vec<(i64, i64)> =
            sink.rows().iter().map(|r| (r[0].as_i64().unwrap(), r[1].as_i64().unwrap())).collect();
        rows.sort();
        assert_eq!(rows, [(0, 1), (0, 2), (1, 1), (1, 2)], "two tasks each emit seq 0 and 1");
    }

    #[test]
    fn missing_key_field_is_an_error() {
        let mut builder = TopologyBuilder::new("count-missing");
        builder.set_spout("gen", GeneratorSpout::sentences(0).with_limit(1), 1);
        builder.set_bolt("count", CountBolt::new(Fields::new(["word"])), 1).shuffle_grouping("gen");
        builder.set_bolt("sink", Collect::default(), 1).shuffle_grouping("count");
        let err = LocalCluster::run(builder.build().unwrap()).unwrap_err().to_string();
        assert!(err.contains("'count'") && err.contains("'word'"), "{err}");
    }
}
