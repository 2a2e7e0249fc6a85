//! [`ReturnResults`]: the answers of DRPC requests, back to their callers.

use crate::drpc::{DrpcInvocations, LocalDrpc, RETURN_INFO};
use crate::error::Result;
use crate::model::Tuple;
use crate::runtime::OutputCollector;
use crate::topology::Bolt;

/// Answers the request of each input's `return-info` (the request id, an
/// int) with its field `result` (its text; other values as they display),
/// Storm's `ReturnResults`. A sink. `D` is where the callers wait: a
/// [`LocalDrpc`] or a server on the network.
#[derive(Debug, Clone)]
pub struct ReturnResults<D = LocalDrpc> {
    server: D,
}

impl<D: DrpcInvocations> ReturnResults<D> {
    /// Answers requests of `server`.
    pub fn new(server: &D) -> Self {
        ReturnResults { server: server.clone() }
    }
}

impl<D: DrpcInvocations> Bolt for ReturnResults<D> {
    /// # Errors
    /// [`crate::Error::NoSuchField`] or [`crate::Error::WrongType`] for an
    /// input without an int `return-info` or without `result`.
    fn execute(&mut self, input: Tuple, _: &mut OutputCollector) -> Result<()> {
        let id = input.get_i64(RETURN_INFO)?;
        let result = input.get_by_field("result")?.to_string();
        self.server.answer(id as u64, result);
        Ok(())
    }
}
