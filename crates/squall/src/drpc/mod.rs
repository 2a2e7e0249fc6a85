//! Storm's distributed RPC (DRPC): a caller runs a
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
//! - [`DrpcInvocations`]: where spouts take requests and answers go; a
//!   [`LocalDrpc`], or a server on the network (`squall_cluster::drpc`).
//! - [`LinearDrpcBuilder`]: Storm's `LinearDRPCTopologyBuilder`, a function
//!   as a chain of stages told when they have all of a request.
//!
//! What this module does not own: the network server and its HTTP clients
//! (REST, `squall drpc`), which live in `squall_cluster::drpc`.

mod linear;
mod return_results;
mod server;
mod spout;

pub use linear::{
    DrpcBolt, DrpcEmitter, LinearDrpcBuilder, StageDeclarer, StageGrouping, COORD_STREAM, RETURN,
    SPOUT,
};
pub use return_results::ReturnResults;
pub use server::{DrpcFailure, DrpcInvocations, DrpcRequest, LocalDrpc};
pub use spout::DrpcSpout;

/// The field of a DRPC tuple that says where its answer goes (the request
/// id), as Storm names it.
pub const RETURN_INFO: &str = "return-info";
