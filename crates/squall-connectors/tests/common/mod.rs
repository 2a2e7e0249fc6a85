//! What the Kafka tests share: a real broker (Apache Kafka or tansu, from
//! `squall-test-support`) with this suite's logging, the helpers around
//! it, and the failure wrappers of the kill tests.
#![allow(dead_code)]

pub mod kill_after_checkpoint;
pub mod kill_before_commit;

pub use squall_test_support::kafka::{
    broker, committed_offsets, create_topic, end_offsets, produce, produce_at,
    read_committed_until, Broker,
};

/// Starts the test's broker ([`broker::start`]: Apache Kafka with
/// `$KAFKA_LIB`, else tansu) and returns once it answers.
pub fn broker() -> Broker {
    // `RUST_LOG=squall=debug` shows checkpoints and restarts.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    broker::start()
}
