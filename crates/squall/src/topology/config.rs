//! [`TopologyConfig`]: the engine knobs of one topology.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Value;

/// Engine settings of one topology. Every field has a default; YAML
/// topologies set them under `config:`, unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopologyConfig {
    /// Tuples per batch on a channel (records). An output buffer is sent
    /// when it holds this many tuples.
    pub batch_size: usize,
    /// Longest time a tuple waits in a partly filled output buffer (ms),
    /// Flink's `buffer_timeout`: lower means lower latency, higher means
    /// higher throughput. 0 sends after every call into the component.
    pub buffer_timeout_ms: u64,
    /// Capacity of each task-to-task channel (batches). A full channel
    /// blocks its sender: that is the backpressure.
    pub channel_capacity: usize,
    /// Number of key groups that fields-grouped keys hash into (Flink's
    /// `max_parallelism`); the upper bound of any component's parallelism.
    pub max_parallelism: usize,
    /// Threads of the local runtime; 0 means one per CPU core.
    pub worker_threads: usize,
    /// Whether forward and local-or-shuffle edges of equal parallelism are
    /// chained into one executor.
    pub chaining: bool,
    /// How long an input channel may stay silent (ms) before it stops
    /// holding back its consumer's watermark (Flink's idleness); 0 means
    /// never. See `docs/windows.md`.
    pub idle_timeout_ms: u64,
    /// Free-form settings that components read from their context.
    pub settings: BTreeMap<String, Value>,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            batch_size: 1024,
            buffer_timeout_ms: 100,
            channel_capacity: 8,
            max_parallelism: 128,
            worker_threads: 0,
            chaining: true,
            idle_timeout_ms: 0,
            settings: BTreeMap::new(),
        }
    }
}

impl TopologyConfig {
    /// [`TopologyConfig::idle_timeout_ms`] as a duration; `None` for 0.
    pub fn idle_timeout(&self) -> Option<std::time::Duration> {
        (self.idle_timeout_ms > 0).then(|| std::time::Duration::from_millis(self.idle_timeout_ms))
    }

    /// Checks that every knob is in range.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::config("config.batch_size must be at least 1"));
        }
        if self.channel_capacity == 0 {
            return Err(Error::config("config.channel_capacity must be at least 1"));
        }
        if self.max_parallelism == 0 || self.max_parallelism > 32768 {
            return Err(Error::config("config.max_parallelism must be in 1..=32768"));
        }
        if self.idle_timeout_ms > 0 && self.idle_timeout_ms <= self.buffer_timeout_ms {
            // A busy input's tuples may wait `buffer_timeout_ms` in a buffer.
            return Err(Error::config(format!(
                "config.idle_timeout_ms ({}) must exceed config.buffer_timeout_ms ({}), or busy \
                 inputs look idle",
                self.idle_timeout_ms, self.buffer_timeout_ms
            )));
        }
        Ok(())
    }
}
