//! Storm's "reach" example on a graph derived from Shakespeare's plays: a
//! speaker "tweets" every word of their speeches, and a speaker's
//! "followers" are the speakers who answer them (speak next in the same
//! play). The reach of a word is the number of distinct speakers who
//! answered someone who said it. Shared by the DRPC tests of `squall` and
//! `squall-cli`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// The graph: speakers by word, and followers by speaker. Speakers are
/// `play/name`.
#[derive(Debug, Default)]
pub struct Graph {
    /// Who said each word (lowercased maximal alphanumeric runs).
    pub tweeters: HashMap<String, BTreeSet<String>>,
    /// Who answered each speaker.
    pub followers: HashMap<String, BTreeSet<String>>,
}

/// Whether `line` names a speaker (Gutenberg editions: `Ham.`, `First
/// Clown.` alone on a line after a blank one).
fn speaker(line: &str) -> Option<&str> {
    let line = line.trim();
    let name = line.strip_suffix('.')?;
    let upper = name.to_uppercase();
    let ok = (2..=24).contains(&name.len())
        && name.chars().next().is_some_and(char::is_uppercase)
        && name.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '.')
        && !upper.starts_with("ACT")
        && !upper.starts_with("SCENE")
        && name.split(' ').count() <= 3;
    ok.then_some(name)
}

/// The graph of the plays in `dir`.
pub fn graph(dir: &Path) -> Arc<Graph> {
    let mut graph = Graph::default();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    for file in files {
        let play = file.file_stem().unwrap().to_string_lossy().into_owned();
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        let (mut current, mut previous): (Option<String>, Option<String>) = (None, None);
        for (i, line) in lines.iter().enumerate() {
            let after_blank = i > 0 && lines[i - 1].trim().is_empty();
            let before_text = lines.get(i + 1).is_some_and(|l| !l.trim().is_empty());
            if after_blank && before_text {
                if let Some(name) = speaker(line) {
                    let who = format!("{play}/{name}");
                    if let Some(before) = previous.take().filter(|b| *b != who) {
                        graph.followers.entry(before).or_default().insert(who.clone());
                    }
                    current = Some(who);
                    continue;
                }
            }
            if line.trim().is_empty() {
                if current.is_some() {
                    previous = current.take();
                }
                continue;
            }
            if let Some(who) = &current {
                for word in line.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                    graph.tweeters.entry(word.to_lowercase()).or_default().insert(who.clone());
                }
            }
        }
    }
    Arc::new(graph)
}

/// The reach of `word` by a plain loop.
pub fn reach(graph: &Graph, word: &str) -> usize {
    let mut reached = HashSet::new();
    for tweeter in graph.tweeters.get(&word.to_lowercase()).into_iter().flatten() {
        reached.extend(graph.followers.get(tweeter).into_iter().flatten());
    }
    reached.len()
}

/// Words to ask about: every `step`-th word said, in order, and one no one
/// said.
pub fn words(graph: &Graph, count: usize) -> Vec<String> {
    let mut all: Vec<&String> = graph.tweeters.keys().collect();
    all.sort();
    let step = (all.len() / count).max(1);
    all.into_iter().step_by(step).take(count).cloned().chain(["nonesuchword".into()]).collect()
}

/// The reach function's stages (Storm's `ReachTopology`), over a graph.
pub mod stages {
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    use squall::drpc::{DrpcBolt, DrpcEmitter, LinearDrpcBuilder};
    use squall::{Fields, Result, Tuple, Value};

    use super::Graph;

    /// Emits `(tweeter)` for each speaker who said the word in `args`.
    #[derive(Clone)]
    pub struct GetTweeters(pub Arc<Graph>);

    impl DrpcBolt for GetTweeters {
        fn output_fields(&self) -> Fields {
            Fields::new(["tweeter"])
        }
        fn execute(&mut self, _: u64, input: &Tuple, out: &mut DrpcEmitter) -> Result<()> {
            let word = input.get_str("args")?.to_lowercase();
            for tweeter in self.0.tweeters.get(&word).into_iter().flatten() {
                out.emit(vec![Value::from(tweeter.as_str())]);
            }
            Ok(())
        }
    }

    /// Emits `(follower)` for each follower of the input's tweeter.
    #[derive(Clone)]
    pub struct GetFollowers(pub Arc<Graph>);

    impl DrpcBolt for GetFollowers {
        fn output_fields(&self) -> Fields {
            Fields::new(["follower"])
        }
        fn execute(&mut self, _: u64, input: &Tuple, out: &mut DrpcEmitter) -> Result<()> {
            let tweeter = input.get_str("tweeter")?;
            for follower in self.0.followers.get(tweeter).into_iter().flatten() {
                out.emit(vec![Value::from(follower.as_str())]);
            }
            Ok(())
        }
    }

    /// The distinct followers this task saw, counted when the request is
    /// finished.
    #[derive(Clone, Default)]
    pub struct PartialUniquer(HashMap<u64, HashSet<String>>);

    impl DrpcBolt for PartialUniquer {
        fn output_fields(&self) -> Fields {
            Fields::new(["partial"])
        }
        fn execute(&mut self, id: u64, input: &Tuple, _: &mut DrpcEmitter) -> Result<()> {
            self.0.entry(id).or_default().insert(input.get_str("follower")?.to_string());
            Ok(())
        }
        fn finish(&mut self, id: u64, out: &mut DrpcEmitter) -> Result<()> {
            let distinct = self.0.remove(&id).map_or(0, |s| s.len());
            out.emit(vec![Value::Int(distinct as i64)]);
            Ok(())
        }
    }

    /// Sums the partial counts: the reach.
    #[derive(Clone, Default)]
    pub struct CountAggregator(HashMap<u64, i64>);

    impl DrpcBolt for CountAggregator {
        fn output_fields(&self) -> Fields {
            Fields::new(["reach"])
        }
        fn execute(&mut self, id: u64, input: &Tuple, _: &mut DrpcEmitter) -> Result<()> {
            *self.0.entry(id).or_default() += input.get_i64("partial")?;
            Ok(())
        }
        fn finish(&mut self, id: u64, out: &mut DrpcEmitter) -> Result<()> {
            out.emit(vec![Value::Int(self.0.remove(&id).unwrap_or(0))]);
            Ok(())
        }
    }

    /// Storm's reach topology for function `reach`: tweeters (2 tasks),
    /// followers (3, shuffle), partial uniquer (3, fields `id`, `follower`),
    /// aggregator (2).
    pub fn reach_builder(graph: &Arc<Graph>) -> LinearDrpcBuilder {
        let mut b = LinearDrpcBuilder::new("reach");
        b.add_bolt("tweeters", GetTweeters(graph.clone()), 2);
        b.add_bolt("followers", GetFollowers(graph.clone()), 3).shuffle_grouping();
        b.add_bolt("uniquer", PartialUniquer::default(), 3)
            .fields_grouping(Fields::new(["id", "follower"]));
        b.add_bolt("aggregator", CountAggregator::default(), 2);
        b
    }
}
