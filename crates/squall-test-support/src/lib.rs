//! What Squall's test suites share, so that no test includes another
//! crate's files by path: real servers started on 127.0.0.1 ([`moto`], an
//! S3 API) and real data with references computed independently of Squall
//! ([`corpus`], Shakespeare's works and their word counts), and with
//! the `kafka` feature a Kafka broker (`kafka`: Apache Kafka or tansu);
//! [`duckdb`], the SQL tests' reference; [`full_disk`], a disk that
//! is really full; [`bench`], the end-to-end benchmarks' measurements;
//! with the `squall` feature, [`chaos`] (a bolt that fails on purpose)
//! and [`reach`] (Storm's DRPC reach example on Shakespeare).
//!
//! Each helper panics with a message naming what is missing (a server not
//! installed, data not fetched): the setup script installs and fetches
//! everything (`scripts/setup.sh`).

pub mod bench;
#[cfg(feature = "squall")]
pub mod chaos;
pub mod corpus;
pub mod duckdb;
pub mod full_disk;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod moto;
#[cfg(feature = "squall")]
pub mod reach;
