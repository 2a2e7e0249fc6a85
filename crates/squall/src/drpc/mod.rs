//! Storm's distributed RPC (DRPC), in one process: a caller runs a
//! topology as a function, `execute(function, args)`, and blocks until the
//! topology answers or the request times out.
//!
//! - [`LocalDrpc`]: the server side, Storm's `LocalDRPC`: a queue of
//!   requests per function, each with a caller waiting for its answer.
//! - [`DrpcSpout`]: takes requests for one function into a topology as
//!   tuples `(args, return-info)`, the request id as message id.
//! - [`ReturnResults`]: takes tuples `(result, return-info)` back to the
//!   callers.
//!
//! What this module does not own: a network server for callers in other
//! processes (REST, `squall drpc`), nor Storm's `LinearDRPCTopologyBuilder`
//! (the per-request completion tracking of its `CoordinatedBolt`): a
//! topology that fans a request out decides itself when it has every part
//! (see `tests/drpc.rs`).

mod return_results;
mod server;
mod spout;

pub use return_results::ReturnResults;
pub use server::{DrpcRequest, LocalDrpc};
pub use spout::DrpcSpout;

/// The field of a DRPC tuple that says where its answer goes (the request
/// id), as Storm names it.
pub const RETURN_INFO: &str = "return-info";
