//! [`TopologyConfig`]: the engine knobs of one topology.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Value;
use crate::state::StateBackendKind;

/// What a topology promises about its tuples when tasks fail. Parsed
/// through [`TryFrom<String>`] so that a bad value names the field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum Guarantee {
    /// No tracking: a failure may lose tuples.
    #[default]
    AtMostOnce,
    /// Storm's acker: every spout tuple is processed, maybe more than once.
    AtLeastOnce,
    /// Flink's checkpoints: state and committed output reflect every tuple
    /// exactly once; a failure restarts from the last completed checkpoint.
    ExactlyOnce,
}

/// What happens when a topology's attempt fails: a task failure under
/// checkpoints (the whole topology restarts from its last completed
/// checkpoint), or a lost worker on a cluster (every worker restarts).
/// Flink's `restart-strategy`, one rule for every mode and guarantee
/// (applied by [`crate::runtime::RestartTracker`]). In YAML:
/// `{ type: fixed_delay, attempts: 3, delay_ms: 1000 }`,
/// `{ type: exponential_delay, initial_backoff_ms: 1000, max_backoff_ms: 60000 }`,
/// `{ type: failure_rate, max_failures_per_interval: 3, failure_rate_interval_ms: 60000, delay_ms: 1000 }`
/// or `{ type: none }`. (Task restarts inside an attempt under
/// `at_least_once` are `max_task_restarts`.)
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum RestartStrategy {
    /// The failure stops the topology.
    None,
    /// Restart after `delay_ms`, at most `attempts` times over the
    /// topology's life (on a cluster: per epoch).
    FixedDelay {
        /// Restarts allowed before the failure is final.
        attempts: u32,
        /// Wait before each restart (ms).
        delay_ms: u64,
    },
    /// Restart without end, waiting `initial_backoff_ms`, then
    /// `backoff_multiplier` times longer after each failure up to
    /// `max_backoff_ms`; back to the initial wait once an attempt has run
    /// `reset_backoff_threshold_ms` without failing (Flink's
    /// `exponential-delay`).
    ExponentialDelay {
        /// The first wait (ms).
        #[serde(default = "default_initial_backoff_ms")]
        initial_backoff_ms: u64,
        /// The longest wait (ms).
        #[serde(default = "default_max_backoff_ms")]
        max_backoff_ms: u64,
        /// How much longer each wait is than the last (at least 1).
        #[serde(default = "default_backoff_multiplier")]
        backoff_multiplier: f64,
        /// An attempt that ran this long (ms) resets the wait.
        #[serde(default = "default_reset_backoff_threshold_ms")]
        reset_backoff_threshold_ms: u64,
    },
    /// Restart after `delay_ms` unless more than `max_failures_per_interval`
    /// failures fell within the last `failure_rate_interval_ms` (Flink's
    /// `failure-rate`).
    FailureRate {
        /// Failures tolerated within one interval.
        max_failures_per_interval: u32,
        /// The sliding interval (ms).
        failure_rate_interval_ms: u64,
        /// Wait before each restart (ms).
        delay_ms: u64,
    },
}

fn default_initial_backoff_ms() -> u64 {
    1000
}

fn default_max_backoff_ms() -> u64 {
    60_000
}

fn default_backoff_multiplier() -> f64 {
    2.0
}

fn default_reset_backoff_threshold_ms() -> u64 {
    3_600_000
}

