//! What an operator changes on a topology from outside: Storm's
//! `deactivate`/`activate` (an [`Activation`] switch that pauses every
//! spout) and `rebalance` (a new parallelism for a component, see
//! [`Topology::with_parallelism`]). The cluster daemons drive both; local
//! mode can too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::runtime::OutputCollector;
use crate::topology::component::{MessageId, OutputDeclarer, Spout, SpoutStatus};
use crate::topology::validate;
use crate::topology::{ComponentKind, Topology, TopologyContext};

/// A switch shared by every spout task of a topology, as Storm's topology
/// status `ACTIVE`/`INACTIVE`. While it is off, spouts' `next_tuple` is not
/// called (the executor sees [`SpoutStatus::Idle`]); everything else goes
/// on: tuples in flight complete, acks and fails reach the spouts,
/// checkpoint barriers are taken. Cloning shares the switch.
#[derive(Debug, Clone)]
pub struct Activation(Arc<AtomicBool>);

impl Activation {
    /// A switch, on (`active`) or off.
    pub fn new(active: bool) -> Self {
        Activation(Arc::new(AtomicBool::new(active)))
    }

    /// Turns the spouts on or off; takes effect at each spout task's next
    /// poll (about 1 ms when idle).
    pub fn set_active(&self, active: bool) {
        self.0.store(active, Ordering::SeqCst);
    }

    /// Whether the spouts are polled.
    pub fn is_active(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Default for Activation {
    fn default() -> Self {
        Activation::new(true)
    }
}

/// A spout that is polled only while its [`Activation`] is on.
struct Switched {
    inner: Box<dyn Spout>,
    activation: Activation,
}

impl Spout for Switched {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        self.inner.declare_outputs(declarer);
    }

    fn open(&mut self, context: &TopologyContext) -> Result<()> {
        self.inner.open(context)
    }

    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        if self.activation.is_active() {
            self.inner.next_tuple(collector)
        } else {
            Ok(SpoutStatus::Idle)
        }
    }

    fn ack(&mut self, msg_id: MessageId) {
        self.inner.ack(msg_id);
    }

    fn fail(&mut self, msg_id: MessageId) {
        self.inner.fail(msg_id);
    }

    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<()> {
        self.inner.snapshot_state(checkpoint_id)
    }

    fn on_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        self.inner.on_checkpoint_complete(checkpoint_id)
    }

    fn close(&mut self) {
        self.inner.close();
    }
}

impl Topology {
    /// This topology with every spout behind `activation`: while it is off,
    /// no spout emits, and what is in flight completes.
    pub fn with_activation(mut self, activation: &Activation) -> Topology {
        for c in &mut self.components {
            if let ComponentKind::Spout(factory) = &mut c.kind {
                let (inner, activation) = (factory.clone(), activation.clone());
                *factory = Arc::new(move || {
                    Box::new(Switched { inner: inner(), activation: activation.clone() })
                });
            }
        }
        self
    }

    /// This topology with its checkpoints recorded through `fence` (a
    /// cluster worker running a whole topology): a checkpoint completes, and
    /// the run ends, only once the fence records it; a restart restores only
    /// recorded checkpoints; a run whose end is recorded already does not
    /// start again ([`crate::runtime::CheckpointFence`]).
    pub fn with_fence(mut self, fence: crate::runtime::Fence) -> Topology {
        self.fence = Some(fence);
        self
    }

    /// This topology with `component` run by `parallelism` tasks (Storm's
    /// `rebalance -e component=N`). Keyed state restored from a checkpoint
    /// is redistributed over the new tasks by key group.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown component, or a parallelism the
    /// topology refuses (0, or a forward grouping between unequal
    /// parallelisms), naming it.
    pub fn with_parallelism(mut self, component: &str, parallelism: usize) -> Result<Topology> {
        let Some(c) = self.components.iter_mut().find(|c| c.id == component) else {
            return Err(Error::Config(format!(
                "topology '{}' has no component '{component}'",
                self.name()
            )));
        };
        c.parallelism = parallelism;
        validate::validate(&self.components, self.config())?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::builtins::{CountBolt, GeneratorSpout, SplitWordsBolt};
    use crate::{Fields, LocalCluster, TopologyBuilder};

    use super::*;

    fn topology() -> Topology {
        let mut builder = TopologyBuilder::new("switch");
        builder.set_spout("lines", GeneratorSpout::sentences(10).with_limit(300), 2);
        builder.set_bolt("split", SplitWordsBolt::new("line"), 1).shuffle_grouping("lines");
        builder
            .set_bolt("count", CountBolt::new(Fields::new(["word"])), 2)
            .fields_grouping("split", Fields::new(["word"]));
        builder.build().unwrap()
    }

    #[test]
    fn an_inactive_topology_emits_nothing_until_activated() {
        let activation = Activation::new(false);
        let running = LocalCluster::submit(topology().with_activation(&activation)).unwrap();
        // Let the spouts be polled many times while off: `open` has run
        // once the split bolt's tasks report, and the spouts stay silent.
        for _ in 0..50 {
            std::thread::yield_now();
            assert_eq!(running.metrics().spout_emitted(), 0);
        }
        assert!(!running.is_finished(), "an inactive bounded spout does not finish");
        activation.set_active(true);
        let summary = running.join().unwrap();
        assert_eq!(summary.metrics.spout_emitted(), 300, "with_limit is over all tasks");
    }

    #[test]
    fn parallelism_changes_and_bad_ones_are_refused() {
        let t = topology().with_parallelism("count", 4).unwrap();
        assert_eq!(t.parallelism("count"), Some(4));
        let e = topology().with_parallelism("nope", 2).unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        assert!(topology().with_parallelism("count", 0).is_err());
    }
}
