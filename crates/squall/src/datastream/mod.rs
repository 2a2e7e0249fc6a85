//! Flink's DataStream API on Squall's one engine: a typed [`Stream<T>`]
//! (`T: Data`) with `map`, `filter`, `flat_map`, `key_by`, `reduce`,
//! `window(..).aggregate(..)`, `process` (a keyed process function with
//! keyed state and event-time and processing-time timers), `union`,
//! `connect`, interval and window joins, `sink`, and side outputs.
//!
//! Every operator is a [`crate::Bolt`] and every edge a grouping of the
//! topology API: [`StreamEnv`] builds the same logical graph as
//! [`crate::TopologyBuilder`] (it holds one), so Storm spouts and bolts and
//! DataStream operators sit in one topology ([`StreamEnv::from_spout`],
//! [`Stream::to_tuples`], [`StreamEnv::with_builder`]). Records travel as
//! [`crate::Native`] values: moved, not encoded, inside one process (see
//! `docs/architecture.md`, "Typed records").
//!
//! ```
//! use squall::datastream::StreamEnv;
//!
//! let env = StreamEnv::new("squares");
//! let out = env.from_iter("numbers", (1..=4).collect::<Vec<i64>>())
//!     .map(|x| x * x)
//!     .filter(|x| x % 2 == 0)
//!     .collect();
//! env.execute()?;
//! let mut got = out.take();
//! got.sort();
//! assert_eq!(got, [4, 16]);
//! # Ok::<(), squall::Error>(())
//! ```
//!
//! What this module does not own: the window logic ([`crate::window`]) and
//! the runtime ([`crate::runtime`]).

mod env;
mod ops;
mod record;
mod stream;

pub use env::{OperatorWrapper, StreamEnv};
pub use ops::process::{KeyedContext, KeyedProcessFunction, TimeDomain};
pub use record::key_hash;
pub use stream::{
    Collected, ConnectedStreams, IntervalJoin, KeyedStream, OutputTag, Stream, WindowJoin,
    WindowResult, WindowedStream,
};
