//! Storm's reach example through [`LinearDrpcBuilder`]: a request fans out
//! (tweeters, then their followers), is grouped by `(id, follower)` for a
//! partial distinct count and merged, each stage told when it has all of a
//! request. On a graph derived from Shakespeare (see `common/reach.rs`),
//! concurrent callers get the reach of a plain loop; a request whose stage
//! errs fails at once (`at_least_once`), or times out with an error when
//! the topology fails (`at_most_once`), never hangs; a badly built function is refused.

mod common;
use squall_test_support::reach as reach_graph;

use std::sync::Arc;
use std::time::Duration;

use common::corpus;
use reach_graph::stages::{
    reach_builder, CountAggregator, GetFollowers, GetTweeters, PartialUniquer,
};
use reach_graph::{graph, reach, words, Graph};
use squall::drpc::{DrpcBolt, DrpcEmitter, LinearDrpcBuilder, LocalDrpc};
use squall::{Fields, Guarantee, LocalCluster, Result, RunningTopology, TopologyConfig, Tuple};

fn config(guarantee: Guarantee) -> TopologyConfig {
    TopologyConfig { guarantee, buffer_timeout_ms: 1, ..TopologyConfig::default() }
}

#[test]
fn concurrent_callers_get_the_reach_of_a_plain_loop() {
    let graph = graph(&corpus());
    assert!(graph.followers.len() > 1000, "the graph has {} speakers", graph.followers.len());
    let asked = words(&graph, 120);
    for guarantee in [Guarantee::AtMostOnce, Guarantee::AtLeastOnce] {
        let drpc = LocalDrpc::new();
        let mut topology = reach_builder(&graph).build(&drpc).unwrap();
        topology.config(config(guarantee));
        let running = LocalCluster::submit(topology.build().unwrap()).unwrap();
        let callers: Vec<_> = asked
            .chunks(asked.len() / 6 + 1)
            .map(|chunk| {
                let (drpc, chunk) = (drpc.clone(), chunk.to_vec());
                std::thread::spawn(move || {
                    let answers = chunk.iter().map(|w| {
                        drpc.execute("reach", w, Duration::from_secs(120)).map(|a| (w.clone(), a))
                    });
                    answers.collect::<squall::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut nonzero = 0;
        for caller in callers {
            for (word, answer) in caller.join().unwrap().unwrap() {
                let expected = reach(&graph, &word);
                nonzero += usize::from(expected > 0);
                assert_eq!(answer, expected.to_string(), "reach of '{word}' ({guarantee:?})");
            }
        }
        assert!(nonzero > 100, "only {nonzero} words reach anyone");
        assert_eq!(drpc.waiting(), 0);
        running.kill();
        running.join().unwrap();
    }
}

/// Followers that err on the followers of `speaker`.
#[derive(Clone)]
struct FailsOn(GetFollowers, &'static str);

impl DrpcBolt for FailsOn {
    fn output_fields(&self) -> Fields {
        self.0.output_fields()
    }
    fn execute(&mut self, id: u64, input: &Tuple, out: &mut DrpcEmitter) -> Result<()> {
        if input.get_str("tweeter")? == self.1 {
            return Err(squall::Error::Other(format!("cannot follow {}", self.1)));
        }
        self.0.execute(id, input, out)
    }
}

const HAMLET: &str = "hamlet_gut/Ham";

fn failing(graph: &Arc<Graph>, drpc: &LocalDrpc, guarantee: Guarantee) -> RunningTopology {
    let mut b = LinearDrpcBuilder::new("reach");
    b.add_bolt("tweeters", GetTweeters(graph.clone()), 2);
    b.add_bolt("followers", FailsOn(GetFollowers(graph.clone()), HAMLET), 3);
    b.add_bolt("uniquer", PartialUniquer::default(), 3)
        .fields_grouping(Fields::new(["id", "follower"]));
    b.add_bolt("aggregator", CountAggregator::default(), 2);
    let mut topology = b.build(drpc).unwrap();
    // A message timeout far longer than the test: only the fail of the
    // tree, not a timeout, can answer the caller in time.
    topology.config(TopologyConfig { message_timeout_ms: 600_000, ..config(guarantee) });
    LocalCluster::submit(topology.build().unwrap()).unwrap()
}

/// A word Hamlet never says that reaches someone.
fn not_hamlets(graph: &Graph) -> String {
    let mut candidates: Vec<(&String, _)> = graph.tweeters.iter().collect();
    candidates.sort();
    let (word, _) = candidates
        .into_iter()
        .find(|(w, who)| !who.contains(HAMLET) && reach(graph, w) > 3)
        .expect("such a word");
    word.clone()
}

#[test]
fn a_request_whose_stage_errs_fails_at_once_under_at_least_once() {
    let graph = graph(&corpus());
    assert!(graph.tweeters["denmark"].contains(HAMLET));
    let drpc = LocalDrpc::new();
    let running = failing(&graph, &drpc, Guarantee::AtLeastOnce);
    let error = drpc.execute("reach", "denmark", Duration::from_secs(300)).unwrap_err();
    assert!(
        error.to_string().starts_with("drpc function 'reach': the request's tuple tree failed"),
        "{error}"
    );
    let word = not_hamlets(&graph);
    let answer = drpc.execute("reach", &word, Duration::from_secs(120)).unwrap();
    assert_eq!(answer, reach(&graph, &word).to_string());
    running.kill();
    running.join().unwrap();
}

#[test]
fn a_request_whose_topology_fails_times_out_with_an_error() {
    // Under at_most_once the stage's error fails its task and the
    // topology: no one answers, the caller gets a timeout error.
    let graph = graph(&corpus());
    let drpc = LocalDrpc::new();
    let running = failing(&graph, &drpc, Guarantee::AtMostOnce);
    let error = drpc.execute("reach", "denmark", Duration::from_millis(1500)).unwrap_err();
    assert_eq!(error.to_string(), "drpc function 'reach': no answer within 1500 ms");
    let failure = running.join().unwrap_err().to_string();
    assert!(failure.contains("cannot follow hamlet_gut/Ham"), "{failure}");
    assert_eq!(drpc.waiting(), 0);
}

#[derive(Clone)]
struct TwoFields;

impl DrpcBolt for TwoFields {
    fn output_fields(&self) -> Fields {
        Fields::new(["a", "b"])
    }
    fn execute(&mut self, _: u64, _: &Tuple, _: &mut DrpcEmitter) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_badly_built_function_is_refused_with_the_stage_named() {
    let drpc = LocalDrpc::new();
    let error = LinearDrpcBuilder::new("f").build(&drpc).err().unwrap().to_string();
    assert!(error.contains("drpc function 'f'") && error.contains("no stage"), "{error}");
    let mut b = LinearDrpcBuilder::new("f");
    b.add_bolt("two", TwoFields, 1);
    let error = b.build(&drpc).err().unwrap().to_string();
    assert!(error.contains("last stage 'two' must emit one field"), "{error}");
    let mut b = LinearDrpcBuilder::new("f");
    b.add_bolt("two", TwoFields, 1);
    b.add_bolt("next", TwoFields, 2).fields_grouping(Fields::new(["c"]));
    b.add_bolt("last", PartialUniquer::default(), 1);
    let error = b.build(&drpc).err().unwrap().to_string();
    assert!(error.contains("stage 'next' groups by field 'c'"), "{error}");
}
