//! [`DrpcSpout`]: the requests of one DRPC function, as tuples.

use crate::drpc::{DrpcInvocations, LocalDrpc, RETURN_INFO};
use crate::error::Result;
use crate::model::{Fields, Value};
use crate::runtime::OutputCollector;
use crate::topology::{MessageId, OutputDeclarer, Spout, SpoutStatus, DEFAULT_STREAM};

/// Emits each request for `function` as `(args, return-info)` (strings and
/// the request id as an int) with the request id as message id (Storm's
/// `DRPCSpout`). A request whose tuple tree fails or times out
/// (`at_least_once`) fails its caller at once rather than waiting for the
/// caller's timeout. Every task takes requests; it never finishes.
///
/// `D` is where requests come from: a [`LocalDrpc`] in this process, or a
/// server on the network (`squall_cluster::drpc_client::HttpDrpc`).
#[derive(Debug, Clone)]
pub struct DrpcSpout<D = LocalDrpc> {
    server: D,
    function: String,
}

impl<D: DrpcInvocations> DrpcSpout<D> {
    /// A spout for `function` of `server`.
    pub fn new(server: &D, function: &str) -> Self {
        DrpcSpout { server: server.clone(), function: function.to_string() }
    }
}

impl<D: DrpcInvocations> Spout for DrpcSpout<D> {
    fn declare_outputs(&self, declarer: &mut OutputDeclarer) {
        declarer.declare(Fields::new(["args", RETURN_INFO]));
    }

    /// Emits the oldest waiting request, or is idle.
    ///
    /// # Errors
    /// None but the collector's.
    fn next_tuple(&mut self, collector: &mut OutputCollector) -> Result<SpoutStatus> {
        let Some(request) = self.server.fetch(&self.function) else {
            return Ok(SpoutStatus::Idle);
        };
        let values = vec![Value::String(request.args), Value::Int(request.id as i64)];
        collector.emit_with_id(DEFAULT_STREAM, values, request.id)?;
        Ok(SpoutStatus::Active)
    }

    fn fail(&mut self, msg_id: MessageId) {
        let reason = format!("the request's tuple tree failed or timed out ({})", self.function);
        self.server.fail(msg_id, reason);
    }
}
