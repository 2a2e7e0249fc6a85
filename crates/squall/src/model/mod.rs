//! The data model: [`Value`]s, [`Fields`] (a stream's schema) and
//! [`Tuple`]s (values plus where they came from).
//!
//! Everything here is serde-serializable, because tuples cross process
//! boundaries once topologies run on a cluster. Nothing here knows about
//! channels or executors.

mod fields;
mod key;
mod native;
mod tuple;
mod value;

pub use fields::Fields;
pub(crate) use key::{same as same_value, InlineKey, Key};
pub use native::{Data, Native};
pub(crate) use tuple::AnchorIds;
pub use tuple::{Tuple, TupleSource, Values};
pub use value::Value;
