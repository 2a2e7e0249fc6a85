//! Streaming SQL for Squall, planned by DataFusion and run on Squall's
//! engine.
//!
//! A script (Flink SQL's dialect where it is standard) is split into
//! statements; `CREATE TABLE ... WITH (...)` and `CREATE VIEW` fill a
//! catalog; each `INSERT INTO sink SELECT ...` (or a bare `SELECT`, printed)
//! is parsed by DataFusion's `sqlparser`, planned and optimised by
//! DataFusion's SQL planner, analyzer and optimizer, and translated into
//! Squall operators on one topology ([`translate`]): sources are spouts,
//! projections and filters evaluate DataFusion's physical expressions over
//! Arrow batches, window TVFs (`TUMBLE`, `HOP`, `CUMULATE`, `SESSION`) with
//! `GROUP BY window_start, window_end` are keyed window aggregates on
//! Squall's event time, watermarks and checkpointed keyed state; a
//! non-windowed `GROUP BY` ([`updating`]) and a `ROW_NUMBER()` Top-N
//! ([`topn`]) are updating results. `EXPLAIN` prints the logical plan and
//! the operators.
//!
//! ```no_run
//! let mut session = squall_sql::Session::new();
//! let out = session.run_script("
//!     CREATE TABLE bid (auction BIGINT, price BIGINT, dateTime TIMESTAMP(3),
//!         WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND)
//!     WITH ('connector' = 'nexmark', 'events.num' = '100000');
//!     CREATE TABLE out (auction BIGINT, price BIGINT) WITH ('connector' = 'print');
//!     INSERT INTO out SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
//! ")?;
//! # Ok::<(), squall_sql::SqlError>(())
//! ```

pub mod batch;
pub mod catalog;
pub mod create_function;
pub mod error;
pub mod file_source;
pub mod functions;
pub mod group_window;
pub mod interval_join;
pub mod lookup_join;
pub mod nexmark;
pub mod nexmark_files;
pub mod ops;
pub mod outer_join;
pub mod over_agg;
pub mod over_plan;
pub mod partitioned_sink;
pub mod proctime;
pub mod relay;
pub mod rows;
pub mod script;
mod session;
pub mod session_window;
pub mod source;
pub mod stream_source;
pub mod temporal_join;
pub mod topn;
pub mod topn_plan;
pub mod translate;
pub mod ttl;
pub mod tvf;
pub mod udf;
pub mod updating;
pub mod upsert_sink;
pub mod window_combine;
pub mod yaml;

pub use error::{SqlError, SqlResult};
pub use session::{Outcome, Session, Wrap};