impl Default for RestartStrategy {
    fn default() -> Self {
        RestartStrategy::FixedDelay { attempts: 3, delay_ms: 1000 }
    }
}

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
    /// Whether producers pre-aggregate, before the shuffle, the tuples of
    /// bolts that allow it (local-global aggregation and mini-batch, as
    /// Flink SQL's `table.exec.mini-batch.enabled`; see
    /// [`crate::InputCombining`]): the same final results with far fewer
    /// tuples on skewed keys, but a bolt such as `count` then emits one
    /// update per merged input (its counts jump) instead of one per word.
    /// Off (the default), every emitted tuple travels on its own, as in
    /// Storm.
    pub local_aggregation: bool,
    /// How long an input channel may stay silent (ms) before it stops
    /// holding back its consumer's watermark (Flink's idleness); 0 means
    /// never. See `docs/windows.md`.
    pub idle_timeout_ms: u64,
    /// Delivery guarantee: `at_most_once` (default), `at_least_once` or
    /// `exactly_once`.
    pub guarantee: Guarantee,
    /// Time between two checkpoints (ms); 0 turns checkpoints off.
    /// `exactly_once` needs it above 0.
    pub checkpoint_interval_ms: u64,
    /// A checkpoint not completed within this time is aborted (ms).
    pub checkpoint_timeout_ms: u64,
    /// Where checkpoints are written: a folder path, a `file://` URL or
    /// (with the `s3` cargo feature) an `s3://bucket/prefix` URL. Each
    /// topology writes under `<checkpoint_dir>/<topology name>/`.
    pub checkpoint_dir: Option<String>,
    /// How many completed checkpoints to keep (at least 1); older ones are
    /// deleted.
    pub retained_checkpoints: usize,
    /// How many checkpoints in a row may fail (declined by a task that
    /// could not write its state, timed out, or not recorded) before the
    /// attempt fails and `restart_strategy` decides (Flink's
    /// `execution.checkpointing.tolerable-failed-checkpoints`). `None` (the
    /// default): no bound, failed checkpoints are retried at the next
    /// interval and the topology keeps running. Local mode and single-worker
    /// topologies only for now.
    pub tolerable_failed_checkpoints: Option<u32>,
    /// Whether a task with several inputs aligns barriers (holds back the
    /// inputs that delivered barrier n until all have). Turning it off gives
    /// at-least-once state: faster, but a restore counts some tuples twice.
    pub checkpoint_alignment: bool,
    /// Where keyed state lives: `memory` (default) or `rocksdb` (with the
    /// `rocksdb` cargo feature).
    pub state_backend: StateBackendKind,
    /// Whether the `rocksdb` backend's checkpoints are incremental (Flink's
    /// `state.backend.incremental`, default true): each checkpoint uploads
    /// only the RocksDB files that the previous completed one does not
    /// store. `false` writes full per-key-group snapshots. No effect on the
    /// `memory` backend.
    pub incremental_checkpoints: bool,
    /// What a task failure does in `exactly_once` mode.
    pub restart_strategy: RestartStrategy,
    /// Start from this savepoint (a folder or URL returned by
    /// `RunningTopology::savepoint`), possibly with other parallelisms;
    /// needs checkpoints on.
    pub restore_from: Option<String>,
    /// Free-form settings that components read from their context.
    pub settings: BTreeMap<String, Value>,
    /// Number of acker tasks (Storm's `topology.acker.executors`). Tuples
    /// are tracked only when `guarantee` is `at_least_once` and this is at
    /// least 1; 0 turns tracking off, as in Storm.
    pub ackers: usize,
    /// A spout tuple whose tree is not complete this long after its emit is
    /// failed and replayed (ms; Storm's `topology.message.timeout.secs`).
    pub message_timeout_ms: u64,
    /// Most spout tuples in flight per spout task (records); a spout at the
    /// bound is not asked for more until some are acked or failed. `None`
    /// (`null` in YAML) means no bound. Only used while tracking.
    pub max_spout_pending: Option<usize>,
    /// How many times one task may be restarted after a panic or error
    /// (`at_least_once` only) before the topology ends with an error.
    pub max_task_restarts: usize,
}

impl TryFrom<String> for Guarantee {
    type Error = String;

