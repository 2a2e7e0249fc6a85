//! Squall's connectors to external systems, kept out of the core crate for
//! their heavy dependencies (librdkafka, built from source by `rdkafka`'s
//! `cmake-build` feature).
//!
//! - [`KafkaSpout`]: Kafka topics in, offsets in Squall's checkpoints.
//! - [`KafkaSinkBolt`]: a Kafka topic out, at-least-once or exactly-once
//!   (Kafka transactions per checkpoint).
//!
//! - [`SocketSpout`]: the lines of a TCP connection.
//! - [`RedisSink`] and [`PostgresSink`]: idempotent keyed upserts
//!   ([`UpsertBolt`]), flushed on barriers, retried with [`Backoff`].
//!
//! - [`RollingFileSink`]: CSV part files rolled by size and time, in a
//!   folder or an S3 bucket, exactly-once by two-phase commit.
//!
//! - [`ShellBolt`] and [`ShellSpout`] ([`multilang`]): spouts and bolts
//!   written in other languages, run as child processes speaking Storm's
//!   multilang protocol.
//!
//! [`register`] makes them available to YAML topologies (`type: kafka`,
//! `socket`, `redis`, `postgres`, `rolling_file`, `shell`).

mod blocking;
mod decode;
mod decode_avro;
mod kafka_partitions;
mod kafka_sink;
mod kafka_spout;
mod kafka_txn;
mod kafka_watermarks;
pub mod multilang;
mod postgres_sink;
mod redis_sink;
mod retry;
mod rolling_file_sink;
mod socket_spout;
mod upsert;
mod yaml;

pub use decode::{from_json, to_json, AsJson, Format, ValuesAsJson};
pub use kafka_sink::{Delivery, KafkaSinkBolt, KafkaSinkOptions, RecoveredTransactions};
pub use kafka_spout::{
    ConsumerLag, KafkaSpout, KafkaSpoutOptions, StartFrom, ERRORS_STREAM, EVENT_TIME_FIELD,
    LAG_GAUGE,
};
pub use multilang::{ShellBolt, ShellSpout};
pub use postgres_sink::{PostgresSink, PostgresSinkOptions};
pub use redis_sink::{RedisSink, RedisSinkOptions};
pub use retry::{Backoff, ConnectorStats, Failure};
pub use rolling_file_sink::{
    PendingPart, RollingFileBolt, RollingFileSink, RollingFileSinkOptions,
};
pub use socket_spout::{SocketSpout, SocketSpoutOptions};
pub use upsert::{Batching, Columns, Row, UpsertBolt, UpsertStore};
pub use yaml::register;
