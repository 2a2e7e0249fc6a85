//! A topology is validated before anything runs; each error names the
//! component at fault.

mod common;

use common::{ints, IdentityBolt, RecordingBolt, VecSpout};
use squall::topology::OutputDeclarer;
use squall::{Bolt, Fields, Grouping, OutputCollector, Result, TopologyBuilder, Tuple};

fn spout() -> VecSpout {
    VecSpout::new(Fields::new(["word"]), vec![])
}

fn expect_error(b: TopologyBuilder, component: &str, needle: &str) {
    let err = b.build().map(|_| ()).unwrap_err().to_string();
    assert!(err.contains(&format!("'{component}'")), "error does not name '{component}': {err}");
    assert!(err.contains(needle), "error lacks '{needle}': {err}");
}

#[test]
fn unknown_component() {
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", spout(), 1);
    b.set_bolt("sink", RecordingBolt::new(), 1).shuffle_grouping("nowhere");
    expect_error(b, "sink", "unknown component 'nowhere'");
}

#[test]
fn undeclared_stream() {
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", spout(), 1);
    b.set_bolt("sink", RecordingBolt::new(), 1).grouping_stream("src", "errors", Grouping::Shuffle);
    expect_error(b, "sink", "stream 'errors'");
}

#[test]
fn fields_grouping_on_undeclared_field() {
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", spout(), 1);
    b.set_bolt("count", RecordingBolt::new(), 2).fields_grouping("src", Fields::new(["wrod"]));
    expect_error(b, "count", "'wrod'");
}

#[test]
fn cycle() {
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", spout(), 1);
    b.set_bolt("a", IdentityBolt(Fields::new(["word"])), 1)
        .shuffle_grouping("src")
        .shuffle_grouping("b");
    b.set_bolt("b", IdentityBolt(Fields::new(["word"])), 1).shuffle_grouping("a");
    let err = b.build().map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("cycle"), "{err}");
    assert!(err.contains("'a'") || err.contains("'b'"), "{err}");
}

#[test]
fn zero_parallelism() {
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", spout(), 0);
    expect_error(b, "src", "parallelism is 0");
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", spout(), 1);
    b.set_bolt("sink", RecordingBolt::new(), 0).shuffle_grouping("src");
    expect_error(b, "sink", "parallelism is 0");
}

#[test]
fn parallelism_above_max_parallelism() {
    let mut b = TopologyBuilder::new("t");
    b.config_mut().max_parallelism = 4;
    b.set_spout("src", spout(), 5);
    expect_error(b, "src", "max_parallelism");
}

#[test]
fn duplicate_id() {
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", spout(), 1);
    b.set_bolt("src", RecordingBolt::new(), 1).shuffle_grouping("src");
    expect_error(b, "src", "used twice");
}

#[test]
fn bolt_without_inputs() {
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", spout(), 1);
    b.set_bolt("lonely", RecordingBolt::new(), 1);
    expect_error(b, "lonely", "no inputs");
}

#[test]
fn direct_grouping_needs_a_direct_stream_and_back() {
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", spout(), 1);
    b.set_bolt("sink", RecordingBolt::new(), 1).direct_grouping("src", "default");
    expect_error(b, "sink", "not declared direct");

    #[derive(Clone)]
    struct Direct;
    impl Bolt for Direct {
        fn declare_outputs(&self, d: &mut OutputDeclarer) {
            d.declare_direct_stream("d", Fields::new(["x"]));
        }
        fn execute(&mut self, _t: Tuple, _c: &mut OutputCollector) -> Result<()> {
            Ok(())
        }
    }
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", spout(), 1);
    b.set_bolt("router", Direct, 1).shuffle_grouping("src");
    b.set_bolt("sink", RecordingBolt::new(), 1).grouping_stream("router", "d", Grouping::Shuffle);
    expect_error(b, "sink", "is direct");
}

#[test]
fn forward_grouping_needs_equal_parallelism() {
    let mut b = TopologyBuilder::new("t");
    b.set_spout("src", spout(), 2);
    b.set_bolt("sink", RecordingBolt::new(), 3).forward_grouping("src");
    expect_error(b, "sink", "equal parallelism");
}

#[test]
fn no_spout() {
    let b = TopologyBuilder::new("t");
    let err = b.build().map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("no spout"), "{err}");
}

#[test]
fn a_valid_topology_builds_in_topological_order() {
    let mut b = TopologyBuilder::new("t");
    b.set_bolt("sink", RecordingBolt::new(), 1).shuffle_grouping("mid");
    b.set_bolt("mid", IdentityBolt(Fields::new(["n"])), 2).shuffle_grouping("src");
    b.set_spout("src", VecSpout::new(Fields::new(["n"]), ints(0..1)), 1);
    let t = b.build().unwrap();
    assert_eq!(t.component_ids().collect::<Vec<_>>(), ["src", "mid", "sink"]);
}