    /// Parses the YAML spelling, naming the field when it is not one.
    fn try_from(name: String) -> std::result::Result<Self, String> {
        match name.as_str() {
            "at_most_once" => Ok(Guarantee::AtMostOnce),
            "at_least_once" => Ok(Guarantee::AtLeastOnce),
            "exactly_once" => Ok(Guarantee::ExactlyOnce),
            _ => Err(format!(
                "config.guarantee must be at_most_once, at_least_once or exactly_once, not \
                 '{name}'"
            )),
        }
    }
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
            local_aggregation: false,
            idle_timeout_ms: 0,
            guarantee: Guarantee::AtMostOnce,
            checkpoint_interval_ms: 0,
            checkpoint_timeout_ms: 60_000,
            checkpoint_dir: None,
            retained_checkpoints: 3,
            checkpoint_alignment: true,
            tolerable_failed_checkpoints: None,
            state_backend: StateBackendKind::Memory,
            incremental_checkpoints: true,
            restart_strategy: RestartStrategy::default(),
            restore_from: None,
            settings: BTreeMap::new(),
            ackers: 1,
            message_timeout_ms: 30_000,
            max_spout_pending: Some(5_000),
            max_task_restarts: 10,
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
        if self.retained_checkpoints == 0 {
            return Err(Error::config("config.retained_checkpoints must be at least 1"));
        }
        if self.checkpoint_interval_ms > 0 && self.checkpoint_timeout_ms == 0 {
            return Err(Error::config("config.checkpoint_timeout_ms must be at least 1"));
        }
        if self.guarantee == Guarantee::ExactlyOnce {
            if self.checkpoint_interval_ms == 0 {
                return Err(Error::config(
                    "config.checkpoint_interval_ms must be above 0 with guarantee exactly_once",
                ));
            }
            if self.checkpoint_dir.is_none() {
                return Err(Error::config(
                    "config.checkpoint_dir must be set with guarantee exactly_once",
                ));
            }
        }
        if self.checkpoint_interval_ms > 0 && self.checkpoint_dir.is_none() {
            return Err(Error::config(
                "config.checkpoint_dir must be set when config.checkpoint_interval_ms is above 0",
            ));
        }
        if !self.state_backend.available() {
            return Err(Error::config(
                "config.state_backend rocksdb needs squall built with the `rocksdb` cargo feature",
            ));
        }
        if self.restore_from.is_some() && self.checkpoint_interval_ms == 0 {
            return Err(Error::config(
                "config.restore_from needs checkpoints: set config.checkpoint_interval_ms above 0",
            ));
        }
        if let RestartStrategy::ExponentialDelay {
            initial_backoff_ms,
            max_backoff_ms,
            backoff_multiplier,
            ..
        } = self.restart_strategy
        {
            if backoff_multiplier.is_nan()
                || backoff_multiplier < 1.0
                || initial_backoff_ms > max_backoff_ms
            {
                return Err(Error::config(format!(
                    "config.restart_strategy exponential_delay: backoff_multiplier \
                     ({backoff_multiplier}) must be at least 1 and initial_backoff_ms \
                     ({initial_backoff_ms}) at most max_backoff_ms ({max_backoff_ms})"
                )));
            }
        }
        if let RestartStrategy::FailureRate { failure_rate_interval_ms: 0, .. } =
            self.restart_strategy
        {
            return Err(Error::config(
                "config.restart_strategy failure_rate: failure_rate_interval_ms must be at least 1",
            ));
        }
        if self.message_timeout_ms == 0 {
            return Err(Error::config("config.message_timeout_ms must be at least 1"));
        }
        if self.max_spout_pending == Some(0) {
            return Err(Error::config(
                "config.max_spout_pending must be at least 1 (or null for no bound)",
            ));
        }
        if self.ackers > 1024 {
            return Err(Error::config("config.ackers must be in 0..=1024"));
        }
        Ok(())
    }

    /// Whether checkpoints are taken.
    pub fn checkpointing(&self) -> bool {
        self.checkpoint_interval_ms > 0
    }

    /// Whether a task with several inputs aligns barriers:
    /// `checkpoint_alignment`, except under `at_least_once`, whose
    /// checkpoints are never aligned (Flink's `AT_LEAST_ONCE` checkpointing
    /// mode: a restore may count some tuples twice, never loses one).
    pub fn aligned_barriers(&self) -> bool {
        self.checkpoint_alignment && self.guarantee != Guarantee::AtLeastOnce
    }

    /// Whether tuples are tracked by ackers: `at_least_once` with at least
    /// one acker.
    pub fn tracking(&self) -> bool {
        self.guarantee == Guarantee::AtLeastOnce && self.ackers > 0
    }
}
