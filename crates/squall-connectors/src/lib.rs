//! Squall's connectors to external systems, kept out of the core crate for
//! their heavy dependencies (librdkafka, built from source by `rdkafka`'s
//! `cmake-build` feature).
//!
//! - [`KafkaSpout`]: Kafka topics in, offsets in Squall's checkpoints.
//! - [`KafkaSinkBolt`]: a Kafka topic out, at-least-once or exactly-once
//!   (Kafka transactions per checkpoint).
//!
//! [`register`] makes them available to YAML topologies (`type: kafka`).

mod decode;
mod kafka_sink;
mod kafka_spout;
mod yaml;

pub use decode::{from_json, to_json, Format};
pub use kafka_sink::{Delivery, KafkaSinkBolt, KafkaSinkOptions};
pub use kafka_spout::{ConsumerLag, KafkaSpout, KafkaSpoutOptions, StartFrom, ERRORS_STREAM};
pub use yaml::register;
